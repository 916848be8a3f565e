//! Which compile jobs share one cargo run: `cargo build --target a --target b` builds the host
//! artifacts (build scripts, proc-macros) once and lets cargo's jobserver overlap the targets.
//!
//! Jobs share a run only when that run gives each target exactly the bytes its own run would:
//! the same backend (cargo or zigbuild; cross builds one target per container), the same packages
//! and binaries (`-p`/`--bin` apply to every target of a run), and the same user rustflags. Our
//! rustflags go in `CARGO_ENCODED_RUSTFLAGS`, which cargo applies to every target of the run, so
//! targets whose configs give different rustflags (`[target.<triple>] rustflags`) keep a run each
//! rather than going through `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`, which cargo would merge with the
//! config's own tables in its own order (a different rustc command line, another digest).

use super::rustflags::user_rustflags;
use crate::env::Env;
use crate::plan::{BackendKind, CompileJob};

/// The jobs in runs, in plan order (a run sits where its first job was).
pub fn runs<'a>(jobs: &'a [CompileJob], env: &Env) -> Vec<Vec<&'a CompileJob>> {
    let flags = |job: &CompileJob| user_rustflags(&job.target.triple, env).0;
    let mut runs: Vec<(Vec<String>, Vec<&CompileJob>)> = Vec::new();
    for job in jobs {
        let mine = flags(job);
        let joins = |(f, run): &&mut (Vec<String>, Vec<&CompileJob>)| {
            let first = run[0];
            job.backend.kind != BackendKind::Cross
                && first.backend.kind == job.backend.kind
                && first.units == job.units
                && *f == mine
                && run.iter().all(|j| j.target.triple != job.target.triple)
        };
        match runs.iter_mut().find(|r| joins(r)) {
            Some((_, run)) => run.push(job),
            None => runs.push((mine, vec![job])),
        }
    }
    runs.into_iter().map(|(_, run)| run).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::cargo_config::env_in;
    use crate::plan::{BackendChoice, Target, Unit};

    fn job(triple: &str, kind: BackendKind, bins: &[&str]) -> CompileJob {
        CompileJob {
            target: Target::parse(triple).unwrap(),
            backend: BackendChoice { kind, reason: String::new(), linker: None },
            units: vec![Unit {
                package: "app".into(),
                package_id: "app-id".into(),
                bins: bins.iter().map(|b| b.to_string()).collect(),
            }],
            init: false,
            system_libs: Vec::new(),
        }
    }

    fn shape(runs: &[Vec<&CompileJob>]) -> Vec<Vec<String>> {
        runs.iter().map(|r| r.iter().map(|j| j.target.triple.clone()).collect()).collect()
    }

    #[test]
    fn same_backend_bins_and_flags_share_a_run_cross_never_does() {
        use BackendKind::*;
        let d = tempfile::tempdir().unwrap();
        let env = env_in(d.path(), &[]);
        let jobs = [
            job("x86_64", Cargo, &["app"]),
            job("aarch64", Zigbuild, &["app"]),
            job("aarch64", Cargo, &["app"]),
            job("x86_64-unknown-linux-gnu", Zigbuild, &["app"]),
            job("riscv64gc-unknown-linux-gnu", Zigbuild, &["app", "tool"]),
            job("x86_64-unknown-linux-gnu", Cross, &["app"]),
            job("aarch64-unknown-linux-gnu", Cross, &["app"]),
        ];
        assert_eq!(
            shape(&runs(&jobs, &env)),
            [
                vec!["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"],
                vec!["aarch64-unknown-linux-musl", "x86_64-unknown-linux-gnu"],
                vec!["riscv64gc-unknown-linux-gnu"],
                vec!["x86_64-unknown-linux-gnu"],
                vec!["aarch64-unknown-linux-gnu"],
            ]
        );
    }

    #[test]
    fn targets_with_their_own_rustflags_keep_their_own_run() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(
            d.path().join(".cargo/config.toml"),
            "[target.aarch64-unknown-linux-musl]\nrustflags = [\"-Ctarget-cpu=neoverse-n1\"]\n",
        )
        .unwrap();
        let jobs = [
            job("x86_64", BackendKind::Cargo, &["app"]),
            job("aarch64", BackendKind::Cargo, &["app"]),
            job("riscv64gc-unknown-linux-musl", BackendKind::Cargo, &["app"]),
        ];
        assert_eq!(
            shape(&runs(&jobs, &env_in(d.path(), &[]))),
            [vec!["x86_64-unknown-linux-musl", "riscv64gc-unknown-linux-musl"], vec!["aarch64-unknown-linux-musl"]]
        );
        // RUSTFLAGS apply to every target alike: one run again.
        let env = env_in(d.path(), &[("RUSTFLAGS", "-Cforce-frame-pointers")]);
        assert_eq!(shape(&runs(&jobs, &env)).len(), 1);
    }
}
