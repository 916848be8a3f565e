//! SLSA v1 provenance: an in-toto statement per platform image saying what built it, from what,
//! with which tools, and (after `cargo oci rebase`) which rebases moved it onto another base.
//! Deterministic: no wall-clock times, no host paths.

use serde_json::{json, Value};

use crate::oci::Digest;

pub const MEDIA_TYPE: &str = "application/vnd.in-toto+json";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const BUILD_TYPE: &str = "https://crates.io/crates/cargo-oci-image/build/v1";

/// Facts about one `cargo oci build`, gathered once (by `attest`, from `facts`).
#[derive(Clone, Debug, Default)]
pub struct BuildFacts {
    /// `rustc -vV`, verbatim.
    pub rustc: String,
    /// `cargo -V`.
    pub cargo: String,
    /// `zig version`, when zig built something.
    pub zig: Option<String>,
    pub profile: String,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    /// The user's own rustflags (ours, the path remaps, are listed without host paths).
    pub rustflags: Vec<String>,
    pub cargo_lock: Option<Digest>,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
}

/// What one statement is about.
pub struct Subject<'a> {
    pub image: &'a str,
    pub platform: &'a str,
    pub triple: &'a str,
    pub manifest: &'a Digest,
    /// All targets of the image (the statement is per platform, the build was for all of them).
    pub targets: &'a [String],
    pub tags: &'a [String],
    /// Base image name and manifest digest, when the base is not built in.
    pub base: Option<(&'a str, &'a Digest)>,
    pub base_builtin: Option<&'a str>,
}

pub fn statement(facts: &BuildFacts, s: &Subject<'_>) -> Value {
    let mut deps = Vec::new();
    if let Some(c) = &facts.git_commit {
        deps.push(json!({"uri": "git", "digest": {"gitCommit": c}, "annotations": {"dirty": facts.git_dirty.unwrap_or(false)}}));
    }
    if let Some(l) = &facts.cargo_lock {
        deps.push(json!({"name": "Cargo.lock", "digest": {"sha256": l.hex()}}));
    }
    match (s.base, s.base_builtin) {
        (Some(base), _) => deps.push(base_dependency(base)),
        (None, Some(b)) => deps.push(builtin_dependency(b)),
        _ => {}
    }
    let mut versions = json!({"cargo-oci": env!("CARGO_PKG_VERSION"), "rustc": facts.rustc, "cargo": facts.cargo});
    if let Some(z) = &facts.zig {
        versions["zig"] = json!(z);
    }
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": format!("{}@{}", s.image, s.platform), "digest": {"sha256": s.manifest.hex()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "image": s.image,
                    "target": s.triple,
                    "targets": s.targets,
                    "profile": facts.profile,
                    "features": facts.features,
                    "allFeatures": facts.all_features,
                    "noDefaultFeatures": facts.no_default_features,
                    "tags": s.tags,
                },
                "internalParameters": {"rustflags": facts.rustflags},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": format!("https://crates.io/crates/cargo-oci-image@{}", env!("CARGO_PKG_VERSION")), "version": versions},
                "metadata": {},
            },
        },
    })
}

fn base_dependency((name, digest): (&str, &Digest)) -> Value {
    json!({"name": name, "digest": {"sha256": digest.hex()}})
}

fn builtin_dependency(name: &str) -> Value {
    json!({"name": format!("cargo-oci built-in base `{name}`"), "annotations": {"version": env!("CARGO_PKG_VERSION")}})
}

/// One `cargo oci rebase` of one platform manifest.
pub struct Rebase<'a> {
    /// The image as named on the command line.
    pub image: &'a str,
    /// The manifest before the rebase, and after.
    pub from: &'a Digest,
    pub to: &'a Digest,
    /// The base it was on (from the manifest's `org.opencontainers.image.base.*` annotations;
    /// `None` for a built-in base, which has no digest).
    pub old_base: Option<(&'a str, &'a Digest)>,
    /// The base it is on now: its name as given, and its manifest digest unless built in.
    pub new_base: &'a str,
    pub new_base_digest: Option<&'a Digest>,
}

/// The statement for a rebased manifest, from the statement of the manifest it was made from:
/// the original build's definition and run details are kept (the binaries are still that build's
/// bytes), the subject is the new manifest, `resolvedDependencies` gains the new base and the
/// manifest before the rebase, and `externalParameters.rebases` lists every rebase in order (a
/// rebase of a rebased image appends), with its parameters, so the steps can be repeated. The
/// rebasing cargo-oci is named in `runDetails.builder.version`. Pure: same inputs, same bytes.
pub fn rebased(original: &Value, r: &Rebase<'_>) -> Value {
    let mut s = original.clone();
    if let Some(subjects) = s["subject"].as_array_mut() {
        for subject in subjects {
            subject["digest"] = json!({"sha256": r.to.hex()});
        }
    }
    let definition = &mut s["predicate"]["buildDefinition"];
    // Marked, so a reader tells them from the build's own dependencies (the old base among them).
    let mut new_base = match r.new_base_digest {
        Some(d) => base_dependency((r.new_base, d)),
        None => builtin_dependency(r.new_base),
    };
    new_base["annotations"]["role"] = json!("new base (cargo oci rebase)");
    let before = json!({
        "name": r.image,
        "digest": {"sha256": r.from.hex()},
        "annotations": {"role": "image before the rebase (cargo oci rebase)"},
    });
    push(&mut definition["resolvedDependencies"], [new_base, before]);
    let step = json!({
        "command": "cargo oci rebase",
        "image": r.image,
        "imageDigest": r.from.to_string(),
        "oldBase": r.old_base.map(|(name, d)| json!({"name": name, "digest": d.to_string()})),
        "newBase": {"name": r.new_base, "digest": r.new_base_digest.map(|d| d.to_string())},
        "builder": format!("https://crates.io/crates/cargo-oci-image@{}", env!("CARGO_PKG_VERSION")),
    });
    push(&mut definition["externalParameters"]["rebases"], [step]);
    s["predicate"]["runDetails"]["builder"]["version"]["cargo-oci rebase"] = json!(env!("CARGO_PKG_VERSION"));
    s
}

/// Appends to a JSON array, making it when absent (a statement we did not write may lack it).
fn push<const N: usize>(list: &mut Value, items: [Value; N]) {
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(list) = list.as_array_mut() {
        list.extend(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_names_subject_and_lockfile() {
        let lock = Digest::of(b"lock");
        let manifest = Digest::of(b"manifest");
        let facts = BuildFacts { cargo_lock: Some(lock.clone()), profile: "release".into(), ..Default::default() };
        let s = statement(
            &facts,
            &Subject {
                image: "app",
                platform: "linux/arm64",
                triple: "aarch64-unknown-linux-musl",
                manifest: &manifest,
                targets: &["aarch64-unknown-linux-musl".into()],
                tags: &["1.0".into()],
                base: None,
                base_builtin: Some("static"),
            },
        );
        assert_eq!(s["subject"][0]["digest"]["sha256"], manifest.hex());
        assert_eq!(s["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"], lock.hex());
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
    }

    #[test]
    fn a_rebased_statement_keeps_the_build_and_records_each_rebase() {
        let (m1, m2, m3) = (Digest::of(b"m1"), Digest::of(b"m2"), Digest::of(b"m3"));
        let (a, b) = (Digest::of(b"base a"), Digest::of(b"base b"));
        let facts = BuildFacts { profile: "release".into(), ..Default::default() };
        let built = statement(
            &facts,
            &Subject {
                image: "app",
                platform: "linux/arm64",
                triple: "aarch64-unknown-linux-musl",
                manifest: &m1,
                targets: &[],
                tags: &[],
                base: Some(("oci:a:1", &a)),
                base_builtin: None,
            },
        );
        let once = Rebase {
            image: "oci:app:1",
            from: &m1,
            to: &m2,
            old_base: Some(("oci:a:1", &a)),
            new_base: "oci:b:1",
            new_base_digest: Some(&b),
        };
        let s = rebased(&built, &once);
        assert_eq!(s["subject"][0]["digest"]["sha256"], m2.hex());
        assert_eq!(s["subject"][0]["name"], built["subject"][0]["name"]);
        let deps = &s["predicate"]["buildDefinition"]["resolvedDependencies"];
        assert_eq!(deps[0]["digest"]["sha256"], a.hex(), "the build's own dependencies stay");
        assert_eq!(deps[1]["name"], "oci:b:1");
        assert_eq!(deps[1]["digest"]["sha256"], b.hex());
        assert_eq!(deps[1]["annotations"]["role"], "new base (cargo oci rebase)");
        assert_eq!(deps[2]["digest"]["sha256"], m1.hex());
        let step = &s["predicate"]["buildDefinition"]["externalParameters"]["rebases"][0];
        assert_eq!(step["oldBase"]["digest"], a.to_string());
        assert_eq!(step["newBase"]["digest"], b.to_string());
        assert_eq!(s["predicate"]["buildDefinition"]["externalParameters"]["profile"], "release");
        assert_eq!(rebased(&built, &once), s, "pure");
        // A second rebase appends, builtin base (no digest) included.
        let twice = Rebase {
            from: &m2,
            to: &m3,
            old_base: Some(("oci:b:1", &b)),
            new_base: "scratch",
            new_base_digest: None,
            ..once
        };
        let t = rebased(&s, &twice);
        assert_eq!(t["predicate"]["buildDefinition"]["externalParameters"]["rebases"].as_array().unwrap().len(), 2);
        assert_eq!(t["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap().len(), 5);
        assert!(t["predicate"]["buildDefinition"]["externalParameters"]["rebases"][1]["newBase"]["digest"].is_null());
    }
}
