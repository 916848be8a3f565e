//! Settings in Cargo.toml that are wrong: one `error:` naming file, key and line, a `hint:` with
//! the fix, nothing built or written. The messages are snapshots.

use crate::support::*;

/// A one-binary package whose `[package.metadata.oci]` section is `section`.
fn with_section(section: &str) -> Project {
    Project::bin("conf", "x")
        .file(
            "Cargo.toml",
            &format!("[package]\nname = \"conf\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[package.metadata.oci]\n{section}"),
        )
        .file("config/app.toml", "a = 1\n")
}

/// Runs `build` and returns its stderr (error and hints); checks that nothing was written.
fn refused(p: &Project) -> String {
    let run = p.oci(&["build", "-o", "lay"]).failure();
    assert_eq!(run.stdout(), "");
    assert!(!p.path().join("lay").exists() && !p.path().join("target/oci").exists());
    assert!(!run.stderr().contains("Compiling"), "refused before compiling:\n{}", run.stderr());
    run.error_and_hints();
    run.stderr()
}

#[test]
fn unknown_key() {
    let p = with_section("user = \"1000\"\nexposed_port = [\"8080/tcp\"]\n");
    p.insta().bind(|| insta::assert_snapshot!("config_unknown_key", refused(&p)));
}

#[test]
fn unknown_key_far_from_any_valid_one() {
    let p = with_section("healthcheck = \"curl\"\n");
    p.insta().bind(|| insta::assert_snapshot!("config_unknown_key_listed", refused(&p)));
}

#[test]
fn wrong_type() {
    let p = with_section("cmd = \"--port 8080\"\n");
    p.insta().bind(|| insta::assert_snapshot!("config_wrong_type", refused(&p)));
}

#[test]
fn dest_escaping_the_root() {
    let p = with_section("files = [\n  { src = \"config/app.toml\", dest = \"/etc/../../app.toml\" },\n]\n");
    p.insta().bind(|| insta::assert_snapshot!("config_dest_escape", refused(&p)));
}

#[test]
fn src_outside_the_package() {
    let p = Project::empty()
        .file(
            "pkg/Cargo.toml",
            "[package]\nname = \"conf\"\nversion = \"0.1.0\"\n[workspace]\n[package.metadata.oci]\n\
             files = [{ src = \"../secret.txt\", dest = \"/etc/secret.txt\" }]\n",
        )
        .file("pkg/src/main.rs", "fn main() {}\n")
        .file("secret.txt", "s");
    let run = p.oci(&["build", "--manifest-path", "pkg/Cargo.toml", "-o", "lay"]).failure();
    assert!(!p.path().join("lay").exists() && !p.path().join("pkg/target").exists());
    run.error_and_hints();
    p.insta().bind(|| insta::assert_snapshot!("config_src_outside", run.stderr()));
}

#[test]
fn mode_in_decimal() {
    let p = with_section("files = [{ src = \"config/app.toml\", dest = \"/etc/app.toml\", mode = 640 }]\n");
    p.insta().bind(|| insta::assert_snapshot!("config_decimal_mode", refused(&p)));
}

#[test]
fn bad_value_in_the_workspace_section_points_at_the_workspace_manifest() {
    let p = Project::fixture("ws");
    let root = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&root).unwrap().replace("user = \"1000:1000\"", "exposed-ports = [\"80/http\"]");
    std::fs::write(&root, text).unwrap();
    p.insta().bind(|| insta::assert_snapshot!("config_workspace_bad_port", refused(&p)));
}

#[test]
fn bad_flag_names_the_flag() {
    let p = Project::bin("flags", "x");
    let run = p.oci(&["build", "--port", "http", "-o", "lay"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, "error: `--port` is invalid: `http` is not a port (1-65535, then /tcp, /udp or /sctp)");
    assert_eq!(hints, ["hint: write ports as `8080/tcp`, `53/udp` or `8080` (tcp)"]);
    // With JSON messages, stdout still says how it ended.
    let run = p.oci(&["build", "--port", "http", "--message-format", "json"]).failure();
    assert_eq!(run.stdout(), "{\"images\":0,\"reason\":\"finished\",\"success\":false}\n");
    let run = p.oci(&["build", "--env", "NOVALUE"]).failure();
    assert!(run.stderr().contains("`NOVALUE` is not KEY=VALUE"), "{}", run.stderr());
}

#[test]
fn per_target_table_with_an_unknown_target_and_bins_of_another_package() {
    let p = with_section("[package.metadata.oci.target.mips]\nbase = \"scratch\"\n");
    let stderr = refused(&p);
    assert!(stderr.contains("error: `package.metadata.oci.target.mips` at "), "{stderr}");
    assert!(stderr.contains("Cargo.toml:9 is invalid: unknown target `mips`"), "{stderr}");

    let p = with_section("bins = [\"conf\", \"other\"]\n");
    let stderr = refused(&p);
    assert!(stderr.contains("`package.metadata.oci.bins[1]` at "), "{stderr}");
    assert!(stderr.contains("is invalid: package `conf` has no binary named `other`"), "{stderr}");
    assert!(stderr.contains("hint: binaries in this package: conf"), "{stderr}");
}
