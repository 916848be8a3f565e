//! A registry repository as an image store: `--base REGISTRY/REPO[:TAG][@DIGEST]`. Documents are
//! fetched (or read from the cache) and verified; layers stay lazy until a sink needs them.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::Digest as _;

use super::transport::{Call, Registry, Repo};
use super::{Reference, RegistryError, Settings};
use crate::oci::referrer::parse_artifact;
use crate::oci::MediaFamily;
use crate::oci::Referrer;
use crate::oci::{Blob, Content, Digest, LazyContent};
use crate::store::cache::Cache;
use crate::store::source::{Document, ImageStore};
use crate::store::StoreError;

/// Manifests and indexes are small; anything larger is not one.
const MAX_MANIFEST: u64 = 8 << 20;
/// Configs of real images are kilobytes; a generous cap keeps a hostile registry from filling memory.
const MAX_CONFIG: u64 = 64 << 20;

/// The manifest types we understand, in the order we prefer them.
pub fn manifest_accept() -> String {
    [MediaFamily::Oci.index(), MediaFamily::Oci.manifest(), MediaFamily::Docker.index(), MediaFamily::Docker.manifest()]
        .join(", ")
}

/// A small document as the registry served it.
struct Fetched {
    content_type: Option<String>,
    /// `Docker-Content-Digest`: which digest the registry says it served.
    said: Option<String>,
    bytes: Vec<u8>,
}

/// Shared by the store and its lazy layers: the reference, and a connection made on first use
/// (a base pinned by digest and fully cached never connects).
pub struct Remote {
    pub reference: Reference,
    settings: Arc<Settings>,
    repo: Mutex<Option<Arc<Repo>>>,
}

impl Remote {
    pub fn new(reference: Reference, settings: Arc<Settings>) -> Arc<Remote> {
        Arc::new(Remote { reference, settings, repo: Mutex::new(None) })
    }

    pub fn repo(&self) -> Result<Arc<Repo>, RegistryError> {
        let mut slot = self.repo.lock().expect("repo lock");
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let registry = Registry::connect(&self.reference, &self.settings)?;
        let repo = Arc::new(registry.repo(&self.reference.repository, "pull", None));
        *slot = Some(repo.clone());
        Ok(repo)
    }

    fn cache(&self) -> Option<&Cache> {
        self.settings.cache.as_deref()
    }

    /// GET `manifests/<target>` or `blobs/<digest>`, limited to `limit` bytes.
    fn get_small(&self, kind: &str, target: &str, limit: u64) -> Result<Fetched, RegistryError> {
        let repo = self.repo()?;
        let url = repo.url(&format!("{kind}/{target}"));
        let mut call = Call::get(&url);
        if kind == "manifests" {
            call = call.header("Accept", manifest_accept());
        }
        let response = repo.call(call)?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let said = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(String::from);
        let bytes = response.into_body().with_config().limit(limit).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge { what: kind.into(), url: url.clone(), limit },
            e => RegistryError::Transport { op: "read".into(), url: url.clone(), proxy: None, source: Box::new(e) },
        })?;
        Ok(Fetched { content_type, said, bytes })
    }

    /// A verified document by digest: from the cache, else fetched and cached.
    fn document(
        &self,
        kind: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<(Option<String>, Vec<u8>), StoreError> {
        if let Some(bytes) = self.cache().and_then(|c| c.bytes(digest, size)) {
            return Ok((None, bytes));
        }
        let limit = if kind == "manifests" { MAX_MANIFEST } else { MAX_CONFIG };
        let Fetched { content_type: ct, bytes, .. } =
            self.get_small(kind, digest.as_str(), size.unwrap_or(limit).min(limit)).map_err(|e| self.failed(e))?;
        self.verify(&format!("{kind} {digest}"), digest, size, &bytes)?;
        if let Some(c) = self.cache() {
            c.put_bytes(digest, &bytes);
        }
        Ok((ct, bytes))
    }

    fn failed(&self, source: RegistryError) -> StoreError {
        StoreError::Pull { image: self.reference.to_string(), source: Box::new(source) }
    }

    fn verify(&self, what: &str, digest: &Digest, size: Option<u64>, bytes: &[u8]) -> Result<(), StoreError> {
        let actual = Digest::of(bytes);
        let len = bytes.len() as u64;
        let what = format!("{what} from {}", self.reference.name());
        match size {
            Some(s) if actual != *digest || s != len => Err(StoreError::mismatch(what, digest, s, &actual, len)),
            None if actual != *digest => Err(StoreError::Corrupt {
                what,
                expected: digest.to_string(),
                actual: format!("{actual} ({len} bytes)"),
            }),
            _ => Ok(()),
        }
    }

    /// Streams a blob from the registry (retrying until the response starts).
    fn blob_reader(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, RegistryError> {
        let repo = self.repo()?;
        let response = repo.call(Call::get(repo.url(&format!("blobs/{digest}"))))?;
        Ok(Box::new(response.into_body().into_reader()))
    }
}

/// `--base REF` from a registry.
pub struct RegistryStore {
    remote: Arc<Remote>,
    root: Mutex<Option<Document>>,
}

impl RegistryStore {
    pub fn new(reference: Reference, settings: Arc<Settings>) -> RegistryStore {
        RegistryStore { remote: Remote::new(reference, settings), root: Mutex::new(None) }
    }
}

/// A document's own `mediaType`, else what the registry said it was.
fn media_type_of(bytes: &[u8], content_type: Option<String>) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(String::from))
        .or(content_type)
        .unwrap_or_default()
}

impl ImageStore for RegistryStore {
    fn name(&self) -> String {
        self.remote.reference.to_string()
    }

    fn root(&self) -> Result<Document, StoreError> {
        let mut slot = self.root.lock().expect("root lock");
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let r = &self.remote.reference;
        let doc = match &r.digest {
            // Pinned: the cache answers, so this works offline.
            Some(d) => {
                let (ct, bytes) = self.remote.document("manifests", d, None)?;
                Document { media_type: media_type_of(&bytes, ct), digest: d.clone(), bytes }
            }
            None => {
                let Fetched { content_type: ct, said, bytes } =
                    self.remote.get_small("manifests", &r.target(), MAX_MANIFEST).map_err(|e| self.remote.failed(e))?;
                let digest = Digest::of(&bytes);
                // A tag has no digest to check against, but the registry says which it served.
                if let Some(said) = said.as_deref().and_then(|d| Digest::parse(d).ok()) {
                    self.remote.verify(&format!("manifest {}", r.target()), &said, None, &bytes)?;
                }
                if let Some(c) = self.remote.cache() {
                    c.put_bytes(&digest, &bytes);
                }
                Document { media_type: media_type_of(&bytes, ct), digest, bytes }
            }
        };
        *slot = Some(doc.clone());
        Ok(doc)
    }

    fn document(&self, media_type: &str, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError> {
        let is_manifest = [MediaFamily::Oci, MediaFamily::Docker]
            .iter()
            .any(|f| f.manifest() == media_type || f.index() == media_type);
        let kind = if is_manifest { "manifests" } else { "blobs" };
        Ok(self.remote.document(kind, digest, Some(size))?.1)
    }

    fn layer(&self, _media_type: &str, digest: &Digest, size: u64) -> Result<Content, StoreError> {
        Ok(Content::Lazy(Arc::new(RemoteBlob {
            remote: self.remote.clone(),
            digest: digest.clone(),
            size,
            fetched: OnceLock::new(),
        })))
    }

    /// The referrers API's answer, else the `sha256-<hex>` fallback tag's index: each artifact
    /// manifest fetched and verified, its blobs left lazy (mounted or streamed by a push).
    fn artifacts(&self, subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
        let listed = self.remote.repo().and_then(|repo| super::referrers::descriptors(&repo, subject));
        let mut out = Vec::new();
        for d in listed.map_err(|e| self.remote.failed(e))? {
            let media_type = d.media_type().to_string();
            let Ok(digest) = Digest::parse(d.digest().as_ref()) else { continue };
            // Only image manifests are artifacts we can carry; an index listed here is skipped.
            if media_type != MediaFamily::Oci.manifest() {
                continue;
            }
            let (_, bytes) = self.remote.document("manifests", &digest, Some(d.size()))?;
            let Ok(parts) = parse_artifact(&bytes) else { continue };
            if parts.subject != *subject {
                continue;
            }
            let blobs = parts
                .blobs
                .into_iter()
                .map(|(media_type, digest, size)| {
                    Ok(Blob { content: self.layer(&media_type, &digest, size)?, media_type, digest, size })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let manifest = Blob::from_bytes(media_type, bytes);
            out.push(Referrer { artifact_type: parts.artifact_type, subject: subject.clone(), manifest, blobs });
        }
        Ok(out)
    }
}

/// A base layer in a registry: fetched into the cache when a sink needs it, or streamed through
/// when it goes to another registry.
pub struct RemoteBlob {
    pub remote: Arc<Remote>,
    pub digest: Digest,
    pub size: u64,
    /// The cache entry this process downloaded, checked on the way in: reading it need not hash
    /// it again.
    fetched: OnceLock<std::path::PathBuf>,
}

impl RemoteBlob {
    /// Downloads the blob into the cache (checked on the way in; the entry appears only whole),
    /// retrying a transfer that breaks off; `received` counts the bytes of each attempt.
    fn fetch_to_cache(&self, cache: &Cache, received: &dyn Fn(u64)) -> io::Result<std::path::PathBuf> {
        let policy = self.remote.settings.retry;
        super::transport::retry(&policy, || {
            let inner = self.remote.blob_reader(&self.digest)?;
            let mut counted = Counted { inner, n: 0, received };
            cache.put_reader(&self.digest, self.size, &mut counted).map_err(|source| RegistryError::Download {
                what: format!("blob {}", self.digest),
                url: self.remote.reference.name(),
                source,
            })
        })
        .map_err(io::Error::other)
        .inspect(|path| drop(self.fetched.set(path.clone())))
    }

    /// The cache entry, verified: the one this process fetched, else one checked now.
    fn cached(&self, cache: &Cache) -> Option<std::path::PathBuf> {
        self.fetched.get().cloned().or_else(|| cache.file(&self.digest, Some(self.size)))
    }
}

impl LazyContent for RemoteBlob {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        match self.remote.cache() {
            Some(cache) => {
                let path = match self.cached(cache) {
                    Some(p) => p,
                    None => self.fetch_to_cache(cache, &|_| {})?,
                };
                Ok(Box::new(std::fs::File::open(path)?))
            }
            None => self.open_stream(),
        }
    }

    fn open_stream(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        if let Some(p) = self.remote.cache().and_then(|c| self.cached(c)) {
            return Ok(Box::new(std::fs::File::open(p)?));
        }
        let inner = self.remote.blob_reader(&self.digest).map_err(io::Error::other)?;
        Ok(Box::new(Verify { inner, hasher: sha2::Sha256::new(), n: 0, digest: self.digest.clone(), size: self.size }))
    }

    fn origin(&self) -> String {
        format!("{}@{}", self.remote.reference.name(), self.digest)
    }

    fn source_repository(&self) -> Option<(String, String)> {
        let r = &self.remote.reference;
        Some((r.registry.clone(), r.repository.clone()))
    }

    /// Without a cache there is nowhere to fetch to: `open` streams the blob then.
    fn to_fetch(&self) -> Option<u64> {
        let cache = self.remote.cache()?;
        (!cache.holds(&self.digest, self.size)).then_some(self.size)
    }

    fn fetch(&self, received: &dyn Fn(u64)) -> io::Result<()> {
        match self.remote.cache() {
            Some(cache) => self.fetch_to_cache(cache, received).map(drop),
            None => Ok(()),
        }
    }
}

/// Tells `received` how many bytes have come through so far.
struct Counted<'a> {
    inner: Box<dyn Read + Send>,
    n: u64,
    received: &'a dyn Fn(u64),
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        (self.received)(self.n);
        Ok(k)
    }
}

/// Checks a stream against its digest and size as it is read: the end of a stream whose bytes
/// do not match is an `InvalidData` error, so nothing built on it is accepted.
struct Verify {
    inner: Box<dyn Read + Send>,
    hasher: sha2::Sha256,
    n: u64,
    digest: Digest,
    size: u64,
}

impl Read for Verify {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.hasher.update(&buf[..k]);
        self.n += k as u64;
        if self.n > self.size || (k == 0 && !buf.is_empty()) {
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if self.n != self.size || actual != self.digest.as_str() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("blob {} does not match: got {actual} ({} bytes)", self.digest, self.n),
                ));
            }
        }
        Ok(k)
    }
}
