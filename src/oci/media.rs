//! Media types: the two manifest families (OCI, Docker v2 schema 2), the layer and artifact types
//! we write, and telling an index from a manifest.

/// The gzip'd tar layer of the OCI family (the bytes are the same in the Docker family).
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The gzip'd tar layer of the Docker family.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The empty JSON document (`{}`) artifact manifests point at as their config.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The two families of manifest media types. One manifest never mixes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaFamily {
    Oci,
    Docker,
}

impl MediaFamily {
    pub const fn manifest(self) -> &'static str {
        match self {
            MediaFamily::Oci => "application/vnd.oci.image.manifest.v1+json",
            MediaFamily::Docker => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }
    pub const fn index(self) -> &'static str {
        match self {
            MediaFamily::Oci => "application/vnd.oci.image.index.v1+json",
            MediaFamily::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
        }
    }
    pub const fn config(self) -> &'static str {
        match self {
            MediaFamily::Oci => "application/vnd.oci.image.config.v1+json",
            MediaFamily::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }
    /// Whether `media_type` is a gzip'd tar layer of either family (renamable to the other).
    pub fn is_gzip_layer(media_type: &str) -> bool {
        [OCI_LAYER_GZIP, DOCKER_LAYER_GZIP].contains(&media_type)
    }

    /// The gzip'd layer type of this family (the bytes are the same in both).
    pub const fn layer_gzip(self) -> &'static str {
        match self {
            MediaFamily::Oci => OCI_LAYER_GZIP,
            MediaFamily::Docker => DOCKER_LAYER_GZIP,
        }
    }

    /// The family of a manifest's media type (anything not Docker's is taken as OCI).
    pub fn of_manifest(media_type: &str) -> MediaFamily {
        if media_type == MediaFamily::Docker.manifest() {
            MediaFamily::Docker
        } else {
            MediaFamily::Oci
        }
    }
}

/// Index and manifest list media types (OCI and Docker); a document without a media type is an
/// index if it lists `manifests`.
pub fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    media_type == MediaFamily::Oci.index()
        || media_type == MediaFamily::Docker.index()
        || (media_type.is_empty()
            && serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.get("manifests").is_some()))
}
