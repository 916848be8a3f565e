//! Where bytes live: sources of bases (built-in, scratch, layouts) and sinks for images (layouts).

pub mod builtin;
pub mod layout;
pub mod layout_source;
pub mod read;
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

#[derive(Clone, Debug)]
pub struct BaseReference {
    pub name: String,
    pub digest: Digest,
}

/// A place bases come from. Resolves per platform because an index base has one image each.
pub trait BaseSource: Send + Sync {
    fn resolve(&self, platform: &Platform) -> Result<BaseImage, StoreError>;
}

pub fn open_base(spec: &BaseSpec) -> Result<Box<dyn BaseSource>, StoreError> {
    Ok(match spec {
        BaseSpec::Static => Box::new(builtin::Static),
        BaseSpec::Scratch => Box::new(builtin::Scratch),
        BaseSpec::Layout { path, tag } => Box::new(layout_source::LayoutStore::new(path, tag.as_deref())),
    })
}

/// Opens an image named on the command line (`oci:DIR[:TAG]`) as a store.
pub fn open_image(reference: &str, cwd: &std::path::Path) -> Result<Box<dyn source::ImageStore>, StoreError> {
    match layout_source::parse_oci_ref(reference) {
        Some((dir, tag)) => Ok(Box::new(layout_source::LayoutStore::new(&cwd.join(dir), tag.as_deref()))),
        None => Err(StoreError::BadReference { reference: reference.into() }),
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
            StoreError::BadReference { .. } => vec!["name an OCI layout as `oci:DIR:TAG` (skopeo's syntax)".into()],
            StoreError::BadLayout { .. } => vec!["check it with `oci-image-tool validate --type image DIR`, or write to a new directory with `--output DIR`".into()],
            _ => Vec::new(),
        }
    }
}
