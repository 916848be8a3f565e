//! Layering while cargo builds: in one cargo run for two targets, the first target's layers are
//! made while cargo is still building the second. Proved by order, not by time: the second
//! target's build script waits until the first target's layer is in the layer cache, so cargo
//! cannot finish — nor report the second target's binary — before that layer exists. And when
//! cargo then fails, the work already done is dropped cleanly and the error is cargo's.

use std::path::Path;

use crate::layout_support::leftovers;
use crate::support::*;

/// A std-only crate whose build script, when building for aarch64, waits for a key in the layer
/// cache (`OVERLAP_WAIT_FOR`: the only layer that can be there is the x86_64 binary's), says
/// whether it came, and fails when `OVERLAP_FAIL` is set. The wait is bounded only so that a
/// regression ends in a failed assertion rather than a hung test; it measures nothing.
fn project() -> Project {
    Project::bin("overlap", "hi").file(
        "build.rs",
        r#"use std::time::{Duration, Instant};
fn main() {
    println!("cargo:rerun-if-env-changed=OVERLAP_WAIT_FOR");
    println!("cargo:rerun-if-env-changed=OVERLAP_FAIL");
    let Ok(keys) = std::env::var("OVERLAP_WAIT_FOR") else { return };
    if !std::env::var("TARGET").unwrap().starts_with("aarch64") {
        return;
    }
    let there = || std::fs::read_dir(&keys).is_ok_and(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == "json")));
    let start = Instant::now();
    while !there() && start.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = if there() { "was there" } else { "never came" };
    println!("cargo:warning=the x86_64 layer {seen} while aarch64 was being built");
    if std::env::var_os("OVERLAP_FAIL").is_some() {
        panic!("aarch64 fails on purpose");
    }
}
"#,
    )
}

fn vars(p: &Project, fail: bool) -> Vec<(String, String)> {
    let keys = p.path().join("target/oci/.layer-cache/keys");
    let mut v = vec![("OVERLAP_WAIT_FOR".to_string(), keys.display().to_string())];
    if fail {
        v.push(("OVERLAP_FAIL".into(), "1".into()));
    }
    v
}

/// `-j 2`: the waiting build script holds one of cargo's job slots, the x86_64 build the other.
const ARGS: [&str; 9] = ["build", "-v", "-j", "2", "--target", "x86_64,aarch64", "--message-format", "json", "-o"];

#[test]
fn the_first_target_is_layered_while_cargo_builds_the_second() {
    let p = project();
    let run = p.oci_env(&[&ARGS[..], &["lay"]].concat(), &vars(&p, false)).success();
    let err = run.stderr();
    assert!(err.contains("the x86_64 layer was there while aarch64 was being built"), "{err}");
    // One cargo run for both targets, and its end before the packaging lines: those are kept
    // and written after cargo's own.
    assert_eq!(err.matches("--target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl").count(), 1);
    let finished = err.find("Finished `release` profile").expect("cargo's end");
    let checked = err.find("Checked overlap for linux/amd64").expect("the check's line");
    assert!(finished < checked && checked < err.find("Packaging overlap").unwrap(), "{err}");
    let report: serde_json::Value = serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
    assert_eq!(report["layers"], serde_json::json!({"compressed": 2, "reused": 0}), "{report}");
    assert_eq!(validate_layout(&p.path().join("lay"), "0.1.0").len(), 2);
}

#[test]
fn when_cargo_fails_after_a_target_was_layered_the_error_is_cargos_and_nothing_is_left_half_done() {
    let p = project();
    let lay = p.path().join("lay");
    fake_image(&lay, "0.1.0", &["amd64"], "an existing tag");
    let before = tree_state(&lay);
    let run = p.oci_env(&[&ARGS[..], &["lay"]].concat(), &vars(&p, true)).failure();
    let err = run.stderr();
    // Cargo's own `error:` line first, then ours.
    let ours = err.lines().rfind(|l| l.starts_with("error:"));
    assert_eq!(ours, Some("error: failed to compile for `x86_64-unknown-linux-musl` and `aarch64-unknown-linux-musl`"));
    assert!(err.contains("the x86_64 layer was there while aarch64 was being built"), "{err}");
    assert!(!err.contains("Checked") && !err.contains("Packaging"), "the dropped work says nothing: {err}");
    assert_eq!(run.stdout(), "{\"images\":0,\"reason\":\"finished\",\"success\":false}\n", "no image");
    assert_eq!(tree_state(&lay), before, "the existing layout is untouched");
    let oci = p.path().join("target/oci");
    assert_eq!(leftovers(&oci), Vec::<std::path::PathBuf>::new(), "no staging directory or temporary file is left");
    assert_eq!(names(&oci), [".layer-cache", "auditable"], "only what outlives a build");

    // The layer cache is valid: the next build reuses (and verifies) the x86_64 layer.
    let run = p.oci_env(&[&ARGS[..], &["lay"]].concat(), &vars(&p, false)).success();
    let report: serde_json::Value = serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
    assert_eq!(report["layers"], serde_json::json!({"compressed": 1, "reused": 1}), "{report}");
    validate_layout(&lay, "0.1.0");
}

/// The names in `dir` that are not lock files, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    out.sort();
    out
}
