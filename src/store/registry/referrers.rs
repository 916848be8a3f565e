//! OCI 1.1 referrers (SBOMs, provenance, anyone's signatures) on a registry. Pushing: each
//! artifact manifest goes up by digest, before the image's tags move. A registry with the
//! referrers API indexes them by subject itself; one without it gets the fallback the spec
//! defines — an image index of the referrers under the tag `sha256-<subject hex>`, read, extended,
//! written back after the image's tags. Reading: the API, else that tag.
//!
//! The API is there only when `GET /v2/<name>/referrers/<digest>` answers 200 with an OCI index.
//! Anything else is "no API": a 404, a redirect to a login page (Google Artifact Registry, see
//! awslabs/soci-snapshotter docs/registry.md), an HTML body, a refusal.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndex};

use super::push::{exists, put_manifest};
use super::transport::{Call, Repo};
use super::RegistryError;
use crate::oci::Referrer;
use crate::oci::{Blob, Digest};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MAX_INDEX: u64 = 4 << 20;

/// How the referrers went up, for the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferrersReport {
    pub pushed: usize,
    /// `sha256-<hex>` fallback tags written (the registry has no referrers API).
    pub fallback_tags: Vec<String>,
}

/// The referrers to list under fallback tags, by subject (empty when the registry has the API).
#[derive(Debug, Default)]
pub struct Listing(BTreeMap<String, Vec<Descriptor>>);

/// Pushes each referrer's manifest by digest (its blobs are already there); says what is left to
/// list under fallback tags once the image is tagged.
pub fn push_artifacts(
    repo: &Repo,
    referrers: &[Referrer],
    report: &mut ReferrersReport,
) -> Result<Listing, RegistryError> {
    let mut listing = Listing::default();
    let Some(first) = referrers.first() else { return Ok(listing) };
    let api = referrers_api(repo, &first.subject)?.is_some();
    for r in referrers {
        if !exists(repo, "manifests", &r.manifest.digest, Some(&r.manifest.media_type))? {
            put_manifest(repo, &r.manifest, r.manifest.digest.as_str())?;
            report.pushed += 1;
        }
        if !api {
            listing.0.entry(r.subject.hex().to_string()).or_default().push(r.descriptor());
        }
    }
    Ok(listing)
}

/// Lists referrers under `sha256-<subject hex>` tags (after the image's tags moved).
pub fn list(repo: &Repo, listing: Listing, report: &mut ReferrersReport) -> Result<(), RegistryError> {
    for (subject, descriptors) in listing.0 {
        let tag = format!("sha256-{subject}");
        let mut index = fallback_index(repo, &tag)?.unwrap_or_else(crate::store::layout::empty_index);
        let mut manifests = index.manifests().clone();
        let before = manifests.len();
        manifests
            .extend(descriptors.into_iter().filter(|d| !index.manifests().iter().any(|m| m.digest() == d.digest())));
        if manifests.len() == before {
            continue; // already listed: a second push writes nothing
        }
        index.set_manifests(manifests);
        let blob = Blob::json(INDEX, &index).map_err(|e| RegistryError::Unexpected {
            url: tag.clone(),
            what: e.to_string(),
            wanted: "an encodable index".into(),
        })?;
        put_manifest(repo, &blob, &tag).map_err(|e| match e.is_immutable_refusal() {
            true => RegistryError::ImmutableTag { tag: tag.clone(), source: Box::new(e) },
            false => e,
        })?;
        report.fallback_tags.push(tag);
    }
    Ok(())
}

/// The referrers of `subject` as the registry lists them: from the API, else the fallback tag.
pub fn descriptors(repo: &Repo, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
    let index = match referrers_api(repo, subject)? {
        Some(index) => Some(index),
        None => fallback_index(repo, &format!("sha256-{}", subject.hex()))?,
    };
    Ok(index.map(|i| i.manifests().clone()).unwrap_or_default())
}

/// `GET referrers/<subject>`: `Some(index)` when it is the API's answer, `None` for anything else
/// (redirects are not followed: a login page is not an answer).
fn referrers_api(repo: &Repo, subject: &Digest) -> Result<Option<ImageIndex>, RegistryError> {
    let url = repo.url(&format!("referrers/{subject}"));
    let response = match repo.call(Call::get(&url).header("Accept", INDEX).no_redirects()) {
        Ok(r) => r,
        Err(RegistryError::Status { .. } | RegistryError::Unauthorized { .. } | RegistryError::AuthRequired { .. }) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.split(';').next().unwrap_or("").trim() == INDEX || c.contains("json"));
    if !json {
        return Ok(None);
    }
    let Ok(body) = response.into_body().with_config().limit(MAX_INDEX).read_to_vec() else { return Ok(None) };
    Ok(serde_json::from_slice::<ImageIndex>(&body).ok())
}

/// The index under a fallback tag, if there is one.
fn fallback_index(repo: &Repo, tag: &str) -> Result<Option<ImageIndex>, RegistryError> {
    let url = repo.url(&format!("manifests/{tag}"));
    let r = repo.call(Call::get(&url).header("Accept", INDEX).expect(&[200, 404]))?;
    if r.status() == 404 {
        return Ok(None);
    }
    let unexpected = |what: String| RegistryError::Unexpected {
        url: super::redact_url(&url),
        what,
        wanted: "an image index".into(),
    };
    let bytes = r.into_body().with_config().limit(MAX_INDEX).read_to_vec().map_err(|e| unexpected(e.to_string()))?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| unexpected(e.to_string()))
}
