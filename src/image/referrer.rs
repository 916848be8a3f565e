//! OCI 1.1 referrers: an artifact manifest (`artifactType`, empty config, one layer holding the
//! document, `subject` = the manifest it describes). Used for SBOMs and provenance, so they travel
//! with an image without ever appearing as fake platforms in its index.

use std::collections::BTreeMap;

use oci_spec::image::{ImageManifestBuilder, MediaType};

use crate::blob::{Blob, Digest};

pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An artifact attached to a subject manifest, with the blobs it needs.
#[derive(Clone, Debug)]
pub struct Referrer {
    pub artifact_type: String,
    pub subject: Digest,
    pub manifest: Blob,
    /// What the manifest points at: its config, then its layers (ours: `{}` and the document).
    pub blobs: Vec<Blob>,
}

/// The empty JSON config every artifact manifest points at (`{}`, embedded as `data`).
pub fn empty_config() -> Blob {
    Blob::from_bytes(EMPTY_MEDIA_TYPE, b"{}".to_vec())
}

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

/// What an artifact manifest read from a store says about itself: its type, its subject, and
/// the blobs it needs (media type, digest, size: config first, then layers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactParts {
    pub artifact_type: String,
    pub subject: Digest,
    pub blobs: Vec<(String, Digest, u64)>,
}

/// Reads an artifact manifest (ours or another tool's: a cosign signature, a SOCI index): an
/// image manifest with a `subject`. Its type is `artifactType`, else the config's media type (as
/// the referrers API reports it). `Err` says why it is not one.
pub fn parse_artifact(manifest: &[u8]) -> Result<ArtifactParts, String> {
    let m: oci_spec::image::ImageManifest = serde_json::from_slice(manifest).map_err(|e| e.to_string())?;
    let subject = m.subject().as_ref().ok_or("it has no subject")?;
    let digest = |d: &oci_spec::image::Descriptor| Digest::parse(d.digest().as_ref());
    let artifact_type =
        m.artifact_type().as_ref().map(|t| t.to_string()).unwrap_or_else(|| m.config().media_type().to_string());
    let mut blobs = vec![(m.config().media_type().to_string(), digest(m.config())?, m.config().size())];
    for l in m.layers() {
        blobs.push((l.media_type().to_string(), digest(l)?, l.size()));
    }
    Ok(ArtifactParts { artifact_type, subject: digest(subject)?, blobs })
}

impl Referrer {
    /// The descriptor that lists this artifact (in a layout's index.json or a referrers index).
    pub fn descriptor(&self) -> oci_spec::image::Descriptor {
        let mut d = self.manifest.descriptor();
        d.set_artifact_type(Some(MediaType::from(self.artifact_type.as_str())));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_shape() {
        let subject = Blob::from_bytes(MANIFEST, b"{\"schemaVersion\":2}".to_vec());
        let doc = Blob::from_bytes("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec());
        let r = artifact(&subject, doc, &BTreeMap::new()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.manifest.read_all().unwrap()).unwrap();
        assert_eq!(v["artifactType"], "application/spdx+json");
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
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
