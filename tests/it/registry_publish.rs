//! Every path that publishes carries the attestations (`merge --push` of per-architecture
//! layouts, `push oci:DIR:TAG`, registry → registry), referrer uploads survive faults as the
//! image's do, and a push that fails part-way says exactly what is published.

use std::collections::BTreeSet;

use crate::registry_support::*;
use crate::support::*;

/// The artifact types listed for each platform manifest of `reference` (an index) in the
/// registry, read with skopeo from the `sha256-<digest>` tags (distribution 2.8 has no referrers
/// API); each artifact's subject is checked to be that manifest.
fn attestations(host: &str, repo: &str, tag: &str) -> Vec<(String, BTreeSet<String>)> {
    let flags = ["--tls-verify=false".to_string()];
    let root = skopeo_raw(&format!("docker://{host}/{repo}:{tag}"), &flags);
    let subjects: Vec<String> = match root["manifests"].as_array() {
        Some(m) => m.iter().map(|d| d["digest"].as_str().unwrap().to_string()).collect(),
        None => vec![sha256_of_raw(&format!("docker://{host}/{repo}:{tag}"))],
    };
    subjects
        .into_iter()
        .map(|subject| {
            let listed =
                skopeo_raw(&format!("docker://{host}/{repo}:{}", subject.replace("sha256:", "sha256-")), &flags);
            let mut types = BTreeSet::new();
            for d in listed["manifests"].as_array().unwrap() {
                let artifact = skopeo_raw(&format!("docker://{host}/{repo}@{}", d["digest"].as_str().unwrap()), &flags);
                assert_eq!(artifact["subject"]["digest"], subject.as_str());
                types.insert(d["artifactType"].as_str().unwrap().to_string());
            }
            (subject, types)
        })
        .collect()
}

fn sha256_of_raw(reference: &str) -> String {
    use sha2::Digest as _;
    let raw = tool("skopeo", &["inspect", "--raw", "--tls-verify=false", reference]).out.stdout;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(raw)))
}

fn both() -> BTreeSet<String> {
    ["application/spdx+json", "application/vnd.in-toto+json"].map(String::from).into()
}

#[test]
fn attestations_survive_merge_push_push_from_a_layout_and_registry_to_registry() {
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let Some(other) = Registry::start(Kind::Plain) else { return };
    let h = reg.host();
    // The README's CI recipe: one layout per architecture (native runners), merged and pushed.
    let p = Project::bin("attested", "hi");
    p.oci(&["build", "--target", "x86_64", "-o", "amd", "-q"]).success();
    p.oci(&["build", "--target", "aarch64", "-o", "arm", "-q"]).success();
    let run = p.oci(&["merge", "--push", &format!("{h}/merged:1"), "oci:amd:0.1.0", "oci:arm:0.1.0"]).success();
    assert!(run.stderr().contains("4 referrer(s)"), "{}", run.stderr());
    let merged = attestations(&h, "merged", "1");
    assert_eq!(merged.len(), 2);
    assert!(merged.iter().all(|(_, t)| *t == both()), "{merged:?}");

    // `push oci:DIR:TAG REF`: a single-platform layout, its one manifest's attestations.
    p.oci(&["push", "oci:amd:0.1.0", &format!("{h}/single:1")]).success();
    assert_eq!(attestations(&h, "single", "1").into_iter().map(|(_, t)| t).collect::<Vec<_>>(), [both()]);

    // Registry → registry: read from the source's fallback tags, pushed to the other registry.
    let run = p.oci(&["push", &format!("{h}/merged:1"), &format!("{}/copied:1", other.host())]).success();
    assert!(run.stderr().contains("4 referrer(s)"), "{}", run.stderr());
    assert_eq!(attestations(&other.host(), "copied", "1"), merged, "the same artifacts about the same manifests");
}

#[test]
fn referrer_uploads_and_the_probe_survive_503s_and_dropped_connections() {
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let proxy = Proxy::start(reg.port, None);
    // The probe that picks plain HTTP: one dropped connection, one 503 (today: a TLS error).
    proxy.script("GET", "=/v2/", &[Some(Fault::Drop), Some(Fault::Status(503))]);
    // The referrers API probe, the artifact manifests (after the 2 image manifests) and the
    // fallback tags: each faulted before it goes through.
    proxy.fail("GET", "/referrers/", Fault::Status(503), 2);
    proxy.script(
        "PUT",
        "/manifests/sha256:",
        &[None, None, Some(Fault::Drop), Some(Fault::Status(503)), None, Some(Fault::Drop)],
    );
    proxy.script("PUT", "/manifests/sha256-", &[Some(Fault::Status(503)), None, Some(Fault::Drop)]);
    let p = Project::bin("faulted", "hi");
    let dest = format!("{}/faulted:1", proxy.host());
    let run = p.oci(&["build", "--target", "x86_64,aarch64", "--push", &dest]).success();
    assert_eq!(proxy.pending_faults(), 0, "every fault was served");
    assert!(run.stderr().contains("4 referrer(s)"), "{}", run.stderr());
    assert!(run.stdout().starts_with(&format!("{dest}@sha256:")), "{}", run.stdout());
    let listed = attestations(&reg.host(), "faulted", "1");
    assert!(listed.len() == 2 && listed.iter().all(|(_, t)| *t == both()), "{listed:?}");
}

#[test]
fn a_failure_after_the_tag_moved_says_the_image_is_pushed_and_a_rerun_finishes() {
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let proxy = Proxy::start(reg.port, None);
    let p = Project::bin("halfway", "hi");
    let h = proxy.host();

    // Artifacts fail for good before any tag moves: nothing is tagged.
    proxy.script(
        "PUT",
        "/manifests/sha256:",
        &[
            None,
            None,
            Some(Fault::Status(503)),
            Some(Fault::Status(503)),
            Some(Fault::Status(503)),
            Some(Fault::Status(503)),
            Some(Fault::Status(503)),
        ],
    );
    let run = p.oci(&["build", "--target", "x86_64,aarch64", "--push", &format!("{h}/halfway:1")]).failure();
    let (err, _) = run.error_and_hints();
    assert_eq!(err, format!("error: failed to push to `{h}/halfway`"));
    let tags = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/halfway:1", reg.host())])
        .output()
        .unwrap();
    assert!(!tags.status.success(), "no tag was moved");

    // The listing of attestations (after the tags) fails for good: the image is published.
    proxy.fail("PUT", "/manifests/sha256-", Fault::Status(503), 5);
    let run =
        p.oci(&["build", "--target", "x86_64,aarch64", "--push", &format!("{h}/halfway:1"), "--tag", "2"]).failure();
    assert_eq!(run.out.status.code(), Some(1));
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: the image is pushed ({h}/halfway:1, {h}/halfway:2); its attestations are not"));
    assert!(hints.iter().any(|h| h.contains("run the same command again")), "{hints:?}");
    let index = skopeo_raw(&format!("docker://{}/halfway:2", reg.host()), &["--tls-verify=false".into()]);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "the image is there");

    // Run again: nothing is uploaded twice, the attestations are listed.
    let run =
        p.oci(&["build", "--target", "x86_64,aarch64", "--push", &format!("{h}/halfway:1"), "--tag", "2"]).success();
    assert!(run.stderr().contains("0 blob(s) uploaded"), "{}", run.stderr());
    let listed = attestations(&reg.host(), "halfway", "1");
    assert!(listed.iter().all(|(_, t)| *t == both()), "{listed:?}");
}

#[test]
fn immutable_tags_are_named_and_an_unchanged_tag_is_not_a_failure() {
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let proxy = Proxy::playing(reg.port, Quirks::ImmutableTags);
    let p = Project::bin("frozen", "hi");
    let dest = format!("{}/frozen:1", proxy.host());
    let push = |extra: &[&str]| {
        let mut args = vec!["build", "--target", "x86_64,aarch64", "--push", &dest];
        args.extend(extra);
        p.oci(&args)
    };
    let first = push(&[]).success();
    // The same image again: the registry refuses to touch `1`, which already is this image.
    let again = push(&[]).success();
    assert_eq!(first.stdout(), again.stdout());
    assert!(!proxy.requests(|r| r.refused == Some(400)).is_empty(), "the tag PUT was refused");

    // A new tag changes the provenance: its listing under `sha256-<digest>` cannot be rewritten.
    let run = push(&["--tag", "2"]).failure();
    let (err, hints) = run.error_and_hints();
    let h = proxy.host();
    assert_eq!(err, format!("error: the image is pushed ({h}/frozen:1, {h}/frozen:2); its attestations are not"));
    assert!(run.stderr().contains("refuses to move the tag `sha256-"), "{}", run.stderr());
    assert!(hints.iter().any(|h| h.contains("referrers API")), "{hints:?}");

    // Another image under an existing tag: refused, and named.
    std::fs::write(p.path().join("src/main.rs"), "fn main() { println!(\"changed\"); }\n").unwrap();
    let run = push(&[]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: failed to push to `{h}/frozen`"));
    assert!(
        run.stderr().contains("refuses to move the tag `1`: the repository's tags are immutable"),
        "{}",
        run.stderr()
    );
    assert!(hints.iter().any(|h| h.contains("new tag")), "{hints:?}");
}

#[test]
fn a_token_that_expires_during_an_upload_is_renewed_and_the_upload_starts_again() {
    let Some((reg, work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let bearer = Bearer { user: USER.into(), pass: PASS.into(), refresh: "unused".into(), ..Default::default() };
    let proxy = Proxy::start(reg.port, Some(bearer));
    let lay = work.path().join("lay");
    fake_image(&lay, "v1", &["x86_64", "aarch64"], "expiring");
    let env = OciEnv::new();
    env.docker_config(&auths_config(&proxy.host(), USER, PASS));
    // The first blob's body is refused as if its token had just expired.
    proxy.fail("PUT", "/blobs/uploads/", Fault::Status(401), 1);
    let dest = format!("{}/expiring:1", proxy.host());
    let run = env.run(&["push", &format!("oci:{}:v1", lay.display()), &dest], &[]).success();
    assert_eq!(proxy.pending_faults(), 0);
    assert!(run.stdout().starts_with(&format!("{dest}@sha256:")), "{}", run.stdout());
    let tokens = proxy.requests(|r| r.path.starts_with("/token")).len();
    assert_eq!(tokens, 2, "one token at the start, one when it expired");
    let index = skopeo_raw(&format!("docker://{}/expiring:1", reg.host()), &["--tls-verify=false".into()]);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}
