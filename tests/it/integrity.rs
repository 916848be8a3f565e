//! What is on disk can be damaged or half-made, and other users read it: corrupt and truncated
//! blobs are repaired or named, modes follow the umask as `cp` and skopeo do, empty target lists
//! write nothing, and a first build that failed part-way (a full disk) completes next time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::layout_support::*;
use crate::registry_support::{Kind, Registry};
use crate::support::*;

fn platform_blobs(lay: &Path, tag: &str) -> (String, Vec<String>) {
    let m = &validate_layout(lay, tag)[0];
    (m.manifest["config"]["digest"].as_str().unwrap().to_string(), m.layers.clone())
}

#[test]
fn corrupt_and_truncated_blobs_are_named_by_readers_and_repaired_by_the_next_build() {
    let p = Project::bin("repair", "repair");
    let lay = p.path().join("lay");
    p.oci(&["build", "--target", "x86_64", "-o", "lay", "-t", "a", "-q"]).success();
    let (config, layers) = platform_blobs(&lay, "a");
    let (base_layer, config_path) = (blob_path(&lay, &layers[0]), blob_path(&lay, &config));
    let mut bytes = std::fs::read(&base_layer).unwrap();
    bytes[100] ^= 0x55;
    std::fs::write(&base_layer, bytes).unwrap();
    let config_bytes = std::fs::read(&config_path).unwrap();
    std::fs::write(&config_path, &config_bytes[..config_bytes.len() / 2]).unwrap();

    // Readers verify the documents they read and name the blob.
    let run = p.oci(&["inspect", &format!("oci:{}:a", lay.display())]).failure();
    let (err, hints) = run.error_and_hints();
    assert!(err.starts_with(&format!("error: blob `{}` is corrupt", config_path.display())), "{err}");
    assert!(hints[0].contains("cargo oci build"), "{hints:?}");
    let run = p.oci(&["diff", &format!("oci:{}:a", lay.display()), &format!("oci:{}:a", lay.display())]).failure();
    assert!(run.error_and_hints().0.contains(&config_path.display().to_string()), "{}", run.stderr());

    // The next build into the layout hashes what it would reuse and replaces what is damaged.
    p.oci(&["build", "--target", "x86_64", "-o", "lay", "-t", "b", "-q"]).success();
    validate_all(&lay);
    assert_eq!(std::fs::read(&config_path).unwrap(), config_bytes);
    if have("skopeo") {
        let work = tempfile::tempdir().unwrap();
        for tag in ["a", "b"] {
            let from = format!("oci:{}:{tag}", lay.display());
            tool("skopeo", &["copy", "-q", "--all", &from, &format!("oci:{}:{tag}", work.path().display())]);
        }
    }
}

#[test]
fn diff_names_a_corrupt_layer_it_reads() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    fake_image(&a, "x", &["amd64"], "one");
    fake_image(&b, "x", &["amd64"], "two");
    let layer = validate_layout(&b, "x")[0].layers[0].clone();
    let path = blob_path(&b, &layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let mut c = cargo_oci();
    c.args(["diff", &format!("oci:{}:x", a.display()), &format!("oci:{}:x", b.display())]);
    let run = Run::of(c).failure();
    let (err, _) = run.error_and_hints();
    assert!(err.starts_with(&format!("error: blob `{}` is corrupt: expected {layer}", path.display())), "{err}");
}

/// Every file and directory under `dir` has exactly `file` / `dir` as its permission bits.
fn assert_modes(dir: &Path, file: u32, directory: u32) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
        if e.file_type().unwrap().is_dir() {
            assert_eq!(mode, directory, "{}", e.path().display());
            assert_modes(&e.path(), file, directory);
        } else {
            assert_eq!(mode, file, "{}", e.path().display());
        }
    }
}

/// `args` as user nobody (65534), who owns none of the files.
fn as_nobody(args: &[&str]) -> Run {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).args(args).env("HOME", "/tmp");
    Run::of(c)
}

#[test]
fn layouts_archives_and_the_cache_follow_the_umask_as_cp_and_skopeo_do() {
    let Some(reg) = Registry::start(Kind::Plain) else { return };
    if !(have("skopeo") && have("setpriv")) {
        return;
    }
    // A base in the registry, so the build fills the cache.
    let p = Project::bin("modes", "modes");
    let base = p.path().join("base");
    fake_image(&base, "b", &["amd64"], "base");
    let base_ref = format!("{}/base:1", reg.host());
    let from = format!("oci:{}:b", base.display());
    tool("skopeo", &["copy", "-q", "--dest-tls-verify=false", &from, &format!("docker://{base_ref}")]);

    let cache = p.path().join("cache");
    let target = p.path().join("target");
    let build = |umask: &str, out: &str| {
        let args =
            ["build", "--target", "x86_64", "--base", &base_ref, "-o", out, "--tar", &format!("{out}.tar"), "-q"];
        let mut c = p.oci_command(&target, &args);
        c.env("CARGO_OCI_CACHE", &cache);
        Run::of(under_umask(&c, umask)).success();
    };
    build("022", "open");
    let open = p.path().join("open");
    assert_modes(&open, 0o644, 0o755);
    assert_modes(&cache, 0o644, 0o755);
    let archive = p.path().join("open.tar");
    assert_eq!(std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o644);
    // Another user reads all of it with a tool nobody here wrote.
    as_nobody(&["skopeo", "inspect", "--raw", &format!("oci:{}:0.1.0", open.display())]).success();
    as_nobody(&["skopeo", "inspect", "--raw", &format!("oci-archive:{}", archive.display())]).success();
    let cached: Vec<String> =
        tree(&cache).into_iter().filter(|f| f.is_file()).map(|f| f.display().to_string()).collect::<Vec<_>>();
    assert!(cached.len() >= 3, "manifest, config and layer are cached: {cached:?}");
    let mut cat = vec!["cat"];
    cat.extend(cached.iter().map(String::as_str));
    as_nobody(&cat).success();

    // Masked by the umask, not forced open: 077 keeps a layout private.
    std::fs::remove_dir_all(&cache).unwrap();
    build("077", "closed");
    assert_modes(&p.path().join("closed"), 0o600, 0o700);
    assert_modes(&cache, 0o600, 0o700);
    let closed = p.path().join("closed.tar");
    assert_eq!(std::fs::metadata(&closed).unwrap().permissions().mode() & 0o777, 0o600);
    as_nobody(&["skopeo", "inspect", "--raw", &format!("oci:{}:0.1.0", p.path().join("closed").display())]).failure();
}

#[test]
fn empty_target_lists_are_refused_in_every_form_and_nothing_is_written() {
    let p = Project::bin("empty", "empty");
    let lay = p.path().join("lay");
    fake_image(&lay, "0.1.0", &["amd64"], "an existing tag");
    let before = tree_state(&lay);
    let refused = |p: &Project, args: &[&str]| -> (String, Vec<String>) {
        let run = p.oci(args).failure();
        assert_eq!(run.stdout(), "");
        assert_eq!(tree_state(&lay), before, "the existing tag is untouched");
        assert!(!p.path().join("target/oci").exists(), "nothing staged");
        run.error_and_hints()
    };
    for list in ["", ",", " , "] {
        let (err, hints) = refused(&p, &["build", "--target", list, "-o", lay.to_str().unwrap()]);
        assert_eq!(err, "error: `--target` names no target: an image with no platform is not written");
        assert!(hints[0].contains("x86_64, amd64, aarch64, arm64"), "{hints:?}");
    }
    // A push is refused before any connection (the port is closed).
    let (err, _) = refused(&p, &["build", "--target", ",", "--push", "127.0.0.1:9/app:1"]);
    assert!(err.contains("names no target"), "{err}");

    let package = Project::bin("empty", "empty").file(
        "Cargo.toml",
        "[package]\nname = \"empty\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.oci]\ntargets = []\n\n[workspace]\n",
    );
    let (err, hints) = refused(&package, &["build", "-o", lay.to_str().unwrap()]);
    assert!(err.contains("`package.metadata.oci.targets`") && err.contains("lists no target"), "{err}");
    assert!(hints[0].contains("targets = [\"x86_64\", \"aarch64\"]") && hints[0].contains("arm64"), "{hints:?}");

    let workspace = Project::empty()
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n\n[workspace.metadata.oci]\ntargets = [\"\"]\n",
        )
        .file("app/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        .file("app/src/main.rs", "fn main() {}\n");
    let (err, _) = refused(&workspace, &["build", "-o", lay.to_str().unwrap()]);
    assert!(err.contains("`workspace.metadata.oci.targets`") && err.contains("lists no target"), "{err}");
}

#[test]
fn a_first_build_that_failed_part_way_is_completed_by_the_next() {
    let p = Project::bin("partial", "partial");
    // What an earlier version left on a full disk: a blobs tree, no `oci-layout`, a temp file.
    let bare = p.path().join("bare");
    std::fs::create_dir_all(bare.join("blobs/sha256")).unwrap();
    let junk = "0".repeat(64);
    std::fs::write(bare.join("blobs/sha256").join(&junk), b"half a layer").unwrap();
    std::fs::write(bare.join("blobs/sha256/.tmpAbC123"), b"half").unwrap();
    p.oci(&["build", "--target", "x86_64", "-o", "bare", "-q"]).success();
    validate_all(&bare);
    // `oci-layout` and blobs, no index.json.
    let started = p.path().join("started");
    std::fs::create_dir_all(started.join("blobs/sha256")).unwrap();
    std::fs::write(started.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    p.oci(&["build", "--target", "x86_64", "-o", "started", "-q"]).success();
    validate_all(&started);
    // Anything else of the user's still keeps us out.
    std::fs::create_dir_all(p.path().join("mine/blobs")).unwrap();
    std::fs::write(p.path().join("mine/notes.txt"), b"mine").unwrap();
    p.oci(&["build", "--target", "x86_64", "-o", "mine", "-q"]).failure();
}

#[test]
fn a_full_disk_gets_its_hint_and_the_next_build_completes_the_layout() {
    if !have("unshare") {
        return;
    }
    let p = Project::bin("full", "full");
    p.oci(&["build", "--target", "x86_64", "-o", "warm", "-q"]).success();
    let mnt = p.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let build = p.oci_command(&p.path().join("target"), &["build", "--target", "x86_64", "-o", "mnt/lay", "-q"]);
    // A private mount namespace with a 64 KiB tmpfs as the output's file system: the layers do
    // not fit. Then it grows, the same build runs again, and the result is copied out.
    let script = r#"mount -t tmpfs -o size=64k tmpfs "$1" || exit 97; shift
"$@" 2> "$OUT/first.err"; echo $? > "$OUT/first.rc"
mount -o remount,size=8m "$MNT" && "$@" && cp -a "$MNT/lay" "$OUT/lay""#;
    let mut c = Command::new("unshare");
    c.args(["--mount", "sh", "-c", script, "sh"]).arg(&mnt).arg(build.get_program()).args(build.get_args());
    c.envs(build.get_envs().filter_map(|(k, v)| v.map(|v| (k, v)))).current_dir(p.path());
    c.env("OUT", p.path()).env("MNT", &mnt);
    let run = Run::of(c);
    if run.out.status.code() == Some(97) && !strict() {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    let run = run.success();
    let first_err = std::fs::read_to_string(p.path().join("first.err")).unwrap();
    assert_ne!(std::fs::read_to_string(p.path().join("first.rc")).unwrap().trim(), "0", "{}", run.stderr());
    assert!(first_err.contains("No space left on device"), "{first_err}");
    assert!(first_err.contains("hint: free some disk space and run again"), "{first_err}");
    validate_all(&p.path().join("lay"));
}

#[test]
fn a_missing_base_layout_is_named_as_the_base() {
    let p = Project::bin("nobase", "nobase");
    let run = p.oci(&["build", "--target", "x86_64", "--base", "oci:/nonexistent/base:1"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: `/nonexistent/base` is not an OCI image layout: it does not exist");
    assert!(hints[0].contains("oci:DIR[:TAG]") && !hints.iter().any(|h| h.contains("--output")), "{hints:?}");
    assert!(!p.path().join("target/oci").exists(), "nothing staged");
}
