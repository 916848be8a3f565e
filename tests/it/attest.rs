//! SBOMs and provenance: per-platform OCI referrers, checked by independent validators.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

/// A crate with a registry dependency everywhere, a path dependency only on aarch64 and a
/// build-dependency (host only, never in the binary).
fn fixture() -> Project {
    Project::empty()
        .file(
            "Cargo.toml",
            r#"[package]
name = "sbomfix"
version = "0.2.0"
edition = "2021"
license = "MIT/Apache-2.0"

[dependencies]
itoa = "1"

[target.'cfg(target_arch = "aarch64")'.dependencies]
armonly = { path = "armonly" }

[build-dependencies]
buildhelper = { path = "buildhelper" }

[workspace]
"#,
        )
        .file("build.rs", "fn main() { buildhelper::help(); }\n")
        .file(
            "src/main.rs",
            r#"fn main() {
    let mut b = itoa::Buffer::new();
    #[cfg(target_arch = "aarch64")]
    armonly::hello();
    println!("{}", b.format(42));
}
"#,
        )
        .file(
            "armonly/Cargo.toml",
            "[package]\nname = \"armonly\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlicense = \"MIT\"\n",
        )
        .file("armonly/src/lib.rs", "pub fn hello() {}\n")
        .file("buildhelper/Cargo.toml", "[package]\nname = \"buildhelper\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        .file("buildhelper/src/lib.rs", "pub fn help() {}\n")
}

fn names(spdx: &Value) -> BTreeSet<String> {
    spdx["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn spdx_and_provenance_per_platform() {
    let p = fixture();
    p.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q"]).success();
    let lay = p.path().join("lay");
    let platforms = validate_layout(&lay, "0.2.0");
    let sboms = referrers(&lay, "application/spdx+json");
    assert_eq!(sboms.len(), 2);
    let lock = std::fs::read_to_string(p.path().join("Cargo.lock")).unwrap();
    for m in &platforms {
        let (_, manifest, doc) =
            sboms.iter().find(|(s, _, _)| *s == m.digest).expect("an SBOM whose subject is this platform manifest");
        assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
        let expected: BTreeSet<String> = if m.platform.contains("arm64") {
            ["sbomfix", "itoa", "armonly"].map(String::from).into()
        } else {
            ["sbomfix", "itoa"].map(String::from).into()
        };
        assert_eq!(names(doc), expected, "{}: exactly the packages compiled into the binary", m.platform);
        let itoa = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "itoa").unwrap();
        let sum = itoa["checksums"][0]["checksumValue"].as_str().unwrap();
        assert!(lock.contains(&format!("checksum = \"{sum}\"")), "itoa's Cargo.lock checksum");
        assert!(itoa["externalRefs"][0]["referenceLocator"].as_str().unwrap().starts_with("pkg:cargo/itoa@1."));
        let root = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "sbomfix").unwrap();
        assert_eq!(root["licenseDeclared"], "MIT OR Apache-2.0");
        let depends = doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["relationshipType"] == "DEPENDS_ON"
                && r["spdxElementId"] == root["SPDXID"]
                && r["relatedSpdxElement"] == itoa["SPDXID"]
        });
        assert!(depends, "sbomfix DEPENDS_ON itoa");
        if have("pyspdxtools") {
            let f = p.path().join(format!("sbom-{}.spdx.json", m.platform.replace('/', "-")));
            std::fs::write(&f, serde_json::to_vec(doc).unwrap()).unwrap();
            tool("pyspdxtools", &["-i", f.to_str().unwrap()]);
        }
    }

    let provenance = referrers(&lay, "application/vnd.in-toto+json");
    assert_eq!(provenance.len(), 2);
    let lock_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(lock.as_bytes()));
    for m in &platforms {
        let (_, _, st) = provenance.iter().find(|(s, _, _)| *s == m.digest).expect("provenance about this manifest");
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(st["subject"][0]["digest"]["sha256"], m.digest.strip_prefix("sha256:").unwrap());
        let deps = st["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
        assert!(
            deps.iter().any(|d| d["name"] == "Cargo.lock" && d["digest"]["sha256"] == lock_digest.as_str()),
            "{deps:?}"
        );
        assert!(st["predicate"]["runDetails"]["builder"]["version"]["rustc"].as_str().unwrap().contains("rustc "));
    }

    // New provenance for the same manifests (another tag list) replaces the old statement.
    p.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q", "--tag", "0.2.0", "--tag", "extra"]).success();
    let again = referrers(&lay, "application/vnd.in-toto+json");
    assert_eq!(again.len(), 2, "one statement per manifest");
    assert!(again.iter().all(|(_, _, st)| st["predicate"]["buildDefinition"]["externalParameters"]["tags"]
        == serde_json::json!(["0.2.0", "extra"])));

    // A rebuild after a change replaces the referrers instead of piling them up.
    std::fs::write(p.path().join("src/main.rs"), "fn main() { println!(\"{}\", itoa::Buffer::new().format(7)); }\n")
        .unwrap();
    p.oci(&["build", "--target", "x86_64,aarch64", "-o", "lay", "-q", "--tag", "0.2.0", "--tag", "extra"]).success();
    validate_layout(&lay, "0.2.0");
    assert_eq!(referrers(&lay, "application/spdx+json").len(), 2, "the old manifests lost their last tag");
}

#[test]
fn cyclonedx_validates_against_its_schema() {
    let p = fixture();
    p.oci(&["build", "--target", "aarch64", "-o", "lay", "-q", "--sbom", "cyclonedx", "--provenance", "false"])
        .success();
    let lay = p.path().join("lay");
    validate_layout(&lay, "0.2.0");
    assert!(referrers(&lay, "application/vnd.in-toto+json").is_empty());
    let boms = referrers(&lay, "application/vnd.cyclonedx+json");
    assert_eq!(boms.len(), 1);
    let bom = &boms[0].2;
    assert_eq!(bom["metadata"]["component"]["name"], "sbomfix");
    let comps: BTreeSet<&str> =
        bom["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(comps, BTreeSet::from(["armonly", "itoa"]));
    if have("python3") {
        let f = p.path().join("bom.json");
        std::fs::write(&f, serde_json::to_vec(bom).unwrap()).unwrap();
        let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\n\
                      e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
                      sys.exit(f'invalid: {e}' if e else 0)\n";
        tool("python3", &["-c", script, f.to_str().unwrap()]);
    }
}

#[test]
fn pushed_referrers_fall_back_to_the_sha256_tag_schema_on_a_registry_without_the_api() {
    use crate::registry_support::*;
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let p = Project::bin("pushsbom", "hi");
    let dest = format!("{}/pushsbom:1", reg.host());
    let run = p.oci(&["build", "--target", "x86_64,aarch64", "--push", &dest]).success();
    assert!(
        run.stderr().contains("4 referrer(s) (no referrers API: listed under sha256-<digest> tags)"),
        "{}",
        run.stderr()
    );
    let index = skopeo_raw(&format!("docker://{dest}"), &reg.client_flags(""));
    for m in index["manifests"].as_array().unwrap() {
        assert_ne!(m["platform"]["os"], "unknown", "nothing but platforms in the image index");
        let subject = m["digest"].as_str().unwrap();
        let tag = subject.replace("sha256:", "sha256-");
        let referrers = skopeo_raw(&format!("docker://{}/pushsbom:{tag}", reg.host()), &reg.client_flags(""));
        let types: BTreeSet<&str> =
            referrers["manifests"].as_array().unwrap().iter().map(|d| d["artifactType"].as_str().unwrap()).collect();
        assert_eq!(types, BTreeSet::from(["application/spdx+json", "application/vnd.in-toto+json"]));
        for d in referrers["manifests"].as_array().unwrap() {
            let art = skopeo_raw(
                &format!("docker://{}/pushsbom@{}", reg.host(), d["digest"].as_str().unwrap()),
                &reg.client_flags(""),
            );
            assert_eq!(art["subject"]["digest"], subject);
        }
    }
    // Pushing again changes nothing and uploads nothing.
    let again = p.oci(&["build", "--target", "x86_64,aarch64", "--push", &dest]).success();
    assert!(again.stderr().contains("0 blob(s) uploaded"), "{}", again.stderr());
    assert!(!again.stderr().contains("referrer(s)"), "{}", again.stderr());
}
