//! The zig backend: `cargo zigbuild`, run as a subprocess (never linked in as a library: its
//! linker wrappers call back into the binary that runs them). zig compiles the C code and links,
//! for any target, against musl or against glibc no newer than the target's floor.

use super::{Backend, CompileError, JobContext};
use crate::env::Env;
use crate::facts::Facts;
use crate::plan::CompileJob;
use crate::process::Cmd;

pub struct Zigbuild;

/// The two ways to install what this backend needs.
const HINTS: [&str; 2] = [
    "`pip install cargo-zigbuild` (brings zig along as the `ziglang` package)",
    "or `cargo install --locked cargo-zigbuild` and `pip install ziglang` (or zig on PATH)",
];

impl Backend for Zigbuild {
    /// cargo-zigbuild on PATH, and zig where cargo-zigbuild looks: on PATH or as `python3 -m ziglang`.
    fn preflight(&self, job: &CompileJob, env: &Env, facts: &Facts) -> Result<(), CompileError> {
        let missing = |what: &str| CompileError::ToolMissing {
            what: what.into(),
            triple: job.target.triple.clone(),
            hints: HINTS.iter().map(|h| h.to_string()).collect(),
        };
        if env.which("cargo-zigbuild").is_none() {
            return Err(missing("cargo-zigbuild (the zig backend)"));
        }
        if env.which("zig").is_some() {
            return Ok(());
        }
        if facts.zig_version().is_some() {
            Ok(())
        } else {
            Err(missing("zig (on PATH or as `python3 -m ziglang`)"))
        }
    }

    /// `cargo zigbuild --target <triple>[.<glibc floor>] …` (once per target of the run); zig
    /// writes the binary into the unsuffixed target folder, which cargo's JSON messages report.
    fn command(&self, ctx: &JobContext<'_>) -> Cmd {
        // zig's global cache holds the libc it builds for the target: its paths are host paths too.
        let zig_cache = ctx.env.cache_home().map(|c| (c.join("zig"), "/zig-cache"));
        let (k, v) = ctx.reproducible_env(zig_cache.as_slice());
        Cmd::new(ctx.env.cargo())
            .cwd(&ctx.env.cwd)
            .arg("zigbuild")
            .args(ctx.common_args(|job| job.target.zig_triple()))
            .env(k, v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::command_line;
    use crate::plan::BackendKind;

    #[test]
    fn command_lines() {
        insta::assert_snapshot!(command_line(BackendKind::Zigbuild, "aarch64", false), @r"$'CARGO_ENCODED_RUSTFLAGS=--remap-path-prefix=/src/app=/build\x1f--remap-path-prefix=/src/app/target=/target' cargo zigbuild --manifest-path /src/app/Cargo.toml --target aarch64-unknown-linux-musl --profile release --message-format=json-render-diagnostics --target-dir /src/app/target -p app --bin app --bin tool --features tls --locked");
        insta::assert_snapshot!(command_line(BackendKind::Zigbuild, "aarch64-unknown-linux-gnu.2.31", true), @r"$'CARGO_ENCODED_RUSTFLAGS=--remap-path-prefix=/src/app=/build\x1f--remap-path-prefix=/src/app/target=/target' cargo zigbuild --manifest-path /src/app/Cargo.toml --target aarch64-unknown-linux-gnu.2.31 --profile release --message-format=json-render-diagnostics --target-dir /src/app/target -p app --bin app --bin tool --features tls --locked --quiet");
    }
}
