//! `cargo xtask test` (install what the suite needs, then run it) and `cargo xtask bench`.

mod bench;
mod setup;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => setup::install().and_then(|()| run_tests(&args[1..])),
        Some("setup") => setup::install(),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-child") => bench::child(&args[1..]),
        _ => Err("usage: cargo xtask test [cargo test args] | setup | bench".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace`, in CI mode so a missing checker fails instead of skipping.
fn run_tests(extra: &[String]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--locked"])
        .args(extra)
        .env("CI", std::env::var("CI").unwrap_or_else(|_| "true".into()))
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test failed ({status})"))
    }
}
