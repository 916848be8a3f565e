//! cargo-oci: build multi-platform OCI images of Rust crates.
//!
//! The pipeline, top to bottom: **plan** (cargo metadata + flags → plain data) → **compile** (one
//! cargo run per target) → **layer** (deterministic tar.gz of the binaries) → **image** (config,
//! manifest, index: pure functions) → **store** (write to an OCI layout).

pub mod blob;
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
pub mod report;
pub mod shell;
pub mod store;

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
            let image = store::open_image(&args.image, &env.cwd)?;
            let report = inspect::inspect(image.as_ref())?;
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
            let (a, b) = (store::open_image(&args.a, &env.cwd)?, store::open_image(&args.b, &env.cwd)?);
            match diff::diff(a.as_ref(), b.as_ref())? {
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
    }
}

/// `cargo oci build`: the whole pipeline.
pub fn build(args: &BuildArgs, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, Error> {
    let started = Instant::now();
    let plan = plan::resolve(args, env)?;
    explain(&plan, shell);
    let bases = plan.images.iter().map(package::resolve_bases).collect::<Result<Vec<_>, _>>()?;
    let artifacts = compile::compile(&plan, env, shell)?;
    let oci_dir = plan.target_dir.join("oci");
    let staging = Staging::new(&oci_dir).map_err(store::StoreError::io("create a staging directory in", &oci_dir))?;
    let progress = shell.progress();
    let inputs = package::Inputs {
        artifacts: &artifacts,
        staging: &staging,
        epoch: plan.epoch,
        profile: &plan.profile,
        progress: &progress,
    };
    let mut built = Vec::new();
    for (image, bases) in plan.images.iter().zip(&bases) {
        let platforms: Vec<String> = image.targets.iter().map(|t| t.platform.to_string()).collect();
        shell.status("Packaging", format!("{} {} for {}", image.name, image.package.version, platforms.join(", ")));
        let set = package::package(image, bases, &inputs)?;
        shell.status("Writing", format!("{}:{} to {}", image.name, image.tags.join(","), image.output.display()));
        store::layout::write(&image.output, &set, &image.tags)?;
        shell.verbose("Index", &set.index.digest);
        let mut report = ImageReport::new(&image.name, &set, image.output.clone(), &image.tags);
        report.package = Some(image.package.name.clone());
        report.version = Some(image.package.version.clone());
        built.push(report);
    }
    shell.status("Finished", format!("{} image(s) in {:.1}s", built.len(), started.elapsed().as_secs_f64()));
    Ok(built)
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
