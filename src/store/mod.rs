//! Where bytes live: sources of bases (built-in, scratch, layouts) and sinks for images (layouts).

pub mod archive;
pub mod builtin;
pub mod cache;
pub mod layout;
pub mod layout_source;
pub mod read;
pub mod registry;
pub mod source;
pub mod staging;

use std::path::PathBuf;

use oci_spec::image::{Config, History};

use crate::blob::{Digest, Layer};
use crate::image::MediaFamily;
use crate::plan::{BaseSpec, Platform};

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

impl BaseImage {
    /// The base re-typed for `--media-types`: a gzip'd layer is one in either family; any other
    /// layer type has no Docker name, and a manifest never mixes the two.
    pub fn with_media(mut self, family: MediaFamily) -> Result<BaseImage, StoreError> {
        if family == MediaFamily::Docker {
            if let Some(l) = self.layers.iter().find(|l| !MediaFamily::is_gzip_layer(&l.blob.media_type)) {
                return Err(StoreError::NotDockerCompatible {
                    digest: l.blob.digest.to_string(),
                    media_type: l.blob.media_type.clone(),
                });
            }
        }
        self.media = family;
        Ok(self)
    }
}

#[derive(Clone, Debug)]
pub struct BaseReference {
    pub name: String,
    pub digest: Digest,
}

/// A place bases come from. Resolves per platform because an index base has one image each.
pub trait BaseSource: Send + Sync {
    fn resolve(&self, platform: &Platform) -> Result<BaseImage, StoreError>;
}

pub fn open_base(
    spec: &BaseSpec,
    registries: &std::sync::Arc<registry::Settings>,
) -> Result<Box<dyn BaseSource>, StoreError> {
    Ok(match spec {
        BaseSpec::Static => Box::new(builtin::Static),
        BaseSpec::Scratch => Box::new(builtin::Scratch),
        BaseSpec::Layout { path, tag } => Box::new(layout_source::LayoutStore::new(path, tag.as_deref())),
        BaseSpec::Registry { reference, .. } => {
            Box::new(registry::source::RegistryStore::new(reference.clone(), registries.clone()))
        }
    })
}

/// An image named on the command line: `oci:DIR[:TAG]` (skopeo's syntax) or a registry reference
/// (`[docker://]REGISTRY/REPO[:TAG][@sha256:…]`).
pub enum ImageName {
    Layout { dir: PathBuf, tag: Option<String> },
    Registry(registry::reference::Reference),
}

impl ImageName {
    pub fn parse(name: &str, cwd: &std::path::Path) -> Result<ImageName, StoreError> {
        if let Some((dir, tag)) = layout_source::parse_oci_ref(name) {
            return Ok(ImageName::Layout { dir: cwd.join(dir), tag });
        }
        registry::reference::Reference::parse(name.strip_prefix("docker://").unwrap_or(name))
            .map(ImageName::Registry)
            .map_err(|_| StoreError::BadReference { reference: name.into() })
    }

    /// The tag it names, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageName::Layout { tag, .. } => tag.as_deref(),
            ImageName::Registry(r) => r.tag.as_deref(),
        }
    }

    /// The registry host, for `--creds`.
    pub fn registry(&self) -> Option<&str> {
        match self {
            ImageName::Layout { .. } => None,
            ImageName::Registry(r) => Some(&r.registry),
        }
    }

    pub fn open(&self, settings: &std::sync::Arc<registry::Settings>) -> Box<dyn source::ImageStore> {
        match self {
            ImageName::Layout { dir, tag } => Box::new(layout_source::LayoutStore::new(dir, tag.as_deref())),
            ImageName::Registry(r) => Box::new(registry::source::RegistryStore::new(r.clone(), settings.clone())),
        }
    }
}

/// Reading or writing images failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to {op} `{}`", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a valid OCI image layout: {why}", path.display())]
    BadLayout { path: PathBuf, why: String },
    #[error("base `{image}` has no image for {wanted}; it has: {}", if available.is_empty() { "no platforms".to_string() } else { available.join(", ") })]
    PlatformMissing { image: String, wanted: String, available: Vec<String> },
    #[error("`{image}` has no {}; it has: {}", tag.as_ref().map(|t| format!("tag `{t}`")).unwrap_or("single image (name a tag)".into()), if available.is_empty() { "no tags".to_string() } else { available.join(", ") })]
    TagNotFound { image: String, tag: Option<String>, available: Vec<String> },
    #[error("`{image}` is not a usable image: {why}")]
    BadImage { image: String, why: String },
    #[error("{what} does not match its digest: expected {expected}, found {actual}")]
    Corrupt { what: String, expected: String, actual: String },
    #[error("`{reference}` is not an image reference cargo-oci can read")]
    BadReference { reference: String },
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("failed to pull `{image}`")]
    Pull {
        image: String,
        #[source]
        source: Box<registry::RegistryError>,
    },
    #[error("failed to push to `{target}`")]
    Push {
        target: String,
        #[source]
        source: Box<registry::RegistryError>,
    },
    #[error("layer {digest} of the base is `{media_type}`, which has no Docker media type")]
    NotDockerCompatible { digest: String, media_type: String },
    #[error("failed to encode {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }

    pub fn hints(&self) -> Vec<String> {
        match self {
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                vec!["pick a directory you can write with `--output DIR`".into()]
            }
            StoreError::Io { source, .. } if source.raw_os_error() == Some(28) => vec!["free some disk space and run again".into()],
            StoreError::PlatformMissing { .. } => {
                vec!["build only for the platforms the base has (`--target …`), or pick a base that has this one".into()]
            }
            StoreError::TagNotFound { image, available, .. } if !available.is_empty() => {
                let dir = image.strip_prefix("oci:").unwrap_or(image);
                let dir = dir.rsplit_once(':').map(|(d, _)| d).filter(|_| image.matches(':').count() > 1).unwrap_or(dir);
                vec![format!("name one: `--base oci:{dir}:{}`", available[0])]
            }
            StoreError::BadReference { .. } => {
                vec!["name a layout as `oci:DIR:TAG` (skopeo's syntax) or a registry image as `REGISTRY/REPO:TAG`".into()]
            }
            StoreError::Registry(e) => e.hints(),
            StoreError::Pull { image, source } if matches!(**source, registry::RegistryError::Status { status: 404, .. }) => {
                vec![format!("check the name and tag: `skopeo inspect docker://{image}` lists what is there")]
            }
            StoreError::Pull { source, .. } | StoreError::Push { source, .. } => source.hints(),
            StoreError::NotDockerCompatible { .. } => vec!["keep OCI media types: `--media-types oci`".into()],
            StoreError::Corrupt { .. } => vec!["run again: a corrupt download or cache entry is fetched again; if it persists, the source is damaged".into()],
            StoreError::BadLayout { .. } => vec!["check it with `oci-image-tool validate --type image DIR`, or write to a new directory with `--output DIR`".into()],
            _ => Vec::new(),
        }
    }
}
