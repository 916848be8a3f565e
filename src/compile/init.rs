//! cargo-oci's init for PID 1 (`init = true`): the crate in `templates/pid1`, written out under
//! the target dir and built for a job's target with that job's own backend (from source, no
//! download, so it builds wherever the service does, offline too).

use std::path::{Path, PathBuf};

use cargo_metadata::Message;

use super::{backend, CompileError, JobContext};
use crate::env::Env;
use crate::plan::{CargoFlags, CompileJob, Plan, Unit};
use crate::shell::Shell;

/// The package and binary name of the init, and its package id in [`super::Artifacts`].
pub const NAME: &str = "cargo-oci-init";

/// The template's files as they are written out. The manifest is shipped as `Cargo.toml.in`:
/// `cargo package` leaves out every directory holding a Cargo.toml (rust-lang/cargo#9643), so
/// under its real name it would be missing from the published crate.
const FILES: [(&str, &str); 2] = [
    ("Cargo.toml", include_str!("../../templates/pid1/Cargo.toml.in")),
    ("src/main.rs", include_str!("../../templates/pid1/src/main.rs")),
];

/// Builds the init for `job`'s target with `job`'s backend (same linker, same glibc floor, the
/// user's rustflags and cargo config) in `<target-dir>/oci/init`, and returns the binary.
pub fn build(plan: &Plan, job: &CompileJob, env: &Env, shell: &mut Shell) -> Result<PathBuf, CompileError> {
    let triple = &job.target.triple;
    let dir = plan.target_dir.join("oci").join("init");
    write_crate(&dir).map_err(|source| CompileError::InitCrate { dir: dir.clone(), source })?;
    // Its own crate: its own manifest and target dir, release, offline (it has no dependency).
    let own = Plan {
        workspace_root: dir.clone(),
        target_dir: dir.join("target"),
        profile: "release".into(),
        cargo: CargoFlags { manifest_path: dir.join("Cargo.toml"), offline: true, ..CargoFlags::default() },
        jobs: Vec::new(),
        images: Vec::new(),
        ..plan.clone()
    };
    let unit = Unit { package: NAME.into(), package_id: NAME.into(), bins: vec![NAME.into()] };
    let own_job = CompileJob {
        target: job.target.clone(),
        backend: job.backend.clone(),
        units: vec![unit],
        init: false,
        system_libs: Vec::new(),
    };
    // Quiet unless `-vv` (cargo's own --verbose): the service's build is the one to watch.
    let verbose = shell.verbosity() == crate::shell::Verbosity::VeryVerbose;
    let ctx = JobContext { plan: &own, jobs: &[&own_job], env, quiet: !verbose, verbose, color: false };
    let cmd = backend(job.backend.kind).command(&ctx);
    shell.verbose("Running", &cmd);
    let mut exe = None;
    cmd.stream(
        |line| {
            if let Ok(Message::CompilerArtifact(a)) = serde_json::from_str::<Message>(line) {
                if a.target.name == NAME {
                    exe = a.executable.map(PathBuf::from);
                }
            }
        },
        false,
    )
    .map_err(|source| CompileError::Init { triple: triple.clone(), source })?;
    exe.ok_or_else(|| CompileError::MissingArtifact { package: NAME.into(), bin: NAME.into(), triple: triple.clone() })
}

/// Writes the crate's files where they differ (so cargo sees no change on a warm build).
fn write_crate(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        crate::store::disk::replace_file(&path, text.as_bytes(), false)?;
    }
    Ok(())
}
