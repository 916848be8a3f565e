//! Makes sure the Rust standard library for a target is installed (rustup), before compiling.

use super::CompileError;
use crate::facts::Facts;
use crate::process::Cmd;
use crate::shell::Shell;

/// Installs the std of `triple` unless the sysroot (see [`Facts::sysroot`]) has it.
pub fn ensure_target(triple: &str, facts: &Facts, shell: &mut Shell) -> Result<(), CompileError> {
    let env = facts.env();
    let sysroot = facts.sysroot().map_err(CompileError::Sysroot)?;
    if sysroot.join("lib/rustlib").join(triple).join("lib").is_dir() {
        return Ok(());
    }
    let Some(rustup) = env.which("rustup") else {
        return Err(CompileError::TargetNotInstalled { triple: triple.into() });
    };
    shell.status("Installing", format!("Rust standard library for {triple} (rustup target add {triple})"));
    Cmd::new(rustup)
        .args(["target", "add", triple])
        .cwd(&env.cwd)
        .env("RUST_BACKTRACE", "0")
        .run(shell.is_quiet())
        .map_err(|source| CompileError::Rustup { triple: triple.into(), source })
}
