//! The registry sink: blobs (skipped when present, mounted from the base's repository, else
//! uploaded in one PUT or in PATCH chunks, streamed), then manifests by digest, then the index
//! by each tag. Children always before parents, so a tag never points at missing content.

use std::io::Read;
use std::sync::{Arc, Mutex};

use oci_spec::image::{ImageIndex, ImageManifest};

use super::referrers::{push_referrers, ReferrersReport};
use super::transport::{check_retryable_status, retry, status_error, BodyFn, Registry, Repo};
use super::{Reference, RegistryError, Settings};
use crate::blob::{Blob, Content, Digest};
use crate::image::referrer::Referrer;
use crate::image::ImageSet;
use crate::store::source::ImageStore;
use crate::store::StoreError;

/// What a push writes: blobs (layers and configs), per-platform manifests, and the root (an
/// index, or a single manifest) that tags point at.
#[derive(Clone, Debug)]
pub struct PushSet {
    pub blobs: Vec<Blob>,
    pub manifests: Vec<Blob>,
    pub root: Blob,
    /// SBOMs and provenance, pushed after the tags (see `referrers`).
    pub referrers: Vec<Referrer>,
}

/// What happened to the blobs, for the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub bytes: u64,
    pub referrers: ReferrersReport,
}

impl PushSet {
    pub fn from_image_set(set: &ImageSet) -> PushSet {
        let mut blobs: Vec<Blob> = Vec::new();
        for b in set.images.iter().flat_map(|i| i.layers.iter().map(|l| &l.blob).chain([&i.config])) {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b.clone());
            }
        }
        PushSet {
            blobs,
            manifests: set.images.iter().map(|i| i.manifest.clone()).collect(),
            root: set.index.clone(),
            referrers: set.referrers.clone(),
        }
    }

    /// Everything an image store holds under its reference (a layout tag, a registry tag).
    pub fn from_store(store: &dyn ImageStore) -> Result<PushSet, StoreError> {
        let root = store.root()?;
        let bad = |why: String| StoreError::BadImage { image: store.name(), why };
        let root_blob = Blob {
            media_type: root.media_type.clone(),
            digest: root.digest.clone(),
            size: root.bytes.len() as u64,
            content: Content::Bytes(root.bytes.clone().into()),
        };
        let is_index = crate::store::source::is_index(&root.media_type, &root.bytes);
        let mut manifests = Vec::new();
        if is_index {
            let index: ImageIndex = serde_json::from_slice(&root.bytes).map_err(|e| bad(format!("index: {e}")))?;
            for d in index.manifests() {
                let media_type = d.media_type().to_string();
                if crate::store::source::is_index(&media_type, b"{}") {
                    return Err(bad("nested indexes are not supported".into()));
                }
                let digest = Digest::parse(d.digest().as_ref()).map_err(bad)?;
                let bytes = store.document(&media_type, &digest, d.size())?;
                manifests.push(Blob { media_type, digest, size: d.size(), content: Content::Bytes(bytes.into()) });
            }
        } else {
            manifests.push(root_blob.clone());
        }
        let mut blobs: Vec<Blob> = Vec::new();
        for m in &manifests {
            let manifest: ImageManifest =
                serde_json::from_slice(&m.read_all().map_err(StoreError::io("read", store.name()))?)
                    .map_err(|e| bad(format!("manifest {}: {e}", m.digest)))?;
            let c = manifest.config();
            let config_digest = Digest::parse(c.digest().as_ref()).map_err(bad)?;
            let config = store.document(c.media_type().as_ref(), &config_digest, c.size())?;
            let mut add = |b: Blob| {
                if !blobs.iter().any(|x| x.digest == b.digest) {
                    blobs.push(b)
                }
            };
            for l in manifest.layers() {
                let digest = Digest::parse(l.digest().as_ref()).map_err(bad)?;
                let content = store.layer(l.media_type().as_ref(), &digest, l.size())?;
                add(Blob { media_type: l.media_type().to_string(), digest, size: l.size(), content });
            }
            add(Blob {
                media_type: c.media_type().to_string(),
                digest: config_digest,
                size: c.size(),
                content: Content::Bytes(config.into()),
            });
        }
        if !is_index {
            manifests.clear();
        }
        Ok(PushSet { blobs, manifests, root: root_blob, referrers: Vec::new() })
    }
}

/// Pushes `set` to `target`'s repository under each of `tags`. `mount_from` is a repository
/// whose blobs may be mounted (the base's), used when it is on the same registry.
pub fn push(
    set: &PushSet,
    target: &Reference,
    tags: &[String],
    mount_from: Option<&Reference>,
    settings: &Arc<Settings>,
) -> Result<PushReport, RegistryError> {
    if target.digest.is_some() {
        return Err(RegistryError::PushToDigest { reference: target.to_string() });
    }
    let registry = Registry::connect(target, settings)?;
    let same_registry = |(reg, repo): (String, String)| (reg == target.registry).then_some(repo);
    let mount = mount_from
        .map(|r| (r.registry.clone(), r.repository.clone()))
        .and_then(same_registry)
        .or_else(|| set.blobs.iter().find_map(|b| lazy_source(b).and_then(same_registry)));
    let repo = registry.repo(&target.repository, "pull,push", mount.as_deref());
    let mut report = PushReport::default();
    for blob in &set.blobs {
        if exists(&repo, "blobs", &blob.digest, None)? {
            report.present += 1;
            continue;
        }
        // Mounting costs nothing extra when it fails: the registry answers with an upload session.
        let mounted = retry(&settings.retry, || upload(&repo, blob, mount.as_deref(), settings.chunk_size))?;
        if mounted {
            report.mounted += 1;
        } else {
            report.uploaded += 1;
            report.bytes += blob.size;
        }
    }
    for m in &set.manifests {
        if !exists(&repo, "manifests", &m.digest, Some(&m.media_type))? {
            put_manifest(&repo, m, m.digest.as_str())?;
        }
    }
    for tag in tags {
        put_manifest(&repo, &set.root, tag)?;
    }
    report.referrers = push_referrers(&repo, &set.referrers, settings.chunk_size)?;
    Ok(report)
}

/// Uploads a blob unless the repository has it; true when it was uploaded.
pub(super) fn ensure_blob(repo: &Repo, blob: &Blob, chunk: u64) -> Result<bool, RegistryError> {
    if exists(repo, "blobs", &blob.digest, None)? {
        return Ok(false);
    }
    upload(repo, blob, None, chunk)?;
    Ok(true)
}

fn lazy_source(b: &Blob) -> Option<(String, String)> {
    match &b.content {
        Content::Lazy(l) => l.source_repository(),
        _ => None,
    }
}

/// HEAD `blobs/<digest>` or `manifests/<digest>`: 200 is there, 404 is not.
pub(super) fn exists(repo: &Repo, kind: &str, digest: &Digest, accept: Option<&str>) -> Result<bool, RegistryError> {
    let url = repo.url(&format!("{kind}/{digest}"));
    let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
    let r = repo.send_retrying("HEAD", &url, &headers, None)?;
    match r.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(status_error("HEAD", &url, r)),
    }
}

fn with_query(url: &str, q: &str) -> String {
    format!("{url}{}{q}", if url.contains('?') { '&' } else { '?' })
}

/// One upload attempt from the start (a failed attempt is never resumed: the registry may hold
/// part of its body). Returns whether the blob was mounted instead.
fn upload(repo: &Repo, blob: &Blob, mount_from: Option<&str>, chunk: u64) -> Result<bool, RegistryError> {
    let mut start = repo.url("blobs/uploads/");
    if let Some(from) = mount_from {
        start = with_query(&start, &format!("mount={}&from={}", blob.digest, super::auth::encode_query(from)));
    }
    let r = check_retryable_status("POST", &start, repo.send("POST", &start, &[], None)?)?;
    match r.status().as_u16() {
        201 if mount_from.is_some() => return Ok(true),
        202 => {}
        _ => return Err(status_error("POST", &start, r)),
    }
    let mut location = next_location(repo, &start, &r)?;
    let what = format!("blob {}", blob.digest);
    let read_err = |url: &str| {
        let (what, url) = (what.clone(), super::redact_url(url));
        move |source| RegistryError::ReadBlob { what, url, source }
    };
    let octet: &[(&str, &str)] = &[("Content-Type", "application/octet-stream")];
    let done = if blob.size <= chunk {
        let url = with_query(&location, &format!("digest={}", blob.digest));
        let mut body = || -> Result<(Box<dyn Read + Send + '_>, u64), RegistryError> {
            Ok((blob.open_stream().map_err(read_err(&url))?, blob.size))
        };
        let body: &mut BodyFn<'_> = &mut body;
        (url.clone(), repo.send("PUT", &url, octet, Some(body))?)
    } else {
        // One stream, cut into chunks: the blob is read once, front to back, never held whole.
        let stream = Arc::new(Mutex::new(blob.open_stream().map_err(read_err(&location))?));
        let mut offset = 0;
        while offset < blob.size {
            let len = chunk.min(blob.size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let s = stream.clone();
            let mut body = move || -> Result<(Box<dyn Read + Send + '_>, u64), RegistryError> {
                Ok((Box::new(Shared(s.clone()).take(len)), len))
            };
            let body: &mut BodyFn<'_> = &mut body;
            let headers = [octet[0], ("Content-Range", range.as_str())];
            let r = check_retryable_status("PATCH", &location, repo.send("PATCH", &location, &headers, Some(body))?)?;
            if r.status() != 202 {
                return Err(status_error("PATCH", &location, r));
            }
            location = next_location(repo, &location, &r)?;
            offset += len;
        }
        let url = with_query(&location, &format!("digest={}", blob.digest));
        (url.clone(), repo.send("PUT", &url, &[], None)?)
    };
    let (url, r) = done;
    let r = check_retryable_status("PUT", &url, r)?;
    if r.status() != 201 {
        return Err(status_error("PUT", &url, r));
    }
    Ok(false)
}

/// A reader shared between the chunk requests of one upload.
struct Shared<'a>(Arc<Mutex<Box<dyn Read + Send + 'a>>>);

impl Read for Shared<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("upload reader poisoned"))?.read(buf)
    }
}

fn next_location(repo: &Repo, url: &str, r: &ureq::http::Response<ureq::Body>) -> Result<String, RegistryError> {
    r.headers().get("location").and_then(|v| v.to_str().ok()).map(|l| repo.absolute(l)).ok_or_else(|| {
        RegistryError::Unexpected {
            url: super::redact_url(url),
            what: "an upload session without a Location".into(),
            wanted: "a Location header".into(),
        }
    })
}

/// PUT a manifest or index under a digest or tag, and check the registry stored these bytes.
pub(super) fn put_manifest(repo: &Repo, m: &Blob, reference: &str) -> Result<(), RegistryError> {
    let url = repo.url(&format!("manifests/{reference}"));
    let bytes = m.read_all().map_err(|source| RegistryError::ReadBlob {
        what: format!("manifest {}", m.digest),
        url: url.clone(),
        source,
    })?;
    let r = repo.send_retrying("PUT", &url, &[("Content-Type", &m.media_type)], Some(&bytes))?;
    if r.status() != 201 {
        return Err(status_error("PUT", &url, r));
    }
    match r.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
        Some(d) if d != m.digest.as_str() => {
            Err(RegistryError::Unexpected { url, what: format!("digest {d}"), wanted: m.digest.to_string() })
        }
        _ => Ok(()),
    }
}
