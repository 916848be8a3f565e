//! Pushing an image to a registry repository (what `sink::RegistrySink` runs), children always
//! before parents: blobs (skipped when present, mounted from
//! the base's repository, else uploaded: see `upload`), then manifests by digest, then the
//! referrers (SBOMs, provenance) by digest, then the root under each tag, then — on registries
//! without the referrers API — the `sha256-<digest>` tags that list the referrers. A tag never
//! points at missing content, and a failure after a tag moved says what is published.

use std::sync::Arc;

use super::referrers::{self, ReferrersReport};
use super::transport::{Call, Registry, Repo};
use super::upload::upload;
use super::{Reference, RegistryError, Settings};
use crate::oci::{Blob, Content, Digest, Image};
use crate::store::concurrent::each_concurrently;

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

/// Pushes `image` to `target`'s repository under each of `tags`. `mount_from` is a repository
/// whose blobs may be mounted (the base's), used when it is on the same registry.
pub fn push(
    image: &Image,
    target: &Reference,
    tags: &[String],
    mount_from: Option<&Reference>,
    settings: &Arc<Settings>,
    progress: &crate::progress::Progress,
) -> Result<PushReport, RegistryError> {
    if target.digest.is_some() {
        return Err(RegistryError::PushToDigest { reference: target.to_string() });
    }
    let registry = Registry::connect(target, settings)?;
    let same_registry = |(reg, repo): (String, String)| (reg == target.registry).then_some(repo);
    let leaves = image.leaves();
    let referrer_blobs = image.referrers.iter().flat_map(|r| r.blobs.iter());
    let mount = mount_from.map(|r| (r.registry.clone(), r.repository.clone())).and_then(same_registry).or_else(|| {
        leaves.iter().copied().chain(referrer_blobs.clone()).find_map(|b| lazy_source(b).and_then(same_registry))
    });
    let repo = registry.repo(&target.repository, "pull,push", mount.as_deref());
    let mut report = PushReport::default();
    let mut blobs: Vec<&Blob> = Vec::new();
    for blob in leaves.iter().copied().chain(referrer_blobs) {
        if !blobs.iter().any(|b| b.digest == blob.digest) {
            blobs.push(blob);
        }
    }
    // Every blob of every platform at once (`-j` in flight): each HEAD and upload waits on round
    // trips, not on us. Then the manifests, siblings of one another, at once too.
    let jobs = settings.jobs;
    for one in each_concurrently(&blobs, jobs, |blob| {
        let mut one = PushReport::default();
        push_blob(&repo, blob, mount.as_deref(), progress, &mut one).map(|()| one)
    })? {
        report.add(one);
    }
    each_concurrently(&image.manifests(), jobs, |m| {
        match exists(&repo, "manifests", &m.digest, Some(&m.media_type))? {
            true => Ok(()),
            false => put_manifest(&repo, m, m.digest.as_str()),
        }
    })?;
    // Attestations are in place before a tag moves: whoever follows the tag finds them.
    let listing = referrers::push_artifacts(&repo, &image.referrers, &mut report.referrers)?;
    let mut pushed: Vec<String> = Vec::new();
    for tag in tags {
        if let Err(e) = put_tag(&repo, &image.root, tag) {
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

impl PushReport {
    fn add(&mut self, other: PushReport) {
        self.uploaded += other.uploaded;
        self.mounted += other.mounted;
        self.present += other.present;
        self.bytes += other.bytes;
        self.chunked += other.chunked;
        self.notes.extend(other.notes);
    }
}

/// A blob the repository lacks is mounted or uploaded.
fn push_blob(
    repo: &Repo,
    blob: &Blob,
    mount: Option<&str>,
    progress: &crate::progress::Progress,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    if exists(repo, "blobs", &blob.digest, None)? {
        report.present += 1;
        return Ok(());
    }
    let bar = progress.transfer("Uploading", &blob.digest, blob.size);
    let done = upload(repo, blob, mount, &bar);
    bar.finish_and_clear();
    let done = done?;
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
