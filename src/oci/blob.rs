//! A blob: its descriptor's fields kept with its exact bytes (in memory, in a file, or fetched
//! lazily), and an image layer (a blob plus its uncompressed digest).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::image::{Descriptor, MediaType};

use super::digest::Digest;

/// Where a blob's bytes are.
#[derive(Clone)]
pub enum Content {
    /// Small blobs: JSON documents, the built-in base layer.
    Bytes(Arc<[u8]>),
    /// A file written (and hashed) by us or verified on the way in, e.g. a staged layer.
    File(Arc<PathBuf>),
    /// Bytes that live elsewhere and are fetched only when a sink needs them (a registry base
    /// layer that the destination already has never moves).
    Lazy(Arc<dyn LazyContent>),
}

/// A blob whose bytes are fetched on demand and checked against their digest by the fetcher.
pub trait LazyContent: Send + Sync {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>>;
    /// Where it comes from, for messages (no secrets).
    fn origin(&self) -> String;
    /// Opens the bytes to pass them straight on (registry → registry), without keeping a copy
    /// where the source can avoid it; still checked against the digest.
    fn open_stream(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        self.open()
    }
    /// `(registry, repository)` the blob lives in, so a push to the same registry can mount it.
    fn source_repository(&self) -> Option<(String, String)> {
        None
    }
    /// A file on this machine holding exactly these bytes, checked against the digest now (a
    /// layout's blob), so a sink on the same file system can link it rather than copy it.
    /// `Ok(None)`: the bytes are elsewhere.
    fn local_file(&self) -> io::Result<Option<PathBuf>> {
        Ok(None)
    }
    /// How many bytes [`LazyContent::fetch`] would bring over; `None` when `open` reads them
    /// on this machine already (or they are kept nowhere, so nothing can be fetched ahead).
    fn to_fetch(&self) -> Option<u64> {
        None
    }
    /// Brings the bytes onto this machine ahead of `open`, checked against the digest on the
    /// way; `received` is told how many bytes of this attempt have arrived (from 0 again when
    /// an attempt starts over), for a progress bar.
    fn fetch(&self, _received: &dyn Fn(u64)) -> io::Result<()> {
        Ok(())
    }
}

/// A blob: its descriptor's fields together with its exact bytes, so the digest in a parent can
/// never drift from what is written.
#[derive(Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub content: Content,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} {} {}B)", self.media_type, self.digest, self.size)
    }
}

impl Blob {
    pub fn from_bytes(media_type: impl Into<String>, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.into(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            content: Content::Bytes(bytes.into()),
        }
    }

    /// A JSON document, serialized canonically; the digest is of exactly these bytes.
    pub fn json<T: serde::Serialize + ?Sized>(media_type: impl Into<String>, value: &T) -> serde_json::Result<Blob> {
        Ok(Blob::from_bytes(media_type, super::json::to_vec(value)?))
    }

    pub fn descriptor(&self) -> Descriptor {
        let digest =
            oci_spec::image::Digest::try_from(self.digest.as_str()).expect("sha256 digests are valid OCI digests");
        Descriptor::new(MediaType::from(self.media_type.as_str()), self.size, digest)
    }

    /// Opens the bytes for reading (streamed; a large layer is never held in memory).
    pub fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(match &self.content {
            Content::Bytes(b) => Box::new(&b[..]),
            Content::File(p) => Box::new(File::open(p.as_path())?),
            Content::Lazy(l) => l.open()?,
        })
    }

    /// Opens the bytes to pass them on to another store (see [`LazyContent::open_stream`]).
    pub fn open_stream(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        match &self.content {
            Content::Lazy(l) => l.open_stream(),
            _ => self.open(),
        }
    }

    /// The file holding the bytes, if they are on this machine (checked, for lazily opened ones).
    pub fn local_file(&self) -> io::Result<Option<PathBuf>> {
        match &self.content {
            Content::Bytes(_) => Ok(None),
            Content::File(p) => Ok(Some(p.to_path_buf())),
            Content::Lazy(l) => l.local_file(),
        }
    }

    /// The bytes, for small blobs (manifests, configs) that are parsed.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        if let Content::Bytes(b) = &self.content {
            return Ok(b.to_vec());
        }
        // The size is a descriptor's claim: reserve for small documents only.
        let mut v = Vec::with_capacity(self.size.min(1 << 20) as usize);
        self.open()?.read_to_end(&mut v)?;
        Ok(v)
    }
}

/// One layer of an image: the compressed blob plus the uncompressed digest for the config.
#[derive(Clone, Debug)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: Digest,
    /// The history entry's `created_by`.
    pub created_by: String,
}
