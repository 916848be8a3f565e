//! Registries: pull a two-platform base built by buildah, push with credentials from config
//! files, helpers and flags, over HTTP, a bearer-token proxy and TLS; faults, the cache, the
//! oci-archive output and Docker media types — all checked with skopeo, umoci, podman, ctr, qemu.

use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::registry_support::*;
use crate::support::*;

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The digest of what `skopeo inspect --raw` returns (byte-exact manifest bytes).
fn raw_digest(reference: &str, flags: &[String]) -> String {
    let mut args = vec!["inspect", "--raw"];
    args.extend(flags.iter().map(String::as_str));
    args.push(reference);
    sha256_of(&tool("skopeo", &args).out.stdout)
}

fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

fn platform_of(d: &serde_json::Value) -> String {
    format!("{}/{}", d["platform"]["os"].as_str().unwrap(), d["platform"]["architecture"].as_str().unwrap())
}

#[test]
fn registry_base_and_push_with_config_json_credentials_read_back_by_real_clients() {
    let Some((reg, work)) = registry_and(Kind::Htpasswd, &["buildah", "skopeo", "umoci", "qemu-aarch64-static"]) else {
        return;
    };
    let (h, flags) = (reg.host(), reg.client_flags(""));
    buildah_base(work.path(), &format!("docker://{h}/base:1"), "oci", &flags);
    let base_index = skopeo_raw(&format!("docker://{h}/base:1"), &flags);

    let env = OciEnv::new();
    env.docker_config(&auths_config(&h, USER, PASS));
    let app = Project::bin("app", "app");
    let run = app
        .oci_env(
            &["build", "--base", &format!("{h}/base:1"), "--push", &format!("{h}/app:1"), "--tag", "extra", "-v"],
            &env.vars(),
        )
        .success();
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let (pushed, digest) = lines[0].rsplit_once('@').unwrap();
    assert_eq!(pushed, format!("{h}/app:1"));
    let err = run.stderr();
    assert!(!err.contains(PASS) && !out.contains(PASS), "no secret in output\n{err}");
    assert!(err.contains(&format!("Base {h}/base:1 for linux/amd64: sha256:")), "-v names the base digest\n{err}");
    assert!(err.contains("2 mounted"), "both base layers mounted from the base repository\n{err}");

    // The index as the registry serves it, under both tags, with our digest.
    assert_eq!(raw_digest(&format!("docker://{h}/app:1"), &flags), digest);
    assert_eq!(raw_digest(&format!("docker://{h}/app:extra"), &flags), digest);
    let index = skopeo_raw(&format!("docker://{h}/app:1"), &flags);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = index["manifests"].as_array().unwrap().iter().map(platform_of).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for entry in index["manifests"].as_array().unwrap() {
        let base_entry =
            base_index["manifests"].as_array().unwrap().iter().find(|b| platform_of(b) == platform_of(entry)).unwrap();
        let base_digest = base_entry["digest"].as_str().unwrap();
        let base = skopeo_raw(&format!("docker://{h}/base@{base_digest}"), &flags);
        let ours = skopeo_raw(&format!("docker://{h}/app@{}", entry["digest"].as_str().unwrap()), &flags);
        let (bl, ol) = (layer_digests(&base), layer_digests(&ours));
        assert_eq!(&ol[..bl.len()], &bl[..], "{} starts with its base's layers", platform_of(entry));
        assert_eq!(ol.len(), bl.len() + 1);
        assert_eq!(ours["annotations"]["org.opencontainers.image.base.name"], format!("{h}/base:1"));
        assert_eq!(ours["annotations"]["org.opencontainers.image.base.digest"], base_digest);
    }

    // Pulled back by skopeo: the same digests, a valid layout, and the arm64 binary runs.
    let back = work.path().join("back");
    let mut copy = vec!["copy".to_string(), "-q".into(), "--all".into()];
    copy.extend(reg.client_flags("src-"));
    copy.extend([format!("docker://{h}/app:1"), format!("oci:{}:1", back.display())]);
    tool("skopeo", &copy.iter().map(String::as_str).collect::<Vec<_>>());
    let manifests = validate_layout(&back, "1");
    let entry = &read_json(&back.join("index.json"))["manifests"][0];
    assert_eq!(entry["digest"], digest, "identical index digest after a round trip");
    for (m, e) in manifests.iter().zip(index["manifests"].as_array().unwrap()) {
        assert_eq!(m.digest, e["digest"].as_str().unwrap());
        assert_eq!(m.config["config"]["User"], "65532:65532", "base config inherited");
        assert!(m.config["config"]["Env"].as_array().unwrap().iter().any(|e| e == "BASEVAR=from-base"));
    }
    let rootfs = unpack_platform(&back, "1", "arm64", work.path());
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/base-marker")).unwrap(), "base for arm64\n");
    let ran = tool("qemu-aarch64-static", &[rootfs.join("usr/local/bin/app").to_str().unwrap()]);
    assert_eq!(ran.stdout().trim(), "app aarch64");
}

#[test]
fn push_survives_a_dropped_upload_and_a_503_and_a_second_push_uploads_nothing() {
    let Some(reg) = Registry::start(Kind::Plain) else { return };
    if !have("skopeo") {
        return;
    }
    let proxy = Proxy::start(reg.port, None);
    let env = OciEnv::new();
    let app = Project::bin("pushme", "pushme");
    app.oci_env(&["build", "-o", "lay", "-q"], &env.vars()).success();
    let lay = app.path().join("lay");
    let want = read_json(&lay.join("index.json"))["manifests"][0]["digest"].as_str().unwrap().to_string();
    {
        let mut f = proxy.faults.lock().unwrap();
        f.drop_upload = true;
        f.unavailable = Some(("PUT".into(), "/manifests/".into()));
    }
    let src = format!("oci:{}:0.1.0", lay.display());
    let dest = format!("{}/pushme:1", proxy.host());
    // 64 KiB chunks: the binary layers go up in several PATCHes.
    let chunks = [("CARGO_OCI_CHUNK_SIZE", "65536")];
    let run = env.run(&["push", &src, &dest], &chunks).success();
    assert_eq!(run.stdout().trim(), format!("{dest}@{want}"));
    assert_eq!(*proxy.dropped.lock().unwrap(), 1, "one upload was cut off mid-body");
    assert!(proxy.faults.lock().unwrap().unavailable.is_none(), "the 503 was served");
    let patches = proxy.seen.lock().unwrap().iter().filter(|r| r.method == "PATCH").count();
    assert!(patches > 2, "chunked uploads used: {patches} PATCHes");

    let back = tempfile::tempdir().unwrap();
    let back_lay = back.path().join("back");
    skopeo_pull(&format!("{}/pushme:1", reg.host()), &back_lay, "1");
    let original = validate_layout(&lay, "0.1.0");
    let pulled = validate_layout(&back_lay, "1");
    assert_eq!(read_json(&back_lay.join("index.json"))["manifests"][0]["digest"], want.as_str());
    for (a, b) in original.iter().zip(&pulled) {
        assert_eq!((&a.digest, &a.layers), (&b.digest, &b.layers), "identical digests after the faults");
    }

    let uploads = proxy.uploads();
    let again = env.run(&["push", &src, &dest], &chunks).success();
    assert_eq!(proxy.uploads(), uploads, "a second push uploads no blob");
    assert!(again.stderr().contains("0 blob(s) uploaded"), "{}", again.stderr());
}

/// `docker-credential-testhelper`: records what it was asked, answers with `secret`.
fn write_helper(bin: &std::path::Path, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let helper = bin.join("docker-credential-testhelper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\necho \"$server\" >> {}\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"helper-user\",\"Secret\":\"{secret}\"}}'\n",
            bin.join("asked").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn bearer_tokens_with_credentials_from_a_credential_helper() {
    let Some(reg) = Registry::start(Kind::Plain) else { return };
    if !(have("buildah") && have("skopeo")) {
        return;
    }
    let proxy = Proxy::start(
        reg.port,
        Some(Bearer {
            user: "helper-user".into(),
            pass: "helper-pass".into(),
            refresh: "refresh-xyz".into(),
            ..Default::default()
        }),
    );
    let work = tempfile::tempdir().unwrap();
    let lay = work.path().join("lay");
    buildah_base(work.path(), &format!("oci:{}:b1", lay.display()), "oci", &[]);
    let env = OciEnv::new();
    let bin = env.dir.path().join("bin");
    write_helper(&bin, "helper-pass");
    // credHelpers wins over a stale `auths` entry, as in docker.
    let mut config = auths_config(&proxy.host(), "stale", "stale");
    config["credHelpers"] = serde_json::json!({ proxy.host(): "testhelper" });
    env.docker_config(&config);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let src = format!("oci:{}:b1", lay.display());
    let dest = format!("{}/base:1", proxy.host());

    let run = env.run(&["push", &src, &dest], &[("PATH", &path)]).success();
    assert!(run.stdout().starts_with(&format!("{dest}@sha256:")), "{}", run.stdout());
    assert_eq!(std::fs::read_to_string(bin.join("asked")).unwrap().trim(), proxy.host(), "helper asked once");
    let seen = proxy.seen.lock().unwrap().clone();
    let token = seen.iter().find(|r| r.path.starts_with("/token")).expect("a token was requested");
    assert!(token.path.contains("scope=repository%3Abase%3Apull%2Cpush"), "scoped to the repository: {}", token.path);
    assert!(token.path.contains("service=test-registry"), "{}", token.path);
    assert!(token.authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")));
    assert!(seen.iter().any(|r| r.authorization.as_deref() == Some("Bearer test-token") && r.method == "PUT"));
    let index = skopeo_raw(&format!("docker://{}/base:1", reg.host()), &["--tls-verify=false".into()]);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);

    // An identity token (as `docker login` stores for OAuth registries) is traded for an access token.
    env.docker_config(&serde_json::json!({"auths": {proxy.host(): {"identitytoken": "refresh-xyz"}}}));
    env.run(&["push", &src, &format!("{}/viatoken:1", proxy.host())], &[]).success();
    let grants =
        proxy.seen.lock().unwrap().iter().filter(|r| r.method == "POST" && r.path.starts_with("/token")).count();
    assert_eq!(grants, 1, "one refresh-token grant");
    env.docker_config(&config);

    // The helper hands out a wrong secret: one clear error, exit 1, the secret nowhere.
    write_helper(&bin, "Wrong-Secret-4711");
    let run = env.run(&["push", &src, &format!("{}/other:1", proxy.host())], &[("PATH", &path)]).failure();
    assert_eq!(run.out.status.code(), Some(1));
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: failed to push to `{}/other`", proxy.host()));
    assert!(run.stderr().contains("refused the credentials"), "{}", run.stderr());
    assert!(hints.iter().any(|h| h.contains("credential helper")), "{hints:?}");
    assert!(!run.stderr().contains("Wrong-Secret-4711") && !run.stdout().contains("Wrong-Secret-4711"));
}

#[test]
fn tls_registry_with_a_private_ca_and_basic_auth() {
    let Some((reg, work)) = registry_and(Kind::Tls, &["buildah", "skopeo"]) else { return };
    let lay = work.path().join("lay");
    buildah_base(work.path(), &format!("oci:{}:b1", lay.display()), "oci", &[]);
    let env = OciEnv::new();
    let src = format!("oci:{}:b1", lay.display());
    let dest = format!("{}/tls:1", reg.host());
    let ca = reg.ca.clone().unwrap();
    let creds = format!("{USER}:{PASS}");

    let run = env.run(&["push", &src, &dest, "--creds", &creds], &[]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: failed to push to `{}/tls`", reg.host()));
    assert!(run.stderr().contains("certificate"), "{}", run.stderr());
    assert!(hints.iter().any(|h| h.contains("--ca-cert")), "{hints:?}");

    let wrong = format!("{USER}:Not-The-Pass-99");
    let run = env.run(&["push", &src, &dest, "--ca-cert", ca.to_str().unwrap(), "--creds", &wrong], &[]).failure();
    run.error_and_hints();
    let caused = format!("Caused by:\n  {} refused the credentials for repository:tls:pull,push", reg.host());
    assert!(run.stderr().contains(&caused), "{}", run.stderr());
    assert!(!run.stderr().contains("Not-The-Pass-99"), "{}", run.stderr());

    let run = env.run(&["push", &src, &dest, "--ca-cert", ca.to_str().unwrap(), "--creds", &creds], &[]).success();
    let digest = run.stdout().trim().rsplit_once('@').unwrap().1.to_string();
    assert!(!run.stderr().contains(PASS));
    assert_eq!(raw_digest(&format!("docker://{dest}"), &reg.client_flags("")), digest);
}

#[test]
fn a_digest_pinned_base_works_offline_and_corrupt_cache_entries_are_refetched() {
    let Some((mut reg, work)) = registry_and(Kind::Plain, &["buildah", "skopeo"]) else { return };
    let h = reg.host();
    let flags = reg.client_flags("");
    buildah_base(work.path(), &format!("docker://{h}/base:1"), "oci", &flags);
    let pinned = format!("{h}/base@{}", raw_digest(&format!("docker://{h}/base:1"), &flags));
    let env = OciEnv::new();
    let app = Project::bin("offline", "offline");
    let build = |out: &str| {
        let run = app.oci_env(&["build", "--base", &pinned, "-o", out, "-q"], &env.vars()).success();
        run.stdout().trim().rsplit_once('@').unwrap().1.to_string()
    };
    let first = build("lay1");
    let base_layer = validate_layout(&app.path().join("lay1"), "0.1.0")[0].layers[0].clone();
    let cached = blob_path(&env.cache(), &base_layer);
    assert!(cached.is_file(), "base layers are cached");
    std::fs::write(&cached, b"not the layer").unwrap();

    assert_eq!(build("lay2"), first, "same image from a refetched layer");
    assert_eq!(sha256_of(&std::fs::read(&cached).unwrap()), base_layer, "the corrupt entry was replaced");
    validate_layout(&app.path().join("lay2"), "0.1.0");

    let run = app.oci_env(&["build", "--base", &pinned, "--target", "i686", "-o", "lay9"], &env.vars()).failure();
    let (err, _) = run.error_and_hints();
    assert_eq!(err, format!("error: base `{pinned}` has no image for linux/386; it has: linux/amd64, linux/arm64"));

    reg.stop();
    assert_eq!(build("lay3"), first, "a pinned, cached base needs no registry");
    let run = app.oci_env(&["build", "--base", &format!("{h}/base:1"), "-o", "lay4"], &env.vars()).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: failed to pull `{h}/base:1`"));
    // The probe that picks HTTPS or plain HTTP finds nothing there, and says so (a refused
    // connection is not retried: nothing listens).
    assert!(run.stderr().contains(&format!("cannot reach {h} over HTTPS or plain HTTP")), "{}", run.stderr());
    assert!(run.stderr().contains(&format!("http://{h}/v2/")), "{}", run.stderr());
    assert!(hints.iter().any(|h| h.contains("reachable")), "{hints:?}");
}

#[test]
fn tar_output_is_accepted_by_skopeo_podman_and_ctr() {
    if !(have("skopeo") && have("podman") && have("containerd") && have("ctr")) {
        return;
    }
    let app = Project::bin("tarred", "tarred");
    let run = app.oci(&["build", "--tar", "img.tar", "-q"]).success();
    let tar = app.path().join("img.tar");
    let (shown, digest) = run.stdout().trim().rsplit_once('@').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    assert_eq!(shown, format!("oci-archive:{}:0.1.0", tar.display()));
    assert!(!app.path().join("target/oci/tarred").exists(), "--tar alone writes no layout");
    let archive = format!("oci-archive:{}", tar.display());
    assert_eq!(raw_digest(&archive, &[]), digest);

    let storage = tempfile::tempdir().unwrap();
    let loaded = podman(storage.path(), &["load", "-i", tar.to_str().unwrap()]).success();
    let name = loaded.stdout().lines().find_map(|l| l.strip_prefix("Loaded image: ").map(String::from)).unwrap();
    let mut args = vec!["run", "--rm"];
    args.extend(PODMAN_ULIMITS);
    args.push(&name);
    assert_eq!(podman(storage.path(), &args).success().stdout().trim(), "tarred x86_64");

    let ctrd = tempfile::tempdir().unwrap();
    let c = Containerd::start(ctrd.path());
    // Named by the archive's `io.containerd.image.name` (see load.rs for the names in detail).
    c.ctr(&["images", "import", "--all-platforms", tar.to_str().unwrap()]).success();
    let listed = c.ctr(&["images", "ls"]).success().stdout();
    let line =
        listed.lines().find(|l| l.starts_with("docker.io/library/tarred:0.1.0")).unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(&digest) && line.contains("linux/amd64,linux/arm64"), "{line}");
}

/// Every manifest of the pushed image is of the Docker v2 schema 2 family; so is the list when
/// `docker_list` (`--media-types docker`), else it is an OCI index (which may list any manifest).
fn assert_docker_types(reference: &str, docker_list: bool) {
    let flags = ["--tls-verify=false".to_string()];
    let list = skopeo_raw(&format!("docker://{reference}"), &flags);
    if docker_list {
        assert_eq!(list["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
        assert!(list.get("annotations").is_none());
    } else {
        assert_eq!(list["mediaType"], "application/vnd.oci.image.index.v1+json");
    }
    let repo = reference.rsplit_once(':').unwrap().0;
    for d in list["manifests"].as_array().unwrap() {
        assert_eq!(d["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
        let m = skopeo_raw(&format!("docker://{repo}@{}", d["digest"].as_str().unwrap()), &flags);
        assert_eq!(m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
        assert_eq!(m["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
        for l in m["layers"].as_array().unwrap() {
            assert_eq!(l["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip", "{m}");
        }
    }
}

#[test]
fn docker_media_types_on_request_and_from_a_docker_base() {
    let Some((reg, work)) = registry_and(Kind::Plain, &["buildah", "skopeo"]) else { return };
    let h = reg.host();
    buildah_base(work.path(), &format!("docker://{h}/based:1"), "v2s2", &reg.client_flags(""));
    let env = OciEnv::new();
    let app = Project::bin("dock", "dock");
    app.oci_env(&["build", "--media-types", "docker", "--push", &format!("{h}/dock:1"), "-q"], &env.vars()).success();
    assert_docker_types(&format!("{h}/dock:1"), true);
    app.oci_env(&["build", "--base", &format!("{h}/based:1"), "--push", &format!("{h}/dock:2"), "-q"], &env.vars())
        .success();
    // A Docker-typed base keeps Docker types in each manifest; the index stays OCI (readable from
    // a layout by skopeo; `--media-types docker` makes it a Docker list).
    assert_docker_types(&format!("{h}/dock:2"), false);
    // Registry → registry: layers stream through, nothing lands in the cache, digests stay.
    let Some(other) = Registry::start(Kind::Plain) else { return };
    let run = env.run(&["push", &format!("{h}/dock:2"), &format!("{}/copy:2", other.host())], &[]).success();
    let want = raw_digest(&format!("docker://{h}/dock:2"), &["--tls-verify=false".into()]);
    assert_eq!(run.stdout().trim(), format!("{}/copy:2@{want}", other.host()));
    assert_docker_types(&format!("{}/copy:2", other.host()), false);
    let cached: Vec<_> =
        std::fs::read_dir(env.cache().join("blobs/sha256")).map(|d| d.flatten().collect()).unwrap_or_default();
    let big = cached.iter().filter(|e| e.metadata().unwrap().len() > 100_000).count();
    assert_eq!(big, 0, "no binary layer was written to the cache on the way");
    // The pull of a Docker list by a Docker client-alike works too.
    let st = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--override-arch", "arm64", &format!("docker://{h}/dock:2")])
        .output()
        .unwrap();
    assert!(st.status.success() && String::from_utf8_lossy(&st.stdout).contains("\"Architecture\": \"arm64\""));
}
