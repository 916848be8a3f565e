//! The habits users bring from cargo, docker buildx and ko (issue 13): `cargo oci` without a
//! command is `build`, boolean spellings of `--push`/`--load` are refused.

use crate::support::*;

#[test]
fn bare_cargo_oci_is_build() {
    let p = Project::bin("bare", "hi");
    let run = p.oci(&["--target", "x86_64", "--tag", "t1", "-q"]).success();
    let line = run.stdout();
    assert!(line.starts_with("oci:") && line.contains("/target/oci/bare:t1@sha256:"), "{line}");
    assert_eq!(validate_layout(&p.path().join("target/oci/bare"), "t1").len(), 1);
    // The subcommands keep working, and help names both forms.
    let help = p.oci(&["--help"]).success().stdout();
    assert!(help.contains("cargo oci [BUILD OPTIONS]") && help.contains("cargo oci <COMMAND>"), "{help}");
    assert!(help.contains("--target <LIST>") && help.contains("  plan "), "{help}");
    let plan = p.oci(&["plan", "--target", "x86_64"]).success().stdout();
    assert!(plan.contains("x86_64-unknown-linux-musl"), "{plan}");
}

#[test]
fn boolean_push_is_refused() {
    let p = Project::bin("nopush", "x");
    for args in [&["--push=false"][..], &["build", "--push", "true"]] {
        let run = p.oci(args).failure();
        let (err, hints) = run.error_and_hints();
        let value = if args.len() == 1 { "false" } else { "true" };
        assert_eq!(err, format!("error: `--push` takes an image reference `REGISTRY/REPO[:TAG]`, not `{value}`"));
        assert!(hints[0].contains("leave `--push` out to not push"), "{hints:?}");
        assert!(!p.path().join("target/oci").exists(), "nothing written");
    }
}

/// Human `plan` names every output: the layout, each pushed reference, the archive and its
/// name, the engine (podman: no daemon to ask, so the plan runs anywhere).
#[test]
fn plan_shows_every_output() {
    let p = Project::bin("outs", "x");
    let args = [
        "plan",
        "--target",
        "x86_64",
        "--output",
        "lay",
        "--gc",
        "--push",
        "127.0.0.1:5000/team/outs:1",
        "-t",
        "extra",
        "--tar",
        "outs.tar",
        "--load=podman",
    ];
    let run = p.oci(&args).success();
    let out = run.stdout();
    let image = &out[out.find("\nimage ").expect("an image section")..];
    p.insta().bind(|| insta::assert_snapshot!("plan_outputs_human", image));
}

/// `--platform` takes buildx's and ko's spelling; `all` is every platform of the base that has
/// a Rust target; a platform the base lacks is an error, never dropped (ko#582).
#[test]
fn platform_lists_and_all() {
    let p = Project::bin("plat", "plat");
    let base = p.path().join("base");
    fake_image(&base, "b", &["amd64", "arm64"], "base");
    let from = format!("oci:{}:b", base.display());
    let archs = |tag: &str| {
        let index = blob_json(&p.path().join("target/oci/plat"), &index_digest(&p.path().join("target/oci/plat"), tag));
        index_archs(&index).into_iter().map(String::from).collect::<Vec<_>>()
    };
    p.oci(&["--platform", "linux/amd64,linux/arm64", "--base", &from, "-t", "two", "-q"]).success();
    assert_eq!(archs("two"), ["amd64", "arm64"]);
    let run = p.oci(&["--platform", "all", "--base", &from, "-t", "all", "-v"]).success();
    assert_eq!(archs("all"), ["amd64", "arm64"]);
    assert!(run.stderr().contains("has linux/amd64, linux/arm64 (`all`)"), "{}", run.stderr());
    let run = p.oci(&["--platform", "linux/amd64,linux/arm/v7", "--base", &from, "-t", "v7"]).failure();
    let (err, _) = run.error_and_hints();
    assert!(err.contains("has no image for linux/arm/v7"), "{err}");
    assert!(!run.stderr().contains("Compiling"), "refused before building: {}", run.stderr());
}

/// The digest of the index that `tag` names in a layout.
fn index_digest(layout: &std::path::Path, tag: &str) -> String {
    let index = read_json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag}: {index}"));
    entry["digest"].as_str().unwrap().to_string()
}

/// `--repository` (ko's `KO_DOCKER_REPO`) pushes every image of a workspace in one run, to
/// `PREFIX/<image>:<tag>`; the flag beats `CARGO_OCI_REPOSITORY`, which beats Cargo.toml.
#[test]
fn repository_pushes_every_image_of_a_workspace() {
    use crate::registry_support::{registry_and, Kind};
    let Some((reg, _work)) = registry_and(Kind::Plain, &["skopeo"]) else { return };
    let h = reg.host();
    let p = Project::fixture("ws");
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text =
        text.replace("[workspace.metadata.oci]\n", &format!("[workspace.metadata.oci]\nrepository = \"{h}/cfg\"\n"));
    std::fs::write(&manifest, text).unwrap();
    let digest_of = |reference: &str| {
        let out = tool("skopeo", &["inspect", "--tls-verify=false", "--raw", &format!("docker://{reference}")]);
        format!("sha256:{}", sha256_hex(&out.out.stdout))
    };
    let build = |args: &[&str], vars: &[(String, String)]| -> Vec<String> {
        let mut full = vec!["--target", "x86_64", "--sbom", "none", "--provenance", "false", "-q"];
        full.extend_from_slice(args);
        p.oci_env(&full, vars).success().stdout().lines().map(String::from).collect()
    };
    let from_env = [("CARGO_OCI_REPOSITORY".to_string(), format!("{h}/team/"))];
    for (args, vars, prefix) in [
        (&["-t", "one", "-t", "two"][..], &[][..], format!("{h}/cfg")),
        (&["-t", "one", "-t", "two"], &from_env[..], format!("{h}/team")),
        (&["-t", "one", "-t", "two", "--repository", &format!("{h}/flag")], &from_env[..], format!("{h}/flag")),
    ] {
        let lines = build(args, vars);
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, image) in lines.iter().zip(["api", "worker"]) {
            let (pushed, digest) = line.rsplit_once('@').unwrap();
            assert_eq!(pushed, format!("{prefix}/{image}:one"));
            assert_eq!(digest_of(&format!("{prefix}/{image}:one")), digest);
            assert_eq!(digest_of(&format!("{prefix}/{image}:two")), digest);
        }
    }
    assert!(!p.path().join("target/oci/api").exists(), "pushing writes no layout unless --output is given");

    let run = p.oci(&["plan", "--repository", &format!("{h}/team:1")]).failure();
    let (err, hints) = run.error_and_hints();
    assert!(err.contains(&format!("`{h}/team:1` is not a repository prefix")), "{err}");
    assert!(hints[0].contains("ghcr.io/org"), "{hints:?}");
}

/// cargo's own flags are accepted as cargo spells them: `--release` (the default profile),
/// `--target-dir`, `--config KEY=VALUE` (passed to cargo), `--message-format` on every command
/// that prints results (`--format` a hidden alias).
#[test]
fn cargo_flags_as_cargo_spells_them() {
    let p = Project::bin("flags", "flags");
    let run = p
        .oci(&[
            "--release",
            "--target",
            "x86_64",
            "--target-dir",
            "elsewhere",
            "--config",
            "profile.release.opt-level=1",
            "--message-format",
            "json",
            "-v",
        ])
        .success();
    let running = run.stderr().lines().find(|l| l.contains("Running") && l.contains("cargo build")).map(String::from);
    let running = running.unwrap_or_else(|| panic!("{}", run.stderr()));
    assert!(running.contains("--config profile.release.opt-level=1"), "{running}");
    assert!(running.contains(&format!("--target-dir {}", p.path().join("elsewhere").display())), "{running}");
    let line: serde_json::Value = serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
    let layout = p.path().join("elsewhere/oci/flags");
    assert_eq!(line["layout"], layout.display().to_string());
    assert!(p.path().join("elsewhere/x86_64-unknown-linux-musl/release/flags").is_file());

    let image = format!("oci:{}:0.1.0", layout.display());
    for cmd in [&["inspect", &image][..], &["plan", "--target", "x86_64"]] {
        for flag in ["--message-format", "--format"] {
            let mut args = cmd.to_vec();
            args.extend([flag, "json"]);
            let out = p.oci(&args).success().stdout();
            serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"));
        }
    }
    let out = p.oci(&["build", "--target", "x86_64", "--target-dir", "elsewhere", "--format", "json"]).success();
    assert!(out.stdout().starts_with("{\"image\""), "{}", out.stdout());
    let (err, _) = p.oci(&["--release", "--profile", "dev"]).failure().error_and_hints();
    assert!(err.contains("'--release' cannot be used with '--profile <NAME>'"), "{err}");
}

/// On a terminal, cargo's progress bar and colours reach the user although cargo writes into
/// our pipe (checked loosely, under `script`, which gives the command a pseudo-terminal); `-v`
/// is our "why" lines only, `-vv` also cargo's `--verbose`.
#[test]
fn cargo_progress_and_colour_reach_a_terminal() {
    if !have("script") {
        return;
    }
    // A build script that takes a while: cargo draws its bar after half a second.
    let p = Project::bin("slowbuild", "x")
        .file("build.rs", "fn main() { std::thread::sleep(std::time::Duration::from_millis(1500)); }\n");
    let on_a_terminal = |args: &str| {
        let line = format!("{} oci --target x86_64 {args}", env!("CARGO_BIN_EXE_cargo-oci"));
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"]).current_dir(p.path()).env("CARGO_TARGET_DIR", p.path().join("target"));
        c.env_remove("NO_COLOR").env_remove("CARGO_TERM_COLOR").env_remove("CARGO_TERM_PROGRESS_WHEN");
        c.env("TERM", "xterm");
        Run::of(c).success().stdout()
    };
    let out = on_a_terminal("--color always --tag one");
    assert!(out.contains("Building") && out.contains("] 0/"), "cargo's progress bar: {out:?}");
    assert!(out.contains("\u{1b}[1m\u{1b}[92m   Compiling"), "cargo's colours: {out:?}");
    assert!(out.contains("\u{1b}[1m\u{1b}[92m   Packaging"), "ours, in cargo's palette: {out:?}");
    let out = on_a_terminal("--color never --tag two");
    assert!(!out.contains("\u{1b}[1m"), "no colour with --color never: {out:?}");

    let run = p.oci(&["--target", "x86_64", "--tag", "v", "-v"]).success();
    assert!(run.stderr().contains("Running") && !run.stderr().contains("Running `"), "{}", run.stderr());
    std::fs::write(p.path().join("src/main.rs"), "fn main() { println!(\"changed\"); }\n").unwrap();
    let run = p.oci(&["--target", "x86_64", "--tag", "vv", "-vv"]).success();
    assert!(run.stderr().contains("Running `"), "cargo's own verbose lines with -vv: {}", run.stderr());
}

/// openssl-sys (reqwest's default TLS) cross-compiled: `plan` names it, the build warns, and
/// when the build fails (openssl-sys's build script finds no OpenSSL for aarch64) the hint gives
/// both fixes with the exact Cargo.toml lines. Uses the real openssl-sys from the crates registry.
#[test]
fn openssl_sys_for_another_target_is_named_and_hinted() {
    let p = Project::empty()
        .file(
            "Cargo.toml",
            "[package]\nname = \"tls\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\nopenssl-sys = \"0.9\"\n[workspace]\n",
        )
        .file("src/main.rs", "fn main() { println!(\"{}\", openssl_sys::OPENSSL_VERSION_NUMBER); }\n");
    let plan = p.oci(&["plan", "--target", "aarch64"]).success().stdout();
    assert!(
        plan.contains("needs the target's own library, which no cross C compiler brings: openssl-sys 0.9.")
            && plan.contains("(links the system's OpenSSL: no `vendored` feature)"),
        "{plan}"
    );
    if !have("cargo-zigbuild") {
        return;
    }
    let run = p.oci(&["--target", "aarch64"]).failure();
    let stderr = run.stderr();
    // cargo's own `error:` lines come first; ours is the last.
    let err = stderr.lines().rfind(|l| l.starts_with("error:")).unwrap_or_default();
    let hints: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hint:")).collect();
    assert_eq!(err, "error: failed to compile for `aarch64-unknown-linux-musl`");
    assert!(run.stderr().contains("warning: openssl-sys 0.9."), "{}", run.stderr());
    assert!(
        hints[0].contains(r#"`reqwest = { version = "0.12", default-features = false, features = ["rustls-tls"] }`"#),
        "{hints:?}"
    );
    assert!(hints[1].contains(r#"`openssl = { version = "0.10", features = ["vendored"] }`"#), "{hints:?}");
}

/// `inspect`, `diff`, `merge` read a path to a local layout as that layout (not a Docker Hub
/// image), and their hints name their own arguments, not `--base`.
#[test]
fn bare_layout_paths_and_hints_of_the_image_commands() {
    let p = Project::bin("bare2", "x");
    fake_image(&p.path().join("lay"), "t1", &["amd64"], "one");
    let shown = p.oci(&["inspect", "lay:t1"]).success().stdout();
    assert!(shown.contains("linux/amd64"), "{shown}");
    let shown = p.oci(&["inspect", "--message-format", "json", "lay"]).success().stdout();
    assert!(shown.contains("\"linux/amd64\""), "{shown}");
    let same = p.oci(&["diff", "lay:t1", "oci:lay:t1"]).success().stdout();
    assert!(same.starts_with("identical"), "{same}");
    let run = p.oci(&["inspect", "lay:nope"]).failure();
    let (err, hints) = run.error_and_hints();
    assert!(err.contains("has no tag `nope`"), "{err}");
    assert_eq!(hints, [format!("hint: name one: `oci:{}:t1`", p.path().join("lay").display())]);
    assert!(p.oci(&["merge", "lay:t1", "-o", "merged", "-t", "m"]).success().stdout().contains("merged:m@"));
}

/// A binary with debug info and no `strip`: `build` and `plan` say what stripping would save;
/// `--strip` (or `strip = true`) reaches cargo as the profile's strip and the image shrinks.
#[test]
fn strip_is_passed_to_cargo_and_its_savings_are_said() {
    let p = Project::bin("dbg", "dbg");
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap() + "\n[profile.release]\ndebug = true\n";
    std::fs::write(&manifest, text).unwrap();
    let size = |run: &Run| -> u64 {
        let line: serde_json::Value = serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
        line["manifests"][0]["total_size"].as_u64().unwrap()
    };
    let note = "carries ";
    let fat = p.oci(&["--target", "x86_64", "-t", "fat", "--message-format", "json"]).success();
    let said =
        fat.stderr().lines().find(|l| l.contains(note)).map(String::from).unwrap_or_else(|| panic!("{}", fat.stderr()));
    assert!(said.contains("Note dbg for linux/amd64") && said.contains("MB of debug info and symbols"), "{said}");
    let planned = p.oci(&["plan", "--target", "x86_64"]).success();
    assert!(planned.stderr().contains(note), "plan says it too, from the earlier build: {}", planned.stderr());

    let thin = p.oci(&["--target", "x86_64", "-t", "thin", "--strip", "--message-format", "json", "-v"]).success();
    assert!(thin.stderr().contains("--config profile.release.strip=true"), "{}", thin.stderr());
    assert!(!thin.stderr().contains(note), "{}", thin.stderr());
    assert!(size(&thin) * 2 < size(&fat), "stripped {} vs {}", size(&thin), size(&fat));
    // The same from Cargo.toml; `debuginfo` keeps the symbols.
    let text = std::fs::read_to_string(&manifest).unwrap() + "\n[package.metadata.oci]\nstrip = \"debuginfo\"\n";
    std::fs::write(&manifest, text).unwrap();
    let run = p.oci(&["--target", "x86_64", "-t", "cfg", "-v"]).success();
    assert!(run.stderr().contains("--config 'profile.release.strip=\"debuginfo\"'"), "{}", run.stderr());
}

/// `diff` prints its answer as JSON too, with the same flag as every other command.
#[test]
fn diff_speaks_json() {
    let p = Project::bin("dj", "x");
    fake_image(&p.path().join("a"), "t", &["amd64"], "one");
    fake_image(&p.path().join("b"), "t", &["amd64"], "two");
    let same = p.oci(&["diff", "--message-format", "json", "a:t", "a:t"]).success().stdout();
    assert_eq!(same.trim(), r#"{"difference":null,"identical":true}"#);
    let run = p.oci(&["diff", "--message-format", "json", "a:t", "b:t"]);
    assert_eq!(run.out.status.code(), Some(1), "images that differ: exit 1, as in human form");
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["identical"], false);
    assert!(v["difference"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
}
