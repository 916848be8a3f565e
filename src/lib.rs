//! cargo-oci: build multi-platform OCI images of Rust crates.
//!
//! The pipeline, top to bottom: **plan** (cargo metadata + flags → plain data) → **compile** (one
//! cargo run per target) → **layer** (deterministic tar.gz of the binaries) → **image** (config,
//! manifest, index: pure functions) → **store** (write to an OCI layout).

pub mod blob;
pub mod check;
pub mod cli;
pub mod compile;
pub mod env;
pub mod error;
pub mod image;
pub mod json;
pub mod layer;
pub mod package;
pub mod plan;
pub mod process;
pub mod shell;
pub mod store;

use std::path::PathBuf;
use std::time::Instant;

use blob::Digest;
use cli::{BuildArgs, Command, OciCli};
use env::Env;
pub use error::Error;
use plan::Plan;
use shell::Shell;
use store::staging::Staging;

/// One image written: what `build` prints on stdout.
#[derive(Clone, Debug)]
pub struct Built {
    pub image: String,
    pub output: PathBuf,
    pub tags: Vec<String>,
    pub index: Digest,
}

impl std::fmt::Display for Built {
    /// `oci:<layout>:<tag>@sha256:<index digest>`, for skopeo/podman and scripts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci:{}:{}@{}", self.output.display(), self.tags[0], self.index)
    }
}

pub fn run(cli: &OciCli, env: &Env, shell: &mut Shell) -> Result<(), Error> {
    match &cli.command {
        Command::Build(args) => {
            for built in build(args, env, shell)? {
                println!("{built}");
            }
            Ok(())
        }
    }
}

/// `cargo oci build`: the whole pipeline.
pub fn build(args: &BuildArgs, env: &Env, shell: &mut Shell) -> Result<Vec<Built>, Error> {
    let started = Instant::now();
    let mut plan = plan::resolve(args, env)?;
    let bases = plan.images.iter().map(package::resolve_bases).collect::<Result<Vec<_>, _>>()?;
    let inspected = check::inspect(&plan, &bases, shell)?;
    for note in plan::glibc::apply_base_floors(&mut plan, &|image, target| inspected.glibc(image, target)) {
        shell.verbose("Glibc floor", note);
    }
    explain(&plan, shell);
    let artifacts = compile::compile(&plan, env, shell)?;
    if plan.elf_check {
        check::check(&plan, &inspected, &artifacts, shell)?;
    }
    let oci_dir = plan.target_dir.join("oci");
    let staging = Staging::new(&oci_dir).map_err(store::StoreError::io("create a staging directory in", &oci_dir))?;
    let mut built = Vec::new();
    for (image, bases) in plan.images.iter().zip(&bases) {
        let platforms: Vec<String> = image.targets.iter().map(|t| t.platform.to_string()).collect();
        shell.status("Packaging", format!("{} {} for {}", image.name, image.package.version, platforms.join(", ")));
        let set = package::package(image, bases, &artifacts, &staging, plan.epoch, &plan.profile)?;
        shell.status("Writing", format!("{}:{} to {}", image.name, image.tags.join(","), image.output.display()));
        store::layout::write(&image.output, &set, &image.tags)?;
        shell.verbose("Index", &set.index.digest);
        built.push(Built {
            image: image.name.clone(),
            output: image.output.clone(),
            tags: image.tags.clone(),
            index: set.index.digest.clone(),
        });
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
        shell.verbose("Base", format!("{} for {}", image.base, image.name));
    }
}
