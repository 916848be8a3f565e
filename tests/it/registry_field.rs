//! Registries as they answer in the field: a service-sized two-platform image (each binary layer
//! over 16 MiB compressed) pushed through a loopback proxy that plays GHCR, ECR, an S3-backed
//! registry, a containerd-only registry, a front end with a body limit and Google Artifact
//! Registry's referrers redirect — each in front of the real distribution server. Every push is
//! pulled back with skopeo, its attestations read back, and the arm64 binary run under qemu.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::registry_support::*;
use crate::support::*;

const MIB: usize = 1 << 20;

/// The service image: where its layout is, and what its arm64 binary prints.
struct Service {
    layout: PathBuf,
    arm64_says: String,
}

/// Bytes nobody can compress (xorshift64*), cheap to make: a binary that embeds them has a layer
/// as large as a real service's without compiling one.
fn incompressible(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Built once per test run (and kept under target/it-cache, so cargo's target stays warm).
fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let payload = incompressible(17 * MIB + 12_345);
        let sum = payload.iter().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(*b)));
        let main = "static PAYLOAD: &[u8] = include_bytes!(\"payload.bin\");\n\
                    fn main() {\n    let sum = PAYLOAD.iter().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(*b as u32));\n    \
                    println!(\"svc {} {} {sum:08x}\", std::env::consts::ARCH, PAYLOAD.len());\n}\n";
        let p = Project::kept("svc")
            .file_if_changed(
                "Cargo.toml",
                b"[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
            )
            .file_if_changed("src/payload.bin", &payload)
            .file_if_changed("src/main.rs", main.as_bytes());
        let out = p.oci_in(&Project::cache_dir("svc"), &["build", "--target", "x86_64,aarch64", "-o", "lay", "-q"]);
        let built = parse_built(&out.success().stdout());
        for m in validate_layout(&built.layout, "0.1.0") {
            let binary_layer = m.layers.last().unwrap();
            let size = std::fs::metadata(blob_path(&built.layout, binary_layer)).unwrap().len();
            assert!(size > 16 * MIB as u64, "{}: the binary layer is {size} bytes", m.platform);
        }
        Service { layout: built.layout, arm64_says: format!("svc aarch64 {} {sum:08x}", payload.len()) }
    })
}

/// Pushes the service image through `proxy` to `<proxy>/<repo>:1` with extra variables; returns
/// the run (`-v`: the upload notes are on stderr).
fn push(env: &OciEnv, proxy: &Proxy, repo: &str, vars: &[(&str, &str)]) -> Run {
    let src = format!("oci:{}:0.1.0", service().layout.display());
    let run = env.run(&["push", "-v", &src, &format!("{}/{repo}:1", proxy.host())], vars).success();
    let digest = read_json(&service().layout.join("index.json"))["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "0.1.0")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(run.stdout().trim(), format!("{}/{repo}:1@{digest}", proxy.host()), "{}", run.stderr());
    run
}

/// skopeo pulls `<registry>/<repo>:1` back (from the registry itself, not through the proxy):
/// the same digests, the SBOM and provenance of each platform there, and the arm64 binary runs.
fn pulled_back_intact(reg: &Registry, repo: &str) {
    let work = tempfile::tempdir().unwrap();
    let back = work.path().join("back");
    let flags = ["--tls-verify=false".to_string()];
    skopeo_pull(&format!("{}/{repo}:1", reg.host()), &back, "1");
    let pulled = validate_layout(&back, "1");
    let original = validate_layout(&service().layout, "0.1.0");
    for (a, b) in original.iter().zip(&pulled) {
        assert_eq!((&a.digest, &a.layers), (&b.digest, &b.layers), "{repo}: identical after the round trip");
        let tag = b.digest.replace("sha256:", "sha256-");
        let listed = skopeo_raw(&format!("docker://{}/{repo}:{tag}", reg.host()), &flags);
        let mut types: Vec<&str> =
            listed["manifests"].as_array().unwrap().iter().map(|d| d["artifactType"].as_str().unwrap()).collect();
        types.sort();
        assert_eq!(types, ["application/spdx+json", "application/vnd.in-toto+json"], "{repo} {}", b.platform);
    }
    let rootfs = unpack_platform(&back, "1", "arm64", work.path());
    let ran = tool("qemu-aarch64-static", &[rootfs.join("usr/local/bin/svc").to_str().unwrap()]);
    assert_eq!(ran.stdout().trim(), service().arm64_says);
}

/// A plain registry, the proxy playing `quirks` in front of it, and a clean environment.
fn field(quirks: Quirks) -> Option<(Registry, Proxy, OciEnv)> {
    let reg = Registry::start(Kind::Plain)?;
    if !(have("skopeo") && have("umoci") && have("qemu-aarch64-static")) {
        return None;
    }
    let proxy = Proxy::playing(reg.port, quirks);
    Some((reg, proxy, OciEnv::new()))
}

fn patches(proxy: &Proxy) -> Vec<Seen> {
    proxy.requests(|r| r.method == "PATCH")
}

#[test]
fn ghcr_refuses_chunks_over_4_mib_and_takes_whole_blobs() {
    let Some((reg, proxy, env)) = field(Quirks::Ghcr) else { return };
    push(&env, &proxy, "svc", &[]);
    assert!(patches(&proxy).is_empty(), "one request per blob by default");
    pulled_back_intact(&reg, "svc");

    // Chunks asked for at 16 MiB (what failed before): the first is refused with GHCR's 416,
    // the upload starts again in 4 MiB chunks.
    let run = push(&env, &proxy, "svc-chunked", &[("CARGO_OCI_CHUNK_SIZE", "16777216")]);
    let refused: Vec<Seen> = patches(&proxy).into_iter().filter(|r| r.refused == Some(416)).collect();
    assert!(!refused.is_empty(), "GHCR's cap was met");
    let taken: Vec<usize> = patches(&proxy).iter().filter(|r| r.refused.is_none()).map(|r| r.length).collect();
    assert!(taken.len() >= 8 && taken.iter().all(|n| *n <= 4 * MIB), "{taken:?}");
    assert!(run.stderr().contains("(416): sent in 4.0 MiB chunks"), "{}", run.stderr());
    pulled_back_intact(&reg, "svc-chunked");
}

#[test]
fn ecr_answers_chunks_with_201_and_a_stale_range() {
    let Some((reg, proxy, env)) = field(Quirks::Ecr) else { return };
    push(&env, &proxy, "svc", &[]);
    assert!(patches(&proxy).is_empty());
    pulled_back_intact(&reg, "svc");

    push(&env, &proxy, "svc-chunked", &[("CARGO_OCI_CHUNK_SIZE", "5242880")]);
    let chunks = patches(&proxy);
    assert!(chunks.len() >= 6, "several chunks per binary layer: {}", chunks.len());
    assert!(chunks.iter().all(|r| r.refused.is_none()), "every PATCH accepted (as 201)");
    // Our offsets, not ECR's `Range`: each chunk starts where the last one ended.
    let ranges: Vec<String> = chunks.iter().filter_map(|r| r.content_range.clone()).collect();
    assert!(ranges.iter().any(|r| r.starts_with("5242880-")), "{ranges:?}");
    let closing = proxy.requests(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"));
    assert!(closing.iter().all(|r| r.length > 0 && r.refused.is_none()), "the last chunk rides in the closing PUT");
    pulled_back_intact(&reg, "svc-chunked");
}

#[test]
fn s3_backed_registries_get_chunks_of_their_minimum_length() {
    let Some((reg, proxy, env)) = field(Quirks::S3) else { return };
    push(&env, &proxy, "svc", &[]);
    assert!(patches(&proxy).is_empty());
    pulled_back_intact(&reg, "svc");

    // 1 MiB asked for; the registry's `OCI-Chunk-Min-Length` (5 MiB) wins.
    push(&env, &proxy, "svc-chunked", &[("CARGO_OCI_CHUNK_SIZE", "1048576")]);
    let lengths: Vec<usize> = patches(&proxy).iter().map(|r| r.length).collect();
    assert!(!lengths.is_empty() && lengths.iter().all(|n| *n == 5 * MIB), "{lengths:?}");
    pulled_back_intact(&reg, "svc-chunked");
}

#[test]
fn a_registry_that_takes_only_what_containerd_sends() {
    let Some((reg, proxy, env)) = field(Quirks::Monolithic) else { return };
    push(&env, &proxy, "svc", &[]);
    assert!(patches(&proxy).is_empty());
    let puts = proxy.requests(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"));
    assert!(puts.iter().all(|r| r.content_type.as_deref() == Some("application/octet-stream") && r.refused.is_none()));
    pulled_back_intact(&reg, "svc");
}

#[test]
fn a_body_limit_413_turns_into_chunks_under_it() {
    let Some((reg, proxy, env)) = field(Quirks::BodyLimit(8 * MIB)) else { return };
    let run = push(&env, &proxy, "svc", &[]);
    let refused = proxy.requests(|r| r.refused == Some(413));
    assert!(!refused.is_empty(), "the whole-blob PUT met the limit");
    let taken: Vec<usize> = proxy.requests(|r| r.length > 0 && r.refused.is_none()).iter().map(|r| r.length).collect();
    assert!(taken.iter().all(|n| *n <= 8 * MIB), "{taken:?}");
    assert!(run.stderr().contains("(413): sent in"), "{}", run.stderr());
    pulled_back_intact(&reg, "svc");
}

#[test]
fn a_referrers_endpoint_that_redirects_to_a_login_page_means_no_api() {
    let Some((reg, proxy, env)) = field(Quirks::LoginRedirect) else { return };
    let run = push(&env, &proxy, "svc", &[]);
    assert!(run.stderr().contains("(no referrers API: listed under sha256-<digest> tags)"), "{}", run.stderr());
    assert!(proxy.requests(|r| r.path.starts_with("/login")).is_empty(), "the redirect was not followed");
    assert!(!proxy.requests(|r| r.path.contains("/referrers/")).is_empty());
    pulled_back_intact(&reg, "svc");
}
