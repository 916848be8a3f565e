//! The value types every stage shares — the crate's go-containerregistry `pkg/v1` + `pkg/name`:
//! digests, blobs and layers, media types, platforms, image names and destinations, the image
//! values (platform images, whole images, bases, referrers), and canonical JSON.
//!
//! This module imports nothing else of the crate (a test keeps it so): stages depend on it, it
//! depends on no stage.

pub mod blob;
pub mod digest;
pub mod image;
pub mod json;
pub mod media;
pub mod name;
pub mod platform;
pub mod referrer;

pub use blob::{Blob, Content, Layer, LazyContent};
pub use digest::{digest_reader, Digest, HashWriter};
pub use image::{
    rfc3339, Attached, BaseImage, BaseReference, ContainerConfig, Image, NotDockerCompatible, PlatformImage,
};
pub use media::MediaFamily;
pub use name::{BadName, Destination, ImageName, LoadEngine, LocalName, Reference, ReferenceError};
pub use platform::Platform;
pub use referrer::Referrer;
