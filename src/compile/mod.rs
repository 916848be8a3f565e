//! Compile: one cargo run per target triple through a backend; binaries found from cargo's JSON
//! messages. Knows cargo, nothing about OCI.

mod cargo;
mod cross;
pub mod init;
pub mod rustflags;
mod rustup;
mod zigbuild;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{Message, TargetKind};

use crate::env::Env;
use crate::facts::cdeps::SystemLib;
use crate::plan::{BackendKind, CompileJob, Plan};
use crate::process::{Cmd, ProcessError};
use crate::shell::Shell;

/// A way of building: plain cargo, cargo-zigbuild, cross. One file each, listed in [`backend`].
pub trait Backend {
    /// Checks that the tools exist, before anything is compiled for any target.
    fn preflight(&self, job: &CompileJob, env: &Env) -> Result<(), CompileError>;
    /// Whether the Rust standard library for the target must be installed locally.
    fn needs_local_std(&self) -> bool {
        true
    }
    /// The exact command line for one job.
    fn command(&self, ctx: &JobContext<'_>) -> Cmd;
}

/// The registry of backends: adding one is one file plus one line here.
pub fn backend(kind: BackendKind) -> &'static dyn Backend {
    match kind {
        BackendKind::Cargo => &cargo::Cargo,
        BackendKind::Zigbuild => &zigbuild::Zigbuild,
        BackendKind::Cross => &cross::Cross,
    }
}

/// What a backend needs to build one job.
pub struct JobContext<'a> {
    pub plan: &'a Plan,
    pub job: &'a CompileJob,
    pub env: &'a Env,
    pub quiet: bool,
    /// `-vv`: cargo's own `--verbose`.
    pub verbose: bool,
    /// Our stderr shows colour: cargo's should too (`--color always`; it writes into a pipe).
    pub color: bool,
}

impl JobContext<'_> {
    /// The arguments every cargo-like backend shares after its subcommand: target, profile,
    /// packages and bins, features and lock flags, JSON messages.
    pub fn common_args(&self, target_arg: &str) -> Vec<String> {
        let mut a = vec![
            "--manifest-path".to_string(),
            self.plan.cargo.manifest_path.display().to_string(),
            "--target".into(),
            target_arg.into(),
            "--profile".into(),
            self.plan.profile.clone(),
            "--message-format=json-render-diagnostics".into(),
            "--target-dir".into(),
            self.plan.target_dir.display().to_string(),
        ];
        for u in &self.job.units {
            a.extend(["-p".to_string(), u.package.clone()]);
        }
        for u in &self.job.units {
            for b in &u.bins {
                a.extend(["--bin".to_string(), b.clone()]);
            }
        }
        a.extend(crate::facts::feature_args(&self.plan.cargo));
        // `-j N` is one flag for the whole build: cargo's jobs and the transfers at once.
        if let Some(jobs) = self.plan.registry.jobs {
            a.extend(["-j".to_string(), jobs.to_string()]);
        }
        if self.quiet {
            a.push("--quiet".into());
        }
        if self.verbose {
            a.push("--verbose".into());
        }
        if self.color {
            a.extend(["--color".to_string(), "always".into()]);
        }
        a
    }
}

impl JobContext<'_> {
    /// The environment that makes the build the same on every machine: the user's own rustflags
    /// (as cargo would pick them) plus `--remap-path-prefix` for every host-specific path, in
    /// `CARGO_ENCODED_RUSTFLAGS` (see `plan::rustflags` for why not RUSTFLAGS).
    pub fn reproducible_env(&self, extra_remaps: &[(std::path::PathBuf, &str)]) -> (String, String) {
        let (mut flags, _) = rustflags::user_rustflags(&self.job.target.triple, self.env);
        flags.extend(rustflags::path_remaps(self.env, &self.plan.workspace_root, &self.plan.target_dir));
        flags.extend(extra_remaps.iter().map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display())));
        (crate::env::EnvVars::CARGO_ENCODED_RUSTFLAGS.to_string(), flags.join("\x1f"))
    }
}

/// Built binaries by (package id, binary name, target triple).
#[derive(Debug, Default)]
pub struct Artifacts(BTreeMap<(String, String, String), PathBuf>);

impl Artifacts {
    pub fn get(&self, package_id: &str, bin: &str, triple: &str) -> Option<&Path> {
        self.0.get(&(package_id.to_string(), bin.to_string(), triple.to_string())).map(PathBuf::as_path)
    }

    pub fn insert(&mut self, package_id: &str, bin: &str, triple: &str, path: PathBuf) {
        self.0.insert((package_id.into(), bin.into(), triple.into()), path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("the Rust standard library for `{triple}` is not installed, and rustup is not on PATH to install it")]
    TargetNotInstalled { triple: String },
    #[error("could not install the Rust standard library for `{triple}`")]
    Rustup {
        triple: String,
        #[source]
        source: ProcessError,
    },
    #[error("could not find the sysroot of rustc")]
    Sysroot(#[source] ProcessError),
    #[error("failed to compile for `{triple}`")]
    Build {
        triple: String,
        #[source]
        source: ProcessError,
        /// What the build links from the system (see `CompileJob::system_libs`): the likely cause.
        system_libs: Vec<SystemLib>,
    },
    #[error("cargo built for `{triple}` but reported no executable for binary `{bin}` of `{package}`")]
    MissingArtifact { package: String, bin: String, triple: String },
    #[error("could not write the init's crate to `{}`", dir.display())]
    InitCrate {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to compile the init for PID 1 (`init = true`) for `{triple}`")]
    Init {
        triple: String,
        #[source]
        source: ProcessError,
    },
    #[error("{what} is needed to build for `{triple}` but was not found")]
    ToolMissing { what: String, triple: String, hints: Vec<String> },
}

impl CompileError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            CompileError::TargetNotInstalled { triple } | CompileError::Rustup { triple, .. } => {
                vec![format!(
                    "run `rustup target add {triple}` (or install the std for this target with your toolchain manager)"
                )]
            }
            CompileError::Build { system_libs, .. } if !system_libs.is_empty() => system_lib_hints(system_libs),
            CompileError::Build { triple, source, .. } => {
                let text = source.to_string();
                let cc_missing = text.contains("failed to find tool")
                    || text.contains("ToolNotFound")
                    || text.contains("linker `cc` not found");
                if cc_missing {
                    vec![format!("this crate compiles C code, which needs a C cross compiler for {triple}: `pip install cargo-zigbuild` and `--backend zigbuild`")]
                } else {
                    Vec::new()
                }
            }
            CompileError::ToolMissing { hints, .. } => hints.clone(),
            CompileError::Init { .. } => {
                vec!["the service built; to build its image without the init, drop `init = true` (or `--init`)".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// The two ways out when a cross build needs the target's own library: do without it (rustls
/// for OpenSSL), or build it from source with the crate (OpenSSL's `vendored` feature).
fn system_lib_hints(libs: &[SystemLib]) -> Vec<String> {
    let mut hints = Vec::new();
    if let Some(lib) = libs.iter().find(|l| l.openssl) {
        hints.push(format!(
            "{} links OpenSSL; use rustls instead, e.g. for reqwest in Cargo.toml: \
             `reqwest = {{ version = \"0.12\", default-features = false, features = [\"rustls-tls\"] }}` \
             (`cargo tree -i openssl-sys` shows who pulls it in)",
            lib.package
        ));
        hints.push(
            "or build OpenSSL from source for the target: add to [dependencies] in Cargo.toml \
             `openssl = { version = \"0.10\", features = [\"vendored\"] }`"
                .into(),
        );
    }
    for lib in libs.iter().filter(|l| !l.openssl) {
        let name = lib.package.split(' ').next().unwrap_or(&lib.package);
        hints.push(format!(
            "{} looks for a system library with pkg-config; build it from source with the crate's own \
             feature if it has one (often `vendored`, `bundled` or `static`: `{name} = {{ version = \"*\", features = [\"bundled\"] }}`), \
             or drop the dependency for this target",
            lib.package
        ));
    }
    hints
}

/// Runs every job of the plan (`preflight::tools` has checked the backends' tools).
pub fn compile(plan: &Plan, env: &Env, shell: &mut Shell) -> Result<Artifacts, CompileError> {
    let mut artifacts = Artifacts::default();
    let mut sysroot = None;
    for job in &plan.jobs {
        let be = backend(job.backend.kind);
        if be.needs_local_std() {
            rustup::ensure_target(&job.target.triple, env, shell, &mut sysroot)?;
        }
        let very_verbose = shell.verbosity() == crate::shell::Verbosity::VeryVerbose;
        let ctx =
            JobContext { plan, job, env, quiet: shell.is_quiet(), verbose: very_verbose, color: shell.is_colored() };
        let cmd = with_progress_bar(be.command(&ctx), shell.terminal_width(), env);
        shell.verbose("Running", &cmd);
        let triple = &job.target.triple;
        for lib in &job.system_libs {
            shell.warn(format!("{lib} is compiled for {triple}: a cross build finds no such library for it"));
        }
        cmd.stream(|line| record(&mut artifacts, line, triple), false).map_err(|source| CompileError::Build {
            triple: triple.clone(),
            source,
            system_libs: job.system_libs.clone(),
        })?;
        if job.init {
            let exe = init::build(plan, job, env, shell)?;
            artifacts.insert(init::NAME, init::NAME, triple, exe);
        }
        for u in &job.units {
            for b in &u.bins {
                if artifacts.get(&u.package_id, b, triple).is_none() {
                    return Err(CompileError::MissingArtifact {
                        package: u.package.clone(),
                        bin: b.clone(),
                        triple: triple.clone(),
                    });
                }
            }
        }
    }
    Ok(artifacts)
}

/// Cargo draws its progress bar only on a terminal, and its stderr is our pipe (we keep its
/// tail for errors): on a terminal of `width` columns, ask for the bar anyway, unless the user's
/// own `CARGO_TERM_PROGRESS_*` say otherwise (cargo reads those itself).
fn with_progress_bar(cmd: crate::process::Cmd, width: Option<u16>, env: &Env) -> crate::process::Cmd {
    use crate::env::EnvVars;
    match width {
        Some(w) if env.get(EnvVars::CARGO_TERM_PROGRESS_WHEN).is_none() => {
            let cmd = cmd.env(EnvVars::CARGO_TERM_PROGRESS_WHEN, "always");
            match env.get(EnvVars::CARGO_TERM_PROGRESS_WIDTH) {
                Some(_) => cmd,
                None => cmd.env(EnvVars::CARGO_TERM_PROGRESS_WIDTH, w.to_string()),
            }
        }
        _ => cmd,
    }
}

/// Records an executable from one line of cargo's JSON output (other lines are ignored).
fn record(artifacts: &mut Artifacts, line: &str, triple: &str) {
    if let Ok(Message::CompilerArtifact(a)) = serde_json::from_str::<Message>(line) {
        if let (Some(exe), true) = (&a.executable, a.target.kind.contains(&TargetKind::Bin)) {
            artifacts.insert(&a.package_id.repr, &a.target.name, triple, exe.clone().into());
        }
    }
}

/// A small plan for command-line snapshot tests of the backends.
#[cfg(test)]
pub(crate) mod testing {
    use super::{backend, JobContext};
    use crate::env::Env;
    use crate::plan::{BackendChoice, BackendKind, CargoFlags, CompileJob, Plan, Target, Unit};

    /// The command line `kind` runs for package `app` (bins `app`, `tool`) on `target`.
    pub fn command_line(kind: BackendKind, target: &str, quiet: bool) -> String {
        let job = CompileJob {
            target: Target::parse(target).expect("known target"),
            backend: BackendChoice { kind, reason: "test".into(), linker: None },
            units: vec![Unit {
                package: "app".into(),
                package_id: "app-id".into(),
                bins: vec!["app".into(), "tool".into()],
            }],
            init: false,
            system_libs: Vec::new(),
        };
        let plan = Plan {
            workspace_root: "/src/app".into(),
            target_dir: "/src/app/target".into(),
            profile: "release".into(),
            cargo: CargoFlags {
                manifest_path: "/src/app/Cargo.toml".into(),
                features: vec!["tls".into()],
                locked: true,
                ..CargoFlags::default()
            },
            epoch: 0,
            jobs: vec![job.clone()],
            images: Vec::new(),
            elf_check: true,
            verify_reproducible: false,
            attestations: crate::plan::Attestations { sbom: crate::plan::SbomFormat::Spdx, provenance: true },
            registry: Default::default(),
            warnings: Vec::new(),
        };
        let env = Env::from_pairs("/src/app".into(), []);
        let ctx = JobContext { plan: &plan, job: &job, env: &env, quiet, verbose: false, color: false };
        backend(kind).command(&ctx).to_string()
    }
}
