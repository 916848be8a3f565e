//! `cargo oci init`: a commented section appended to Cargo.toml, the rest untouched, refused when
//! there is nothing to add it to or it is already there.

use crate::support::*;

#[test]
fn init_appends_a_commented_section_that_cargo_and_plan_accept() {
    let p = Project::bin("fresh", "x");
    let manifest = p.path().join("Cargo.toml");
    let before = std::fs::read_to_string(&manifest).unwrap();
    let run = p.oci(&["init"]).success();
    assert_eq!(run.stderr(), format!("       Added [package.metadata.oci] to {}\n", manifest.display()));
    let after = std::fs::read_to_string(&manifest).unwrap();
    assert!(after.starts_with(&before), "the rest of the file is untouched:\n{after}");
    assert_eq!(&after[before.len()..], cargo_oci::init::TEMPLATE);
    // cargo still reads it, and the (all commented) section plans like no section at all.
    let plan = p.oci(&["plan", "--format", "json"]).success().stdout();
    assert!(plan.contains("\"entrypoint\": [\n          \"/usr/local/bin/fresh\""), "{plan}");

    let run = p.oci(&["init"]).failure();
    let (err, hints) = run.error_and_hints();
    assert_eq!(err, format!("error: `{}` already has a [package.metadata.oci] section", manifest.display()));
    assert_eq!(hints, ["hint: edit it directly; `cargo oci plan` shows what it resolves to"]);
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), after);
}

#[test]
fn init_in_a_workspace_picks_the_member() {
    let p = Project::fixture("ws");
    let root = std::fs::read_to_string(p.path().join("Cargo.toml")).unwrap();
    let (err, hints) = p.oci(&["init"]).failure().error_and_hints();
    assert_eq!(err, format!("error: `{}` has no [package] section", p.path().join("Cargo.toml").display()));
    assert!(hints[0].contains("cargo oci init -p NAME"), "{hints:?}");
    assert_eq!(std::fs::read_to_string(p.path().join("Cargo.toml")).unwrap(), root);

    p.oci(&["init", "-p", "common"]).success();
    assert!(std::fs::read_to_string(p.path().join("common/Cargo.toml")).unwrap().contains("[package.metadata.oci]"));
    let (err, _) = p.oci(&["init", "-p", "api"]).failure().error_and_hints();
    assert!(err.ends_with("api/Cargo.toml` already has a [package.metadata.oci] section"), "{err}");
}
