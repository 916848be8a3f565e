//! `cargo oci build` on the example, checked by tools nobody here wrote.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::support::*;

#[test]
fn example_builds_for_two_platforms_and_real_tools_accept_it() {
    let p = Project::example("hello");
    let work = tempfile::tempdir().unwrap();
    let run = p.oci(&["build", "--target", "x86_64,aarch64"]).success();

    // stdout: exactly one line, `oci:<layout>:<tag>@sha256:…`, default output <target>/oci/<bin>.
    let lines: Vec<String> = run.stdout().lines().map(String::from).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let built = parse_built(&lines[0]);
    assert_eq!(built.layout, p.path().join("target/oci/hello"));
    assert_eq!(built.tag, "0.1.0");
    let err = run.stderr();
    assert!(err.contains("Packaging hello 0.1.0 for linux/amd64, linux/arm64"), "{err}");
    assert!(err.contains("Compiling hello"), "{err}");
    assert!(err.contains("Finished"), "{err}");

    // Our own invariants: digests, sizes, diff_ids, platforms.
    let manifests = validate_layout(&built.layout, "0.1.0");
    let platforms: Vec<&str> = manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    let index = read_json(&built.layout.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], built.digest.as_str());
    for m in &manifests {
        let c = &m.config["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/hello"]));
        assert_eq!(c["User"], "65532:65532");
        assert_eq!(c["WorkingDir"], "/home/nonroot");
        let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(
            env.iter().any(|e| e.starts_with("PATH="))
                && env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
        );
        assert_eq!(m.config["created"], "1970-01-01T00:00:00Z");
        assert_eq!(m.config["history"].as_array().unwrap().len(), m.layers.len());
        assert_eq!(m.manifest["annotations"]["org.opencontainers.image.title"], "hello");
        assert_eq!(m.manifest["annotations"]["org.opencontainers.image.licenses"], "MIT OR Apache-2.0");
    }
    // The base layer is one blob shared by both platforms; the binary layers differ.
    assert_eq!(manifests[0].layers[0], manifests[1].layers[0]);
    assert_ne!(manifests[0].layers[1], manifests[1].layers[1]);

    if have("oci-image-tool") {
        // oci-image-tool 1.0.0-rc1 predates OCI 1.1 artifacts and rejects the empty config of the
        // SBOM/provenance referrers, so it validates the same image written without them. The
        // image itself (index digest) is the same either way.
        let plain = p.oci(&[
            "build",
            "--target",
            "x86_64,aarch64",
            "--sbom",
            "none",
            "--provenance",
            "false",
            "-o",
            "plain",
            "-q",
        ]);
        assert_eq!(parse_built(&plain.success().stdout()).digest, built.digest, "referrers never change the image");
        let v = tool("oci-image-tool", &["validate", "--type", "image", p.path().join("plain").to_str().unwrap()]);
        assert!(v.stdout().contains("Validation succeeded"), "{}", v.stdout());
    }
    let oci_ref = format!("oci:{}:0.1.0", built.layout.display());
    if have("skopeo") {
        let raw: serde_json::Value =
            serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &oci_ref]).stdout()).unwrap();
        let archs: Vec<String> = raw["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"]).replace('"', ""))
            .collect();
        assert_eq!(archs, ["linux/amd64", "linux/arm64"]);
    }
    if have("tar") {
        for m in &manifests {
            for l in &m.layers {
                let listing = tool("tar", &["-tzvf", blob_path(&built.layout, l).to_str().unwrap()]).stdout();
                assert!(!listing.is_empty());
            }
        }
        let bin_layer =
            tool("tar", &["-tzvf", blob_path(&built.layout, &manifests[1].layers[1]).to_str().unwrap()]).stdout();
        assert!(
            bin_layer.lines().any(|l| l.starts_with("-rwxr-xr-x 0/0") && l.ends_with("usr/local/bin/hello")),
            "{bin_layer}"
        );
    }

    if have("skopeo") && have("umoci") {
        let rootfs = unpack_platform(&built.layout, "0.1.0", "arm64", work.path());
        let bin = rootfs.join("usr/local/bin/hello");
        let md = std::fs::metadata(&bin).unwrap();
        assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
        let ca = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
        assert!(ca.matches("BEGIN CERTIFICATE").count() >= 100);
        let home = std::fs::metadata(rootfs.join("home/nonroot")).unwrap();
        assert_eq!((home.mode() & 0o7777, home.uid()), (0o700, 65532));
        assert_eq!(std::fs::metadata(rootfs.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
        if have("qemu-aarch64-static") {
            let out = tool("qemu-aarch64-static", &[bin.to_str().unwrap(), "--once"]).stdout();
            assert_eq!(out, "hello from aarch64-linux\n");
        }
        let amd = unpack_platform(&built.layout, "0.1.0", "amd64", work.path());
        let out = Run::of({
            let mut c = Command::new(amd.join("usr/local/bin/hello"));
            c.arg("--once");
            c
        })
        .success()
        .stdout();
        assert_eq!(out, "hello from x86_64-linux\n");
    }

    if have("podman") && have("runc") {
        let out = podman_run_once(work.path(), &oci_ref);
        assert!(out.ends_with("hello from x86_64-linux\n"), "{out}");
    }
}

#[test]
fn same_source_same_digest_and_a_source_change_touches_only_the_binary_layer() {
    let p = Project::bin("twice", "one");
    let out = p.path().join("lay");
    let first = parse_built(&p.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q"]).success().stdout());
    let before = validate_layout(&out, "0.1.0");
    let second = parse_built(&p.oci(&["build", "--target", "aarch64,x86_64", "-o", "lay", "-q"]).success().stdout());
    assert_eq!(first.digest, second.digest, "same inputs (targets in another order) must give the same index");

    std::fs::write(p.path().join("src/main.rs"), "fn main() { println!(\"two {}\", std::env::consts::ARCH); }\n")
        .unwrap();
    let third = parse_built(&p.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q"]).success().stdout());
    assert_ne!(first.digest, third.digest);
    let after = validate_layout(&out, "0.1.0");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.layers[0], a.layers[0], "base layer of {} must not change", b.platform);
        assert_ne!(b.layers[1], a.layers[1], "binary layer of {} must change", b.platform);
        assert_eq!(b.config["config"], a.config["config"]);
    }
}

#[test]
fn source_date_epoch_sets_every_timestamp() {
    let p = Project::bin("epoch", "hi");
    let mut c = cargo_oci();
    c.current_dir(p.path()).env("CARGO_TARGET_DIR", p.path().join("target")).env("SOURCE_DATE_EPOCH", "1700000000");
    c.args(["build", "--target", "x86_64", "-o", "lay", "-q"]);
    Run::of(c).success();
    let m = &validate_layout(&p.path().join("lay"), "0.1.0")[0];
    assert_eq!(m.config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(m.manifest["annotations"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
    let listing =
        tool("tar", &["--utc", "-tzvf", blob_path(&p.path().join("lay"), &m.layers[1]).to_str().unwrap()]).stdout();
    assert!(listing.lines().all(|l| l.contains("2023-11-14 22:13")), "{listing}");
}

#[test]
fn new_tags_join_an_existing_layout_without_touching_other_tags() {
    let p = Project::bin("tags", "hi");
    let lay = p.path().join("lay");
    let a = parse_built(&p.oci(&["build", "--target", "x86_64", "-o", "lay", "--tag", "a", "-q"]).success().stdout());
    std::fs::write(p.path().join("src/main.rs"), "fn main() { println!(\"changed\"); }\n").unwrap();
    let b = parse_built(
        &p.oci(&["build", "--target", "x86_64", "-o", "lay", "--tag", "b", "--tag", "latest", "-q"]).success().stdout(),
    );
    assert_ne!(a.digest, b.digest);
    assert_eq!(b.tag, "b");
    // `a` is still there, still valid, still pointing at its own index.
    validate_layout(&lay, "a");
    validate_layout(&lay, "b");
    validate_layout(&lay, "latest");
    let index = read_json(&lay.join("index.json"));
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(tags, ["a", "b", "latest"]);
    assert_eq!(index["manifests"][0]["digest"], a.digest.as_str());
}

#[test]
fn scratch_base_has_only_the_binary() {
    let p = Project::bin("bare", "hi");
    p.oci(&["build", "--target", "aarch64", "--base", "scratch", "-o", "lay", "-q"]).success();
    let m = &validate_layout(&p.path().join("lay"), "0.1.0")[0];
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.config["config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/bare"]));
    assert!(m.config["config"].get("User").is_none());
}

#[test]
fn works_as_a_cargo_subcommand() {
    let p = Project::bin("viacargo", "hi");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-oci")).parent().unwrap().to_path_buf();
    let path =
        std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())))
            .unwrap();
    let mut c = Command::new("cargo");
    c.current_dir(p.path()).env("PATH", path).env("CARGO_TARGET_DIR", p.path().join("target")).env("NO_COLOR", "1");
    c.args(["oci", "build", "--target", "x86_64", "--tag", "t1"]);
    let run = Run::of(c).success();
    let built = parse_built(run.stdout().trim());
    assert_eq!(built.tag, "t1");
    validate_layout(&built.layout, "t1");
}
