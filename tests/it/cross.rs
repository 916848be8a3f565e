//! Cross-compiling real crates: zig for C code and glibc targets, a glibc base built from Debian's
//! files, the automatic glibc floor, and the ELF check's refusals (nothing written).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// What the example prints, on any architecture (the lock file pins the bundled SQLite).
fn cdeps_line(arch: &str) -> String {
    format!("cdeps on {arch}: sha256=2cf24dba5fb0a30e zstd=ok sqlite=3.54.1 answer=42\n")
}

/// The C-deps example (ring, zstd, bundled SQLite) for both arches, once per suite run: zig's
/// first build per target costs a minute, so its target dir is kept under target/it-cache.
#[test]
fn c_deps_example_builds_with_zig_for_both_arches_and_runs() {
    if !have("cargo-zigbuild") {
        return;
    }
    let p = Project::cached_example("cdeps");
    let run = p
        .oci_in(&Project::cache_dir("cdeps"), &["build", "-v", "--target", "x86_64,aarch64", "-o", "lay-cross"])
        .success();
    let err = run.stderr();
    for (triple, platform) in
        [("x86_64-unknown-linux-musl", "linux/amd64"), ("aarch64-unknown-linux-musl", "linux/arm64")]
    {
        let decided = err.lines().find(|l| l.trim_start().starts_with(&format!("Backend zigbuild for {triple}: ")));
        let decided = decided.unwrap_or_else(|| panic!("auto must pick zigbuild for {triple}\n{err}"));
        assert!(decided.contains("compiles C code") && decided.ends_with("zig is the C cross compiler"), "{decided}");
        assert!(err.contains(&format!("Checked cdeps for {platform}: static, runs on any base")), "{err}");
    }
    // Both targets in one `cargo zigbuild` run.
    let zig_runs: Vec<&str> = err.lines().filter(|l| l.contains("Running") && l.contains("cargo zigbuild")).collect();
    assert_eq!(zig_runs.len(), 1, "{err}");
    assert!(zig_runs[0].contains("--target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"), "{err}");

    let built = parse_built(&run.stdout());
    let manifests = validate_layout(&built.layout, "0.1.0");
    let platforms: Vec<&str> = manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    // Provenance names the zig that compiled the C code.
    for (_, _, statement) in referrers(&built.layout, "application/vnd.in-toto+json") {
        let zig = &statement["predicate"]["runDetails"]["builder"]["version"]["zig"];
        assert!(zig.as_str().is_some_and(|v| v.starts_with("0.")), "{statement}");
    }
    if have("skopeo") && have("umoci") {
        let work = tempfile::tempdir().unwrap();
        let arm = unpack_platform(&built.layout, "0.1.0", "arm64", work.path());
        if have("qemu-aarch64-static") {
            let out = tool("qemu-aarch64-static", &[arm.join("usr/local/bin/cdeps").to_str().unwrap()]).stdout();
            assert_eq!(out, cdeps_line("aarch64"));
        }
        let amd = unpack_platform(&built.layout, "0.1.0", "amd64", work.path());
        assert_eq!(tool(amd.join("usr/local/bin/cdeps").to_str().unwrap(), &[]).stdout(), cdeps_line("x86_64"));
    }
}

/// Whether the gnu tests can run: zig, the arm64 glibc files, tar + umoci + skopeo to make and
/// unpack images, qemu, and root for chroot.
fn gnu_tools() -> bool {
    let tools = ["cargo-zigbuild", "tar", "umoci", "skopeo", "qemu-aarch64-static", "dpkg"];
    if !tools.iter().all(|t| have(t)) {
        return false;
    }
    if !Path::new(ARM64_LIBC).exists() {
        assert!(!strict(), "{ARM64_LIBC} is missing: `apt-get install libc6-arm64-cross` (CI=true)");
        eprintln!("SKIPPED: {ARM64_LIBC} missing (apt-get install libc6-arm64-cross)");
        return false;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        assert!(!strict(), "the glibc tests chroot into the unpacked image and need root (CI=true)");
        eprintln!("SKIPPED: not root (chroot)");
    }
    root
}

const ARM64_LIBC: &str = "/usr/aarch64-linux-gnu/lib/libc.so.6";

/// Debian's glibc for arm64 (every shared object of the `libc6-arm64-cross` package) laid out as
/// on a Debian system: files in /usr/lib/aarch64-linux-gnu, `/lib → usr/lib`, and the loader
/// reached through an absolute symlink. `dpkg_libc6`: a dpkg status entry claiming that version.
fn debian_glibc_tree(root: &Path, dpkg_libc6: Option<&str>) {
    let libdir = root.join("usr/lib/aarch64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    let files = tool("dpkg", &["-L", "libc6-arm64-cross"]).stdout();
    for f in files.lines().filter(|f| f.starts_with("/usr/aarch64-linux-gnu/lib/") && f.contains(".so")) {
        std::fs::copy(f, libdir.join(Path::new(f).file_name().unwrap())).unwrap();
    }
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    std::os::unix::fs::symlink(
        "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
        root.join("usr/lib/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    if let Some(v) = dpkg_libc6 {
        std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        let status = format!("Package: libc6\nStatus: install ok installed\nArchitecture: arm64\nVersion: {v}-1\n");
        std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    }
}

/// A linux/arm64 image `tag` in layout `lay` whose one layer is the tree `root`: GNU tar for the
/// layer (umoci's own `insert` writes tars without an end marker), umoci for the layout.
fn arm64_base(root: &Path, lay: &Path, tag: &str) -> String {
    let tarball = root.with_extension("tar");
    let (root_s, tar_s, lay_s) = (root.to_str().unwrap(), tarball.to_str().unwrap(), lay.to_str().unwrap());
    let deterministic = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"];
    tool("tar", &[&deterministic[..], &["-C", root_s, "-cf", tar_s, "."]].concat());
    if !lay.exists() {
        tool("umoci", &["init", "--layout", lay_s]);
    }
    let image = format!("{lay_s}:{tag}");
    tool("umoci", &["new", "--image", &image]);
    tool("umoci", &["raw", "add-layer", "--image", &image, tar_s]);
    tool("umoci", &["config", "--image", &image, "--architecture", "arm64", "--os", "linux"]);
    format!("oci:{image}")
}

/// Runs `cmd` inside an unpacked arm64 rootfs: chroot, so the image's absolute symlinks resolve
/// in the image, with qemu (a static binary) copied in.
fn run_in_rootfs(rootfs: &Path, cmd: &str) -> String {
    std::fs::copy(which("qemu-aarch64-static").unwrap(), rootfs.join("qemu-aarch64-static")).unwrap();
    let chroot = which("chroot").unwrap_or_else(|| PathBuf::from("/usr/sbin/chroot"));
    tool(chroot.to_str().unwrap(), &[rootfs.to_str().unwrap(), "/qemu-aarch64-static", cmd]).stdout()
}

/// The line of `-v` output that starts with `verb`.
fn verbose_line<'a>(stderr: &'a str, verb: &str) -> &'a str {
    let found = stderr.lines().map(str::trim_start).find(|l| l.starts_with(verb));
    found.unwrap_or_else(|| panic!("no `{verb}` line in\n{stderr}"))
}

#[test]
fn gnu_binary_on_a_debian_glibc_base_runs_in_that_rootfs() {
    if !gnu_tools() {
        return;
    }
    let p = Project::bin("gnuapp", "gnu");
    let base = arm64_base(
        &{
            let root = p.path().join("base-root");
            debian_glibc_tree(&root, None);
            root
        },
        &p.path().join("base"),
        "glibc",
    );
    let run = p.oci(&["build", "-v", "--target", "aarch64-unknown-linux-gnu", "--base", &base, "-o", "lay"]).success();
    let err = run.stderr();
    assert_eq!(
        verbose_line(&err, "Base glibc"),
        "Base glibc 2.36 for linux/arm64 (from /lib/aarch64-linux-gnu/libc.so.6)"
    );
    assert_eq!(
        verbose_line(&err, "Glibc floor"),
        format!("Glibc floor 2.36 for aarch64-unknown-linux-gnu: the glibc of the base `{base}`")
    );
    let backend = verbose_line(&err, "Backend zigbuild for aarch64-unknown-linux-gnu: glibc target");
    assert!(backend.ends_with(&format!("glibc floor 2.36, the glibc of the base `{base}`")), "{backend}");
    let checked = verbose_line(&err, "Checked gnuapp for linux/arm64: ");
    assert!(
        checked.contains("loader /lib/ld-linux-aarch64.so.1, libraries libc.so.6")
            && checked.ends_with("the base has 2.36"),
        "{checked}"
    );

    let built = parse_built(&run.stdout());
    let m = &validate_layout(&built.layout, "0.1.0")[0];
    assert_eq!(m.platform, "linux/arm64/v8");
    assert_eq!(m.layers.len(), 2, "the Debian glibc layer, then the binary");
    let work = tempfile::tempdir().unwrap();
    let rootfs = unpack_platform(&built.layout, "0.1.0", "arm64", work.path());
    assert_eq!(run_in_rootfs(&rootfs, "/usr/local/bin/gnuapp"), "gnu aarch64\n");
}

#[test]
fn glibc_floors_follow_the_base_and_binaries_that_cannot_run_are_refused() {
    if !gnu_tools() {
        return;
    }
    let p = Project::bin("floors", "floor");
    let lay = p.path().join("base");
    let old = arm64_base(
        &{
            let root = p.path().join("old-root");
            debian_glibc_tree(&root, Some("2.31"));
            root
        },
        &lay,
        "glibc231",
    );
    let nolibc = arm64_base(
        &{
            let root = p.path().join("bare-root");
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\n").unwrap();
            root
        },
        &lay,
        "nolibc",
    );
    let gnu = "aarch64-unknown-linux-gnu";

    // The automatic floor: the base says glibc 2.31 (its dpkg status), so the binary needs no newer.
    let run = p.oci(&["build", "-v", "--target", gnu, "--base", &old, "-o", "lay"]).success();
    let err = run.stderr();
    assert_eq!(
        verbose_line(&err, "Base glibc"),
        "Base glibc 2.31 for linux/arm64 (from package libc6 in /var/lib/dpkg/status)"
    );
    let checked = verbose_line(&err, "Checked floors for linux/arm64: ");
    let needs = checked.split("needs glibc ").nth(1).and_then(|r| r.split(',').next()).unwrap();
    let needs: Vec<u32> = needs.split('.').map(|n| n.parse().unwrap()).collect();
    assert!(needs[0] == 2 && needs[1] <= 31, "{checked}");
    let rootfs = unpack_platform(&p.path().join("lay"), "0.1.0", "arm64", p.path());
    assert_eq!(run_in_rootfs(&rootfs, "/usr/local/bin/floors"), "floor aarch64\n");

    let refused = |args: &[&str]| -> (String, Vec<String>) {
        let before = tree_state(&p.path().join("lay"));
        let mut full = vec!["build", "-o", "lay"];
        full.extend_from_slice(args);
        let run = p.oci(&full).failure();
        assert_eq!(run.stdout(), "");
        assert_eq!(tree_state(&p.path().join("lay")), before, "the existing layout must be unchanged");
        run.error_and_hints()
    };

    // A floor newer than the base's glibc, pinned by the user: the check names both versions.
    let (e, hints) = refused(&["--target", &format!("{gnu}.2.36"), "--base", &old]);
    assert_eq!(e, format!("error: `floors` cannot run in the image for linux/arm64 on base `{old}`: it needs glibc 2.34 (symbol version GLIBC_2.34), but the base has glibc 2.31"));
    assert_eq!(hints[0], format!("hint: build against the base's glibc: `--target {gnu}.2.31` (or `--glibc 2.31`)"));

    // No libc at all: the loader is named.
    let (e, hints) = refused(&["--target", gnu, "--base", &nolibc]);
    assert_eq!(e, format!("error: `floors` cannot run in the image for linux/arm64 on base `{nolibc}`: it needs the dynamic loader `/lib/ld-linux-aarch64.so.1`, which the base does not have"));
    assert_eq!(
        hints[1],
        "hint: or build a static musl binary, which runs on any base: `--target aarch64-unknown-linux-musl`"
    );
}

/// A "cross linker" that writes a host (x86_64) program where the arm64 binary should go: the
/// check refuses it; `--no-elf-check` lets it through.
#[test]
fn an_x86_64_binary_declared_as_arm64_is_refused() {
    let p = Project::bin("wrongarch", "x")
        .file("broken-linker", "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = -o ]; then cp /bin/true \"$2\"; exit 0; fi\n  shift\ndone\nexit 1\n");
    let linker = p.path().join("broken-linker");
    std::fs::set_permissions(&linker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let build = |extra: &[&str]| {
        let mut c = cargo_oci();
        c.current_dir(p.path())
            .env("CARGO_TARGET_DIR", p.path().join("target"))
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", &linker)
            .args(["build", "-v", "--target", "aarch64", "-o", "lay"])
            .args(extra);
        Run::of(c)
    };
    let run = build(&[]).failure();
    let (e, hints) = run.error_and_hints();
    assert_eq!(
        e,
        "error: `wrongarch` cannot run in the image for linux/arm64 on base `static`: it is an x86-64 (amd64) binary"
    );
    assert!(hints[0].contains("check the linker configured for `aarch64-unknown-linux-musl`"), "{hints:?}");
    let stderr = run.stderr();
    let backend = verbose_line(&stderr, "Backend");
    assert_eq!(backend, format!("Backend cargo for aarch64-unknown-linux-musl: linker configured by the user (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER={})", linker.display()));
    assert!(!p.path().join("lay").exists() && !p.path().join("target/oci").exists(), "nothing written");

    build(&["--no-elf-check"]).success();
    validate_layout(&p.path().join("lay"), "0.1.0");
}

/// zig is needed (the crate compiles C) but missing: said before anything compiles.
#[test]
fn a_missing_zig_is_reported_before_compiling() {
    let p = Project::with_c_dependency("needzig");
    let sysroot =
        String::from_utf8(Command::new("rustc").args(["--print", "sysroot"]).output().unwrap().stdout).unwrap();
    let bin = Path::new(sysroot.trim()).join("bin");
    let mut c = cargo_oci();
    c.current_dir(p.path())
        .env("CARGO_TARGET_DIR", p.path().join("target"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("CARGO", bin.join("cargo"))
        .env("RUSTC", bin.join("rustc"))
        .args(["build", "--target", "aarch64", "-o", "lay"]);
    let run = Run::of(c).failure();
    let (e, hints) = run.error_and_hints();
    assert_eq!(
        e,
        "error: cargo-zigbuild (the zig backend) is needed to build for `aarch64-unknown-linux-musl` but was not found"
    );
    assert_eq!(hints[0], "hint: `pip install cargo-zigbuild` (brings zig along as the `ziglang` package)");
    assert!(!run.stderr().contains("Compiling"), "{}", run.stderr());
    assert!(!p.path().join("lay").exists());
}
