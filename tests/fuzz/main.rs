//! Fuzzing the parsers on stable Rust: cargo-fuzz needs a nightly toolchain, so each target is a
//! corpus-seeded mutation fuzzer driven by proptest (which catches panics and shrinks the input).
//! Every run feeds the checked-in corpus (`tests/fuzz/corpus/<target>/`: seeds and every input
//! that once failed) as is, then mutations of it.
//!
//! Bounded for CI: `FUZZ_CASES` mutations per target (default 2000) from a fixed seed, so a
//! run is the same every time. `cargo xtask fuzz SECONDS` runs each target for that long with
//! fresh seeds (`FUZZ_SECS`, `FUZZ_SEED`). A failure prints the smallest input found: add it to
//! the target's corpus directory with the fix.
//!
//! Contract for every target: no panic, whatever the input; errors are values.

mod layout;
mod mutate;
mod text;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// The corpus files of `target`, sorted by name.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs `test` on every value of `strategy`: `FUZZ_CASES` cases per batch, batches with
/// successive seeds until `FUZZ_SECS` have passed (one batch when unset).
pub fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let cases = env_u64("FUZZ_CASES").unwrap_or(2000) as u32;
    let budget = Duration::from_secs(env_u64("FUZZ_SECS").unwrap_or(0));
    let mut seed = env_u64("FUZZ_SEED").unwrap_or(0x0c1_f022);
    let started = Instant::now();
    let mut batches = 0;
    loop {
        let config = Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..Config::default()
        };
        match TestRunner::new(config).run(&strategy, &test) {
            Ok(()) => {}
            Err(TestError::Fail(why, input)) => {
                panic!("fuzz target `{name}` failed (seed {seed}): {why}\nsmallest input: {input:#?}")
            }
            Err(e) => panic!("fuzz target `{name}`: {e}"),
        }
        batches += 1;
        seed += 1;
        if started.elapsed() >= budget {
            break;
        }
    }
    eprintln!("fuzz {name}: {batches} batch(es) of {cases} cases in {:.1}s", started.elapsed().as_secs_f64());
}
