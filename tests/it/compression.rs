//! `--compression` and `compression` in Cargo.toml: zstd layers written with their media type and
//! read back by tools we did not write (skopeo, podman, and libzstd in the layout checks).

use crate::support::*;

const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[test]
fn zstd_layers_are_written_typed_and_read_back_by_skopeo_and_podman() {
    let p = Project::example("hello");
    let run = p.oci(&["build", "--target", "x86_64,aarch64", "--compression", "zstd", "-o", "lay"]).success();
    let built = parse_built(&run.stdout());
    let manifests = validate_layout(&built.layout, "0.1.0"); // decodes every layer by its media type
    for m in &manifests {
        let ours = &m.manifest["layers"][1];
        assert_eq!(ours["mediaType"], ZSTD, "{}", m.platform);
        assert!(check_blob_bytes(&built.layout, ours).starts_with(&ZSTD_MAGIC));
        // The built-in base keeps its gzip layer: base layers are copied, never recompressed.
        assert_eq!(m.manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    }
    // The same tar whatever compresses it: a gzip build has the same diff_ids.
    let gz = p.oci(&["build", "--target", "x86_64,aarch64", "-o", "gz"]).success();
    let gz = validate_layout(&parse_built(&gz.stdout()).layout, "0.1.0");
    for (z, g) in manifests.iter().zip(&gz) {
        assert_eq!(z.config["rootfs"], g.config["rootfs"], "{}", z.platform);
        assert_ne!(z.layers[1], g.layers[1]);
    }
    // umoci 0.4.7 (Debian's) predates zstd ("blob is not correct mediatype"): skopeo decodes the
    // zstd layers into gzip ones (it must read every byte of them), and umoci unpacks that copy.
    let oci_ref = format!("oci:{}:0.1.0", built.layout.display());
    let work = tempfile::tempdir().unwrap();
    if have("skopeo") && have("umoci") {
        let gz_copy = work.path().join("gz-copy");
        tool(
            "skopeo",
            &[
                "copy",
                "-q",
                "--override-arch",
                "amd64",
                "--dest-compress-format",
                "gzip",
                "--dest-compress",
                &oci_ref,
                &format!("oci:{}:x", gz_copy.display()),
            ],
        );
        let bundle = work.path().join("bundle");
        tool("umoci", &["unpack", "--image", &format!("{}:x", gz_copy.display()), bundle.to_str().unwrap()]);
        let unpacked = std::fs::read(bundle.join("rootfs/usr/local/bin/hello")).unwrap();
        // What went into the layer: cargo's binary with its `.dep-v0` section appended.
        let layered = p.path().join("target/oci/auditable/x86_64-unknown-linux-musl/hello/hello");
        assert!(unpacked == std::fs::read(layered).unwrap(), "the binary packaged comes out of the zstd layer");
    }
    // podman reads zstd layers itself (containers/image), and runs the image.
    if have("podman") && have("runc") {
        let out = podman_run_once(work.path(), &oci_ref);
        assert!(out.ends_with("hello from x86_64-linux\n"), "{out}");
    }
}

#[test]
fn compression_from_cargo_toml_and_refused_in_docker_manifests() {
    let p = Project::bin("zconf", "hi").file(
        "Cargo.toml",
        "[package]\nname = \"zconf\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.oci]\ncompression = \"zstd:19\"\n\n[workspace]\n",
    );
    let plan = p.oci(&["plan", "--target", "x86_64", "--message-format", "json"]).success();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout()).unwrap();
    assert_eq!(plan["images"][0]["compression"], "zstd:19");
    // The command line wins over Cargo.toml.
    let plan = p.oci(&["plan", "--target", "x86_64", "--compression", "gzip:12", "--message-format", "json"]).success();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout()).unwrap();
    assert_eq!(plan["images"][0]["compression"], "gzip:12");

    let run = p.oci(&["build", "--target", "x86_64", "--media-types", "docker"]).failure();
    let (error, hints) = run.error_and_hints();
    assert!(error.contains("cannot have zstd:19 layers in Docker manifests"), "{error}");
    assert!(hints.iter().any(|h| h.contains("--compression gzip")), "{hints:?}");
    assert!(!p.path().join("target/oci").exists(), "refused before anything is built");

    let run = p.oci(&["build", "--target", "x86_64", "--compression", "zstd:99"]).failure();
    assert!(run.stderr().contains("zstd level 99 is out of range"), "{}", run.stderr());
    let run = p.oci(&["build", "--target", "x86_64", "--compression", "gzip:13"]).failure();
    assert!(run.stderr().contains("use 1 (fastest) to 12 (smallest)"), "{}", run.stderr());
}

/// A gzip layer over 1 MiB of tar is a gzip member per 1 MiB (src/layer/gzip.rs). Readers we did
/// not write read all of them: GNU tar (through gzip), umoci (Go's compress/gzip) and podman
/// (containers/storage); Docker's classic store and containerd read them in `load.rs`.
#[test]
fn gzip_layers_of_several_members_are_read_whole() {
    use std::io::Read;
    let p = Project::noisy("members", "members", 3 << 20);
    let run = p.oci(&["build", "--target", "x86_64", "-o", "lay"]).success();
    let built = parse_built(&run.stdout());
    let m = &validate_layout(&built.layout, "0.1.0")[0]; // decodes every member (flate2)
    let blob = check_blob_bytes(&built.layout, &m.manifest["layers"][1]);
    let (mut rest, mut members, mut tar) = (&blob[..], 0, Vec::new());
    while !rest.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        member.read_to_end(&mut tar).unwrap();
        rest = member.into_inner();
        members += 1;
    }
    assert!(members > 3 && tar.len() > 3 << 20, "{members} members, {} bytes of tar", tar.len());
    assert_eq!(format!("sha256:{}", sha256_hex(&tar)), m.config["rootfs"]["diff_ids"][1], "member by member");

    let packaged =
        std::fs::read(p.path().join("target/oci/auditable/x86_64-unknown-linux-musl/members/members")).unwrap();
    let work = tempfile::tempdir().unwrap();
    if have("tar") {
        let blob_file = blob_path(&built.layout, m.layers[1].as_str());
        let into = work.path().join("gnu-tar");
        std::fs::create_dir(&into).unwrap();
        tool("tar", &["-xzf", blob_file.to_str().unwrap(), "-C", into.to_str().unwrap()]);
        assert!(std::fs::read(into.join("usr/local/bin/members")).unwrap() == packaged, "GNU tar");
    }
    if have("skopeo") && have("umoci") {
        let rootfs = unpack_platform(&built.layout, "0.1.0", "amd64", work.path());
        assert!(std::fs::read(rootfs.join("usr/local/bin/members")).unwrap() == packaged, "umoci");
    }
    if have("podman") && have("runc") {
        let out = podman_run_once(work.path(), &format!("oci:{}:0.1.0", built.layout.display()));
        assert!(out.ends_with("members x86_64\n"), "{out}");
    }
}
