//! Parallel transfers: blobs of every platform go up at once (4 in flight unless `-j` says
//! otherwise), children still before parents and tags last; `-j` also reaches cargo. A base's
//! layers come down at once too, `-j` at a time, and a failed one is one error about it.

use std::time::Duration;

use crate::registry_proxy::*;
use crate::registry_support::*;
use crate::support::*;

/// Pushes a 2-platform image through a proxy that holds every blob HEAD for 300 ms (a slow link's
/// round trip); returns the most blob HEADs held at once, the requests in order, and stderr.
fn push(jobs: Option<&str>) -> Option<(usize, Vec<Seen>, String)> {
    let (reg, _work) = registry_and(Kind::Plain, &["skopeo"])?;
    let proxy = Proxy::start(reg.port, None);
    proxy.faults.lock().unwrap().slow_blobs = Some(("HEAD", Duration::from_millis(300)));
    let p = Project::bin("para", "hi");
    let dest = format!("{}/para:1", proxy.host());
    let mut args = vec!["build", "-v", "--target", "x86_64,aarch64", "--push", &dest];
    if let Some(j) = jobs {
        args.extend(["-j", j]);
    }
    let run = p.oci(&args).success();
    // The image is whole: skopeo reads the index and both platforms back from the registry.
    let raw = skopeo_raw(&format!("docker://{}/para:1", reg.host()), &["--tls-verify=false".into()]);
    assert_eq!(index_archs(&raw), ["amd64", "arm64"]);
    let max = proxy.held.lock().unwrap().1;
    Some((max, proxy.requests(|_| true), run.stderr()))
}

#[test]
fn blobs_go_up_at_once_children_before_parents_tags_last() {
    let Some((max, seen, _)) = push(None) else { return };
    assert!(max >= 4, "4 blob HEADs held at once by the proxy: at most {max} requests were in flight");
    // Order still holds: every blob upload ends before the first manifest goes up, and the tag
    // (the root, by tag) is the last image manifest put.
    let pos = |f: &dyn Fn(&Seen) -> bool| seen.iter().position(f);
    let last_blob = seen.iter().rposition(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/")).unwrap();
    let first_manifest = pos(&|r| r.method == "PUT" && r.path.contains("/manifests/")).unwrap();
    assert!(last_blob < first_manifest, "a manifest went up before all blobs were there: {seen:#?}");
    let tag = pos(&|r| r.method == "PUT" && r.path.ends_with("/manifests/1")).unwrap();
    let image_manifests: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "PUT" && r.path.contains("/manifests/sha256:"))
        .map(|(i, _)| i)
        .collect();
    assert!(image_manifests.iter().all(|&i| i < tag), "every manifest and referrer before the tag");
}

#[test]
fn jobs_1_transfers_one_at_a_time_and_reaches_cargo() {
    let Some((max, _, err)) = push(Some("1")) else { return };
    assert_eq!(max, 1, "-j 1: one blob at a time");
    assert!(err.contains("-j 1"), "cargo is run with -j 1 (-v shows the command): {err}");
}

/// A registry holding `layers:1`, a linux/amd64 base of 5 layers made by buildah (the first
/// `big` bytes of noise), and a proxy in front of it. Returns the base's layer digests.
fn layered_base(big: usize) -> Option<(Registry, tempfile::TempDir, Proxy, Vec<String>)> {
    let (reg, work) = registry_and(Kind::Plain, &["buildah", "skopeo"])?;
    let dest = format!("docker://{}/layers:1", reg.host());
    let layers = buildah_layered_base(work.path(), &dest, &reg.client_flags(""), 5, big);
    let proxy = Proxy::start(reg.port, None);
    Some((reg, work, proxy, layers))
}

#[test]
fn base_layers_come_down_at_once_bounded_by_jobs() {
    let Some((_reg, _work, proxy, base_layers)) = layered_base(64 << 10) else { return };
    // Every blob GET held 300 ms (a slow link's round trip): GETs sent at once are seen at once.
    proxy.faults.lock().unwrap().slow_blobs = Some(("GET", Duration::from_millis(300)));
    let p = Project::bin("pulled", "hi");
    let base = format!("{}/layers:1", proxy.host());
    // A build from an empty cache, so every base layer is pulled: the most blob GETs held at
    // once, what was built, stderr, and the environment (its cache now warm).
    let build = |out: &str, extra: &[&str]| {
        let env = OciEnv::new();
        *proxy.held.lock().unwrap() = (0, 0);
        let mut args = vec!["build", "--target", "x86_64", "--base", &base, "-o", out];
        args.extend(extra);
        let run = p.oci_env(&args, &env.vars()).success();
        (proxy.held.lock().unwrap().1, parse_built(&run.stdout()), run.stderr(), env)
    };

    let (most, parallel, err, env) = build("lay-j4", &[]);
    assert_eq!(most, 4, "5 layers, 4 (the default -j) pulled at once: {err}");
    let said = format!(" KiB, from {}/layers\n", proxy.host());
    assert!(err.contains("Pulling 5 blob(s), ") && err.contains(&said), "one line says what is pulled: {err}");
    assert!(!err.contains("Pulling [") && !err.contains('\r'), "no bars in a pipe: {err:?}");
    let (most, sequential, ..) = build("lay-j1", &["-j", "1"]);
    assert_eq!(most, 1, "-j 1: one layer at a time");
    assert_eq!(parallel.digest, sequential.digest, "the same image whatever order the layers came down in");
    // Without the ELF check the layout's writer is what reads the base: pulled at once too.
    let (most, unchecked, ..) = build("lay-unchecked", &["--no-elf-check"]);
    assert_eq!(most, 4, "the layout sink pulls at once too");
    assert_eq!(unchecked.digest, parallel.digest);

    // The image is whole, and skopeo reads the base's layers, in order, under ours.
    let m = &validate_layout(&parallel.layout, "0.1.0")[0];
    assert_eq!(m.layers[..5], base_layers[..]);
    let inspected: serde_json::Value = serde_json::from_str(
        &tool("skopeo", &["inspect", &format!("oci:{}:0.1.0", parallel.layout.display())]).stdout(),
    )
    .unwrap();
    assert_eq!(inspected["Layers"], serde_json::json!(m.layers), "{inspected}");

    // A warm cache: no blob is fetched again, and nothing is said about pulling.
    let blob_gets = || proxy.requests(|r| r.method == "GET" && r.path.contains("/blobs/")).len();
    let before = blob_gets();
    let run = p.oci_env(&["build", "--target", "x86_64", "--base", &base, "-o", "lay-warm"], &env.vars()).success();
    assert_eq!(blob_gets(), before, "every blob came from the cache");
    assert!(!run.stderr().contains("Pulling"), "{}", run.stderr());
    assert_eq!(parse_built(&run.stdout()).digest, parallel.digest);
}

#[test]
fn a_failed_pull_is_one_error_about_the_first_failing_layer_and_leaves_no_partial_blob() {
    let Some((_reg, _work, proxy, base_layers)) = layered_base(512 << 10) else { return };
    // Layer 1's download breaks off halfway every time (retried after 0.25, 0.5, 1, 2 s); layer
    // 3 is a 500 every time, retried at once (`Retry-After: 0`): it fails first in time, but
    // layer 1 is first in the base, and the error does not depend on timing.
    proxy.fail("GET", &base_layers[0], Fault::CutBody, 20);
    proxy.fail("GET", &base_layers[2], Fault::Status(500), 20);
    let env = OciEnv::new();
    let p = Project::bin("pullfail", "hi");
    let base = format!("{}/layers:1", proxy.host());
    let args = ["build", "--target", "x86_64", "--base", &base, "-o", "lay"];
    let run = p.oci_env(&args, &env.vars()).failure();
    let (err, hints) = run.error_and_hints();
    let all = run.stderr();
    let cut = proxy.requests(|r| r.method == "GET" && r.path.ends_with(&base_layers[0])).len();
    assert!(cut > 1, "a download that broke off is tried again ({cut} GETs)");
    assert_eq!(err, format!("error: failed to pull blob `{}/layers@{}`", proxy.host(), base_layers[0]));
    assert!(all.contains(&format!("failed to download blob {} from {}/layers", base_layers[0], proxy.host())), "{all}");
    assert!(!all.contains(&base_layers[2]), "one error, about the first failing layer: {all}");
    assert_eq!(
        hints,
        [format!(
            "hint: check the connection to {} and run again: the blobs already pulled are kept in the cache",
            proxy.host()
        )]
    );
    assert!(!p.path().join("lay").exists(), "nothing written");

    // Nothing partial in the cache: whatever is there is whole (named by its digest), and the
    // broken layer is not there at all.
    let cached = env.cache().join("blobs/sha256");
    for entry in std::fs::read_dir(&cached).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), name, "a whole blob under its digest");
    }
    assert!(!blob_path(&env.cache(), &base_layers[0]).exists());

    // Once the registry answers, the same build pulls what is missing and succeeds.
    proxy.faults.lock().unwrap().rules.clear();
    let run = p.oci_env(&args, &env.vars()).success();
    assert_eq!(validate_layout(&parse_built(&run.stdout()).layout, "0.1.0")[0].layers[..5], base_layers[..]);
}
