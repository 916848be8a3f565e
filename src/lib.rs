//! cargo-oci: build multi-platform OCI images of Rust crates.
//!
//! The pipeline, top to bottom ([`build`]): **plan** (a `plan::Request` + `facts` → plain data,
//! no I/O) → preflight (destinations writable) → bases read through `store::Source` → glibc
//! floors (the plan's second step, pure) → preflight (tools) → **compile** (one cargo run for
//! the targets that share a backend and flags), and as soon as a target's binaries exist, while
//! cargo builds the others (`overlap`): ELF check → `.dep-v0` added (auditable) → **layer**
//! (deterministic tar.gz) → then **package**: **image** (config, manifest, index: pure functions)
//! and referrers (SBOM, provenance) → **store** sinks, one per destination of the plan (layout,
//! oci-archive, registry).
//!
//! Modules depend downward only (a test keeps it so): `oci` (value types) at the bottom; `layer`,
//! `image`; the utilities (`env`, `process`, `shell`, `facts`, …); `plan`; `store`; the stages;
//! this pipeline and `commands` on top. The other subcommands are in `commands`.

pub mod attest;
pub mod auditable;
pub mod check;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod diff;
pub mod env;
pub mod error;
pub mod facts;
pub mod gc;
pub mod image;
pub mod init;
pub mod inspect;
pub mod layer;
pub mod lock;
pub mod merge;
pub mod oci;
pub mod overlap;
pub mod package;
pub mod plan;
pub mod platforms;
pub mod preflight;
pub mod process;
pub mod progress;
pub mod provenance;
pub mod push;
pub mod rebase;
pub mod registries;
pub mod report;
pub mod sbom;
pub mod secret;
pub mod shell;
pub mod store;
pub mod verify;

use std::sync::Arc;
use std::time::Instant;

use env::Env;
pub use error::Error;
use facts::Facts;
use plan::{Plan, Request};
use report::ImageReport;
use shell::Shell;
use store::staging::Staging;

/// `cargo oci build`: the whole pipeline.
pub fn build(request: &Request, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, Error> {
    let started = Instant::now();
    let facts = Facts::new(env);
    // Which targets' std is installed is asked of rustc while planning asks cargo: a process
    // start a no-op build would otherwise wait for between planning and compiling.
    // The built-in base's layer (a tar of CA certificates, gzipped: a few ms of CPU) is built
    // meanwhile too, on the other core, for the same reason.
    std::thread::scope(|s| {
        s.spawn(|| facts.sysroot());
        s.spawn(|| store::builtin::warm(env.cargo_oci_cache().as_deref()));
        build_with(request, &facts, env, shell, started)
    })
}

/// `build` once `facts` exist.
fn build_with(
    request: &Request,
    facts: &Facts,
    env: &Env,
    shell: &mut Shell,
    started: Instant,
) -> Result<Vec<ImageReport>, Error> {
    let expanded = platforms::expand_all(request, facts, env, shell)?;
    let mut plan = plan::resolve(expanded.as_ref().unwrap_or(request), facts)?;
    warn(&plan, shell);
    preflight::plan_destinations(&plan)?;
    let registries = registries::settings(&plan.registry, env);
    let bases = resolve_bases(&plan, &registries)?;
    explain_bases(&plan, &bases, shell);
    // The bases' file trees: what the ELF check compares binaries with, and the glibc floor.
    let inspected = check::inspect(&plan, &bases, plan.elf_check, registries.jobs, shell)?;
    floors(&mut plan, &inspected, shell);
    explain(&plan, shell);
    preflight::tools(&plan, env, facts)?;
    // Cargo builds; each target is checked, made auditable and layered as soon as its binaries
    // exist, while cargo goes on with the others (see `overlap`).
    let make_staging = || staging(&plan);
    let stages = overlap::Stages {
        plan: &plan,
        facts,
        elf_check: plan.elf_check.then_some(&inspected),
        notes: true,
        staging: &make_staging,
    };
    // The toolchain versions and git state for provenance are asked while cargo runs: they do
    // not depend on what it builds, and each is a process start a no-op build would wait for.
    let (layered, build) = std::thread::scope(|s| {
        let build = s.spawn(|| attest::build_facts(&plan, facts));
        let layered = overlap::compile_and_layer(&stages, shell);
        (layered, build.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    // The staging directory holds the layers' blobs until the sinks have them.
    let overlap::Layered { staging: _staging, layers } = layered?;
    let sets = package::assemble(&plan, &bases, layers, &build, facts, shell)?;
    if plan.verify_reproducible {
        let images: Vec<oci::Image> = sets.iter().map(|p| p.image.clone()).collect();
        verify::verify(&plan, &bases, &images, &build, facts, shell)?;
    }
    let mut built = Vec::new();
    for (image, packaged) in plan.images.iter().zip(&sets) {
        let set = &packaged.image;
        let delivered = store::sink::write(&image.destinations, &registries, set, &image.name, shell)?;
        shell.verbose("Index", &set.root.digest);
        let mut report = ImageReport::new(&image.name, set, &image.tags, &delivered);
        report.package = Some(image.package.name.clone());
        report.version = Some(image.package.version.clone());
        report.layers = Some(packaged.layers);
        built.push(report);
    }
    shell.status("Finished", format!("{} image(s) in {:.1}s", built.len(), started.elapsed().as_secs_f64()));
    Ok(built)
}

/// The staging directory in `<target-dir>/oci`, with the layer cache beside it (see
/// `store::layer_cache` for why there); the output layouts may stand in for a lost cached blob.
fn staging(plan: &Plan) -> Result<Staging, Error> {
    let oci_dir = &plan.target_dir.join("oci");
    let staging = Staging::new(oci_dir).map_err(store::StoreError::io("create a staging directory in", oci_dir))?;
    let cache_dir = oci_dir.join(".layer-cache");
    let cache = store::layer_cache::LayerCache::open(&cache_dir)
        .map_err(store::StoreError::io("open the layer cache", &cache_dir))?;
    let layouts = plan
        .images
        .iter()
        .flat_map(|i| &i.destinations)
        .filter_map(|d| match d {
            oci::Destination::Layout { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    Ok(staging.with_cache(cache, layouts))
}

/// `cargo oci plan`: the plan as `build` runs it — destinations checked, and the glibc floors
/// from the bases (which are read only when a target wants a floor).
pub fn plan(request: &Request, env: &Env, shell: &mut Shell) -> Result<Plan, Error> {
    let facts = Facts::new(env);
    let expanded = platforms::expand_all(request, &facts, env, shell)?;
    let mut plan = plan::resolve(expanded.as_ref().unwrap_or(request), &facts)?;
    warn(&plan, shell);
    preflight::plan_destinations(&plan)?;
    if plan.wants_base_floors() {
        let registries = registries::settings(&plan.registry, env);
        let bases = resolve_bases(&plan, &registries)?;
        let inspected = check::inspect(&plan, &bases, false, registries.jobs, shell)?;
        floors(&mut plan, &inspected, shell);
    }
    check::strip::say_from_earlier_build(&plan, shell);
    Ok(plan)
}

/// The base of every target of every image (`bases[i][j]`: image i, target j), resolved before
/// anything is compiled: a base that lacks a platform fails the build before it costs anything.
fn resolve_bases(plan: &Plan, registries: &Arc<store::registry::Settings>) -> Result<Vec<Vec<oci::BaseImage>>, Error> {
    Ok(plan.images.iter().map(|i| package::resolve_bases(i, registries)).collect::<Result<Vec<_>, _>>()?)
}

/// The plan's second step: glibc floors from what the bases have. A base's own files say which
/// glibc it has; a well-known base's is known when they do not.
fn floors(plan: &mut Plan, inspected: &check::Inspected, shell: &mut Shell) {
    let base_glibc = |image: &plan::ImagePlan, t: &plan::ImageTarget| {
        inspected.glibc(image, &t.target).or_else(|| plan::known_libc(&t.base).flatten())
    };
    for note in plan::glibc::apply_base_floors(plan, &base_glibc) {
        shell.verbose("Glibc floor", note);
    }
}

/// `-v`: the digest each base resolved to, per platform.
fn explain_bases(plan: &Plan, bases: &[Vec<oci::BaseImage>], shell: &mut Shell) {
    for (image, bases) in plan.images.iter().zip(bases) {
        for (t, b) in image.targets.iter().zip(bases) {
            if let Some(r) = &b.reference {
                shell.verbose("Base", format!("{} for {}: {}", r.name, t.target.platform, r.digest));
            }
        }
    }
}

/// The plan's warnings, each with its hint.
fn warn(plan: &Plan, shell: &mut Shell) {
    for w in &plan.warnings {
        shell.warn(format!("{}\n  hint: {}", w.message, w.hint));
    }
}

/// `-v`: what was decided and why.
fn explain(plan: &Plan, shell: &mut Shell) {
    for job in &plan.jobs {
        shell.verbose(
            "Backend",
            format!(
                "{} for {}: {}",
                serde_json::to_string(&job.backend.kind).unwrap_or_default().trim_matches('"'),
                job.target.triple,
                job.backend.reason
            ),
        );
    }
    for image in &plan.images {
        for t in image.targets.iter() {
            shell.verbose("Base", format!("{} for {} on {}", t.base, image.name, t.target.platform));
        }
    }
}
