//! Text parsers: image references, targets and platforms, auth challenges, Cargo.toml metadata.

use std::path::Path;

use proptest::prelude::*;

use crate::mutate::{apply, ops, Op};
use crate::{corpus, fuzz};

/// A corpus entry with byte edits, or (one case in eight) arbitrary bytes, as text.
fn inputs(target: &str) -> impl Strategy<Value = (String, String)> {
    let seeds = corpus(target);
    let names: Vec<String> = seeds.iter().map(|(n, _)| n.clone()).collect();
    let seeded = (0..seeds.len(), ops()).prop_map(move |(i, ops): (usize, Vec<Op>)| {
        (names[i].clone(), String::from_utf8_lossy(&apply(&seeds[i].1, &ops)).into_owned())
    });
    prop_oneof![
        7 => seeded,
        1 => proptest::collection::vec(any::<u8>(), 0..96)
            .prop_map(|b| ("arbitrary".to_string(), String::from_utf8_lossy(&b).into_owned())),
    ]
}

/// Every corpus entry as it is, then mutations.
fn run(target: &str, check: impl Fn(&str)) {
    for (_, bytes) in corpus(target) {
        check(&String::from_utf8_lossy(&bytes));
    }
    fuzz(target, inputs(target), |(_, s)| {
        check(&s);
        Ok(())
    });
}

#[test]
fn image_references() {
    use cargo_oci::oci::name::parse_oci_ref;
    use cargo_oci::oci::ImageName;
    use cargo_oci::oci::Reference;
    run("reference", |s| {
        if let Ok(r) = Reference::parse(s) {
            // What we print must parse back to the same reference.
            let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
            assert_eq!(again.to_string(), r.to_string());
            let _ = (r.target(), r.with_tag("x").to_string(), r.name());
        }
        let _ = parse_oci_ref(s);
        if let Ok(n) = ImageName::parse(s, Path::new("/w")) {
            let _ = (n.tag(), n.registry());
        }
    });
}

#[test]
fn targets_and_platforms() {
    use cargo_oci::oci::Platform;
    use cargo_oci::plan::target::parse_targets;
    use cargo_oci::plan::{glibc, Target};
    run("target", |s| {
        if let Ok(t) = Target::parse(s) {
            let _ = (t.zig_triple(), t.platform.to_string(), t.platform.full());
        }
        if let Ok(mut ts) = parse_targets(&[s]) {
            let _ = glibc::apply_flag(&mut ts, Some(s));
            let _ = glibc::apply_flag(&mut ts, Some("2.31"));
        }
        let mut parts = s.splitn(3, '/');
        let p = Platform::new(parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let _ = (p.to_string(), p.full(), p.matches(&Platform::new("linux", "arm64", Some("v8"))));
    });
}

#[test]
fn auth_challenges() {
    use cargo_oci::store::registry::auth::{encode_query, parse_challenge, Challenge};
    run("challenge", |s| {
        if let Some(Challenge::Bearer { realm, service, scope }) = parse_challenge(s) {
            let _ = (encode_query(&realm), service.map(|s| encode_query(&s)), scope);
        }
    });
}

#[test]
fn cargo_toml_metadata() {
    use cargo_oci::plan::config::{parse_text, Section};
    run("cargo-toml", |s| {
        for section in [Section::Package, Section::Workspace] {
            match parse_text(Path::new("/w/Cargo.toml"), section, s) {
                Ok(c) => drop(format!("{c:?}")),
                Err(e) => drop((e.to_string(), e.hints())),
            }
        }
    });
}
