//! `--base oci:DIR[:TAG]`: bases from a local OCI layout, per platform, layers reused byte for byte.

use crate::support::*;

/// A two-platform base image in a layout: our own build of a tiny crate.
fn two_platform_base() -> (Project, std::path::PathBuf) {
    let base = Project::bin("basebin", "base");
    base.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "--tag", "b1", "-q"]).success();
    let lay = base.path().join("lay");
    (base, lay)
}

#[test]
fn index_base_is_resolved_per_platform_and_its_layers_reused() {
    let (_b, base_lay) = two_platform_base();
    let base = validate_layout(&base_lay, "b1");
    let app = Project::bin("app", "app");
    let spec = format!("oci:{}:b1", base_lay.display());
    app.oci(&[
        "build",
        "--target",
        "aarch64,x86_64",
        "--base",
        &spec,
        "-o",
        "lay",
        "-q",
        "--sbom",
        "none",
        "--provenance",
        "false",
    ])
    .success();
    let built = validate_layout(&app.path().join("lay"), "0.1.0");
    assert_eq!(built.len(), 2);
    for (b, m) in base.iter().zip(&built) {
        assert_eq!(b.platform, m.platform);
        assert_eq!(&m.layers[..2], &b.layers[..], "base layers of {} reused byte for byte", m.platform);
        assert_eq!(m.layers.len(), 3);
        let a = &m.manifest["annotations"];
        assert_eq!(a["org.opencontainers.image.base.name"], spec.as_str());
        assert_eq!(a["org.opencontainers.image.base.digest"], b.digest.as_str());
        let c = &m.config["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/app"]));
        assert_eq!(c["User"], "65532:65532", "User inherited from the base");
        assert_eq!(c["WorkingDir"], "/home/nonroot");
        assert_eq!(m.config["history"].as_array().unwrap().len(), 3);
    }
    if have("oci-image-tool") {
        tool("oci-image-tool", &["validate", "--type", "image", app.path().join("lay").to_str().unwrap()]);
    }
}

#[test]
fn a_base_without_the_platform_is_refused_before_compiling() {
    let (_b, base_lay) = two_platform_base();
    let app = Project::bin("app2", "app");
    let run = app
        .oci(&["build", "--target", "i686", "--base", &format!("oci:{}:b1", base_lay.display()), "-o", "lay"])
        .failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(
        err,
        format!(
            "error: base `oci:{}:b1` has no image for linux/386; it has: linux/amd64, linux/arm64",
            base_lay.display()
        )
    );
    assert!(hints[0].contains("--target"), "{hints:?}");
    assert!(!run.stderr().contains("Compiling"), "{}", run.stderr());
    assert!(!app.path().join("lay").exists() && !app.path().join("target").exists());

    let run = app.oci(&["build", "--base", &format!("oci:{}:nope", base_lay.display()), "-o", "lay"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: `oci:{}:nope` has no tag `nope`; it has: b1", base_lay.display()));
    assert_eq!(hints, [format!("hint: name one: `oci:{}:b1`", base_lay.display())]);
}

#[test]
fn a_single_manifest_base_serves_only_its_own_platform() {
    if !have("skopeo") {
        return;
    }
    let (_b, base_lay) = two_platform_base();
    let single = base_lay.with_file_name("single");
    copy_platform(&base_lay, "b1", "arm64", &single, "arm");
    let app = Project::bin("app3", "app");
    let spec = format!("oci:{}:arm", single.display());
    app.oci(&["build", "--target", "arm64", "--base", &spec, "-o", "lay", "-q"]).success();
    let m = &validate_layout(&app.path().join("lay"), "0.1.0")[0];
    assert_eq!(m.platform, "linux/arm64/v8");
    let run = app.oci(&["build", "--target", "x86_64,arm64", "--base", &spec, "-o", "lay2"]).failure();
    let (err, _) = run.error_and_hints();
    assert!(err.ends_with("has no image for linux/amd64; it has: linux/arm64"), "{err}");
}

#[test]
fn a_docker_typed_base_keeps_docker_media_types() {
    if !(have("skopeo") && have("umoci")) {
        return;
    }
    let (_b, base_lay) = two_platform_base();
    let docker = base_lay.with_file_name("docker");
    let spec = format!("oci:{}:d", docker.display());
    // skopeo writes Docker schema 2 manifests into an OCI layout when asked to.
    tool(
        "skopeo",
        &[
            "copy",
            "-q",
            "--format",
            "v2s2",
            "--override-arch",
            "arm64",
            &format!("oci:{}:b1", base_lay.display()),
            &spec,
        ],
    );
    let app = Project::bin("app4", "app");
    let built =
        parse_built(&app.oci(&["build", "--target", "arm64", "--base", &spec, "-o", "lay", "-q"]).success().stdout());
    // The index is OCI (what layout readers take from index.json); the manifest keeps Docker's types.
    let m = &validate_layout(&built.layout, "0.1.0")[0];
    let manifest = &m.manifest;
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for l in layers {
        assert_eq!(
            l["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "no OCI type in a Docker manifest"
        );
    }
    let base_manifest = read_json(&docker.join("index.json"))["manifests"][0]["digest"].as_str().unwrap().to_string();
    let base_layers = blob_json(&docker, &base_manifest)["layers"].clone();
    assert_eq!(layers[..2], base_layers.as_array().unwrap()[..], "base layers reused byte for byte");
    // Real tools accept it: copy it out and unpack the rootfs.
    let work = tempfile::tempdir().unwrap();
    let rootfs = unpack_platform(&built.layout, "0.1.0", "arm64", work.path());
    assert!(rootfs.join("usr/local/bin/app4").is_file());
}
