//! Progress bars: on a terminal for large layers, never in logs and pipes. Also the `bins = [...]`
//! image of a real build: two binaries, one image named after the package.

use std::process::Command;

use crate::support::*;

/// A package with a 24 MiB binary (a large static array) and a small one, in one image.
fn heavy() -> Project {
    Project::empty()
        .file(
            "Cargo.toml",
            "[package]\nname = \"heavy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
             [[bin]]\nname = \"big\"\npath = \"src/big.rs\"\n[[bin]]\nname = \"small\"\npath = \"src/small.rs\"\n\
             [package.metadata.oci]\nbins = [\"big\", \"small\"]\ntargets = [\"x86_64\"]\n",
        )
        .file(
            "src/big.rs",
            "static PAD: [u8; 24 << 20] = [7; 24 << 20];\nfn main() { println!(\"{}\", std::hint::black_box(&PAD)[4096]); }\n",
        )
        .file("src/small.rs", "fn main() {}\n")
}

#[test]
fn large_layers_show_a_bar_on_a_terminal_only() {
    let p = heavy();
    // A pipe, as in CI: status lines only.
    let run = p.oci(&["build", "-o", "lay"]).success();
    let err = run.stderr();
    assert!(!err.contains("Compressing") && !err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    let built = parse_built(&run.stdout());
    let m = &validate_layout(&built.layout, "0.1.0")[0];
    assert_eq!(m.config["config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/big"]));
    assert!(built.layout.ends_with("lay"));
    if have("tar") {
        let listing = tool("tar", &["-tzf", blob_path(&built.layout, &m.layers[1]).to_str().unwrap()]).stdout();
        assert!(listing.contains("usr/local/bin/big\n") && listing.contains("usr/local/bin/small\n"), "{listing}");
    }

    // A terminal (script(1) gives the command a pty): a bar for the 24 MiB layer.
    if !have("script") {
        return;
    }
    let run_in_pty = |extra: &str| {
        let cmd = format!("{} oci build -o lay2 {extra}", env!("CARGO_BIN_EXE_cargo-oci"));
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).current_dir(p.path()).env("CARGO_TARGET_DIR", p.path().join("target"));
        c.env("NO_COLOR", "1").env_remove("CARGO_TERM_COLOR");
        Run::of(c).success().stdout()
    };
    let tty = run_in_pty("");
    assert!(tty.contains("Compressing [") && tty.contains("big, small for linux/amd64"), "{tty:?}");
    let quiet = run_in_pty("-q");
    assert!(!quiet.contains("Compressing"), "-q: no bars either: {quiet:?}");
}

/// Uploads: a bar per blob of 1 MiB or more, with human sizes, on a terminal only.
#[test]
fn uploads_show_a_bar_per_blob_on_a_terminal_only() {
    let Some((reg, _work)) = crate::registry_support::registry_and(crate::registry_support::Kind::Plain, &["script"])
    else {
        return;
    };
    // 3 MiB of noise in the binary: its layer stays over 1 MiB compressed.
    let p = Project::bin("noisy", "hi")
        .file("src/main.rs", "static NOISE: &[u8] = include_bytes!(\"noise.bin\");\nfn main() { println!(\"{}\", std::hint::black_box(NOISE)[4096]); }\n");
    std::fs::write(p.path().join("src/noise.bin"), noise(3 << 20, 0x9e37_79b9_7f4a_7c15)).unwrap();
    // Two repositories: the second push finds none of the first one's blobs, so it uploads too.
    let dest = |repo: &str| format!("{}/{repo}:1", reg.host());

    let run = p.oci(&["build", "--target", "x86_64", "--push", &dest("pipe")]).success();
    let err = run.stderr();
    assert!(!err.contains("Uploading") && !err.contains('\r'), "no bars in a pipe: {err:?}");

    let cmd = format!("{} oci build --target x86_64 --push {}", env!("CARGO_BIN_EXE_cargo-oci"), dest("tty"));
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).current_dir(p.path()).env("CARGO_TARGET_DIR", p.path().join("target"));
    c.env("NO_COLOR", "1").env_remove("CARGO_TERM_COLOR");
    let tty = Run::of(c).success().stdout();
    assert!(tty.contains("Pushed 6 blob(s) uploaded"), "every blob went up: {tty:?}");
    // One bar, for the binary's layer (the others are under 1 MiB), its size in MiB.
    assert!(tty.contains("Uploading [") && tty.contains("MiB"), "{tty:?}");
}

/// Pulls: a bar per base layer of 1 MiB or more, with human sizes, on a terminal only (the
/// pipe's side is in `registry_parallel`: a status line, no bar).
#[test]
fn pulls_show_a_bar_per_blob_on_a_terminal_only() {
    use crate::registry_support::*;
    let Some((reg, work)) = registry_and(Kind::Plain, &["buildah", "skopeo", "script"]) else { return };
    let dest = format!("docker://{}/layers:1", reg.host());
    // 3 MiB of noise in the bottom layer: it stays over 1 MiB compressed.
    buildah_layered_base(work.path(), &dest, &reg.client_flags(""), 2, 3 << 20);
    let p = Project::bin("pullbar", "hi");
    let run_in_pty = |extra: &str| {
        let env = OciEnv::new(); // an empty cache: the base is pulled
        let cmd = format!(
            "{} oci build --target x86_64 --base {}/layers:1 -o lay {extra}",
            env!("CARGO_BIN_EXE_cargo-oci"),
            reg.host()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).current_dir(p.path()).env("CARGO_TARGET_DIR", p.path().join("target"));
        c.env("NO_COLOR", "1").env_remove("CARGO_TERM_COLOR").envs(env.vars());
        Run::of(c).success().stdout()
    };
    let tty = run_in_pty("");
    assert!(tty.contains("Pulling 2 blob(s), 3.") && tty.contains(" MiB, from "), "{tty:?}");
    // One bar, for the big layer (the other is under 1 MiB), its size in MiB.
    assert!(tty.contains("Pulling [") && tty.contains("MiB sha256:"), "{tty:?}");
    let quiet = run_in_pty("-q");
    assert!(!quiet.contains("Pulling"), "-q: no bars either: {quiet:?}");
}
