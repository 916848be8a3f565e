//! The plain-cargo backend: `cargo build`, linking musl targets with the toolchain's rust-lld
//! when the user configured no linker.

use super::{Backend, CompileError, JobContext};
use crate::env::{Env, EnvVars};
use crate::facts::Facts;
use crate::plan::CompileJob;
use crate::process::Cmd;

pub struct Cargo;

impl Backend for Cargo {
    fn preflight(&self, _job: &CompileJob, _env: &Env, _facts: &Facts) -> Result<(), CompileError> {
        Ok(()) // cargo is what runs us
    }

    fn command(&self, ctx: &JobContext<'_>) -> Cmd {
        let targets = ctx.common_args(|job| job.target.triple.clone());
        let mut cmd = Cmd::new(ctx.env.cargo()).cwd(&ctx.env.cwd).arg("build").args(targets);
        let (k, v) = ctx.reproducible_env(&[]);
        cmd = cmd.env(k, v);
        for job in ctx.jobs {
            if let Some(linker) = &job.backend.linker {
                // rust-lld is not on PATH, but rustc puts its own bin dir on the linker's PATH.
                cmd = cmd.env(EnvVars::target_linker(&job.target.triple), linker);
            }
        }
        cmd
    }
}
