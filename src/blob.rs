//! Content addressing: digests, a hashing writer, and a blob's descriptor kept with its bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::image::{Descriptor, MediaType};
use sha2::{Digest as _, Sha256};

/// A `sha256:<hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// Parses `sha256:<64 lowercase hex>`; other algorithms are refused (we never write them,
    /// and a layout or registry that uses them is reported rather than half-understood).
    pub fn parse(s: &str) -> Result<Digest, String> {
        match s.strip_prefix("sha256:") {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
                Ok(Digest(s.to_string()))
            }
            _ => Err(format!("`{s}` is not a sha256 digest")),
        }
    }

    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A writer that hashes and counts every byte on its way to `inner`.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter { inner, hasher: Sha256::new(), len: 0 }
    }

    /// Returns the inner writer with the digest and length of what went through.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.len)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes everything a reader yields (used to verify blobs we did not write).
pub fn digest_reader(mut r: impl Read) -> io::Result<(Digest, u64)> {
    let mut w = HashWriter::new(io::sink());
    io::copy(&mut r, &mut w)?;
    let (_, d, n) = w.finish();
    Ok((d, n))
}

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
        Ok(Blob::from_bytes(media_type, crate::json::to_vec(value)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty() {
        assert_eq!(Digest::of(b"").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let (d, n) = digest_reader(&b"abc"[..]).unwrap();
        assert_eq!((d.hex(), n), ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3));
    }

    #[test]
    fn parse_rejects_other_forms() {
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }
}
