//! Unit tests of the settings parser: every key, its examples, and the error for each mistake.

use super::*;

fn parse(text: &str) -> Result<OciConfig, ConfigError> {
    parse_text(Path::new("/p/Cargo.toml"), Section::Package, text)
}

const HEAD: &str = "[package]\nname = \"p\"\nversion = \"0.1.0\"\n\n";

#[test]
fn every_key_has_an_example_that_parses() {
    let keys = fields_of::<OciConfig>();
    assert_eq!(keys.len(), 23);
    for k in keys.iter().chain(fields_of::<FileSpec>()).chain(fields_of::<TargetConfig>()) {
        assert!(EXAMPLES.iter().any(|(n, _)| n == k), "no example for `{k}`");
    }
    for (k, example) in EXAMPLES {
        if fields_of::<OciConfig>().contains(k) {
            let cfg = parse(&format!("{HEAD}[package.metadata.oci]\n{example}\n")).unwrap();
            assert_ne!(cfg, OciConfig::default(), "{example}");
        }
    }
}

#[test]
fn a_full_section() {
    let cfg = parse(&format!(
        "{HEAD}[package.metadata.oci]\nbins = [\"api\"]\nenv.RUST_LOG = \"info\"\nexposed-ports = [\"8080/tcp\"]\n\
         [[package.metadata.oci.files]]\nsrc = \"a\"\ndest = \"/b\"\nmode = \"0640\"\n\
         [package.metadata.oci.target.aarch64-unknown-linux-musl]\nbase = \"scratch\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.bins.as_deref(), Some(&["api".to_string()][..]));
    assert_eq!(cfg.env.unwrap()["RUST_LOG"], "info");
    let f = &cfg.files.unwrap()[0];
    assert_eq!((f.src.as_str(), f.dest.as_str(), f.mode), ("a", "/b", Some(Mode(0o640))));
    assert_eq!(cfg.target.unwrap()["aarch64-unknown-linux-musl"].base.as_deref(), Some("scratch"));
}

#[test]
fn absent_section_is_empty() {
    assert_eq!(parse(HEAD).unwrap(), OciConfig::default());
    let ws = parse_text(
        Path::new("/w/Cargo.toml"),
        Section::Workspace,
        "[workspace]\n[workspace.metadata.oci]\nuser = \"1\"\n",
    );
    assert_eq!(ws.unwrap().user.as_deref(), Some("1"));
}

#[test]
fn unknown_key_names_line_and_nearest() {
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nuser = \"1\"\nexposed_port = [\"80\"]\n")).unwrap_err();
    assert_eq!(err.to_string(), "unknown key `package.metadata.oci.exposed_port` at /p/Cargo.toml:7");
    assert_eq!(err.hints(), ["did you mean `exposed-ports`?"]);
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nzzz = 1\n")).unwrap_err();
    assert!(err.hints()[0].starts_with("valid keys here: base, targets, backend"), "{:?}", err.hints());
}

#[test]
fn unknown_keys_in_nested_tables() {
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nfiles = [{{ src = \"a\", dest = \"b\", owner = 1 }}]\n"))
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown key `package.metadata.oci.files[0].owner` at /p/Cargo.toml:6");
    let err = parse(&format!("{HEAD}[package.metadata.oci.target.aarch64]\nbase = \"scratch\"\nbakend = \"cargo\"\n"))
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown key `package.metadata.oci.target.aarch64.bakend` at /p/Cargo.toml:7");
    assert_eq!(err.hints(), ["did you mean `backend`?"]);
}

#[test]
fn wrong_type_names_the_key_and_shows_an_example() {
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nuser = \"1\"\nexposed-ports = 8080\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`package.metadata.oci.exposed-ports` at /p/Cargo.toml:7 has the wrong type: invalid type: integer `8080`, expected a sequence"
    );
    assert_eq!(err.hints(), [r#"write it like this: `exposed-ports = ["8080/tcp"]`"#]);
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nfiles = [{{ src = \"a\", dest = 3 }}]\n")).unwrap_err();
    assert!(
        err.to_string().starts_with("`package.metadata.oci.files[0].dest` at /p/Cargo.toml:6 has the wrong type"),
        "{err}"
    );
    let err = parse(&format!("{HEAD}[package.metadata.oci]\nenv = {{ A = 1 }}\n")).unwrap_err();
    assert!(err.to_string().starts_with("`package.metadata.oci.env.A` at /p/Cargo.toml:6 has the wrong type"), "{err}");
}

/// `backend` is read by serde like every other key: a wrong value points at its line.
#[test]
fn an_unknown_backend_names_its_line() {
    let text = format!("{HEAD}[package.metadata.oci.target.aarch64-unknown-linux-musl]\nbackend = \"zig\"\n");
    let err = parse(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`package.metadata.oci.target.aarch64-unknown-linux-musl.backend` at /p/Cargo.toml:6 has the wrong type: \
         unknown variant `zig`, expected one of `auto`, `cargo`, `zigbuild`, `cross`"
    );
    assert_eq!(err.hints(), [r#"write it like this: `backend = "cargo"`"#]);
}

#[test]
fn modes() {
    let m = |v: &str| {
        parse(&format!("{HEAD}[package.metadata.oci]\nfiles = [{{ src = \"a\", dest = \"b\", mode = {v} }}]\n"))
    };
    assert_eq!(m("0o755").unwrap().files.unwrap()[0].mode, Some(Mode(0o755)));
    assert_eq!(m("\"0600\"").unwrap().files.unwrap()[0].mode, Some(Mode(0o600)));
    let err = m("644").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`package.metadata.oci.files[0].mode` at /p/Cargo.toml:6 is invalid: mode `644` is written in decimal"
    );
    assert_eq!(err.hints(), ["write modes in octal: `mode = 0o644` or `mode = \"644\"`"]);
    assert!(m("0o17777").unwrap_err().to_string().contains("at most 0o7777"));
    assert!(m("\"rwx\"").unwrap_err().to_string().contains("not an octal file mode"));
}

#[test]
fn lines_of_keys() {
    let text = format!(
        "{HEAD}[package.metadata.oci]\nuser = \"1\"\n\n[[package.metadata.oci.files]]\nsrc = \"a\"\ndest = \"b\"\n"
    );
    let m = ManifestSource { file: "/p/Cargo.toml".into(), section: Section::Package, text };
    assert_eq!(m.line_of(&KeyPath::key("user")), Some(6));
    assert_eq!(m.line_of(&KeyPath::key("files").at(0).then("dest")), Some(10));
    assert_eq!(KeyPath::key("files").at(0).then("dest").to_string(), "files[0].dest");
}

#[test]
fn nearest_keys() {
    let valid = fields_of::<OciConfig>();
    assert_eq!(nearest("tag", valid), Some("tags"));
    assert_eq!(nearest("bin_dir", valid), Some("bin-dir"));
    assert_eq!(nearest("entry-point", valid), Some("entrypoint"));
    assert_eq!(nearest("qqqq", valid), None);
}

#[test]
fn key_values() {
    assert_eq!(key_value("A=b=c").unwrap(), ("A".to_string(), "b=c".to_string()));
    assert!(key_value("=x").is_err() && key_value("x").is_err());
}
