//! The fixture workspace built for amd64 and arm64: settings from both Cargo.toml levels reach the
//! images, the files layer is one blob, one cargo run for both triples, JSON results match the layouts.

use serde_json::Value;

use crate::support::*;

#[test]
fn fixture_workspace_builds_configured_images_that_run() {
    let p = Project::fixture("ws");
    let work = tempfile::tempdir().unwrap();
    // Without referrers: oci-image-tool 1.0.0-rc1 below predates OCI 1.1 artifacts (see README).
    let run = p.oci(&["build", "-v", "--message-format", "json", "--sbom", "none", "--provenance", "false"]).success();
    let err = run.stderr();

    // One cargo run for both targets and both packages (`-v` prints each command line we run).
    let cargo_runs: Vec<&str> =
        err.lines().filter(|l| l.contains("Running") && l.contains("cargo build --manifest-path")).collect();
    assert_eq!(cargo_runs.len(), 1, "{err}");
    assert!(
        cargo_runs[0].contains("--target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"),
        "{cargo_runs:?}"
    );
    assert!(cargo_runs[0].contains("-p api -p worker --bin api --bin worker"), "{cargo_runs:?}");

    // Every stdout line is one JSON object; the images' digests are the layouts'.
    let lines: Vec<Value> = run.stdout().lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let reasons: Vec<&str> = lines.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["image", "image", "finished"]);
    assert_eq!(lines[2], serde_json::json!({"reason": "finished", "success": true, "images": 2}));
    let mut layouts = Vec::new();
    for (line, name) in lines.iter().zip(["api", "worker"]) {
        assert_eq!(line["image"], name);
        assert_eq!((line["package"].as_str(), line["version"].as_str()), (Some(name), Some("0.3.0")));
        assert_eq!(line["tags"], serde_json::json!(["0.3.0"]));
        let layout = p.path().join("target/oci").join(name);
        assert_eq!(line["layout"], layout.display().to_string());
        assert_eq!(line["references"], serde_json::json!([format!("oci:{}:0.3.0", layout.display())]));
        let manifests = validate_layout(&layout, "0.3.0");
        let index = read_json(&layout.join("index.json"));
        assert_eq!(line["index"]["digest"], index["manifests"][0]["digest"]);
        assert_eq!(line["index"]["size"], index["manifests"][0]["size"]);
        let reported = line["manifests"].as_array().unwrap();
        assert_eq!(reported.len(), manifests.len());
        for (r, m) in reported.iter().zip(&manifests) {
            assert_eq!(r["digest"], m.digest.as_str());
            assert_eq!(r["platform"], m.platform.as_str());
            let size = std::fs::metadata(blob_path(&layout, &m.digest)).unwrap().len();
            assert_eq!(r["size"], size);
            let blobs: u64 = m.manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .chain([&m.manifest["config"]])
                .map(|d| d["size"].as_u64().unwrap())
                .sum();
            assert_eq!(r["total_size"], size + blobs);
        }
        // base, files, binaries: the files layer is the same blob for every platform.
        assert!(manifests.iter().all(|m| m.layers.len() == 3));
        assert_eq!(manifests[0].layers[1], manifests[1].layers[1], "files layer of {name}");
        assert_ne!(manifests[0].layers[2], manifests[1].layers[2], "binaries layer of {name}");
        layouts.push((layout, manifests));
    }

    // Settings from [workspace.metadata.oci] and [package.metadata.oci], merged.
    let (api, api_manifests) = &layouts[0];
    let c = &api_manifests[0].config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/api"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--port", "8080"]));
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env.contains(&"APP_ENV=production") && env.contains(&"RUST_LOG=debug"), "{env:?}");
    let worker_cfg = &layouts[1].1[0].config["config"];
    assert!(worker_cfg["Env"].as_array().unwrap().contains(&Value::from("RUST_LOG=info")));
    assert_eq!(layouts[1].1[0].manifest["annotations"]["org.opencontainers.image.vendor"], "Fixture Inc.");

    if have("skopeo") {
        let cfg: Value = serde_json::from_str(
            &tool("skopeo", &["inspect", "--config", &format!("oci:{}:0.3.0", api.display())]).stdout(),
        )
        .unwrap();
        let c = &cfg["config"];
        assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}, "9090/tcp": {}}));
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["Labels"], serde_json::json!({"org.example.component": "api", "org.example.team": "platform"}));
    }
    if have("oci-image-tool") {
        tool("oci-image-tool", &["validate", "--type", "image", api.to_str().unwrap()]);
    }

    // Unpacked and run as the image says: args, env, cwd, and the files with their owner and mode.
    if have("skopeo") && have("umoci") && have("runc") && have("qemu-aarch64-static") {
        for (arch, uname) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
            let bundle = unpack_bundle(api, "0.3.0", arch, &work.path().join("api"));
            let rootfs = bundle.join("rootfs");
            use std::os::unix::fs::MetadataExt;
            let md = std::fs::metadata(rootfs.join("etc/api/app.toml")).unwrap();
            assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o640, 1000, 1000));
            let md = std::fs::metadata(rootfs.join("srv/static/css")).unwrap();
            assert_eq!((md.mode() & 0o7777, md.uid()), (0o755, 0));
            assert!(!rootfs.join("etc/motd").exists(), "the package's `files` replace the workspace's");
            let out = run_bundle(&bundle, arch);
            let want = [
                format!("api on {uname}"),
                r#"args ["--port", "8080"]"#.to_string(),
                "env APP_ENV=production RUST_LOG=debug".to_string(),
                r#"file /etc/api/app.toml: listen = "0.0.0.0:8080""#.to_string(),
                "file static/index.html: <h1>fixture</h1>".to_string(),
                "file static/css/site.css: h1 { color: teal }".to_string(),
            ];
            for w in &want {
                assert!(out.lines().any(|l| l == w), "`{w}` not in the {arch} output:\n{out}");
            }
            assert!(out.lines().any(|l| l.starts_with("cwd ") && l.ends_with("/srv")), "{out}");
        }
        let bundle = unpack_bundle(&layouts[1].0, "0.3.0", "amd64", &work.path().join("worker"));
        let out = run_bundle(&bundle, "amd64");
        assert!(out.contains("args [\"--queue\", \"jobs\"]\n"), "{out}");
        assert!(out.contains("file /etc/motd: welcome to the fixture\n"), "{out}");
    }
}

#[test]
fn several_images_go_to_output_dir_slash_image() {
    let p = Project::fixture("ws");
    let run = p.oci(&["build", "--target", "x86_64", "-o", "images", "-q"]).success();
    let lines: Vec<String> = run.stdout().lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, name) in lines.iter().zip(["api", "worker"]) {
        let built = parse_built(line);
        assert_eq!(built.layout, p.path().join("images").join(name));
        validate_layout(&built.layout, "0.3.0");
        assert!(!p.path().join("target/oci").join(name).exists());
    }
}
