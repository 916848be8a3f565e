//! Reproducibility: the same commit gives the same digest from any checkout, home, target dir,
//! time zone, umask and locale; `--verify-reproducible` proves it or explains why not.

use std::path::Path;
use std::process::Command;

use crate::support::*;

const COMMIT_TIME: &str = "1714000000"; // 2024-04-24T23:06:40Z

fn git(dir: &Path, args: &[&str]) {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", format!("@{COMMIT_TIME} +0000"))
        .env("GIT_COMMITTER_DATE", format!("@{COMMIT_TIME} +0000"));
    Run::of(c).success();
}

/// A crate with registry dependencies whose panic paths live under CARGO_HOME, committed to git.
fn committed_fixture() -> Project {
    let p = Project::empty()
        .file("Cargo.toml", "[package]\nname = \"repro\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n[dependencies]\nserde_json = \"1\"\n\n[workspace]\n")
        .file(
            "src/main.rs",
            "fn main() {\n    let v: serde_json::Value = serde_json::from_str(&std::env::args().nth(1).unwrap_or(\"1\".into())).unwrap();\n    println!(\"{v} on {}\", std::env::consts::ARCH);\n}\n",
        )
        .file(".gitignore", "/target\n/lay\n");
    Run::of({
        let mut c = Command::new("cargo");
        c.current_dir(p.path()).args(["generate-lockfile", "-q"]);
        c
    })
    .success();
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["-c", "user.name=t", "-c", "user.email=t@t", "add", "."]);
    git(p.path(), &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "release"]);
    p
}

/// `cargo oci build ARGS -o lay -q` in `dir` as another machine would run it: a fresh CARGO_HOME
/// (registry sources elsewhere), another target dir, time zone, umask and locale.
fn build_elsewhere(dir: &Path, scratch: &Path, args: &[&str]) -> BuiltRef {
    let cargo_bin = std::env::var("CARGO").map(std::path::PathBuf::from).unwrap_or_else(|_| "cargo".into());
    let script = "umask 077; exec \"$0\" oci build \"$@\" -o lay -q";
    let mut c = Command::new("sh");
    c.current_dir(dir)
        .args(["-c", script, env!("CARGO_BIN_EXE_cargo-oci")])
        .args(args)
        .env("CARGO_HOME", scratch.join("cargo-home"))
        .env("CARGO", &cargo_bin)
        .env("CARGO_TARGET_DIR", scratch.join("elsewhere-target"))
        .env("TZ", "Pacific/Kiritimati")
        .env("LC_ALL", "de_DE.UTF-8")
        .env("LANG", "de_DE.UTF-8")
        .env("NO_COLOR", "1")
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .env_remove("SOURCE_DATE_EPOCH");
    parse_built(&Run::of(c).success().stdout())
}

#[test]
fn same_commit_same_digest_from_another_checkout_home_target_dir_tz_umask_and_locale() {
    let a = committed_fixture();
    let b = Project::empty();
    git(b.path(), &["clone", "-q", a.path().to_str().unwrap(), "checkout"]);
    let b_dir = b.path().join("checkout");

    let first = parse_built(&a.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q"]).success().stdout());

    let second = build_elsewhere(&b_dir, b.path(), &["--target", "aarch64,x86_64"]);
    assert_eq!(first.digest, second.digest, "same commit, same index digest");

    // SOURCE_DATE_EPOCH defaults to the commit time.
    let m = &validate_layout(&first.layout, "1.0.0")[0];
    assert_eq!(m.config["created"], "2024-04-24T23:06:40Z");
    let rev = String::from_utf8(
        Command::new("git").current_dir(a.path()).args(["rev-parse", "HEAD"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(m.manifest["annotations"]["org.opencontainers.image.revision"], rev.trim());

    let same = a.oci(&[
        "diff",
        &format!("oci:{}:1.0.0", first.layout.display()),
        &format!("oci:{}:1.0.0", second.layout.display()),
    ]);
    assert!(same.success().stdout().starts_with("identical:"));
}

#[test]
fn verify_reproducible_passes_or_explains_the_first_difference() {
    let ok = Project::bin("steady", "hi");
    let run = ok.oci(&["build", "--target", "x86_64", "--verify-reproducible", "-o", "lay"]).success();
    assert!(run.stderr().contains("Reproducible steady sha256:"), "{}", run.stderr());
    validate_layout(&ok.path().join("lay"), "0.1.0");

    let bad = Project::bin("clock", "x")
        .file(
            "build.rs",
            "fn main() {\n    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();\n    println!(\"cargo:rustc-env=BUILT_AT={t}\");\n}\n",
        )
        .file("src/main.rs", "fn main() { println!(\"built at {}\", env!(\"BUILT_AT\")); }\n");
    let run = bad.oci(&["build", "--target", "x86_64", "--verify-reproducible", "-o", "lay"]).failure();
    let (err, hints) = run.error_and_hints();
    assert!(
        err.starts_with("error: `clock` is not reproducible: a second build in a fresh target dir gave sha256:"),
        "{err}"
    );
    let explanation = run.stderr();
    assert!(
        explanation.contains("first difference: platform linux/amd64: layer 2 of 2")
            && explanation.contains("file `usr/local/bin/clock`: content digest"),
        "{explanation}"
    );
    assert!(hints[0].contains("build scripts that embed the time"), "{hints:?}");
    assert!(!bad.path().join("lay").exists(), "nothing written when not reproducible");
}

/// The C-deps example (ring, zstd, bundled SQLite, compiled by zig) gives the same digest for
/// both arches from another checkout, CARGO_HOME and target dir: C code is pinned too.
#[test]
fn c_deps_example_is_reproducible_too() {
    if !have("cargo-zigbuild") {
        return;
    }
    let a = Project::cached_example("cdeps");
    let args = ["build", "--target", "x86_64,aarch64", "-o", "lay-repro", "-q"];
    let first = parse_built(&a.oci_in(&Project::cache_dir("cdeps"), &args).success().stdout());
    let b = Project::empty();
    copy_tree(&repo().join("examples/cdeps"), &b.path().join("checkout"));
    let second = build_elsewhere(&b.path().join("checkout"), b.path(), &["--target", "x86_64,aarch64"]);
    if first.digest != second.digest {
        let d = a.oci(&[
            "diff",
            &format!("oci:{}:0.1.0", first.layout.display()),
            &format!("oci:{}:0.1.0", second.layout.display()),
        ]);
        panic!("not reproducible: {}", d.stdout());
    }
}
