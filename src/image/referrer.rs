//! Building OCI 1.1 referrers: an artifact manifest (`artifactType`, empty config, one layer
//! holding the document, `subject` = the manifest it describes). Used for SBOMs and provenance,
//! so they travel with an image without ever appearing as fake platforms in its index.

use std::collections::BTreeMap;

use oci_spec::image::{ImageManifestBuilder, MediaType};

use crate::oci::referrer::empty_config;
use crate::oci::{Blob, MediaFamily, Referrer};

const MANIFEST: &str = MediaFamily::Oci.manifest();

/// Builds the artifact manifest for `document` (whose media type is the artifact type) about `subject`.
pub fn artifact(
    subject: &Blob,
    document: Blob,
    annotations: &BTreeMap<String, String>,
) -> serde_json::Result<Referrer> {
    let config = empty_config();
    let mut config_desc = config.descriptor();
    config_desc.set_data(Some("e30=".into()));
    let artifact_type = document.media_type.clone();
    let mut m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::from(artifact_type.as_str()))
        .config(config_desc)
        .layers(vec![document.descriptor()])
        .subject(subject.descriptor());
    if !annotations.is_empty() {
        m = m.annotations(annotations.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
    }
    let manifest = Blob::json(MANIFEST, &m.build().expect("all fields set"))?;
    Ok(Referrer { artifact_type, subject: subject.digest.clone(), manifest, blobs: vec![config, document] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::referrer::parse_artifact;
    use crate::oci::{media::EMPTY, Digest};

    #[test]
    fn artifact_manifest_shape() {
        let subject = Blob::from_bytes(MANIFEST, b"{\"schemaVersion\":2}".to_vec());
        let doc = Blob::from_bytes("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec());
        let r = artifact(&subject, doc, &BTreeMap::new()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.manifest.read_all().unwrap()).unwrap();
        assert_eq!(v["artifactType"], "application/spdx+json");
        assert_eq!(v["config"]["mediaType"], EMPTY);
        assert_eq!(v["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(v["config"]["data"], "e30=");
        assert_eq!(v["layers"][0]["mediaType"], "application/spdx+json");
        assert_eq!(v["subject"]["digest"], subject.digest.as_str());
        assert_eq!(r.descriptor().artifact_type().as_ref().unwrap().to_string(), "application/spdx+json");
        let parts = parse_artifact(&r.manifest.read_all().unwrap()).unwrap();
        assert_eq!(parts.artifact_type, "application/spdx+json");
        assert_eq!(parts.subject, subject.digest);
        let digests: Vec<&Digest> = parts.blobs.iter().map(|(_, d, _)| d).collect();
        assert_eq!(digests, r.blobs.iter().map(|b| &b.digest).collect::<Vec<_>>());
        assert!(parse_artifact(&subject.read_all().unwrap()).is_err(), "a manifest without a subject is not one");
    }
}
