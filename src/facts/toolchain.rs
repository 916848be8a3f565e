//! The versions of the tools a build runs (`rustc -vV`, `cargo -V`, `zig version`), for
//! provenance. What cannot be run stays empty.

use std::path::Path;

use crate::env::Env;
use crate::process::Cmd;

fn text(cmd: Cmd) -> Option<String> {
    cmd.output().ok().map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

/// `rustc -vV`, verbatim, as run in `dir` (a `rust-toolchain.toml` there picks the toolchain).
pub fn rustc(env: &Env, dir: &Path) -> Option<String> {
    text(Cmd::new(env.rustc()).arg("-vV").cwd(dir))
}

/// `cargo -V`, as run in `dir`.
pub fn cargo(env: &Env, dir: &Path) -> Option<String> {
    text(Cmd::new(env.cargo()).arg("-V").cwd(dir))
}
