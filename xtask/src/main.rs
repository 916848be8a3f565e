//! `cargo xtask test` (install what the suite needs, then run it), `cargo xtask bench` and
//! `cargo xtask fuzz [SECONDS]`.

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
        Some("bench-layer") => bench::layer_child(&args[1..]),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str).unwrap_or("60")),
        _ => Err("usage: cargo xtask test [cargo test args] | setup | bench | fuzz [SECONDS]".into()),
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
    let mut c = cargo_test(&["--workspace", "--locked"]);
    c.args(extra).env("CI", std::env::var("CI").unwrap_or_else(|_| "true".into()));
    status(c).map_err(|e| format!("cargo test failed ({e})"))
}

/// The fuzz targets (tests/fuzz) for `seconds` each, optimised, from a seed of the clock: new
/// inputs every run, unlike the fixed-seed run in the test suite. The seed is printed, so a
/// failure can be replayed with `FUZZ_SEED`.
fn fuzz(seconds: &str) -> Result<(), String> {
    let secs: u64 = seconds.parse().map_err(|_| format!("`{seconds}` is not a number of seconds"))?;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    eprintln!("xtask: fuzzing each target for {secs} s from FUZZ_SEED={seed}");
    let mut c = cargo_test(&["--release", "--locked", "--test", "fuzz", "--", "--nocapture", "--test-threads=1"]);
    // Optimised, but arithmetic overflow still panics: that is one of the things looked for.
    c.env("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
        .env("FUZZ_SECS", secs.to_string())
        .env("FUZZ_SEED", seed.to_string());
    status(c).map_err(|e| format!("a fuzz target failed ({e}); replay with FUZZ_SEED={seed}"))
}

fn cargo_test(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.arg("test").args(args);
    c
}

/// Runs `c`; its exit status as the error when it fails.
fn status(mut c: Command) -> Result<(), String> {
    let status = c.status().map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(status.to_string())
    }
}
