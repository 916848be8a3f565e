//! `cargo oci diff`: the first difference between two images, named exactly.

use crate::support::*;

/// A crate shipping one data file whose mode comes from Cargo.toml.
fn with_file(mode: &str) -> Project {
    Project::bin("differ", "hi").file("data/x.txt", "x\n").file(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"differ\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.oci]\n\
             files = [{{ src = \"data/x.txt\", dest = \"/etc/x.txt\", mode = \"{mode}\" }}]\n\n[workspace]\n"
        ),
    )
}

fn diff(p: &Project, a: &str, b: &str) -> Run {
    p.oci(&["diff", &format!("oci:{a}:0.1.0"), &format!("oci:{b}:0.1.0")])
}

#[test]
fn names_a_file_mode_an_env_var_and_an_annotation() {
    let build = |p: &Project, out: &str, extra: &[&str]| {
        let mut args = vec!["build", "--target", "x86_64", "-o", out, "-q"];
        args.extend_from_slice(extra);
        p.oci(&args).success();
    };
    let p = with_file("0644");
    build(&p, "a", &["--env", "RUST_LOG=info", "--annotation", "org.example.x=1"]);
    let same = diff(&p, "a", "a").success();
    assert!(same.stdout().starts_with("identical:"), "{}", same.stdout());

    // One file's mode.
    std::fs::write(
        p.path().join("Cargo.toml"),
        std::fs::read_to_string(p.path().join("Cargo.toml")).unwrap().replace("\"0644\"", "\"0600\""),
    )
    .unwrap();
    build(&p, "mode", &["--env", "RUST_LOG=info", "--annotation", "org.example.x=1"]);
    let run = diff(&p, "a", "mode").failure();
    assert_eq!(run.out.status.code(), Some(1));
    let line = run.stdout();
    assert!(line.starts_with("platform linux/amd64: layer 2 of 3 (sha256:"), "{line}");
    assert!(line.trim_end().ends_with("file `etc/x.txt`: mode 0644 in A, 0600 in B"), "{line}");

    // One env var.
    build(&p, "env", &["--env", "RUST_LOG=debug", "--annotation", "org.example.x=1"]);
    assert_eq!(
        diff(&p, "mode", "env").failure().stdout(),
        "platform linux/amd64: env var `RUST_LOG`: `info` in A, `debug` in B\n"
    );

    // One annotation.
    build(&p, "ann", &["--env", "RUST_LOG=debug", "--annotation", "org.example.x=2"]);
    assert_eq!(
        diff(&p, "env", "ann").failure().stdout(),
        "platform linux/amd64: manifest annotation `org.example.x`: `1` in A, `2` in B\n"
    );
}
