//! Parallel transfers: blobs of every platform go up at once (4 in flight unless `-j` says
//! otherwise), children still before parents and tags last; `-j` also reaches cargo.

use std::time::Duration;

use crate::registry_proxy::*;
use crate::registry_support::*;
use crate::support::*;

/// Pushes a 2-platform image through a proxy that holds every blob HEAD for 300 ms (a slow link's
/// round trip); returns the most blob HEADs held at once, the requests in order, and stderr.
fn push(jobs: Option<&str>) -> Option<(usize, Vec<Seen>, String)> {
    let (reg, _work) = registry_and(Kind::Plain, &["skopeo"])?;
    let proxy = Proxy::start(reg.port, None);
    proxy.faults.lock().unwrap().slow_blob_heads = Some(Duration::from_millis(300));
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
    let max = proxy.held_heads.lock().unwrap().1;
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
