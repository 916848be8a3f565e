//! Reading a whole image from any store — an index with its platforms, or a single manifest —
//! with every document verified against its digest (for `inspect` and `merge`).

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::source::{Document, ImageStore};
use super::StoreError;
use crate::oci::media::is_index;
use crate::oci::{Blob, Digest, Image, Platform, PlatformImage};

/// An image as stored: its top document and each platform's manifest and config.
pub struct StoredImage {
    /// The document the reference points at (an index or a manifest), its exact bytes.
    pub root: Document,
    /// The root parsed as an index, when it is one.
    pub index: Option<ImageIndex>,
    pub platforms: Vec<StoredPlatform>,
}

/// One platform's manifest and config, with their exact bytes.
pub struct StoredPlatform {
    pub platform: Platform,
    pub manifest: StoredDoc<ImageManifest>,
    pub config: StoredDoc<ImageConfiguration>,
}

pub struct StoredDoc<T> {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub value: T,
}

/// Reads the image `store` names. Index entries that are not images for a real platform
/// (BuildKit's `unknown/unknown` attestations, nested indexes) are left out.
pub fn read_image(store: &dyn ImageStore) -> Result<StoredImage, StoreError> {
    let root = store.root()?;
    let bad = |why: String| StoreError::BadImage { image: store.name(), why };
    if !is_index(&root.media_type, &root.bytes) {
        let manifest = parse_doc(store, root.media_type.clone(), root.digest.clone(), root.bytes.clone())?;
        let p = platform_image(store, manifest, None)?;
        return Ok(StoredImage { root, index: None, platforms: vec![p] });
    }
    let index: ImageIndex = serde_json::from_slice(&root.bytes).map_err(|e| bad(format!("index: {e}")))?;
    let mut platforms = Vec::new();
    for d in index.manifests() {
        let Some(p) = d.platform() else { continue };
        let platform = Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref());
        if platform.os == "unknown" || is_index(d.media_type().as_ref(), b"{}") {
            continue;
        }
        let digest = Digest::parse(d.digest().as_ref()).map_err(bad)?;
        let media_type = d.media_type().to_string();
        let bytes = store.document(&media_type, &digest, d.size())?;
        let manifest = parse_doc(store, media_type, digest, bytes)?;
        platforms.push(platform_image(store, manifest, Some(platform))?);
    }
    Ok(StoredImage { root, index: Some(index), platforms })
}

fn parse_doc<T: serde::de::DeserializeOwned>(
    store: &dyn ImageStore,
    media_type: String,
    digest: Digest,
    bytes: Vec<u8>,
) -> Result<StoredDoc<T>, StoreError> {
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::BadImage { image: store.name(), why: format!("{digest}: {e}") })?;
    Ok(StoredDoc { media_type, digest, bytes, value })
}

/// A manifest with its config; the platform is the index entry's, else the config's.
fn platform_image(
    store: &dyn ImageStore,
    manifest: StoredDoc<ImageManifest>,
    platform: Option<Platform>,
) -> Result<StoredPlatform, StoreError> {
    let cd = manifest.value.config();
    let digest =
        Digest::parse(cd.digest().as_ref()).map_err(|why| StoreError::BadImage { image: store.name(), why })?;
    let bytes = store.document(cd.media_type().as_ref(), &digest, cd.size())?;
    let config: StoredDoc<ImageConfiguration> = parse_doc(store, cd.media_type().to_string(), digest, bytes)?;
    let c = &config.value;
    let platform = platform
        .unwrap_or_else(|| Platform::new(&c.os().to_string(), &c.architecture().to_string(), c.variant().as_deref()));
    Ok(StoredPlatform { platform, manifest, config })
}

impl StoredPlatform {
    /// This platform as a [`PlatformImage`] with its blobs exactly as stored (the layers stay
    /// where they are until a sink copies them).
    pub fn platform_image(&self, store: &dyn ImageStore) -> Result<PlatformImage, StoreError> {
        Ok(PlatformImage {
            platform: self.platform.clone(),
            layers: super::source::layers(store, &self.manifest.value, &self.config.value)?,
            config: Blob::from_bytes(self.config.media_type.clone(), self.config.bytes.clone()),
            manifest: Blob::from_bytes(self.manifest.media_type.clone(), self.manifest.bytes.clone()),
        })
    }
}

impl StoredImage {
    /// The whole image as an [`Image`] (for reports and sinks), its root as stored.
    pub fn image_set(&self, store: &dyn ImageStore) -> Result<Image, StoreError> {
        let images = self.platforms.iter().map(|p| p.platform_image(store)).collect::<Result<Vec<_>, _>>()?;
        let index = Blob::from_bytes(self.root.media_type.clone(), self.root.bytes.clone());
        Ok(Image { platforms: images, root: index, referrers: Vec::new() })
    }
}
