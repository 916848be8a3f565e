//! OCI 1.1 referrers as values: an artifact manifest (`artifactType`, a config, layers holding
//! the document, `subject` = the manifest it describes) with its blobs, and reading one back.

use oci_spec::image::MediaType;

use super::blob::Blob;
use super::digest::Digest;
use super::media::EMPTY;

/// An artifact attached to a subject manifest, with the blobs it needs.
#[derive(Clone, Debug)]
pub struct Referrer {
    pub artifact_type: String,
    pub subject: Digest,
    pub manifest: Blob,
    /// What the manifest points at: its config, then its layers (ours: `{}` and the document).
    pub blobs: Vec<Blob>,
}

impl Referrer {
    /// The descriptor that lists this artifact (in a layout's index.json or a referrers index).
    pub fn descriptor(&self) -> oci_spec::image::Descriptor {
        let mut d = self.manifest.descriptor();
        d.set_artifact_type(Some(MediaType::from(self.artifact_type.as_str())));
        d
    }
}

/// The empty JSON config every artifact manifest points at (`{}`, embedded as `data`).
pub fn empty_config() -> Blob {
    Blob::from_bytes(EMPTY, b"{}".to_vec())
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
