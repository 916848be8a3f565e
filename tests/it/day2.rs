//! Day 2 (issue 14): `init = true` puts cargo-oci's init for PID 1 in front of the service
//! (built from templates/pid1 per target, one layer per target), and a plan without it warns
//! when the binary handles no signal; `stop-signal` and `volumes` reach the image config.
//! Checked with podman (a real `podman stop`) and skopeo.

use std::path::Path;

use crate::support::*;

const INIT: &str = "/usr/local/bin/cargo-oci-init";

/// `examples/hello` (no SIGTERM handler) with `extra` appended to its Cargo.toml.
fn hello_with(extra: &str) -> Project {
    let p = Project::example("hello");
    let manifest = std::fs::read_to_string(p.path().join("Cargo.toml")).unwrap();
    p.file("Cargo.toml", &format!("{manifest}\n{extra}"))
}

#[test]
fn init_true_runs_hello_behind_the_init_and_podman_stop_ends_it_with_143() {
    let p = hello_with("[package.metadata.oci]\ninit = true\n");
    let target = Project::cache_dir("day2-hello");
    let build = |out: &str| {
        let run = p.oci_in(&target, &["build", "--target", "x86_64,aarch64", "-o", out, "-q"]);
        parse_built(&run.success().stdout())
    };
    let first = build("lay");
    // Same source, same digest: the init's build is as reproducible as the service's.
    assert_eq!(build("again").digest, first.digest, "the same digest twice");

    let manifests = validate_layout(&first.layout, &first.tag);
    assert_eq!(manifests.len(), 2);
    for m in &manifests {
        let cfg = &m.config["config"];
        assert_eq!(cfg["Entrypoint"], serde_json::json!([INIT, "--", "/usr/local/bin/hello"]), "{}", m.platform);
        // base, init, binaries: the init is the bottom of our layers.
        assert_eq!(m.layers.len(), 3, "{}", m.platform);
        let history = m.config["history"][1]["created_by"].as_str().unwrap();
        assert!(history.contains("init for PID 1"), "{history}");
    }
    assert_ne!(manifests[0].layers[1], manifests[1].layers[1], "one init per target");

    // Another image of the same target shares the init's layer (the same bytes, one blob).
    let other = Project::bin("other", "hi").file(
        "Cargo.toml",
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n[package.metadata.oci]\ninit = true\n",
    );
    let o = parse_built(
        &other
            .oci_in(&Project::cache_dir("day2-other"), &["build", "--target", "x86_64", "-o", "lay", "-q"])
            .success()
            .stdout(),
    );
    let other_amd64 = validate_layout(&o.layout, &o.tag);
    let hello_amd64 = manifests.iter().find(|m| m.platform == "linux/amd64").unwrap();
    assert_eq!(other_amd64[0].layers[1], hello_amd64.layers[1], "one init layer for every image of a target");

    // The plan says so, and does not warn: the init forwards SIGTERM.
    let plan = p.oci_in(&target, &["plan", "--target", "x86_64"]).success();
    assert!(plan.stdout().contains(&format!("init        {INIT}")), "{}", plan.stdout());
    assert!(!plan.stderr().contains("warning"), "{}", plan.stderr());

    if !(have("podman") && have("runc")) {
        return;
    }
    let work = Project::empty();
    let storage = work.path().join("podman");
    let image = format!("oci:{}:{}", first.layout.display(), first.tag);
    let container = podman_run_detached(&storage, &image, "listening on 0.0.0.0:8080");
    let name = container.name.clone();
    let top = podman(&storage, &["top", &name, "pid", "args"]).success().stdout();
    assert!(
        top.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", INIT, "--", "/usr/local/bin/hello"]),
        "{top}"
    );

    podman(&storage, &["stop", "-t", "8", &name]).success();
    // 143 = 128 + SIGTERM: the init passed SIGTERM on and the service died of it. Without the
    // init, hello ignores SIGTERM as PID 1, podman kills it after 8 s and the status is 137.
    let status = podman(&storage, &["inspect", "--format", "{{.State.ExitCode}}", &name]).success().stdout();
    assert_eq!(status.trim(), "143", "not 137 (SIGKILL after the timeout)");
}

#[test]
fn without_init_the_plan_warns_that_the_binary_ignores_sigterm_and_names_init_true() {
    let p = Project::example("hello");
    let plan = p.oci(&["plan", "--target", "x86_64,aarch64"]).success();
    let err = plan.stderr();
    assert!(err.contains("warning: image `hello` (linux/amd64, linux/arm64)"), "{err}");
    assert!(err.contains("ignore SIGTERM"), "{err}");
    assert!(err.contains("hint: add `init = true` to [package.metadata.oci] (or build with `--init`)"), "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&p.oci(&["plan", "--target", "x86_64", "--message-format", "json"]).success().stdout())
            .unwrap();
    assert!(json["warnings"][0]["hint"].as_str().unwrap().contains("init = true"), "{json}");

    // `--init` silences it, and so does a crate that handles signals (a path crate named
    // signal-hook: the plan goes by the resolved graph, for that target).
    assert!(!p.oci(&["plan", "--target", "x86_64", "--init"]).success().stderr().contains("warning"));
    let handled = Project::empty()
        .file(
            "Cargo.toml",
            "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\nsignal-hook = { path = \"sh\" }\n[workspace]\n",
        )
        .file("src/main.rs", "fn main() {}\n")
        .file("sh/Cargo.toml", "[package]\nname = \"signal-hook\"\nversion = \"0.3.0\"\nedition = \"2021\"\n")
        .file("sh/src/lib.rs", "");
    let quiet = handled.oci(&["plan", "--target", "x86_64"]).success();
    assert!(!quiet.stderr().contains("warning"), "{}", quiet.stderr());
}

#[test]
fn stop_signal_and_volumes_reach_the_image_config() {
    let p = Project::bin("vols", "hi").file(
        "Cargo.toml",
        "[package]\nname = \"vols\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
         [package.metadata.oci]\nstop-signal = \"int\"\nvolumes = [\"/data\", \"/var//cache/\"]\n",
    );
    let built = parse_built(&p.oci(&["build", "--target", "x86_64", "-o", "lay", "-q"]).success().stdout());
    let cfg = &validate_layout(&built.layout, &built.tag)[0].config["config"];
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}, "/var/cache": {}}));
    // The flags win over Cargo.toml.
    let built = parse_built(
        &p.oci(&["build", "--target", "x86_64", "-o", "lay2", "-q", "--stop-signal", "SIGQUIT", "--volume", "/srv"])
            .success()
            .stdout(),
    );
    if have("skopeo") {
        let oci_ref = format!("oci:{}:{}", built.layout.display(), built.tag);
        let cfg: serde_json::Value =
            serde_json::from_str(&tool("skopeo", &["inspect", "--config", &oci_ref]).stdout()).unwrap();
        assert_eq!(cfg["config"]["StopSignal"], "SIGQUIT");
        assert_eq!(cfg["config"]["Volumes"], serde_json::json!({"/srv": {}}));
    }

    let bad = Project::bin("bad", "hi").file(
        "Cargo.toml",
        "[package]\nname = \"bad\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
         [package.metadata.oci]\nstop-signal = \"SIGSTOPP\"\n",
    );
    let (error, hints) = bad.oci(&["plan"]).failure().error_and_hints();
    assert!(error.contains("`package.metadata.oci.stop-signal` at"), "{error}");
    assert!(error.contains(":7 is invalid: `SIGSTOPP` is not a signal"), "{error}");
    assert_eq!(hints, ["hint: e.g. `stop-signal = \"SIGINT\"` (a name, with or without SIG, or a number)"]);
    let (error, _) = p.oci(&["plan", "--volume", "data"]).failure().error_and_hints();
    assert_eq!(error, "error: `--volume` is invalid: `data` is not an absolute path");
}

/// A crate with a normal, a build, a dev and an aarch64-only dependency (path crates: no
/// network), so the list can be told apart per target and per kind.
fn with_dependencies() -> Project {
    let lib = |name: &str| {
        (
            format!("{name}/Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.2.0\"\nedition = \"2021\"\n"),
        )
    };
    let mut p = Project::empty()
        .file(
            "Cargo.toml",
            "[package]\nname = \"svc\"\nversion = \"1.0.0\"\nedition = \"2021\"\n[workspace]\n\
             [dependencies]\nalpha = { path = \"alpha\" }\n[build-dependencies]\nbdep = { path = \"bdep\" }\n\
             [dev-dependencies]\ndevdep = { path = \"devdep\" }\n\
             [target.'cfg(target_arch = \"aarch64\")'.dependencies]\narmonly = { path = \"armonly\" }\n",
        )
        .file("src/main.rs", "fn main() { println!(\"{}\", alpha::NAME); }\n")
        .file("build.rs", "fn main() {}\n")
        .file("alpha/src/lib.rs", "pub const NAME: &str = \"alpha\";\n");
    for name in ["alpha", "bdep", "devdep", "armonly"] {
        let (path, manifest) = lib(name);
        p = p.file(&path, &manifest);
        if name != "alpha" {
            p = p.file(&format!("{name}/src/lib.rs"), "");
        }
    }
    p
}

/// `rust-audit-info` on the binary at `path` in `arch`'s rootfs of the image: (name, kind) pairs.
fn audit_info(built: &BuiltRef, arch: &str, path: &str, work: &Path) -> Result<Vec<(String, String)>, String> {
    let dir = work.join(format!("{arch}-{}", &built.digest[7..19]));
    let rootfs = dir.join(format!("bundle-{arch}/rootfs"));
    if !rootfs.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        unpack_platform(&built.layout, &built.tag, arch, &dir);
    }
    let out =
        std::process::Command::new("rust-audit-info").arg(rootfs.join(path.trim_start_matches('/'))).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["kind"].as_str().unwrap_or("runtime").to_string()))
        .collect())
}

#[test]
fn binaries_carry_their_dependency_list_for_scanners_unless_turned_off() {
    if !(have("rust-audit-info") && have("skopeo") && have("umoci")) {
        return;
    }
    let p = with_dependencies();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec!["build", "--target", "x86_64,aarch64", "-o", out, "-q"];
        args.extend(extra);
        parse_built(&p.oci(&args).success().stdout())
    };
    let first = build("lay", &["--init"]);
    assert_eq!(build("again", &["--init"]).digest, first.digest, "the same digest twice");
    let work = Project::empty();
    let pair = |n: &str, k: &str| (n.to_string(), k.to_string());
    let amd64 = audit_info(&first, "amd64", "/usr/local/bin/svc", work.path()).unwrap();
    assert_eq!(amd64, [pair("alpha", "runtime"), pair("bdep", "build"), pair("svc", "runtime")]);
    let arm64 = audit_info(&first, "arm64", "/usr/local/bin/svc", work.path()).unwrap();
    assert_eq!(
        arm64,
        [pair("alpha", "runtime"), pair("armonly", "runtime"), pair("bdep", "build"), pair("svc", "runtime")]
    );
    // The init is ours, not the service's: it gets no list.
    assert!(audit_info(&first, "amd64", INIT, work.path()).is_err());

    // Off: no section, another digest; the plan says which.
    let off = build("off", &["--init", "--no-auditable"]);
    assert_ne!(off.digest, first.digest);
    let error = audit_info(&off, "amd64", "/usr/local/bin/svc", work.path()).unwrap_err();
    assert!(error.contains("No audit data found in the binary"), "{error}");
    assert!(p.oci(&["plan", "--target", "x86_64"]).success().stdout().contains("auditable   dependency list"));
    assert!(p.oci(&["plan", "--target", "x86_64", "--no-auditable"]).success().stdout().contains("auditable   off"));
    let manifest = std::fs::read_to_string(p.path().join("Cargo.toml")).unwrap();
    let off_in_toml = p.file("Cargo.toml", &format!("{manifest}\n[package.metadata.oci]\nauditable = false\n"));
    assert!(off_in_toml.oci(&["plan", "--target", "x86_64"]).success().stdout().contains("auditable   off"));
}

/// The digest of what `reference` (on a plain-HTTP registry) points at, from its raw bytes.
fn registry_digest(reference: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("sha256:{}", sha256_hex(&out.stdout))
}

/// A one-package workspace building for x86_64 on `base`.
fn lock_manifest(base: &str) -> String {
    format!(
        "[package]\nname = \"pinned\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
         [package.metadata.oci]\nbase = \"{base}\"\ntargets = [\"x86_64\"]\n"
    )
}

/// Builds into `out` and returns the base the image names: its `base.name` and `base.digest`.
fn built_base(p: &Project, env: &crate::registry_support::OciEnv, out: &str) -> (String, String) {
    let built = parse_built(&p.oci_env(&["build", "-o", out, "-q"], &env.vars()).success().stdout());
    let m = &validate_layout(&built.layout, &built.tag)[0].manifest;
    let a = &m["annotations"];
    (
        a["org.opencontainers.image.base.name"].as_str().unwrap().to_string(),
        a["org.opencontainers.image.base.digest"].as_str().unwrap().to_string(),
    )
}

/// The project's `oci.lock`.
fn read_lock(p: &Project) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(p.path().join("oci.lock")).unwrap()).unwrap()
}

#[test]
fn oci_lock_pins_bases_until_updated_and_locked_refuses_a_stale_lock() {
    use crate::registry_support::*;
    let Some((reg, work)) = registry_and(Kind::Plain, &["skopeo", "buildah", "umoci"]) else { return };
    let h = reg.host();
    buildah_base(work.path(), &format!("docker://{h}/base:1"), "oci", &reg.client_flags(""));
    let first = registry_digest(&format!("{h}/base:1"));
    let manifest = lock_manifest;
    let p = Project::bin("pinned", "hi").file("Cargo.toml", &manifest(&format!("{h}/base:1")));
    let env = OciEnv::new();
    let oci = |args: &[&str]| p.oci_env(args, &env.vars());
    let base_of = |out: &str| built_base(&p, &env, out);
    let read_lock = || read_lock(&p);

    // Lock: the index digest the tag points at, and the amd64 manifest under it.
    let locked = oci(&["lock"]).success();
    assert_eq!(locked.stdout().trim(), p.path().join("oci.lock").display().to_string());
    let entry = read_lock()["base"][&format!("{h}/base:1")].clone();
    assert_eq!(entry["index"].as_str().unwrap(), first);
    let amd64 = entry["platforms"]["linux/amd64"].as_str().unwrap().to_string();
    assert!(entry["platforms"].get("linux/arm64").is_none(), "only the platforms built: {entry}");
    let plan = oci(&["plan"]).success().stdout();
    assert!(plan.contains(&format!("linux/amd64 on {h}/base:1@{first} (locked by oci.lock)")), "{plan}");

    // The tag moves (skopeo copies another image over it): the build keeps the locked base.
    let other = work.path().join("other");
    fake_image(&other, "x", &["amd64"], "another base");
    let to = format!("docker://{h}/base:1");
    tool("skopeo", &["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:x", other.display()), &to]);
    let moved = registry_digest(&format!("{h}/base:1"));
    assert_ne!(moved, first);
    assert_eq!(base_of("lay"), (format!("{h}/base:1@{first}"), amd64.clone()), "still the locked base");
    // `--locked` is satisfied by the lock even though the tag moved (as with Cargo.lock).
    oci(&["build", "-o", "lay", "-q", "--locked"]).success();

    // `lock --update` moves it, and the build follows.
    let updated = oci(&["lock", "--update"]).success();
    assert!(updated.stderr().contains(&format!("Updating {h}/base:1 {first} -> {moved}")), "{}", updated.stderr());
    assert_eq!(read_lock()["base"][&format!("{h}/base:1")]["index"].as_str().unwrap(), moved);
    let (name, digest) = base_of("lay2");
    assert_eq!(name, format!("{h}/base:1@{moved}"));
    assert_ne!(digest, amd64);
    // With the registry gone, the locked base comes from the cache: `--offline` builds.
    let mut reg = reg;
    reg.stop();
    let offline = parse_built(&oci(&["build", "-o", "lay3", "-q", "--offline", "--locked"]).success().stdout());
    assert_eq!(offline.digest, parse_built(&oci(&["build", "-o", "lay2", "-q"]).success().stdout()).digest);
    let (error, hints) = oci(&["lock", "--update", "nope:1"]).failure().error_and_hints();
    assert!(error.contains("`--update nope:1` names no registry or layout base of this workspace"), "{error}");
    assert_eq!(hints, [format!("hint: its bases, as oci.lock names them: {h}/base:1")]);

    // A base the lock does not know: `--locked` refuses, naming the fix; without it, the tag.
    let p = p.file("Cargo.toml", &manifest(&format!("{h}/base:2")));
    let (error, hints) = p.oci_env(&["build", "-q", "--locked"], &env.vars()).failure().error_and_hints();
    assert!(error.contains("is stale: base `") && error.contains("/base:2` for linux/amd64 is not locked"), "{error}");
    assert_eq!(
        hints,
        ["hint: lock the bases (and commit oci.lock): `cargo oci lock`, then build with `--locked` again"]
    );
    std::fs::remove_file(p.path().join("oci.lock")).unwrap();
    let (error, _) = p.oci_env(&["plan", "--locked"], &env.vars()).failure().error_and_hints();
    assert!(error.contains("oci.lock` does not exist"), "{error}");
    let plan = p.oci_env(&["plan"], &env.vars()).success().stdout();
    assert!(plan.contains(&format!("linux/amd64 on {h}/base:2 (tag, resolved when built)")), "{plan}");
}

/// The digest `tag` names in the layout at `dir` (its `index.json` entry).
fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let entry = entries.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag).unwrap();
    entry["digest"].as_str().unwrap().to_string()
}

#[test]
fn oci_lock_pins_layout_bases_by_their_path_in_the_workspace() {
    use crate::registry_support::OciEnv;
    if !have("skopeo") {
        return;
    }
    let p = Project::bin("pinned", "hi").file("Cargo.toml", &lock_manifest("oci:bases/base:1"));
    let layout = p.path().join("bases/base");
    fake_image(&layout, "1", &["amd64"], "first base");
    let first = layout_digest(&layout, "1");
    let env = OciEnv::new();
    let oci = |args: &[&str]| p.oci_env(args, &env.vars());
    let abs = format!("oci:{}:1", layout.display());

    // Locked under the path inside the workspace, so the file reads the same on every checkout.
    oci(&["lock"]).success();
    let entry = read_lock(&p)["base"]["oci:bases/base:1"].clone();
    assert_eq!(entry["index"].as_str().unwrap(), first, "{entry}");
    let amd64 = entry["platforms"]["linux/amd64"].as_str().unwrap().to_string();
    assert!(oci(&["plan"]).success().stdout().contains(&format!("linux/amd64 on {abs}@{first} (locked by oci.lock)")));

    // Another image under the same tag of the same layout: skopeo (1.9) re-points the tag and
    // keeps the old index as an untagged entry. The build keeps the locked one.
    let other = p.path().join("other");
    fake_image(&other, "x", &["amd64"], "second base");
    tool("skopeo", &["copy", "-q", &format!("oci:{}:x", other.display()), &format!("oci:{}:1", layout.display())]);
    let moved = layout_digest(&layout, "1");
    assert_ne!(moved, first);
    assert_eq!(built_base(&p, &env, "lay"), (format!("{abs}@{first}"), amd64.clone()), "still the locked base");
    oci(&["build", "-o", "lay", "-q", "--locked"]).success();

    // The locked bytes gone from the layout (removed by hand or by another tool's cleanup): one
    // error, and the fix.
    let blob = layout.join("blobs/sha256").join(first.strip_prefix("sha256:").unwrap());
    let saved = std::fs::read(&blob).unwrap();
    std::fs::remove_file(&blob).unwrap();
    let (error, hints) = oci(&["build", "-o", "lay", "-q"]).failure().error_and_hints();
    assert!(
        error.contains(&format!("`{abs}@{first}` is locked to {first}, which the layout no longer holds")),
        "{error}"
    );
    assert!(hints[0].contains("`cargo oci lock --update`"), "{hints:?}");
    // A flipped byte in it: refused, naming the file, not read as the locked base.
    let mut flipped = saved.clone();
    flipped[0] ^= 1;
    std::fs::write(&blob, flipped).unwrap();
    let (error, _) = oci(&["build", "-o", "lay", "-q"]).failure().error_and_hints();
    assert!(error.contains(&blob.display().to_string()) && error.contains(&first), "{error}");
    std::fs::write(&blob, saved).unwrap();

    // `lock --update` moves it, and the build follows.
    let updated = oci(&["lock", "--update", "oci:bases/base:1"]).success();
    assert!(
        updated.stderr().contains(&format!("Updating oci:bases/base:1 {first} -> {moved}")),
        "{}",
        updated.stderr()
    );
    let (name, digest) = built_base(&p, &env, "lay2");
    assert_eq!(name, format!("{abs}@{moved}"));
    assert_ne!(digest, amd64);

    // Another tag the lock does not list: `--locked` refuses; without it, the tag.
    fake_image(&layout, "2", &["amd64"], "third base");
    let p = p.file("Cargo.toml", &lock_manifest("oci:bases/base:2"));
    let (error, _) = p.oci_env(&["build", "-q", "--locked"], &env.vars()).failure().error_and_hints();
    assert!(error.contains("is stale: base `oci:bases/base:2` for linux/amd64 is not locked"), "{error}");
    let plan = p.oci_env(&["plan"], &env.vars()).success().stdout();
    assert!(plan.contains(&format!("linux/amd64 on oci:{}:2 (tag, resolved when built)", layout.display())), "{plan}");
}

#[test]
fn rebase_moves_our_layers_onto_another_base_and_refuses_one_the_binary_does_not_fit() {
    use crate::registry_support::buildah_base_marked;
    if !(have("buildah") && have("skopeo") && have("umoci") && have("qemu-aarch64-static")) {
        return;
    }
    let work = Project::empty();
    let w = work.path();
    let (a, b) = (w.join("base-a"), w.join("base-b"));
    for d in ["ba", "bb"] {
        std::fs::create_dir_all(w.join(d)).unwrap();
    }
    buildah_base_marked(&w.join("ba"), &format!("oci:{}:1", a.display()), "oci", &[], "old");
    buildah_base_marked(&w.join("bb"), &format!("oci:{}:1", b.display()), "oci", &[], "new");
    let manifest = format!(
        "[package]\nname = \"reb\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
         [package.metadata.oci]\nbase = \"oci:{}:1\"\ntargets = [\"x86_64\", \"aarch64\"]\n",
        a.display()
    );
    let p = Project::bin("reb", "hi").file("Cargo.toml", &manifest);
    let built = parse_built(&p.oci(&["build", "-o", "lay", "-t", "1", "-q"]).success().stdout());
    let before = validate_layout(&built.layout, "1");

    let rebase = |image: &str, base: &Path, out: &str| {
        let args = ["rebase", image, "--base", &format!("oci:{}:1", base.display()), "-o", out, "-t", "1", "-q"];
        parse_built(&p.oci(&args).success().stdout())
    };
    let moved = rebase(&format!("oci:{}:1", built.layout.display()), &b, "moved");
    let after = validate_layout(&moved.layout, "1");
    assert_eq!(after.len(), 2);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.platform, new.platform);
        // Our layer, byte for byte; the base's layer is the new base's.
        assert_eq!(new.layers.last(), old.layers.last(), "{}", new.platform);
        assert_ne!(new.layers[0], old.layers[0]);
        assert_eq!(new.layers.len(), 2);
        assert_eq!(new.manifest["annotations"]["org.opencontainers.image.base.name"], format!("oci:{}:1", b.display()));
        assert_eq!(new.config["config"]["Entrypoint"], old.config["config"]["Entrypoint"]);
    }
    // The SBOMs come along, about the new manifests, the same documents; the provenance too, as a
    // statement about the new manifest that records the rebase.
    let sboms = |lay: &Path| {
        let mut v: Vec<(String, String)> = referrers(lay, "application/spdx+json")
            .into_iter()
            .map(|(subject, m, _)| (subject, m["layers"][0]["digest"].as_str().unwrap().to_string()))
            .collect();
        v.sort();
        v
    };
    let (old_sboms, new_sboms) = (sboms(&built.layout), sboms(&moved.layout));
    let mut new_subjects: Vec<String> = after.iter().map(|m| m.digest.clone()).collect();
    new_subjects.sort();
    assert_eq!(new_sboms.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), new_subjects);
    let docs = |v: &[(String, String)]| {
        let mut d: Vec<String> = v.iter().map(|(_, d)| d.clone()).collect();
        d.sort();
        d
    };
    assert_eq!(docs(&new_sboms), docs(&old_sboms), "the same SBOM documents");
    let statements = |lay: &Path| {
        let mut v: Vec<(String, serde_json::Value)> =
            referrers(lay, "application/vnd.in-toto+json").into_iter().map(|(s, _, doc)| (s, doc)).collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    let (built_provenance, moved_provenance) = (statements(&built.layout), statements(&moved.layout));
    assert_eq!(built_provenance.len(), 2, "the build attests each platform");
    assert_eq!(moved_provenance.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), new_subjects);
    for (new, old) in after.iter().zip(&before) {
        let (_, doc) = moved_provenance.iter().find(|(s, _)| *s == new.digest).unwrap();
        let (_, original) = built_provenance.iter().find(|(s, _)| *s == old.digest).unwrap();
        assert_eq!(format!("sha256:{}", doc["subject"][0]["digest"]["sha256"].as_str().unwrap()), new.digest);
        assert_eq!(doc["predicateType"], "https://slsa.dev/provenance/v1");
        let definition = &doc["predicate"]["buildDefinition"];
        let new_base = new.manifest["annotations"]["org.opencontainers.image.base.digest"].as_str().unwrap();
        let old_base = old.manifest["annotations"]["org.opencontainers.image.base.digest"].as_str().unwrap();
        let deps = definition["resolvedDependencies"].as_array().unwrap();
        assert!(
            deps.iter().any(|d| d["name"] == format!("oci:{}:1", b.display())
                && format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap()) == new_base),
            "the new base is a dependency: {deps:?}"
        );
        assert!(deps.iter().any(|d| format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap_or("")) == old.digest));
        let step = &definition["externalParameters"]["rebases"][0];
        assert_eq!(step["command"], "cargo oci rebase");
        assert_eq!(step["oldBase"]["digest"], old_base);
        assert_eq!(step["newBase"]["digest"], new_base);
        // The original build's definition stays.
        assert_eq!(definition["buildType"], original["predicate"]["buildDefinition"]["buildType"]);
        assert_eq!(
            definition["externalParameters"]["target"],
            original["predicate"]["buildDefinition"]["externalParameters"]["target"]
        );
        assert_eq!(
            doc["predicate"]["runDetails"]["builder"]["id"],
            original["predicate"]["runDetails"]["builder"]["id"]
        );
    }
    // The same rebase again: the same bytes, attestations included.
    let again = rebase(&format!("oci:{}:1", built.layout.display()), &b, "moved-again");
    assert_eq!(again.digest, moved.digest);
    let artifacts = |lay: &Path| {
        let index = read_json(&lay.join("index.json"));
        let mut v: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["artifactType"].is_string())
            .map(|d| d["digest"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(artifacts(&again.layout).len(), 4, "an SBOM and a provenance per platform");
    assert_eq!(artifacts(&again.layout), artifacts(&moved.layout), "the same referrer manifests");
    let rootfs = unpack_platform(&moved.layout, "1", "arm64", w);
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/base-marker")).unwrap(), "new for arm64\n");
    let ran = tool("qemu-aarch64-static", &[rootfs.join("usr/local/bin/reb").to_str().unwrap()]);
    assert_eq!(ran.stdout().trim(), "hi aarch64");
    // Back onto the old base: exactly the image the build wrote.
    let back = rebase(&format!("oci:{}:1", moved.layout.display()), &a, "back");
    assert_eq!(back.digest, built.digest, "rebasing back gives the built image's digest");

    // A gnu binary (it needs the glibc loader) on a base without it: refused, with the reason.
    let gnu = parse_built(
        &p.oci(&["build", "--target", "x86_64-unknown-linux-gnu", "--no-elf-check", "-o", "gnu", "-t", "1", "-q"])
            .success()
            .stdout(),
    );
    let args = ["rebase", &format!("oci:{}:1", gnu.layout.display()), "--base", "scratch", "-o", "refused", "-t", "1"];
    let (error, hints) = p.oci(&args).failure().error_and_hints();
    assert!(error.contains("cannot be rebased onto `scratch`"), "{error}");
    let run = p.oci(&args).failure();
    assert!(run.stderr().contains("needs the dynamic loader `/lib64/ld-linux-x86-64.so.2`"), "{}", run.stderr());
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert!(!p.path().join("refused").exists(), "nothing written");

    // Registry to registry, through the same sources and sinks.
    let Some((reg, _)) = crate::registry_support::registry_and(crate::registry_support::Kind::Plain, &[]) else {
        return;
    };
    let h = reg.host();
    let env = crate::registry_support::OciEnv::new();
    let skopeo_to =
        |from: String, to: String| tool("skopeo", &["copy", "-q", "--all", "--dest-tls-verify=false", &from, &to]);
    skopeo_to(format!("oci:{}:1", b.display()), format!("docker://{h}/base-b:1"));
    p.oci_env(&["push", &format!("oci:{}:1", built.layout.display()), &format!("{h}/reb:1")], &env.vars()).success();
    let args = ["rebase", &format!("{h}/reb:1"), "--base", &format!("{h}/base-b:1"), "--push", &format!("{h}/reb:2")];
    let pushed = p.oci_env(&args, &env.vars()).success().stdout();
    assert!(pushed.contains(&format!("{h}/reb:2@")), "{pushed}");
    let flags = ["--tls-verify=false".to_string()];
    let index = crate::registry_support::skopeo_raw(&format!("docker://{h}/reb:2"), &flags);
    for (entry, old) in index["manifests"].as_array().unwrap().iter().zip(&before) {
        let m = crate::registry_support::skopeo_raw(
            &format!("docker://{h}/reb@{}", entry["digest"].as_str().unwrap()),
            &flags,
        );
        let layers: Vec<&str> = m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
        assert_eq!(
            layers.last().copied(),
            old.layers.last().map(String::as_str),
            "our layer, unchanged, in the registry"
        );
        assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], format!("{h}/base-b:1"));
        // Its attestations, under the sha256-<digest> tag (this registry has no referrers API),
        // read with skopeo: an SBOM and a provenance statement about the rebased manifest.
        let subject = entry["digest"].as_str().unwrap();
        let listed =
            crate::registry_support::skopeo_raw(&format!("docker://{h}/reb:{}", subject.replace(':', "-")), &flags);
        let mut types = Vec::new();
        for d in listed["manifests"].as_array().unwrap() {
            let art = crate::registry_support::skopeo_raw(
                &format!("docker://{h}/reb@{}", d["digest"].as_str().unwrap()),
                &flags,
            );
            assert_eq!(art["subject"]["digest"], subject);
            types.push(art["artifactType"].as_str().unwrap().to_string());
        }
        types.sort();
        assert_eq!(types, ["application/spdx+json", "application/vnd.in-toto+json"]);
    }
}
