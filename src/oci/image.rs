//! Image values: one platform's image (layers, config, manifest), a whole image (its root
//! document, the platform images under it, the referrers about them), a base to build on, and
//! the runtime settings we put into a config. Plain data: every stage passes these around.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::{Config, History};
use serde::Serialize;

use super::blob::{Blob, Layer};
use super::digest::Digest;
use super::media::MediaFamily;
use super::platform::Platform;
use super::referrer::Referrer;

/// One platform's image: its layers (base first), config and manifest, ready for a sink.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub platform: Platform,
    pub layers: Vec<Layer>,
    pub config: Blob,
    pub manifest: Blob,
}

/// An image: the document its name points at (an index, or a single manifest), the platform
/// images under it, and the referrers (SBOMs, provenance, signatures) about them. What sources
/// read and sinks write.
#[derive(Clone, Debug)]
pub struct Image {
    /// An index over `platforms`, or (a single-platform image) the manifest of `platforms[0]`.
    pub root: Blob,
    /// In the root's order.
    pub platforms: Vec<PlatformImage>,
    /// What else the root lists (an image read from a store: BuildKit's `unknown/unknown`
    /// attestation manifests, entries without a platform): copied with it, never shown or merged.
    pub attached: Vec<Attached>,
    /// SBOMs and provenance about the platform manifests (OCI 1.1 referrers, never index entries).
    pub referrers: Vec<Referrer>,
}

/// Each blob once (by digest), in the order first seen.
fn once_each<'a>(blobs: impl Iterator<Item = &'a Blob>) -> Vec<&'a Blob> {
    let mut out: Vec<&Blob> = Vec::new();
    for b in blobs {
        if !out.iter().any(|o| o.digest == b.digest) {
            out.push(b);
        }
    }
    out
}

/// A manifest an index lists that is not a platform image, with the blobs it names (config
/// first, then layers).
#[derive(Clone, Debug)]
pub struct Attached {
    pub manifest: Blob,
    pub blobs: Vec<Blob>,
    /// It is itself an index (its children are not read: such an image cannot be copied).
    pub nested_index: bool,
}

impl Image {
    /// A new image: its root over `platforms`, nothing attached, no referrers yet.
    pub fn new(root: Blob, platforms: Vec<PlatformImage>) -> Image {
        Image { root, platforms, attached: Vec::new(), referrers: Vec::new() }
    }

    /// Every blob once, in the order a sink must write them: layers, configs, manifests, the
    /// root, then the referrers' documents and manifests (their subjects exist by then).
    /// (The order is part of an oci-archive's bytes: every layer, then every config.)
    pub fn blobs_children_first(&self) -> Vec<&Blob> {
        let layers = self.platforms.iter().flat_map(|i| i.layers.iter().map(|l| &l.blob));
        let configs = self.platforms.iter().map(|i| &i.config);
        let attached = self.attached.iter().flat_map(|a| &a.blobs);
        let documents = self.manifests().into_iter().chain([&self.root]).chain(self.referrer_blobs());
        once_each(layers.chain(configs).chain(attached).chain(documents))
    }

    /// The layers and configs of every manifest under the root (platforms', then attached
    /// manifests'), once each.
    pub fn leaves(&self) -> Vec<&Blob> {
        let layers = self.platforms.iter().flat_map(|i| i.layers.iter().map(|l| &l.blob).chain([&i.config]));
        once_each(layers.chain(self.attached.iter().flat_map(|a| &a.blobs)))
    }

    /// The manifests under the root (none when the root is the one platform's manifest).
    pub fn manifests(&self) -> Vec<&Blob> {
        let all = self.platforms.iter().map(|i| &i.manifest).chain(self.attached.iter().map(|a| &a.manifest));
        all.filter(|m| m.digest != self.root.digest).collect()
    }

    /// The referrers' documents and manifests.
    fn referrer_blobs(&self) -> impl Iterator<Item = &Blob> {
        self.referrers.iter().flat_map(|r| r.blobs.iter().chain([&r.manifest]))
    }
}

/// A base image resolved for one platform: what our layers go on top of.
#[derive(Clone, Debug)]
pub struct BaseImage {
    pub layers: Vec<Layer>,
    /// The base's history (kept, so `docker history`-style tools still explain its layers).
    pub history: Vec<History>,
    /// The base's runtime config: Env, User, WorkingDir, … (ours is applied on top).
    pub config: Config,
    /// Manifests built on this base keep its media-type family.
    pub media: MediaFamily,
    /// For the `org.opencontainers.image.base.{name,digest}` annotations; `None` for built-ins.
    pub reference: Option<BaseReference>,
}

/// Which image a base is, by name and manifest digest.
#[derive(Clone, Debug)]
pub struct BaseReference {
    pub name: String,
    pub digest: Digest,
}

/// A base layer that has no Docker media type, so the base cannot be re-typed as Docker.
#[derive(Debug, thiserror::Error)]
#[error("layer {digest} of the base is `{media_type}`, which has no Docker media type")]
pub struct NotDockerCompatible {
    pub digest: String,
    pub media_type: String,
}

impl NotDockerCompatible {
    pub fn hints(&self) -> Vec<String> {
        vec!["keep OCI media types: `--media-types oci`".into()]
    }
}

impl BaseImage {
    /// The base re-typed for `--media-types`: a gzip'd layer is one in either family; any other
    /// layer type has no Docker name, and a manifest never mixes the two.
    pub fn with_media(mut self, family: MediaFamily) -> Result<BaseImage, NotDockerCompatible> {
        if family == MediaFamily::Docker {
            if let Some(l) = self.layers.iter().find(|l| !MediaFamily::is_gzip_layer(&l.blob.media_type)) {
                return Err(NotDockerCompatible {
                    digest: l.blob.digest.to_string(),
                    media_type: l.blob.media_type.clone(),
                });
            }
        }
        self.media = family;
        Ok(self)
    }
}

/// The runtime settings we put into each config, on top of the base's.
#[derive(Clone, Debug, Serialize)]
pub struct ContainerConfig {
    pub entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Set on top of the base's environment (same key: ours wins).
    #[serde(serialize_with = "pairs_as_table")]
    pub env: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Where binaries are placed in the image.
    pub bin_dir: String,
    /// The config's StopSignal (`None`: the base's, else the runtime's SIGTERM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// The config's Volumes, added to the base's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

/// `[(k, v)]` as a JSON object (its order is kept: the pairs come sorted from the settings).
fn pairs_as_table<S: serde::Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// `1970-01-01T00:00:00Z` from Unix seconds: the form of every `created` in an image.
pub fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_epochs() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
