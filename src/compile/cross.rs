//! The cross backend: `cross build`, which compiles inside a container image made for the target
//! (opt-in with `--backend cross`; needs docker or podman).

use super::{Backend, CompileError, JobContext};
use crate::env::Env;
use crate::facts::Facts;
use crate::plan::CompileJob;
use crate::process::Cmd;

pub struct Cross;

impl Backend for Cross {
    fn preflight(&self, job: &CompileJob, env: &Env, _facts: &Facts) -> Result<(), CompileError> {
        let missing = |what: &str, hint: &str| CompileError::ToolMissing {
            what: what.into(),
            triple: job.target.triple.clone(),
            hints: vec![
                hint.into(),
                "or let cargo-oci pick a backend that needs no container: `--backend auto`".into(),
            ],
        };
        if env.which("cross").is_none() {
            return Err(missing("cross (the cross backend)", "install it with `cargo install --locked cross`"));
        }
        if env.which("docker").is_none() && env.which("podman").is_none() {
            return Err(missing("a container engine for cross (docker or podman)", "install podman or docker"));
        }
        Ok(())
    }

    /// cross installs the target's standard library itself, inside its image.
    fn needs_local_std(&self) -> bool {
        false
    }

    fn command(&self, ctx: &JobContext<'_>) -> Cmd {
        Cmd::new("cross").cwd(&ctx.env.cwd).arg("build").args(ctx.common_args(|job| job.target.triple.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::command_line;
    use crate::plan::BackendKind;

    #[test]
    fn command_line_is_cargo_build_under_cross() {
        insta::assert_snapshot!(command_line(BackendKind::Cross, "aarch64", false), @"cross build --manifest-path /src/app/Cargo.toml --target aarch64-unknown-linux-musl --profile release --message-format=json-render-diagnostics --target-dir /src/app/target -p app --bin app --bin tool --features tls --locked");
    }
}
