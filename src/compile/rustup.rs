//! Makes sure the Rust standard library for a target is installed (rustup), before compiling.

use std::path::PathBuf;

use super::CompileError;
use crate::env::Env;
use crate::process::Cmd;
use crate::shell::Shell;

/// Installs the std of `triple` unless the sysroot has it; `sysroot` keeps rustc's answer for
/// the next target (asking costs a process start, through rustup's proxy).
pub fn ensure_target(
    triple: &str,
    env: &Env,
    shell: &mut Shell,
    sysroot: &mut Option<PathBuf>,
) -> Result<(), CompileError> {
    let sysroot = match sysroot {
        Some(s) => s,
        None => {
            let out = Cmd::new(env.rustc())
                .args(["--print", "sysroot"])
                .cwd(&env.cwd)
                .output()
                .map_err(CompileError::Sysroot)?;
            sysroot.insert(PathBuf::from(String::from_utf8_lossy(&out).trim()))
        }
    };
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
