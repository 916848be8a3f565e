//! A rebuild that changes nothing starts no process but its one `cargo build`: what cargo and
//! rustc answered before (`cargo metadata`, `rustc --print sysroot`, `rustc -vV`, `cargo -V`) is
//! kept with the files it was read from, and asked again as soon as one of them changes.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::*;

/// Makes every file and directory under `dir` look changed a minute ago: the memo keeps no
/// answer read from a file changed in the last seconds (it may have changed while cargo read it).
fn age(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(60);
    for e in tree(dir).into_iter().chain([dir.to_path_buf()]) {
        std::fs::File::open(&e).unwrap().set_modified(old).unwrap();
    }
}

/// `cargo` and `rustc` on PATH that log each call cargo-oci makes (not cargo's own calls of
/// rustc) to `log` and run the real ones.
fn shims(dir: &Path, log: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for tool in ["cargo", "rustc"] {
        let real = which(tool).expect(tool);
        let script =
            format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), real.display());
        let path = dir.join(tool);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

#[test]
fn a_no_op_build_runs_only_cargo_build_and_a_change_is_seen() {
    let p = Project::bin("noop", "unchanged");
    // Outside the project: the memo watches where cargo discovers targets.
    let outside = tempfile::tempdir().unwrap();
    let log = outside.path().join("calls.log");
    let path = shims(&outside.path().join("bin"), &log);
    let cache = outside.path().join("cache");
    let cargo = outside.path().join("bin/cargo").display().to_string();
    let vars = [
        ("PATH".to_string(), path),
        // As `cargo oci` sets it (the test harness's own would bypass the shim).
        ("CARGO".to_string(), cargo),
        ("CARGO_OCI_CACHE".to_string(), cache.display().to_string()),
    ];
    let build = || {
        let _ = std::fs::remove_file(&log);
        let run = p.oci_env(&["build", "--target", "x86_64,aarch64", "-o", "lay"], &vars).success();
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let mut calls: Vec<String> =
            calls.lines().map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ")).collect();
        calls.sort();
        (parse_built(run.stdout().lines().next().unwrap()), calls)
    };
    age(p.path());
    let (first, calls) = build();
    assert!(calls.iter().any(|c| c == "cargo metadata"), "a first build asks cargo: {calls:?}");
    // Cargo.lock was written by that first `cargo metadata`: a file changed while cargo read it
    // is not trusted, so the next build asks again, and keeps what it hears.
    age(p.path());
    build();
    let (again, calls) = build();
    assert_eq!(again.digest, first.digest);
    assert_eq!(calls, ["cargo build"], "a no-op build starts nothing but cargo build");
    // The auditable copy is not made again while its stamp holds; a copy changed since is.
    let copy = p.path().join("target/oci/auditable/x86_64-unknown-linux-musl/noop/noop");
    let made = std::fs::read(&copy).unwrap();
    let mut flipped = made.clone();
    flipped[made.len() / 2] ^= 0x20;
    std::fs::write(&copy, &flipped).unwrap();
    let (repaired, _) = build();
    assert_eq!(repaired.digest, first.digest, "the flipped copy was made again, not layered");
    assert!(std::fs::read(&copy).unwrap() == made);

    // A changed manifest is read again: the new version is the new tag.
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    std::fs::write(&manifest, text).unwrap();
    let (built, calls) = build();
    assert!(calls.iter().any(|c| c == "cargo metadata"), "a changed Cargo.toml is asked again: {calls:?}");
    assert_eq!(built.tag, "0.2.0");
    validate_layout(&built.layout, "0.2.0");

    // A new binary where cargo discovers them is seen too (the image then holds it).
    age(p.path());
    build();
    std::fs::create_dir_all(p.path().join("src/bin")).unwrap();
    std::fs::write(p.path().join("src/bin/second.rs"), "fn main() { println!(\"second\"); }\n").unwrap();
    // Each binary is an image of its own: the new one is built and runs.
    let run = p.oci_env(&["build", "--target", "x86_64", "-o", "lay2"], &vars).success();
    let second = run.stdout().lines().map(parse_built).find(|b| b.layout.ends_with("second"));
    let second = second.unwrap_or_else(|| panic!("an image of the new binary:\n{}", run.stdout()));
    let root = unpack_platform(&second.layout, "0.2.0", "amd64", outside.path());
    let out = tool(root.join("usr/local/bin/second").to_str().unwrap(), &[]).stdout();
    assert_eq!(out.trim(), "second");
}
