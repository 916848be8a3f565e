//! The attestation stage: an SBOM and a provenance statement for each platform manifest of an
//! image, as OCI 1.1 referrers (see `image::referrer`).

use std::collections::BTreeMap;

use cargo_metadata::PackageId;

use crate::facts::{Facts, FactsError};
use crate::image::referrer;
use crate::oci::Blob;
use crate::oci::{rfc3339, Image};
use crate::oci::{BaseImage, Referrer};
use crate::plan::SbomFormat;
use crate::plan::{ImagePlan, Plan};
use crate::provenance::{self, BuildFacts, Subject};
use crate::sbom;

/// The facts provenance reports, gathered once per build.
pub fn build_facts(plan: &Plan, facts: &Facts) -> BuildFacts {
    let zig_built = plan.jobs.iter().any(|j| j.backend.kind == crate::plan::BackendKind::Zigbuild);
    let root = plan.workspace_root.as_path();
    // Each version is a process start (two through rustup's proxy): asked all at once, so a
    // no-op build, whose cargo run is short, does not wait for them one after another.
    let (rustc, cargo, zig, git_commit) = std::thread::scope(|s| {
        let rustc = s.spawn(|| facts.rustc_version(root));
        let cargo = s.spawn(|| facts.cargo_version(root));
        let zig = zig_built.then(|| facts.zig_version()).flatten();
        let git_commit = facts.revision(root);
        let join =
            |h: std::thread::ScopedJoinHandle<'_, String>| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (join(rustc), join(cargo), zig, git_commit)
    });
    BuildFacts {
        rustc,
        cargo,
        zig,
        profile: plan.profile.clone(),
        features: plan.cargo.features.clone(),
        all_features: plan.cargo.all_features,
        no_default_features: plan.cargo.no_default_features,
        rustflags: Vec::new(),
        cargo_lock: facts.cargo_lock(root),
        git_dirty: git_commit.as_ref().and_then(|_| crate::facts::git::dirty(root)),
        git_commit,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("could not resolve the dependencies of `{image}` for `{triple}` for its SBOM")]
    Metadata {
        image: String,
        triple: String,
        #[source]
        source: Box<FactsError>,
    },
    #[error("failed to encode the {what} of `{image}`")]
    Json {
        what: &'static str,
        image: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Referrers for every platform of `set`, in platform order (deterministic).
pub fn attest(
    plan: &Plan,
    image: &ImagePlan,
    set: &Image,
    bases: &[BaseImage],
    build: &BuildFacts,
    facts: &Facts,
) -> Result<Vec<Referrer>, AttestError> {
    let what = plan.attestations;
    let mut out = Vec::new();
    let created = rfc3339(plan.epoch);
    let annotations = BTreeMap::from([("org.opencontainers.image.created".to_string(), created.clone())]);
    let json_err = |what| move |source| AttestError::Json { what, image: image.name.clone(), source };
    let lock = plan.workspace_root.join("Cargo.lock");
    let checksums = sbom::lock_checksums(&lock);
    let targets: Vec<String> = image.targets.iter().map(|t| t.target.triple.clone()).collect();
    for ((it, pimg), base) in image.targets.iter().zip(&set.platforms).zip(bases) {
        let target = &it.target;
        let subject_name = format!("{} {}", image.name, target.platform);
        if let Some(media_type) = what.sbom.media_type() {
            let meta =
                facts.metadata(Some(&plan.cargo.manifest_path), &plan.cargo, Some(&target.triple)).map_err(|e| {
                    AttestError::Metadata {
                        image: image.name.clone(),
                        triple: target.triple.clone(),
                        source: Box::new(e),
                    }
                })?;
            let inv = sbom::inventory(&meta, &PackageId { repr: image.package.id.clone() }, &checksums);
            let doc = match what.sbom {
                SbomFormat::Cyclonedx => sbom::cyclonedx(&inv, &subject_name, &created),
                _ => sbom::spdx(&inv, &subject_name, &created),
            };
            let blob = Blob::json(media_type, &doc).map_err(json_err("SBOM"))?;
            out.push(referrer::artifact(&pimg.manifest, blob, &annotations).map_err(json_err("SBOM"))?);
        }
        if what.provenance {
            // The flags rustc got, with host paths named rather than spelled (the statement must
            // be the same on every machine).
            let mut build = build.clone();
            build.rustflags = crate::compile::rustflags::user_rustflags(&target.triple, facts.env()).0;
            build.rustflags.extend(
                ["CARGO_HOME=/cargo", "RUSTUP_HOME=/rustup", "WORKSPACE=/build", "TARGET_DIR=/target"]
                    .map(|r| format!("--remap-path-prefix=<{}", r.replacen('=', ">=", 1))),
            );
            let base_ref = base.reference.as_ref().map(|r| (r.name.as_str(), &r.digest));
            let builtin = it.base.to_string();
            let statement = provenance::statement(
                &build,
                &Subject {
                    image: &image.name,
                    platform: &target.platform.to_string(),
                    triple: &target.triple,
                    manifest: &pimg.manifest.digest,
                    targets: &targets,
                    tags: &image.tags,
                    base: base_ref,
                    base_builtin: base_ref.is_none().then_some(builtin.as_str()),
                },
            );
            let blob = Blob::json(provenance::MEDIA_TYPE, &statement).map_err(json_err("provenance"))?;
            out.push(referrer::artifact(&pimg.manifest, blob, &annotations).map_err(json_err("provenance"))?);
        }
    }
    Ok(out)
}
