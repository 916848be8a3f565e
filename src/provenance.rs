//! SLSA v1 provenance: an in-toto statement per platform image saying what built it, from what,
//! with which tools. Deterministic: no wall-clock times, no host paths.

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
        (Some((name, digest)), _) => deps.push(json!({"name": name, "digest": {"sha256": digest.hex()}})),
        (None, Some(b)) => deps.push(json!({"name": format!("cargo-oci built-in base `{b}`"), "annotations": {"version": env!("CARGO_PKG_VERSION")}})),
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
}
