//! Pushing OCI 1.1 referrers (SBOMs, provenance): each artifact manifest goes up by digest. A
//! registry with the referrers API (`GET /v2/<name>/referrers/<digest>` answers) indexes them by
//! subject itself; one without it (distribution 2.8) gets the fallback the spec defines: an image
//! index of the referrers under the tag `sha256-<subject hex>`, read, extended, written back.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::push::{ensure_blob, exists, put_manifest};
use super::transport::{status_error, Repo};
use super::RegistryError;
use crate::blob::{Blob, Digest};
use crate::image::referrer::Referrer;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// How the referrers went up, for the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferrersReport {
    pub pushed: usize,
    /// `sha256-<hex>` fallback tags written (the registry has no referrers API).
    pub fallback_tags: Vec<String>,
}

pub fn push_referrers(repo: &Repo, referrers: &[Referrer], chunk: u64) -> Result<ReferrersReport, RegistryError> {
    let mut report = ReferrersReport::default();
    let Some(first) = referrers.first() else { return Ok(report) };
    let api = has_referrers_api(repo, &first.subject)?;
    let mut by_subject: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
    for r in referrers {
        ensure_blob(repo, &r.config, chunk)?;
        ensure_blob(repo, &r.document, chunk)?;
        if !exists(repo, "manifests", &r.manifest.digest, Some(&r.manifest.media_type))? {
            put_manifest(repo, &r.manifest, r.manifest.digest.as_str())?;
            report.pushed += 1;
        }
        by_subject.entry(r.subject.hex().to_string()).or_default().push(r.descriptor());
    }
    if api {
        return Ok(report);
    }
    for (subject, descriptors) in by_subject {
        let tag = format!("sha256-{subject}");
        let mut index = current_fallback(repo, &tag)?;
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
        put_manifest(repo, &blob, &tag)?;
        report.fallback_tags.push(tag);
    }
    Ok(report)
}

/// Whether the registry serves the referrers API (OCI distribution 1.1): 200 yes, 404 no.
fn has_referrers_api(repo: &Repo, subject: &Digest) -> Result<bool, RegistryError> {
    let url = repo.url(&format!("referrers/{subject}"));
    let r = repo.send_retrying("GET", &url, &[("Accept", INDEX)], None)?;
    match r.status().as_u16() {
        200 => Ok(true),
        404 | 405 => Ok(false),
        _ => Err(status_error("GET", &url, r)),
    }
}

/// The index under a fallback tag, or a new empty one.
fn current_fallback(repo: &Repo, tag: &str) -> Result<ImageIndex, RegistryError> {
    let url = repo.url(&format!("manifests/{tag}"));
    let r = repo.send_retrying("GET", &url, &[("Accept", INDEX)], None)?;
    let unexpected =
        |what: String| RegistryError::Unexpected { url: url.clone(), what, wanted: "an image index".into() };
    match r.status().as_u16() {
        404 => Ok(ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(Vec::<Descriptor>::new())
            .build()
            .expect("all fields set")),
        200 => {
            let bytes =
                r.into_body().with_config().limit(4 << 20).read_to_vec().map_err(|e| unexpected(e.to_string()))?;
            serde_json::from_slice(&bytes).map_err(|e| unexpected(e.to_string()))
        }
        _ => Err(status_error("GET", &url, r)),
    }
}
