//! Bad input: one `error:` line, a `hint:` with the fix, exit ≠ 0, nothing written, nothing lost.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// A valid (empty) OCI layout the user already has, with a blob that must survive.
fn existing_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), r#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
    std::fs::write(dir.join("blobs/sha256/0000"), "keep me").unwrap();
}

/// Runs a failing build in `p` with an existing layout as output and checks the contract.
fn refused(p: &Project, args: &[&str]) -> (String, Vec<String>) {
    let lay = p.path().join("lay");
    existing_layout(&lay);
    let before = tree_state(&lay);
    let mut full = vec!["build", "-o", "lay"];
    full.extend_from_slice(args);
    let run = p.oci(&full).failure();
    assert_eq!(run.out.status.code(), Some(1));
    assert_eq!(run.stdout(), "", "nothing on stdout");
    assert_eq!(tree_state(&lay), before, "the existing layout must be unchanged");
    assert!(!p.path().join("target/oci").exists(), "nothing staged or written");
    run.error_and_hints()
}

#[test]
fn unknown_target_lists_the_known_names() {
    let (err, hints) = refused(&Project::bin("t", "x"), &["--target", "x86_64,mips"]);
    assert_eq!(err, "error: unknown target `mips`");
    assert!(hints[0].contains("x86_64, amd64, aarch64, arm64, i686, 386"), "{hints:?}");
}

#[test]
fn no_such_package() {
    let (err, hints) = refused(&Project::bin("pkg", "x"), &["-p", "nope"]);
    assert_eq!(err, "error: package `nope` is not in this workspace");
    assert_eq!(hints, ["hint: pick one with -p: `-p pkg`"]);
}

#[test]
fn no_such_bin() {
    let (err, hints) = refused(&Project::bin("pkg", "x"), &["--bin", "nope"]);
    assert_eq!(err, "error: package `pkg` has no binary named `nope`");
    assert_eq!(hints, ["hint: binaries in this package: pkg"]);
}

#[test]
fn package_without_a_binary() {
    let p = Project::empty()
        .file("Cargo.toml", "[package]\nname = \"onlylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n")
        .file("src/lib.rs", "pub fn f() {}\n");
    let (err, hints) = refused(&p, &[]);
    assert_eq!(err, "error: package `onlylib` has no binary target: there is nothing to put into an image");
    assert!(hints[0].contains("src/main.rs"), "{hints:?}");
}

#[test]
fn gnu_target_on_the_builtin_base() {
    let (err, hints) = refused(&Project::bin("g", "x"), &["--target", "aarch64-unknown-linux-gnu"]);
    assert_eq!(
        err,
        "error: target `aarch64-unknown-linux-gnu` links against glibc, but the base `static` has no glibc"
    );
    assert_eq!(hints[0], "hint: build a static musl binary instead: `--target aarch64-unknown-linux-musl`");
}

#[test]
fn target_std_missing_and_no_rustup() {
    // A toolchain without rustup: its own bin dir on PATH, no ~/.cargo/bin.
    let sysroot =
        String::from_utf8(Command::new("rustc").args(["--print", "sysroot"]).output().unwrap().stdout).unwrap();
    let sysroot = Path::new(sysroot.trim());
    let triple = ["riscv64gc-unknown-linux-musl", "powerpc64le-unknown-linux-musl", "loongarch64-unknown-linux-musl"]
        .into_iter()
        .find(|t| !sysroot.join("lib/rustlib").join(t).exists())
        .expect("a musl target that is not installed");
    let p = Project::bin("nostd", "x");
    let lay = p.path().join("lay");
    existing_layout(&lay);
    let before = tree_state(&lay);
    let mut c = cargo_oci();
    c.current_dir(p.path())
        .env("CARGO_TARGET_DIR", p.path().join("target"))
        .env("PATH", format!("{}:/usr/bin:/bin", sysroot.join("bin").display()))
        .env("CARGO", sysroot.join("bin/cargo"))
        .env("RUSTC", sysroot.join("bin/rustc"))
        .args(["build", "--target", triple, "-o", "lay"]);
    let run = Run::of(c).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(
        err,
        format!(
            "error: the Rust standard library for `{triple}` is not installed, and rustup is not on PATH to install it"
        )
    );
    assert!(hints[0].contains(&format!("`rustup target add {triple}`")), "{hints:?}");
    assert_eq!(tree_state(&lay), before);
    assert!(!p.path().join("target/oci").exists());
}

#[test]
fn c_code_needs_a_cross_compiler() {
    let p = Project::with_c_dependency("usesc");
    // `--backend auto` (the default) would pick zig for it; plain cargo has no C cross compiler.
    let (err, hints) = refused(&p, &["--target", "aarch64", "--backend", "cargo"]);
    assert_eq!(err, "error: `usesc` needs a C compiler for `aarch64-unknown-linux-musl`: csys 0.1.0 (links = \"csys\") compiles C code");
    assert!(hints[0].contains("--backend zigbuild"), "{hints:?}");
}

#[test]
fn output_that_is_not_a_layout_is_never_overwritten() {
    let p = Project::bin("o", "x");
    let out = p.path().join("mydocs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "precious").unwrap();
    let run = p.oci(&["build", "-o", "mydocs"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(
        err,
        format!(
            "error: output `{}` exists and is not an OCI image layout (it has `notes.txt` but no `oci-layout` file)",
            out.display()
        )
    );
    assert!(hints[0].contains("--output"), "{hints:?}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "precious");
    assert!(!p.path().join("target/oci").exists());
}

#[test]
fn unwritable_output() {
    // /proc takes no new files, even for root (CI runs as root, so permissions alone prove nothing).
    let p = Project::bin("u", "x");
    let run = p.oci(&["build", "-o", "/proc/cargo-oci-test/lay"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: output `/proc/cargo-oci-test/lay` is not writable");
    assert_eq!(hints, ["hint: pick a directory you can write with `--output DIR`"]);
    assert!(!p.path().join("target/oci").exists());
}
