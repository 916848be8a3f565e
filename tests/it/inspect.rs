//! `cargo oci inspect`: a fixed image written through the library (same digests everywhere) as
//! text and JSON snapshots, and what it reports matches the layout.

use serde_json::Value;

use crate::support::*;

#[test]
fn inspect_a_two_platform_image() {
    let p = Project::empty();
    fake_image(&p.path().join("lay"), "v1", &["x86_64", "aarch64"], "fake");
    let human = p.oci(&["inspect", "oci:lay:v1"]).success().stdout();
    let json = p.oci(&["inspect", "oci:lay:v1", "--format", "json"]).success().stdout();
    p.insta().bind(|| {
        insta::assert_snapshot!("inspect_human", human);
        insta::assert_snapshot!("inspect_json", json);
    });
    // The report agrees with the layout, checked independently.
    let manifests = validate_layout(&p.path().join("lay"), "v1");
    let report: Value = serde_json::from_str(&json).unwrap();
    let index = read_json(&p.path().join("lay/index.json"));
    assert_eq!(report["digest"], index["manifests"][0]["digest"]);
    for (r, m) in report["platforms"].as_array().unwrap().iter().zip(&manifests) {
        assert_eq!(r["platform"], m.platform.as_str());
        assert_eq!(r["manifest"]["digest"], m.digest.as_str());
        let layers: Vec<&str> = r["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
        assert_eq!(layers, m.layers);
    }
}

#[test]
fn inspect_a_single_manifest_and_a_missing_tag() {
    if !have("skopeo") {
        return;
    }
    let p = Project::empty();
    fake_image(&p.path().join("lay"), "v1", &["x86_64", "aarch64"], "fake");
    copy_platform(&p.path().join("lay"), "v1", "arm64", &p.path().join("one"), "arm");
    let report: Value =
        serde_json::from_str(&p.oci(&["inspect", "oci:one:arm", "--format", "json"]).success().stdout()).unwrap();
    assert_eq!(report["media_type"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(report["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(report["platforms"][0]["platform"], "linux/arm64/v8");
    assert_eq!(report["platforms"][0]["manifest"]["digest"], report["digest"]);
    assert_eq!(report["platforms"][0]["cmd"], serde_json::json!(["--serve"]));

    let run = p.oci(&["inspect", "oci:lay:v2"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: `oci:{}:v2` has no tag `v2`; it has: v1", p.path().join("lay").display()));
    assert_eq!(hints.len(), 1);
    let run = p.oci(&["inspect", "Not A//Reference"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: `Not A//Reference` is not an image reference cargo-oci can read");
    assert!(hints[0].contains("oci:DIR:TAG"), "{hints:?}");
}
