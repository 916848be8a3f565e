//! cargo-oci: build multi-platform OCI images of Rust crates.
//!
//! The pipeline, top to bottom: **plan** (cargo metadata + flags → plain data) → **compile** (one
//! cargo run per target) → **layer** (deterministic tar.gz of the binaries) → **image** (config,
//! manifest, index: pure functions) → **store** (write to an OCI layout).

pub mod attest;
pub mod blob;
pub mod check;
pub mod cli;
pub mod compile;
pub mod diff;
pub mod env;
pub mod error;
pub mod image;
pub mod init;
pub mod inspect;
pub mod json;
pub mod layer;
pub mod merge;
pub mod package;
pub mod plan;
pub mod process;
pub mod progress;
pub mod provenance;
pub mod publish;
pub mod report;
pub mod sbom;
pub mod shell;
pub mod store;
pub mod verify;

use std::time::Instant;

use cli::{BuildArgs, Command, MessageFormat, OciCli};
use env::Env;
pub use error::Error;
use plan::Plan;
use report::ImageReport;
use shell::Shell;
use store::staging::Staging;

/// Runs a subcommand; `Ok(false)` means it worked and its answer is "no" (images differ).
pub fn run(cli: &OciCli, env: &Env, shell: &mut Shell) -> Result<bool, Error> {
    match &cli.command {
        Command::Build(cmd) => report::emit(cmd.message_format, build(&cmd.args, env, shell)).map(|()| true),
        Command::Plan(args) => {
            let plan = plan::resolve(&args.args, env)?;
            match args.format {
                MessageFormat::Human => print!("{}", plan::show::human(&plan)),
                MessageFormat::Json => println!("{}", json::to_pretty_string(&plan).expect("plans are plain data")),
            }
            Ok(true)
        }
        Command::Inspect(args) => {
            let name = store::ImageName::parse(&args.image, &env.cwd)?;
            let settings = std::sync::Arc::new(
                store::registry::Settings::new(&args.registry, env, name.registry())
                    .map_err(store::StoreError::from)?,
            );
            let report = inspect::inspect(name.open(&settings).as_ref())?;
            match args.format {
                MessageFormat::Human => print!("{}", inspect::human(&report)),
                MessageFormat::Json => println!("{}", json::to_pretty_string(&report).expect("reports are plain data")),
            }
            Ok(true)
        }
        Command::Merge(args) => report::emit(args.message_format, merge::merge(args, env, shell)).map(|()| true),
        Command::Init(args) => {
            init::init(args, env, shell)?;
            Ok(true)
        }
        Command::Diff(args) => {
            let (a, b) = (store::ImageName::parse(&args.a, &env.cwd)?, store::ImageName::parse(&args.b, &env.cwd)?);
            let creds_for = a.registry().or(b.registry());
            let settings = std::sync::Arc::new(
                store::registry::Settings::new(&args.registry, env, creds_for).map_err(store::StoreError::from)?,
            );
            match diff::diff(a.open(&settings).as_ref(), b.open(&settings).as_ref())? {
                None => {
                    println!("identical: {} and {} are the same image", args.a, args.b);
                    Ok(true)
                }
                Some(d) => {
                    println!("{d}");
                    Ok(false)
                }
            }
        }
        Command::Push(args) => {
            println!("{}", publish::push_command(args, env, shell)?);
            Ok(true)
        }
    }
}

/// `cargo oci build`: the whole pipeline.
pub fn build(args: &BuildArgs, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, Error> {
    let started = Instant::now();
    let mut plan = plan::resolve(args, env)?;
    let registries = publish::settings(&plan, &args.registry, env)?;
    let bases = plan.images.iter().map(|i| package::resolve_bases(i, &registries)).collect::<Result<Vec<_>, _>>()?;
    explain_bases(&plan, &bases, shell);
    // The bases' file trees: what the ELF check compares binaries with, and the glibc floor.
    let inspected = check::inspect(&plan, &bases, shell)?;
    for note in plan::glibc::apply_base_floors(&mut plan, &|image, target| inspected.glibc(image, target)) {
        shell.verbose("Glibc floor", note);
    }
    explain(&plan, shell);
    let artifacts = compile::compile(&plan, env, shell)?;
    if plan.elf_check {
        check::check(&plan, &inspected, &artifacts, shell)?;
    }
    let attach = Attach {
        what: attest::Attestations { sbom: args.sbom, provenance: args.provenance },
        facts: provenance::BuildFacts {
            profile: plan.profile.clone(),
            features: plan.cargo.features.clone(),
            all_features: plan.cargo.all_features,
            no_default_features: plan.cargo.no_default_features,
            zig: plan
                .jobs
                .iter()
                .any(|j| j.backend.kind == plan::BackendKind::Zigbuild)
                .then(|| compile::zigbuild::zig_version(env))
                .flatten(),
            ..provenance::gather(env, &plan.workspace_root)
        },
    };
    let oci_dir = plan.target_dir.join("oci");
    let staging = Staging::new(&oci_dir).map_err(store::StoreError::io("create a staging directory in", &oci_dir))?;
    let sets = assemble(&plan, &bases, &artifacts, &staging, &attach, env, shell)?;
    if args.verify_reproducible {
        verify::verify(&plan, &bases, &sets, &attach, env, shell)?;
    }
    let mut built = Vec::new();
    for (image, set) in plan.images.iter().zip(&sets) {
        let layout = image.outputs.layout.then(|| image.output.clone());
        if let Some(dir) = &layout {
            shell.status("Writing", format!("{}:{} to {}", image.name, image.tags.join(","), dir.display()));
            store::layout::write(dir, set, &image.tags)?;
        }
        let delivered = publish::deliver(image, set, &registries, shell)?;
        shell.verbose("Index", &set.index.digest);
        let mut report = ImageReport::new(&image.name, set, layout, &image.tags);
        report.package = Some(image.package.name.clone());
        report.version = Some(image.package.version.clone());
        report.pushed = delivered.pushed;
        report.archive = delivered.archive;
        built.push(report);
    }
    shell.status("Finished", format!("{} image(s) in {:.1}s", built.len(), started.elapsed().as_secs_f64()));
    Ok(built)
}

/// What to attach to every image, and the facts provenance reports.
pub struct Attach {
    pub what: attest::Attestations,
    pub facts: provenance::BuildFacts,
}

/// Packages every image of the plan (layers, configs, manifests, index) and its referrers.
pub fn assemble(
    plan: &Plan,
    bases: &[Vec<store::BaseImage>],
    artifacts: &compile::Artifacts,
    staging: &Staging,
    attach: &Attach,
    env: &Env,
    shell: &mut Shell,
) -> Result<Vec<image::ImageSet>, Error> {
    let progress = &shell.progress();
    let mut sets = Vec::new();
    for (image, bases) in plan.images.iter().zip(bases) {
        let platforms: Vec<String> = image.targets.iter().map(|t| t.platform.to_string()).collect();
        shell.status("Packaging", format!("{} {} for {}", image.name, image.package.version, platforms.join(", ")));
        let inputs = package::Inputs { artifacts, staging, epoch: plan.epoch, profile: &plan.profile, progress };
        let mut set = package::package(image, bases, &inputs)?;
        set.referrers = attest::attest(plan, image, &set, bases, &attach.facts, attach.what, env)?;
        sets.push(set);
    }
    Ok(sets)
}

/// `-v`: the digest each base resolved to, per platform.
fn explain_bases(plan: &Plan, bases: &[Vec<store::BaseImage>], shell: &mut Shell) {
    for (image, bases) in plan.images.iter().zip(bases) {
        for (t, b) in image.targets.iter().zip(bases) {
            if let Some(r) = &b.reference {
                shell.verbose("Base", format!("{} for {}: {}", r.name, t.platform, r.digest));
            }
        }
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
        for t in &image.targets {
            shell.verbose("Base", format!("{} for {} on {}", image.base_of(t), image.name, t.platform));
        }
    }
}
