//! `cargo oci plan`: the resolved plan of the fixture workspace (snapshots), and how Cargo.toml
//! settings, flags and package selection shape it.

use serde_json::Value;

use crate::support::*;

fn plan_json(p: &Project, args: &[&str]) -> Value {
    let mut full = vec!["plan", "--format", "json"];
    full.extend_from_slice(args);
    serde_json::from_str(&p.oci(&full).success().stdout()).unwrap()
}

fn names(plan: &Value) -> Vec<String> {
    plan["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn fixture_workspace_plan() {
    let p = Project::fixture("ws");
    let human = p.oci(&["plan"]).success();
    // Nothing but the PID 1 warning of each image (neither binary handles SIGTERM).
    let warnings: Vec<String> =
        human.stderr().lines().filter(|l| l.starts_with("warning: ")).map(String::from).collect();
    assert_eq!(warnings.len(), 2, "{}", human.stderr());
    assert!(warnings[0].starts_with("warning: image `api` (linux/amd64, linux/arm64): no crate"), "{warnings:?}");
    assert!(warnings[1].starts_with("warning: image `worker` (linux/amd64, linux/arm64): no crate"), "{warnings:?}");
    assert_eq!(human.stderr().lines().count(), 4, "each with its hint, and nothing else: {}", human.stderr());
    let json = p.oci(&["plan", "--format", "json"]).success().stdout();
    p.insta().bind(|| {
        insta::assert_snapshot!("plan_workspace_human", human.stdout());
        insta::assert_snapshot!("plan_workspace_json", json);
    });
    assert!(!p.path().join("target/oci").exists());
}

#[test]
fn packages_and_bins_narrow_the_plan() {
    let p = Project::fixture("ws");
    assert_eq!(names(&plan_json(&p, &["-p", "worker"])), ["worker"]);
    let only_api = plan_json(&p, &["--bin", "api"]);
    assert_eq!(names(&only_api), ["api"]);
    for job in only_api["jobs"].as_array().unwrap() {
        assert_eq!(job["units"], serde_json::json!([{"package": "api", "bins": ["api"]}]));
    }
    // A member's manifest builds that member; --workspace builds them all.
    assert_eq!(names(&plan_json(&p, &["--manifest-path", "api/Cargo.toml"])), ["api"]);
    assert_eq!(names(&plan_json(&p, &["--manifest-path", "api/Cargo.toml", "--workspace"])), ["api", "worker"]);
    let run = p.oci(&["plan", "--bin", "nope"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: no image to build holds a binary named `nope`");
    assert!(hints[0].contains("api, worker"), "{hints:?}");
}

#[test]
fn flags_override_cargo_toml() {
    let p = Project::fixture("ws");
    let plan = plan_json(
        &p,
        &[
            "--target",
            "x86_64",
            "--tag",
            "t1",
            "--base",
            "scratch",
            "--entrypoint",
            "/bin/sh",
            "--entrypoint",
            "-c",
            "--cmd",
            "exec api",
            "--env",
            "RUST_LOG=trace",
            "--env",
            "EXTRA=1",
            "--user",
            "0",
            "--workdir",
            "/tmp",
            "--label",
            "org.example.team=ops",
            "--annotation",
            "org.example.ci=42",
            "--port",
            "443",
            "-o",
            "out",
        ],
    );
    for image in plan["images"].as_array().unwrap() {
        let name = image["name"].as_str().unwrap();
        let c = &image["config"];
        assert_eq!(c["entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
        assert_eq!(c["cmd"], serde_json::json!(["exec api"]));
        assert_eq!(c["env"]["RUST_LOG"], "trace");
        assert_eq!(c["env"]["APP_ENV"], "production", "tables merge: workspace keys stay");
        assert_eq!(c["env"]["EXTRA"], "1");
        assert_eq!((c["user"].as_str(), c["workdir"].as_str()), (Some("0"), Some("/tmp")));
        assert_eq!(c["labels"]["org.example.team"], "ops");
        assert_eq!(c["exposed_ports"], serde_json::json!(["443/tcp"]), "lists are replaced");
        assert_eq!(image["annotations"]["org.example.ci"], "42");
        assert_eq!(image["tags"], serde_json::json!(["t1"]));
        assert_eq!(image["base"], serde_json::json!({"x86_64-unknown-linux-musl": {"kind": "scratch"}}));
        assert_eq!(
            image["output"],
            p.path().join("out").join(name).display().to_string(),
            "several images: DIR/<image>"
        );
    }
    assert_eq!(plan["jobs"].as_array().unwrap().len(), 1);
}

#[test]
fn several_binaries_in_one_image_and_a_base_per_target() {
    let base = Project::bin("base", "b");
    base.oci(&["build", "--target", "aarch64", "-o", "lay", "--tag", "b1", "-q"]).success();
    let p = Project::empty()
        .file(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"svc\"\nversion = \"1.2.3\"\nedition = \"2021\"\n[workspace]\n\
                 [[bin]]\nname = \"api\"\npath = \"src/api.rs\"\n[[bin]]\nname = \"worker\"\npath = \"src/worker.rs\"\n\
                 [[bin]]\nname = \"tool\"\npath = \"src/tool.rs\"\n\
                 [package.metadata.oci]\nbins = [\"worker\", \"api\"]\nbin-dir = \"/app\"\n\
                 [package.metadata.oci.target.aarch64-unknown-linux-musl]\nbase = \"oci:{}:b1\"\n",
                base.path().join("lay").display()
            ),
        )
        .file("src/api.rs", "fn main() {}\n")
        .file("src/worker.rs", "fn main() {}\n")
        .file("src/tool.rs", "fn main() {}\n");
    let plan = plan_json(&p, &[]);
    assert_eq!(names(&plan), ["svc"], "one image, named after the package");
    let image = &plan["images"][0];
    assert_eq!(image["bins"], serde_json::json!(["worker", "api"]));
    assert_eq!(image["config"]["entrypoint"], serde_json::json!(["/app/worker"]), "the first is the entrypoint");
    assert_eq!(image["layers"], serde_json::json!([{"kind": "binaries", "dir": "/app", "bins": ["worker", "api"]}]));
    assert_eq!(image["base"]["x86_64-unknown-linux-musl"]["kind"], "static");
    assert_eq!(image["base"]["aarch64-unknown-linux-musl"]["kind"], "layout");
    assert_eq!(image["base"]["aarch64-unknown-linux-musl"]["tag"], "b1");
    assert_eq!(plan["jobs"][0]["units"][0]["bins"], serde_json::json!(["api", "worker"]));
    // `tool` is in no image: asking for it is an error that says why.
    let run = p.oci(&["plan", "--bin", "tool"]).failure();
    assert!(run.stderr().contains("no image to build holds a binary named `tool`"), "{}", run.stderr());
}

/// `cargo oci plan --message-format json` shows every decision `build` acts on: where the image
/// goes (layout with --gc, archive, registry with the base to mount from), the attestations,
/// the registry settings (never the credentials), --verify-reproducible, the ELF check, and the
/// glibc floor that comes from the base's files (read by `plan` as by `build`).
#[test]
fn the_plan_shows_every_decision_build_acts_on() {
    let p = Project::bin("decide", "d");
    let dpkg = "Package: libc6\nStatus: install ok installed\nVersion: 2.31-13\n";
    fake_image_with(&p.path().join("base"), "glibc", &["amd64"], "var/lib/dpkg/status", &|_| dpkg.into());
    let args = [
        "plan",
        "--message-format",
        "json",
        "--target",
        "x86_64-unknown-linux-gnu",
        "--base",
        "oci:base:glibc",
        "--output",
        "lay",
        "--gc",
        "--tar",
        "app.tar",
        "--push",
        "127.0.0.1:5000/decide:1",
        "--media-types",
        "docker",
        "--sbom",
        "cyclonedx",
        "--provenance",
        "false",
        "--verify-reproducible",
        "--no-elf-check",
        "--insecure-registry",
        "lab.example:5000",
        "--ca-cert",
        "ca.pem",
        "--creds",
        "bot:s3cret-token",
    ];
    let vars = [("CARGO_OCI_CHUNK_SIZE".to_string(), "1048576".to_string())];
    let run = p.oci_env(&args, &vars).success();
    let json = run.stdout();
    assert!(!json.contains("s3cret-token"), "credentials never appear in a plan");
    p.insta().bind(|| insta::assert_snapshot!("plan_decisions_json", json));
    // What `build` runs is this plan: the floor from the base's dpkg status is in the job.
    let plan: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(plan["jobs"][0]["target"]["glibc"], "2.31");
    assert!(!p.path().join("lay").exists() && !p.path().join("target/oci").exists(), "plan writes nothing");
}
