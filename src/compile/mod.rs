//! Compile: one cargo run per group of targets that share a backend and flags (see [`runs`]),
//! through a backend; binaries found from cargo's JSON messages as they come (see [`built`]),
//! each target handed on as soon as its binaries are there. Knows cargo, nothing about OCI.

mod built;
mod cargo;
mod cross;
pub mod init;
mod runs;
pub mod rustflags;
mod rustup;
mod zigbuild;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::Env;
use crate::facts::cdeps::SystemLib;
use crate::facts::Facts;
use crate::plan::{BackendKind, CompileJob, Plan};
use crate::process::{Cmd, ProcessError};
use crate::shell::Shell;

/// A way of building: plain cargo, cargo-zigbuild, cross. One file each, listed in [`backend`].
pub trait Backend {
    /// Checks that the tools exist, before anything is compiled for any target.
    fn preflight(&self, job: &CompileJob, env: &Env, facts: &Facts) -> Result<(), CompileError>;
    /// Whether the Rust standard library for the target must be installed locally.
    fn needs_local_std(&self) -> bool {
        true
    }
    /// The exact command line for one run (one or more jobs, see [`runs`]).
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

/// What a backend needs for one cargo run: its jobs share backend, packages, bins and user
/// rustflags, and differ in target only.
pub struct JobContext<'a> {
    pub plan: &'a Plan,
    pub jobs: &'a [&'a CompileJob],
    pub env: &'a Env,
    pub quiet: bool,
    /// `-vv`: cargo's own `--verbose`.
    pub verbose: bool,
    /// Our stderr shows colour: cargo's should too (`--color always`; it writes into a pipe).
    pub color: bool,
}

impl JobContext<'_> {
    /// The run's first job: the packages, bins and rustflags every job of the run shares.
    pub fn job(&self) -> &CompileJob {
        self.jobs[0]
    }

    /// The arguments every cargo-like backend shares after its subcommand: targets (`--target`
    /// once per job, as `target_arg` spells a job's target), profile, packages and bins, features
    /// and lock flags, JSON messages.
    pub fn common_args(&self, target_arg: impl Fn(&CompileJob) -> String) -> Vec<String> {
        let mut a = vec!["--manifest-path".to_string(), self.plan.cargo.manifest_path.display().to_string()];
        for job in self.jobs {
            a.extend(["--target".to_string(), target_arg(job)]);
        }
        a.extend([
            "--profile".into(),
            self.plan.profile.clone(),
            "--message-format=json-render-diagnostics".into(),
            "--target-dir".into(),
            self.plan.target_dir.display().to_string(),
        ]);
        for u in &self.job().units {
            a.extend(["-p".to_string(), u.package.clone()]);
        }
        for u in &self.job().units {
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
    /// `CARGO_ENCODED_RUSTFLAGS` (see `plan::rustflags` for why not RUSTFLAGS). The jobs of a run
    /// have the same user rustflags ([`runs`] groups them so): the first job's are every job's.
    pub fn reproducible_env(&self, extra_remaps: &[(std::path::PathBuf, &str)]) -> (String, String) {
        let (mut flags, _) = rustflags::user_rustflags(&self.job().target.triple, self.env);
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

    /// The binaries built for `triple`.
    pub fn of_target(&self, triple: &str) -> Artifacts {
        Artifacts(self.0.iter().filter(|((_, _, t), _)| t == triple).map(|(k, v)| (k.clone(), v.clone())).collect())
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
    #[error("failed to compile for {}", quoted(.triples))]
    Build {
        /// Every target of the cargo run that failed.
        triples: Vec<String>,
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
            CompileError::Build { triples, source, .. } => {
                let text = source.to_string();
                let cc_missing = text.contains("failed to find tool")
                    || text.contains("ToolNotFound")
                    || text.contains("linker `cc` not found");
                if cc_missing {
                    vec![format!("this crate compiles C code, which needs a C cross compiler for {}: `pip install cargo-zigbuild` and `--backend zigbuild`", triples.join(", "))]
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

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn quoted(triples: &[String]) -> String {
    let q: Vec<String> = triples.iter().map(|t| format!("`{t}`")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => q.concat(),
    }
}

/// Runs every job of the plan, one cargo run per group of [`runs`] (`preflight::tools` has
/// checked the backends' tools). `on_built` hears of each job, with its binaries, as soon as cargo
/// has built them all (and its init), while cargo goes on with the others; once per job, on the
/// calling thread. On an error, the jobs it heard of are all it gets.
pub fn compile<'p>(
    plan: &'p Plan,
    facts: &Facts,
    shell: &mut Shell,
    on_built: &mut dyn FnMut(&'p CompileJob, Artifacts),
) -> Result<Artifacts, CompileError> {
    let env = facts.env();
    let mut artifacts = Artifacts::default();
    for run in runs::runs(&plan.jobs, env) {
        let be = backend(run[0].backend.kind);
        if be.needs_local_std() {
            for job in &run {
                rustup::ensure_target(&job.target.triple, facts, shell)?;
            }
        }
        let very_verbose = shell.verbosity() == crate::shell::Verbosity::VeryVerbose;
        let ctx = JobContext {
            plan,
            jobs: &run,
            env,
            quiet: shell.is_quiet(),
            verbose: very_verbose,
            color: shell.is_colored(),
        };
        let cmd = with_progress_bar(be.command(&ctx), shell.terminal_width(), env);
        shell.verbose("Running", &cmd);
        for job in &run {
            for lib in &job.system_libs {
                let triple = &job.target.triple;
                shell.warn(format!("{lib} is compiled for {triple}: a cross build finds no such library for it"));
            }
        }
        let mut built = built::Built::new(&run);
        let each_line = |line: &str| {
            if let Some(job) = built.line(&mut artifacts, line) {
                on_built(job, artifacts.of_target(&job.target.triple));
            }
        };
        cmd.stream(each_line, false).map_err(|source| CompileError::Build {
            triples: run.iter().map(|j| j.target.triple.clone()).collect(),
            source,
            system_libs: run.iter().flat_map(|j| j.system_libs.iter().cloned()).collect(),
        })?;
        for job in &run {
            let triple = &job.target.triple;
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
            if let Some(job) = built.finish(job, &artifacts) {
                on_built(job, artifacts.of_target(triple));
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

/// A small plan for command-line snapshot tests of the backends.
#[cfg(test)]
pub(crate) mod testing {
    use super::{backend, JobContext};
    use crate::env::Env;
    use crate::plan::{BackendChoice, BackendKind, CargoFlags, CompileJob, Plan, Target, Unit};

    /// The command line `kind` runs for package `app` (bins `app`, `tool`) on `target`.
    pub fn command_line(kind: BackendKind, target: &str, quiet: bool) -> String {
        run_command_line(kind, &[(target, None)], quiet)
    }

    /// The command line of one run of `kind` for `targets` (each with the linker we set, if any).
    pub fn run_command_line(kind: BackendKind, targets: &[(&str, Option<&str>)], quiet: bool) -> String {
        let jobs: Vec<CompileJob> = targets
            .iter()
            .map(|(target, linker)| CompileJob {
                target: Target::parse(target).expect("known target"),
                backend: BackendChoice { kind, reason: "test".into(), linker: linker.map(String::from) },
                units: vec![Unit {
                    package: "app".into(),
                    package_id: "app-id".into(),
                    bins: vec!["app".into(), "tool".into()],
                }],
                init: false,
                system_libs: Vec::new(),
            })
            .collect();
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
            jobs: jobs.clone(),
            images: Vec::new(),
            elf_check: true,
            verify_reproducible: false,
            attestations: crate::plan::Attestations { sbom: crate::plan::SbomFormat::Spdx, provenance: true },
            registry: Default::default(),
            warnings: Vec::new(),
        };
        let env = Env::from_pairs("/src/app".into(), []);
        let run: Vec<&CompileJob> = jobs.iter().collect();
        let ctx = JobContext { plan: &plan, jobs: &run, env: &env, quiet, verbose: false, color: false };
        backend(kind).command(&ctx).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_names_every_target() {
        let e = |triples: &[&str]| {
            let source = crate::process::Cmd::new("/nonexistent/cargo").output().unwrap_err();
            let triples = triples.iter().map(|t| t.to_string()).collect();
            CompileError::Build { triples, source, system_libs: Vec::new() }.to_string()
        };
        assert_eq!(e(&["a"]), "failed to compile for `a`");
        assert_eq!(e(&["a", "b"]), "failed to compile for `a` and `b`");
        assert_eq!(e(&["a", "b", "c"]), "failed to compile for `a`, `b` and `c`");
    }

    #[test]
    fn one_cargo_run_for_two_targets() {
        use testing::run_command_line;
        let targets = [("x86_64", Some("rust-lld")), ("aarch64", Some("rust-lld"))];
        insta::assert_snapshot!(run_command_line(BackendKind::Cargo, &targets, false), @r"$'CARGO_ENCODED_RUSTFLAGS=--remap-path-prefix=/src/app=/build\x1f--remap-path-prefix=/src/app/target=/target' CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --manifest-path /src/app/Cargo.toml --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl --profile release --message-format=json-render-diagnostics --target-dir /src/app/target -p app --bin app --bin tool --features tls --locked");
        let targets = [("x86_64-unknown-linux-gnu.2.17", None), ("aarch64", None)];
        insta::assert_snapshot!(run_command_line(BackendKind::Zigbuild, &targets, true), @r"$'CARGO_ENCODED_RUSTFLAGS=--remap-path-prefix=/src/app=/build\x1f--remap-path-prefix=/src/app/target=/target' cargo zigbuild --manifest-path /src/app/Cargo.toml --target x86_64-unknown-linux-gnu.2.17 --target aarch64-unknown-linux-musl --profile release --message-format=json-render-diagnostics --target-dir /src/app/target -p app --bin app --bin tool --features tls --locked --quiet");
    }
}
