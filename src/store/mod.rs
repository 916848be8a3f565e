//! Where bytes live, grouped by place as go-containerregistry does (`layout`, `remote`,
//! `tarball`): an OCI layout directory, a registry, an oci-archive, the built-in bases, the blob
//! cache. Images are read through [`Source`] ([`open`] is the one list of sources) and written
//! through `sink::Sink` (`sink::open` is the one list of sinks). Imports `oci`, `layer` and the
//! utilities; never `plan`.

pub mod archive;
pub mod builtin;
pub mod cache;
pub mod concurrent;
pub mod disk;
pub mod docker_api;
pub mod fetch;
pub mod gc;
pub mod layer_cache;
pub mod layout;
pub mod layout_sink;
pub mod layout_source;
pub mod load;
pub mod lock;
pub mod read;
pub mod registry;
pub mod sink;
pub mod source;
pub mod staging;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use source::Source;

use crate::oci::{Digest, ImageName};

/// An image named on the command line of `inspect`, `diff`, `merge` or `push`: as
/// [`ImageName::parse`], except that a path to an OCI layout on this machine
/// (`target/oci/app`, `target/oci/app:1.0`) is that layout, as if written `oci:…` — not an
/// image of that name on Docker Hub.
pub fn name_from_arg(arg: &str, cwd: &Path) -> Result<ImageName, crate::oci::BadName> {
    let dir = match arg.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => dir,
        _ => arg,
    };
    let is_layout = |d: &str| cwd.join(d).join("oci-layout").is_file();
    if !arg.starts_with("oci:") && (is_layout(arg) || is_layout(dir)) {
        let dir = if is_layout(arg) { arg } else { dir };
        let tag = arg.strip_prefix(dir).and_then(|t| t.strip_prefix(':')).map(String::from);
        return Ok(ImageName::Layout { path: cwd.join(dir), tag, digest: None });
    }
    ImageName::parse(arg, cwd)
}

/// The one list of sources: how each kind of name is read.
pub fn open(name: &ImageName, registries: &Arc<registry::Settings>) -> Box<dyn Source> {
    match name {
        ImageName::Static => Box::new(builtin::Static),
        ImageName::Scratch => Box::new(builtin::Scratch),
        ImageName::Layout { path, tag, digest } => {
            Box::new(layout_source::LayoutStore::new(path, tag.as_deref()).pinned(digest.clone()))
        }
        ImageName::Registry { reference } => {
            Box::new(registry::source::RegistryStore::new(reference.clone(), registries.clone()))
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
    #[error("`{image}` is locked to {digest}, which the layout no longer holds")]
    LockedBlobMissing { image: String, digest: Digest },
    #[error("`{}` is not an OCI image layout: {}", path.display(), if path.exists() { "it has no `oci-layout` file" } else { "it does not exist" })]
    NotALayout { path: PathBuf },
    #[error("base `{image}` has no image for {wanted}; it has: {}", if available.is_empty() { "no platforms".to_string() } else { available.join(", ") })]
    PlatformMissing { image: String, wanted: String, available: Vec<String> },
    #[error("`{image}` has no {}; it has: {}", tag.as_ref().map(|t| format!("tag `{t}`")).unwrap_or("single image (name a tag)".into()), if available.is_empty() { "no tags".to_string() } else { available.join(", ") })]
    TagNotFound { image: String, tag: Option<String>, available: Vec<String> },
    #[error("`{image}` is not a usable image: {why}")]
    BadImage { image: String, why: String },
    #[error("{what} does not match its digest: expected {expected}, found {actual}")]
    Corrupt { what: String, expected: String, actual: String },
    #[error("blob `{}` is corrupt: expected {expected}, found {actual}", path.display())]
    CorruptBlob { path: PathBuf, expected: String, actual: String },
    #[error("{what} has {actual} bytes where its descriptor says {expected} (its digest {digest} matches)")]
    WrongSize { what: String, digest: String, expected: u64, actual: u64 },
    #[error(transparent)]
    Name(#[from] crate::oci::BadName),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("failed to pull `{image}`")]
    Pull {
        image: String,
        #[source]
        source: Box<registry::RegistryError>,
    },
    #[error("failed to pull blob `{origin}`")]
    PullBlob {
        /// `REGISTRY/REPO@DIGEST`: the blob and where it was pulled from.
        origin: String,
        digest: Digest,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("failed to push to `{target}`")]
    Push {
        target: String,
        #[source]
        source: Box<registry::RegistryError>,
    },
    #[error(transparent)]
    Load(#[from] load::LoadError),
    #[error(transparent)]
    NotDockerCompatible(#[from] crate::oci::NotDockerCompatible),
    #[error("failed to encode {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// A failed `op` on `path`; an I/O error that carries a `StoreError` (a lazily opened blob
    /// that did not match its digest) is that error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| {
            if !source.get_ref().is_some_and(|e| e.is::<StoreError>()) {
                return StoreError::Io { op, path, source };
            }
            let kind = source.kind();
            match source.into_inner().map(|e| e.downcast::<StoreError>()) {
                Some(Ok(inner)) => *inner,
                Some(Err(other)) => StoreError::Io { op, path, source: std::io::Error::new(kind, other) },
                None => StoreError::Io { op, path, source: kind.into() },
            }
        }
    }

    /// Bytes that do not match their descriptor: a different digest, or (the same digest) a
    /// different size, which says the descriptor rather than the bytes is wrong.
    pub fn mismatch(what: String, digest: &Digest, size: u64, actual: &Digest, actual_size: u64) -> StoreError {
        if actual == digest {
            return StoreError::WrongSize { what, digest: digest.to_string(), expected: size, actual: actual_size };
        }
        StoreError::Corrupt {
            what,
            expected: format!("{digest} ({size} bytes)"),
            actual: format!("{actual} ({actual_size} bytes)"),
        }
    }

    /// [`StoreError::mismatch`] for a blob file of a layout, named by its path.
    pub fn blob_mismatch(path: &Path, digest: &Digest, size: u64, actual: &Digest, actual_size: u64) -> StoreError {
        match StoreError::mismatch(path.display().to_string(), digest, size, actual, actual_size) {
            StoreError::Corrupt { expected, actual, .. } => {
                StoreError::CorruptBlob { path: path.into(), expected, actual }
            }
            other => other,
        }
    }

    /// Whether [`StoreError::hints`] says all there is to say about its cause too (a pull's
    /// 404 names the image; the registry's own 404 hint would repeat it less precisely).
    pub fn covers_cause(&self) -> bool {
        match self {
            StoreError::Pull { source, .. } => matches!(**source, registry::RegistryError::Status { status: 404, .. }),
            StoreError::Registry(e) => e.covers_cause(),
            _ => false,
        }
    }

    /// The fixes this error knows; those of its causes are added by `error::hints`.
    pub fn hints(&self) -> Vec<String> {
        match self {
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                vec!["pick a directory you can write with `--output DIR`".into()]
            }
            StoreError::PlatformMissing { .. } => {
                vec!["build only for the platforms the base has (`--target …`), or pick a base that has this one".into()]
            }
            StoreError::TagNotFound { image, available, .. } if !available.is_empty() => {
                let dir = image.strip_prefix("oci:").unwrap_or(image);
                let dir = dir.rsplit_once(':').map(|(d, _)| d).filter(|_| image.matches(':').count() > 1).unwrap_or(dir);
                // Said the way every command takes it (`--base`, `inspect`, `diff`, `merge`, `push`).
                vec![format!("name one: `oci:{dir}:{}`", available[0])]
            }
            StoreError::Name(e) => e.hints(),
            StoreError::Registry(e) => e.hints(),
            StoreError::Pull { image, source } if matches!(**source, registry::RegistryError::Status { status: 404, .. }) => {
                vec![format!("check the name and tag: `skopeo inspect docker://{image}` lists what is there")]
            }
            StoreError::NotDockerCompatible(e) => e.hints(),
            StoreError::Load(e) => e.hints(),
            StoreError::Corrupt { .. } => vec!["run again: a corrupt download or cache entry is fetched again; if it persists, the source is damaged".into()],
            StoreError::CorruptBlob { .. } => vec!["write the image into the layout again: `cargo oci build` (or `skopeo copy`) replaces a corrupt blob".into()],
            StoreError::BadLayout { .. } => vec!["check it with `oci-image-tool validate --type image DIR`".into()],
            StoreError::NotALayout { .. } => vec!["`oci:DIR[:TAG]` names the directory of an OCI image layout (with an `oci-layout` file): check the path, or make one with `skopeo copy docker://IMAGE oci:DIR:TAG`".into()],
            StoreError::LockedBlobMissing { .. } => vec!["lock what the tag points at now: `cargo oci lock --update`, or restore the layout the lock was written from".into()],
            StoreError::WrongSize { digest, .. } => vec![format!("the document that lists {digest} gives a wrong size: rebuild or copy again the image that names it")],
            _ => Vec::new(),
        }
    }
}
