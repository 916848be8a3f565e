//! Reading from a store of documents and blobs (a layout, a registry repository): a whole image —
//! an index with its platforms, or a single manifest — or one platform's base. Every document is
//! verified against its digest; layers stay where they are, opened lazily.

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::source::ImageStore;
use super::StoreError;
use crate::oci::media::is_index;
use crate::oci::{
    Attached, BaseImage, BaseReference, Blob, Digest, Image, Layer, MediaFamily, Platform, PlatformImage,
};

/// The image `store` names. Index entries that are not images for a real platform (BuildKit's
/// `unknown/unknown` attestations, entries without a platform, nested indexes) are read as
/// [`Attached`]: carried along when the image is copied as it is, never shown or merged.
pub fn image(store: &dyn ImageStore) -> Result<Image, StoreError> {
    let root = store.root()?;
    let bad = |why: String| StoreError::BadImage { image: store.name(), why };
    let root_blob = Blob::from_bytes(root.media_type.clone(), root.bytes.clone());
    if !is_index(&root.media_type, &root.bytes) {
        let p = platform_image(store, root_blob.clone(), None)?;
        return Ok(Image::new(root_blob, vec![p]));
    }
    let index: ImageIndex = serde_json::from_slice(&root.bytes).map_err(|e| bad(format!("index: {e}")))?;
    let mut image = Image::new(root_blob, Vec::new());
    for d in index.manifests() {
        let digest = Digest::parse(d.digest().as_ref()).map_err(bad)?;
        let media_type = d.media_type().to_string();
        let bytes = store.document(&media_type, &digest, d.size())?;
        let manifest = Blob { media_type, digest, size: d.size(), content: crate::oci::Content::Bytes(bytes.into()) };
        let platform = d
            .platform()
            .as_ref()
            .map(|p| Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref()));
        if is_index(d.media_type().as_ref(), b"{}") {
            image.attached.push(Attached { manifest, blobs: Vec::new(), nested_index: true });
        } else if let Some(p) = platform.filter(|p| p.os != "unknown") {
            image.platforms.push(platform_image(store, manifest, Some(p))?);
        } else {
            image.attached.push(attached(store, manifest)?);
        }
    }
    Ok(image)
}

fn parse<T: serde::de::DeserializeOwned>(store: &dyn ImageStore, blob: &Blob) -> Result<T, StoreError> {
    let bytes = blob.read_all().map_err(StoreError::io("read", store.name()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::BadImage { image: store.name(), why: format!("{}: {e}", blob.digest) })
}

/// A document by descriptor, as a blob with its (verified) bytes.
fn document(store: &dyn ImageStore, d: &oci_spec::image::Descriptor) -> Result<Blob, StoreError> {
    let digest = Digest::parse(d.digest().as_ref()).map_err(|why| StoreError::BadImage { image: store.name(), why })?;
    let bytes = store.document(d.media_type().as_ref(), &digest, d.size())?;
    Ok(Blob {
        media_type: d.media_type().to_string(),
        digest,
        size: d.size(),
        content: crate::oci::Content::Bytes(bytes.into()),
    })
}

/// A manifest with its config and layers; the platform is the index entry's, else the config's.
fn platform_image(
    store: &dyn ImageStore,
    manifest: Blob,
    platform: Option<Platform>,
) -> Result<PlatformImage, StoreError> {
    let m: ImageManifest = parse(store, &manifest)?;
    let config = document(store, m.config())?;
    let c: ImageConfiguration = parse(store, &config)?;
    let platform = platform
        .unwrap_or_else(|| Platform::new(&c.os().to_string(), &c.architecture().to_string(), c.variant().as_deref()));
    Ok(PlatformImage { platform, layers: layers(store, &m, &c)?, config, manifest })
}

/// A manifest that is not a platform image, with the blobs it names.
fn attached(store: &dyn ImageStore, manifest: Blob) -> Result<Attached, StoreError> {
    let bad = |why: String| StoreError::BadImage { image: store.name(), why };
    let bytes = manifest.read_all().map_err(StoreError::io("read", store.name()))?;
    let m: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("manifest {}: {e}", manifest.digest)))?;
    let mut blobs = vec![document(store, m.config())?];
    for l in m.layers() {
        let digest = Digest::parse(l.digest().as_ref()).map_err(bad)?;
        let content = store.layer(l.media_type().as_ref(), &digest, l.size())?;
        blobs.push(Blob { media_type: l.media_type().to_string(), digest, size: l.size(), content });
    }
    Ok(Attached { manifest, blobs, nested_index: false })
}

/// Checks now the bytes of `blobs` that are on this machine (a layout's), so an image built on
/// or copied from them fails before anything is written; remote ones are checked as they come.
pub fn check_local<'a>(blobs: impl IntoIterator<Item = &'a Blob>) -> Result<(), StoreError> {
    for b in blobs {
        b.local_file().map_err(StoreError::io("read", b.digest.to_string()))?;
    }
    Ok(())
}

/// One platform's image to build on: the index entry for `platform` (or the single manifest, if
/// it is for that platform), its manifest and config; its layers' bytes are checked where they
/// are local (a layout's), fetched later otherwise. Only that platform's documents are read.
pub fn base(store: &dyn ImageStore, platform: &Platform) -> Result<BaseImage, StoreError> {
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
    check_local(layers.iter().map(|l| &l.blob))?;
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
