//! Resolving a base from any image store (a layout directory, a registry repository) for one
//! platform: pick the index entry, read manifest and config, keep the layers byte-for-byte.

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::{BaseSource, StoreError};
use crate::oci::media::is_index;
use crate::oci::{BaseImage, BaseReference, Content, Digest, Layer, MediaFamily, Platform, Referrer};

/// A place that holds images and can hand out their documents and layers by digest.
pub trait ImageStore: Send + Sync {
    /// How the user named it (`oci:/path:tag`, `registry/repo:tag`): for messages and the
    /// `org.opencontainers.image.base.name` annotation. Never contains credentials.
    fn name(&self) -> String;
    /// What the reference points at: an index or a manifest, with its exact bytes (verified).
    fn root(&self) -> Result<Document, StoreError>;
    /// A manifest or config by digest, verified against digest and size.
    fn document(&self, media_type: &str, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError>;
    /// A layer's bytes: a verified file, or fetched lazily when a sink needs them.
    fn layer(&self, media_type: &str, digest: &Digest, size: u64) -> Result<Content, StoreError>;
    /// The artifacts (SBOMs, provenance, signatures) the store holds about `subject`, so that
    /// they travel with the image to wherever it is pushed or merged.
    fn referrers(&self, _subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
        Ok(Vec::new())
    }
}

/// A JSON document and its digest.
#[derive(Clone, Debug)]
pub struct Document {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

/// Every store is a base source: the same resolution for layouts and registries.
impl<S: ImageStore> BaseSource for S {
    fn resolve(&self, platform: &Platform) -> Result<BaseImage, StoreError> {
        resolve(self, platform)
    }
}

pub fn resolve(store: &dyn ImageStore, platform: &Platform) -> Result<BaseImage, StoreError> {
    let root = store.root()?;
    let bad = |why: String| StoreError::BadImage { image: store.name(), why };
    let (manifest_digest, manifest_type, manifest_bytes) = if is_index(&root.media_type, &root.bytes) {
        let index: ImageIndex = serde_json::from_slice(&root.bytes).map_err(|e| bad(format!("index: {e}")))?;
        let entries: Vec<(Platform, &oci_spec::image::Descriptor)> = index
            .manifests()
            .iter()
            .filter_map(|d| {
                let p = d.platform().as_ref()?;
                let p = Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref());
                // BuildKit's attestations hide as `unknown/unknown` entries: never a base.
                (p.os != "unknown").then_some((p, d))
            })
            .collect();
        let Some((_, d)) = entries.iter().find(|(p, _)| p.matches(platform)) else {
            return Err(StoreError::PlatformMissing {
                image: store.name(),
                wanted: platform.to_string(),
                available: entries.iter().map(|(p, _)| p.to_string()).collect(),
            });
        };
        let digest = Digest::parse(d.digest().as_ref()).map_err(bad)?;
        let media_type = d.media_type().to_string();
        let bytes = store.document(&media_type, &digest, d.size())?;
        (digest, media_type, bytes)
    } else {
        (root.digest.clone(), root.media_type.clone(), root.bytes)
    };

    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|e| bad(format!("manifest: {e}")))?;
    let manifest_type = manifest.media_type().as_ref().map(|m| m.to_string()).unwrap_or(manifest_type);
    let media = MediaFamily::of_manifest(&manifest_type);
    let cd = manifest.config();
    let config_digest = Digest::parse(cd.digest().as_ref()).map_err(bad)?;
    let config_bytes = store.document(cd.media_type().as_ref(), &config_digest, cd.size())?;
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes).map_err(|e| bad(format!("config: {e}")))?;

    // A single-manifest base is used only for its own platform.
    let own = Platform::new(&config.os().to_string(), &config.architecture().to_string(), config.variant().as_deref());
    if !own.matches(platform) {
        return Err(StoreError::PlatformMissing {
            image: store.name(),
            wanted: platform.to_string(),
            available: vec![own.to_string()],
        });
    }

    let layers = layers(store, &manifest, &config)?;
    let history = config.history().clone().unwrap_or_default();
    Ok(BaseImage {
        layers,
        history,
        config: config.config().clone().unwrap_or_default(),
        media,
        reference: Some(BaseReference { name: store.name(), digest: manifest_digest }),
    })
}

/// A stored image's layers, bytes left in the store (lazy or verified files), each with its
/// diff_id from the config and its `created_by` from the history.
pub fn layers(
    store: &dyn ImageStore,
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<Vec<Layer>, StoreError> {
    let bad = |why: String| StoreError::BadImage { image: store.name(), why };
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(bad(format!("{} layers but {} diff_ids in the config", manifest.layers().len(), diff_ids.len())));
    }
    let history = config.history().clone().unwrap_or_default();
    let mut created_by = history.iter().filter(|h| !h.empty_layer().unwrap_or(false)).map(|h| h.created_by().clone());
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let digest = Digest::parse(d.digest().as_ref()).map_err(bad)?;
        let media_type = d.media_type().to_string();
        let content = store.layer(&media_type, &digest, d.size())?;
        layers.push(Layer {
            blob: crate::oci::Blob { media_type, digest, size: d.size(), content },
            diff_id: Digest::parse(diff_id).map_err(bad)?,
            created_by: created_by.next().flatten().unwrap_or_else(|| format!("base layer of {}", store.name())),
        });
    }
    Ok(layers)
}
