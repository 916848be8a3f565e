//! `cargo oci merge`: per-architecture builds (as from native CI runners) combined into one index
//! without touching their manifests, their SBOMs and provenance carried along; a duplicate
//! platform is refused unless `--replace`.

use serde_json::Value;

use crate::support::*;

#[test]
fn merging_two_single_platform_builds_gives_the_multi_platform_build() {
    let p = Project::bin("merged", "hi");
    let amd = parse_built(&p.oci(&["build", "--target", "x86_64", "-o", "amd", "-q"]).success().stdout());
    let arm = parse_built(&p.oci(&["build", "--target", "aarch64", "-o", "arm", "-q"]).success().stdout());
    let both = parse_built(&p.oci(&["build", "--target", "x86_64,aarch64", "-o", "both", "-q"]).success().stdout());
    let before: Vec<Manifest> = [&amd, &arm].iter().flat_map(|b| validate_layout(&b.layout, "0.1.0")).collect();
    let amd_state = tree_state(&amd.layout);

    let run = p
        .oci(&[
            "merge",
            "oci:arm:0.1.0",
            "oci:amd:0.1.0",
            "-o",
            "multi",
            "--tag",
            "1.0",
            "--tag",
            "latest",
            "--message-format",
            "json",
        ])
        .success();
    let lines: Vec<Value> = run.stdout().lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], serde_json::json!({"reason": "finished", "success": true, "images": 1}));
    let multi = p.path().join("multi");
    let merged = validate_layout(&multi, "1.0");
    validate_layout(&multi, "latest");

    // Manifests, configs and layers are the sources' own bytes, sorted by platform as `build` does,
    // so the index is the one a two-platform build writes.
    let platforms: Vec<&str> = merged.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    for m in &merged {
        let src = before.iter().find(|b| b.platform == m.platform).unwrap();
        assert_eq!((&m.digest, &m.layers), (&src.digest, &src.layers));
    }
    assert_eq!(lines[0]["index"]["digest"], both.digest.as_str());
    assert_eq!(lines[0]["image"], "multi");
    assert_eq!(lines[0]["tags"], serde_json::json!(["1.0", "latest"]));
    let reported: Vec<&str> =
        lines[0]["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    assert_eq!(reported, merged.iter().map(|m| m.digest.as_str()).collect::<Vec<_>>());
    assert_eq!(tree_state(&amd.layout), amd_state, "sources are read, never written");
    // Each platform's SBOM and provenance come along, about the same manifests.
    for artifact_type in ["application/spdx+json", "application/vnd.in-toto+json"] {
        let mut subjects: Vec<String> = referrers(&multi, artifact_type).into_iter().map(|(s, _, _)| s).collect();
        subjects.sort();
        // Both sides sorted: which digest sorts first is chance, not platform order.
        let mut manifests: Vec<String> = merged.iter().map(|m| m.digest.clone()).collect();
        manifests.sort();
        assert_eq!(subjects, manifests, "{artifact_type}");
    }

    if have("oci-image-tool") {
        // oci-image-tool 1.0.0-rc1 predates OCI 1.1 referrers (it refuses their empty config):
        // it validates a merge of builds without them, which has the same index digest.
        for (t, o) in [("x86_64", "amd-plain"), ("aarch64", "arm-plain")] {
            p.oci(&["build", "--target", t, "-o", o, "-q", "--sbom", "none", "--provenance", "false"]).success();
        }
        let run = p.oci(&["merge", "oci:amd-plain:0.1.0", "oci:arm-plain:0.1.0", "-o", "plain", "-t", "1.0", "-q"]);
        assert_eq!(run.success().stdout().trim().rsplit_once('@').unwrap().1, both.digest);
        let plain = p.path().join("plain");
        let v = tool("oci-image-tool", &["validate", "--type", "image", plain.to_str().unwrap()]);
        assert!(v.stdout().contains("Validation succeeded"), "{}", v.stdout());
    }
    if have("skopeo") {
        let raw: Value = serde_json::from_str(
            &tool("skopeo", &["inspect", "--raw", &format!("oci:{}:1.0", multi.display())]).stdout(),
        )
        .unwrap();
        assert_eq!(index_archs(&raw), ["amd64", "arm64"]);
        let arm_cfg: Value = serde_json::from_str(
            &tool(
                "skopeo",
                &["inspect", "--override-arch", "arm64", "--config", &format!("oci:{}:1.0", multi.display())],
            )
            .stdout(),
        )
        .unwrap();
        assert_eq!(arm_cfg["architecture"], "arm64");
    }
}

#[test]
fn a_platform_twice_is_refused_unless_replace() {
    let p = Project::empty();
    fake_image(&p.path().join("a"), "v1", &["x86_64", "aarch64"], "first");
    fake_image(&p.path().join("b"), "v1", &["aarch64"], "second");
    let run = p.oci(&["merge", "oci:a:v1", "oci:b:v1", "-o", "out", "-t", "m"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: platform linux/arm64 is in both `oci:a:v1` and `oci:b:v1`");
    assert_eq!(hints, ["hint: pass `--replace` to keep the later one (`oci:b:v1`), or leave one of them out"]);
    assert!(!p.path().join("out").exists(), "nothing written");

    let run = p.oci(&["merge", "oci:a:v1", "oci:b:v1", "-o", "out", "-t", "m", "--replace"]).success();
    assert!(
        run.stderr().contains("warning: linux/arm64 of `oci:a:v1` replaced by the one of `oci:b:v1`"),
        "{}",
        run.stderr()
    );
    let merged = validate_layout(&p.path().join("out"), "m");
    let b = validate_layout(&p.path().join("b"), "v1");
    let a = validate_layout(&p.path().join("a"), "v1");
    assert_eq!(merged[0].digest, a[0].digest, "amd64 from a");
    assert_eq!(merged[1].digest, b[0].digest, "arm64 from b");
}

#[test]
fn merge_pulls_per_architecture_images_from_a_registry_and_pushes_the_index() {
    use crate::registry_support::*;
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let host = reg.host();
    let p = Project::bin("fleet", "hi");
    // What two native runners would do: each pushes its own architecture.
    for (target, tag) in [("x86_64", "amd64"), ("aarch64", "arm64")] {
        let r = format!("{host}/fleet:{tag}");
        let out = p.oci(&["build", "--target", target, "--push", &r, "-q"]).success().stdout();
        assert!(out.trim().starts_with(&format!("{r}@sha256:")), "{out}");
    }
    let both = parse_built(&p.oci(&["build", "--target", "x86_64,aarch64", "-o", "both", "-q"]).success().stdout());

    let dest = format!("{host}/fleet:1.0");
    let run = p
        .oci(&[
            "merge",
            "--push",
            &dest,
            "--tag",
            "latest",
            &format!("{host}/fleet:amd64"),
            &format!("{host}/fleet:arm64"),
        ])
        .success();
    let line = run.stdout().trim().to_string();
    assert_eq!(line, format!("{dest}@{}", both.digest), "the merged index is the two-platform build's");
    assert!(run.stderr().contains("0 blob(s) uploaded"), "blobs are already in the repository: {}", run.stderr());
    for tag in ["1.0", "latest"] {
        let raw = skopeo_raw(&format!("docker://{host}/fleet:{tag}"), &reg.client_flags(""));
        assert_eq!(index_archs(&raw), ["amd64", "arm64"]);
    }
    // push reports in JSON too: the pushed references and the index digest.
    let run = p.oci(&["push", "--message-format", "json", "oci:both:0.1.0", &format!("{host}/fleet:pushed")]).success();
    let lines: Vec<Value> = run.stdout().lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["reason"], "image");
    assert_eq!(lines[0]["pushed"], serde_json::json!([format!("{host}/fleet:pushed")]));
    assert_eq!(lines[0]["index"]["digest"], both.digest.as_str());
    assert_eq!(lines[0]["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(lines[1], serde_json::json!({"reason": "finished", "success": true, "images": 1}));

    // inspect reads registry images too.
    let report: Value =
        serde_json::from_str(&p.oci(&["inspect", &dest, "--format", "json"]).success().stdout()).unwrap();
    assert_eq!(report["digest"], both.digest.as_str());
    assert_eq!(report["platforms"].as_array().unwrap().len(), 2);
    // A merge needs somewhere to go.
    let run = p.oci(&["merge", &format!("{host}/fleet:amd64")]).failure();
    assert!(run.stderr().contains("--output"), "{}", run.stderr());
}
