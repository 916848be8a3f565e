//! cargo-oci: build multi-platform OCI images of Rust crates.
//!
//! The pipeline, top to bottom: **plan** (cargo metadata + flags → plain data) → **compile** (one
//! cargo run per target) → **layer** (deterministic tar.gz of the binaries) → **image** (config,
//! manifest, index: pure functions) → **store** (write to an OCI layout).

pub mod blob;
pub mod cli;
pub mod compile;
pub mod env;
pub mod error;
pub mod image;
pub mod json;
pub mod layer;
pub mod plan;
pub mod process;
pub mod shell;
pub mod store;

use std::path::PathBuf;
use std::time::Instant;

use blob::{Digest, Layer};
use cli::{BuildArgs, Command, OciCli};
use compile::Artifacts;
use env::Env;
pub use error::Error;
use image::{ImageInput, ImageSet, PlatformImage};
use layer::{Entry, Source};
use plan::{ImagePlan, Plan};
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
    let plan = plan::resolve(args, env)?;
    explain(&plan, shell);
    let artifacts = compile::compile(&plan, env, shell)?;
    let oci_dir = plan.target_dir.join("oci");
    let staging = Staging::new(&oci_dir).map_err(store::StoreError::io("create a staging directory in", &oci_dir))?;
    let mut built = Vec::new();
    for image in &plan.images {
        let platforms: Vec<String> = image.targets.iter().map(|t| t.platform.to_string()).collect();
        shell.status("Packaging", format!("{} {} for {}", image.name, image.package.version, platforms.join(", ")));
        let set = package(&plan, image, &artifacts, &staging)?;
        shell.status("Writing", format!("{}:{} to {}", image.name, image.tags.join(","), image.output.display()));
        store::layout::write(&image.output, &set, &image.tags)?;
        shell.verbose("Index", &set.index.digest);
        built.push(Built { image: image.name.clone(), output: image.output.clone(), tags: image.tags.clone(), index: set.index.digest.clone() });
    }
    shell.status("Finished", format!("{} image(s) in {:.1}s", built.len(), started.elapsed().as_secs_f64()));
    Ok(built)
}

/// `-v`: what was decided and why.
fn explain(plan: &Plan, shell: &mut Shell) {
    for job in &plan.jobs {
        shell.verbose("Backend", format!("{} for {}: {}", serde_json::to_string(&job.backend.kind).unwrap_or_default().trim_matches('"'), job.target.triple, job.backend.reason));
    }
    for image in &plan.images {
        shell.verbose("Base", format!("{} for {}", image.base, image.name));
    }
}

/// Layers, configs, manifests and index for one image: each platform in its own thread (the
/// gzip of a large binary is the slow part, and platforms do not depend on each other).
fn package(plan: &Plan, image: &ImagePlan, artifacts: &Artifacts, staging: &Staging) -> Result<ImageSet, Error> {
    let base = store::open_base(&image.base)?;
    let images: Vec<Result<PlatformImage, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = image
            .targets
            .iter()
            .map(|target| {
                let base = &base;
                s.spawn(move || -> Result<PlatformImage, Error> {
                    let base = base.resolve(&target.platform)?;
                    let failed = |source| Error::Package { image: image.name.clone(), platform: target.platform.to_string(), source };
                    let layer = binaries_layer(plan, image, artifacts, &target.triple, staging).map_err(failed)?;
                    image::platform_image(ImageInput {
                        platform: &target.platform,
                        base: &base,
                        layers: vec![layer],
                        config: &image.config,
                        epoch: plan.epoch,
                        annotations: &image.annotations,
                    })
                    .map_err(|e| failed(e.into()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("packaging thread panicked")).collect()
    });
    let images = images.into_iter().collect::<Result<Vec<_>, _>>()?;
    let family = images.first().map(|i| media_of(&i.manifest.media_type)).unwrap_or(image::MediaFamily::Oci);
    let index = image::index(&images, &image.annotations, family)
        .map_err(|source| store::StoreError::Json { what: "the image index", source })?;
    Ok(ImageSet { images, index })
}

fn media_of(manifest_type: &str) -> image::MediaFamily {
    if manifest_type == image::MediaFamily::Docker.manifest() {
        image::MediaFamily::Docker
    } else {
        image::MediaFamily::Oci
    }
}

/// The layer holding the image's binaries at `bin_dir`, 0755 root.
fn binaries_layer(plan: &Plan, image: &ImagePlan, artifacts: &Artifacts, triple: &str, staging: &Staging) -> std::io::Result<Layer> {
    let mut entries = Vec::new();
    for bin in &image.bins {
        let path = artifacts.get(&image.package.id, bin, triple).ok_or_else(|| std::io::Error::other(format!("no build of `{bin}` for {triple}")))?;
        entries.push(Entry::file(&format!("{}/{bin}", image.config.bin_dir), Source::Path(path.to_path_buf()), 0o755));
    }
    let created_by = format!("cargo-oci: {} ({triple}, profile {}) → {}", image.bins.join(", "), plan.profile, image.config.bin_dir);
    staging.layer(entries, plan.epoch, created_by)
}
