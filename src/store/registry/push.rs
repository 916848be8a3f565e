//! The registry sink, children always before parents: blobs (skipped when present, mounted from
//! the base's repository, else uploaded: see `upload`), then manifests by digest, then the
//! referrers (SBOMs, provenance) by digest, then the root under each tag, then — on registries
//! without the referrers API — the `sha256-<digest>` tags that list the referrers. A tag never
//! points at missing content, and a failure after a tag moved says what is published.

use std::sync::Arc;

use oci_spec::image::{ImageIndex, ImageManifest};

use super::referrers::{self, ReferrersReport};
use super::transport::{Call, Registry, Repo};
use super::upload::upload;
use super::{Reference, RegistryError, Settings};
use crate::oci::{Blob, Content, Digest};
use crate::oci::{Image, Referrer};
use crate::store::source::ImageStore;
use crate::store::StoreError;

/// What a push writes: blobs (layers and configs), per-platform manifests, and the root (an
/// index, or a single manifest) that tags point at.
#[derive(Clone, Debug)]
pub struct PushSet {
    pub blobs: Vec<Blob>,
    pub manifests: Vec<Blob>,
    pub root: Blob,
    /// SBOMs, provenance and other artifacts about the root or a manifest: pushed by digest
    /// before the tags move (see `referrers`).
    pub referrers: Vec<Referrer>,
}

/// What happened to the blobs, for the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub bytes: u64,
    /// Blobs that went up in `PATCH` chunks.
    pub chunked: usize,
    pub referrers: ReferrersReport,
    /// How uploads had to change course (a refused body size), for `-v`.
    pub notes: Vec<String>,
}

impl PushSet {
    pub fn from_image_set(set: &Image) -> PushSet {
        let mut blobs: Vec<Blob> = Vec::new();
        for b in set.platforms.iter().flat_map(|i| i.layers.iter().map(|l| &l.blob).chain([&i.config])) {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b.clone());
            }
        }
        PushSet {
            blobs,
            manifests: set.platforms.iter().map(|i| i.manifest.clone()).collect(),
            root: set.root.clone(),
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
        let is_index = crate::oci::media::is_index(&root.media_type, &root.bytes);
        let mut manifests = Vec::new();
        if is_index {
            let index: ImageIndex = serde_json::from_slice(&root.bytes).map_err(|e| bad(format!("index: {e}")))?;
            for d in index.manifests() {
                let media_type = d.media_type().to_string();
                if crate::oci::media::is_index(&media_type, b"{}") {
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
        // The referrers the store holds about what is pushed: the root and every manifest.
        let mut subjects: Vec<&Digest> = manifests.iter().map(|m| &m.digest).collect();
        if is_index {
            subjects.push(&root_blob.digest);
        }
        let mut referrers = Vec::new();
        for subject in subjects {
            referrers.extend(store.referrers(subject)?);
        }
        if !is_index {
            manifests.clear();
        }
        Ok(PushSet { blobs, manifests, root: root_blob, referrers })
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
    let referrer_blobs = set.referrers.iter().flat_map(|r| r.blobs.iter());
    let mount = mount_from.map(|r| (r.registry.clone(), r.repository.clone())).and_then(same_registry).or_else(|| {
        set.blobs.iter().chain(referrer_blobs.clone()).find_map(|b| lazy_source(b).and_then(same_registry))
    });
    let repo = registry.repo(&target.repository, "pull,push", mount.as_deref());
    let mut report = PushReport::default();
    let mut seen: Vec<&Digest> = Vec::new();
    for blob in set.blobs.iter().chain(referrer_blobs) {
        if seen.contains(&&blob.digest) {
            continue;
        }
        seen.push(&blob.digest);
        push_blob(&repo, blob, mount.as_deref(), &mut report)?;
    }
    for m in &set.manifests {
        if !exists(&repo, "manifests", &m.digest, Some(&m.media_type))? {
            put_manifest(&repo, m, m.digest.as_str())?;
        }
    }
    // Attestations are in place before a tag moves: whoever follows the tag finds them.
    let listing = referrers::push_artifacts(&repo, &set.referrers, &mut report.referrers)?;
    let mut pushed: Vec<String> = Vec::new();
    for tag in tags {
        if let Err(e) = put_tag(&repo, &set.root, tag) {
            if pushed.is_empty() {
                return Err(e);
            }
            let missing = format!("`{}` is not", target.with_tag(tag));
            return Err(RegistryError::PartlyPushed { pushed, missing, source: Box::new(e) });
        }
        pushed.push(target.with_tag(tag).to_string());
    }
    // A registry without the referrers API lists them under a tag per subject, which must be
    // rewritten to add new ones: the one step that can fail after the image is published.
    referrers::list(&repo, listing, &mut report.referrers).map_err(|e| match pushed.is_empty() {
        true => e,
        false => RegistryError::PartlyPushed {
            pushed: pushed.clone(),
            missing: "its attestations are not".into(),
            source: Box::new(e),
        },
    })?;
    Ok(report)
}

/// A blob the repository lacks is mounted or uploaded.
fn push_blob(repo: &Repo, blob: &Blob, mount: Option<&str>, report: &mut PushReport) -> Result<(), RegistryError> {
    if exists(repo, "blobs", &blob.digest, None)? {
        report.present += 1;
        return Ok(());
    }
    let done = upload(repo, blob, mount)?;
    if done.mounted {
        report.mounted += 1;
    } else {
        report.uploaded += 1;
        report.bytes += blob.size;
        report.chunked += usize::from(done.patches > 0);
    }
    report.notes.extend(done.notes);
    Ok(())
}

fn lazy_source(b: &Blob) -> Option<(String, String)> {
    match &b.content {
        Content::Lazy(l) => l.source_repository(),
        _ => None,
    }
}

/// HEAD `blobs/<digest>` or `manifests/<digest>`: 200 is there, 404 is not.
pub(super) fn exists(repo: &Repo, kind: &str, digest: &Digest, accept: Option<&str>) -> Result<bool, RegistryError> {
    let mut call = Call::head(repo.url(&format!("{kind}/{digest}"))).expect(&[200, 404]);
    if let Some(a) = accept {
        call = call.header("Accept", a);
    }
    Ok(repo.call(call)?.status() == 200)
}

/// The root under a tag. An immutable tag that already points at it is left as it is.
fn put_tag(repo: &Repo, root: &Blob, tag: &str) -> Result<(), RegistryError> {
    let refused = match put_manifest(repo, root, tag) {
        Err(e) if e.is_immutable_refusal() => e,
        other => return other,
    };
    let head = Call::head(repo.url(&format!("manifests/{tag}"))).header("Accept", root.media_type.as_str());
    let current = repo.call(head.expect(&[200, 404]))?;
    let said = current.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
    if said == Some(root.digest.as_str()) {
        return Ok(());
    }
    Err(RegistryError::ImmutableTag { tag: tag.to_string(), source: Box::new(refused) })
}

/// PUT a manifest or index under a digest or tag, and check the registry stored these bytes.
pub(super) fn put_manifest(repo: &Repo, m: &Blob, reference: &str) -> Result<(), RegistryError> {
    let url = repo.url(&format!("manifests/{reference}"));
    let bytes = m.read_all().map_err(|source| RegistryError::ReadBlob {
        what: format!("manifest {}", m.digest),
        url: url.clone(),
        source,
    })?;
    let r = repo.call(Call::put(&url).header("Content-Type", m.media_type.as_str()).bytes(&bytes).expect(&[201]))?;
    match r.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
        Some(d) if d != m.digest.as_str() => {
            Err(RegistryError::Unexpected { url, what: format!("digest {d}"), wanted: m.digest.to_string() })
        }
        _ => Ok(()),
    }
}
