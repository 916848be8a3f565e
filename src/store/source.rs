//! Where images are read from: the [`Source`] trait every command reads through (a layout, a
//! registry repository, the built-in bases; `store::open` is the one list), and the
//! [`ImageStore`] trait of the stores that hold documents and blobs by digest (layouts,
//! registries), which are all sources through `read`.

use super::{read, StoreError};
use crate::oci::{BaseImage, Content, Digest, Image, Platform, Referrer};

/// A place images are read from.
pub trait Source: Send + Sync {
    /// How the user named it (`oci:/path:tag`, `registry/repo:tag`): for messages and the
    /// `org.opencontainers.image.base.name` annotation. Never contains credentials.
    fn name(&self) -> String;
    /// The image the name points at: its root, each platform's manifest and config (verified),
    /// the layers left where they are until something reads them, and whatever else the index
    /// lists (see `oci::Attached`). Referrers are asked for separately ([`Source::referrers`]).
    fn image(&self) -> Result<Image, StoreError>;
    /// One platform's image, to build on. Reads only that platform's documents.
    fn base(&self, platform: &Platform) -> Result<BaseImage, StoreError>;
    /// The artifacts (SBOMs, provenance, signatures) the source holds about `subject`, so that
    /// they travel with the image to wherever it is pushed or merged.
    fn referrers(&self, _subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
        Ok(Vec::new())
    }
}

/// A place that holds images and can hand out their documents and layers by digest.
pub trait ImageStore: Send + Sync {
    /// As [`Source::name`].
    fn name(&self) -> String;
    /// What the reference points at: an index or a manifest, with its exact bytes (verified).
    fn root(&self) -> Result<Document, StoreError>;
    /// A manifest or config by digest, verified against digest and size.
    fn document(&self, media_type: &str, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError>;
    /// A layer's bytes, opened lazily and checked against the digest when they are.
    fn layer(&self, media_type: &str, digest: &Digest, size: u64) -> Result<Content, StoreError>;
    /// As [`Source::referrers`].
    fn artifacts(&self, _subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
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

/// Every store is a source: the same reading for layouts and registries.
impl<S: ImageStore> Source for S {
    fn name(&self) -> String {
        ImageStore::name(self)
    }
    fn image(&self) -> Result<Image, StoreError> {
        read::image(self)
    }
    fn base(&self, platform: &Platform) -> Result<BaseImage, StoreError> {
        read::base(self, platform)
    }
    fn referrers(&self, subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
        self.artifacts(subject)
    }
}
