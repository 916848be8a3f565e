//! Which backend builds each target, and why: the `auto` decision table.

use serde::{Deserialize, Serialize};

use super::target::{Libc, Target};
use super::{BackendChoice, BackendKind, CargoFlags, PlanError};
use crate::facts::Facts;

/// What the user asked for (`--backend`, `backend` in Cargo.toml, also per target), read by serde
/// like every other key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendRequest {
    /// Decide per target: cargo + rust-lld when nothing needs a C toolchain, else zig.
    #[default]
    Auto,
    /// Plain `cargo build` (rust-lld for musl unless a linker is configured).
    Cargo,
    /// `cargo zigbuild`: zig as C compiler and linker, glibc floors.
    Zigbuild,
    /// `cross build`, in a container (needs docker or podman).
    Cross,
}

/// What the decision looks at for one target, gathered lazily (the C-build scan runs
/// `cargo metadata` for the target, so it is only asked for when the table needs it).
pub struct Seen<'a> {
    /// Where the user configured a linker for this target, if anywhere.
    pub linker: Option<String>,
    /// The packages compiled for this target that build C code (see [`Facts::c_builds`]).
    pub c_builds: &'a mut dyn FnMut() -> Result<Vec<String>, PlanError>,
}

/// Asks the facts for `target` and applies the table. `request` is this target's request;
/// `package` is (name, package id).
pub fn choose_backend(
    target: &Target,
    request: BackendRequest,
    package: (&str, &str),
    flags: &CargoFlags,
    facts: &Facts,
) -> Result<BackendChoice, PlanError> {
    let mut c_builds = || Ok(facts.c_builds(flags, package.1, &target.triple)?);
    let seen = Seen { linker: facts.linker(&target.triple), c_builds: &mut c_builds };
    decide(target, request, package.0, seen)
}

/// The decision table (unit-tested row by row below):
///
/// | request  | target                          | → backend                         |
/// |----------|---------------------------------|-----------------------------------|
/// | zigbuild | any                             | zigbuild                          |
/// | cross    | any (no glibc floor)            | cross                             |
/// | auto     | gnu with a glibc floor          | zigbuild (only zig pins glibc)    |
/// | any      | linker configured by the user   | cargo with that linker            |
/// | any      | musl, no C in its graph         | cargo + rust-lld                  |
/// | auto     | musl with C, or gnu             | zigbuild                          |
/// | cargo    | musl with C, or gnu, no linker  | error: needs a C compiler         |
pub fn decide(
    target: &Target,
    request: BackendRequest,
    package: &str,
    facts: Seen<'_>,
) -> Result<BackendChoice, PlanError> {
    let choice =
        |kind, reason: String, linker: Option<&str>| BackendChoice { kind, reason, linker: linker.map(String::from) };
    let floor = target.glibc.as_deref();
    match (request, floor) {
        (BackendRequest::Zigbuild, _) => {
            return Ok(choice(BackendKind::Zigbuild, "asked for with --backend zigbuild".into(), None))
        }
        (BackendRequest::Cross, None) => {
            return Ok(choice(BackendKind::Cross, "asked for with --backend cross".into(), None))
        }
        (BackendRequest::Auto, Some(v)) => {
            return Ok(choice(
                BackendKind::Zigbuild,
                format!("glibc floor {v} asked for: only zig links against an older glibc than the host's"),
                None,
            ))
        }
        (BackendRequest::Cargo | BackendRequest::Cross, Some(v)) => {
            return Err(PlanError::FloorNeedsZig {
                triple: target.triple.clone(),
                glibc: v.into(),
                backend: format!("{request:?}").to_lowercase(),
            })
        }
        (BackendRequest::Auto | BackendRequest::Cargo, None) => {}
    }
    if let Some(where_) = facts.linker {
        return Ok(choice(BackendKind::Cargo, format!("linker configured by the user ({where_})"), None));
    }
    let c = match target.libc {
        Libc::Musl => (facts.c_builds)()?,
        Libc::Gnu => Vec::new(),
    };
    let why_c = c.first().map(|first| {
        let more = if c.len() > 1 { format!(" (and {} more)", c.len() - 1) } else { String::new() };
        format!("{first} compiles C code{more}")
    });
    match (target.libc, why_c, request) {
        (Libc::Musl, None, _) => Ok(choice(
            BackendKind::Cargo,
            "pure Rust for this target: linked by the toolchain's rust-lld, no C toolchain needed".into(),
            Some("rust-lld"),
        )),
        (Libc::Musl, Some(why), BackendRequest::Auto) => {
            Ok(choice(BackendKind::Zigbuild, format!("{why}: zig is the C cross compiler"), None))
        }
        (Libc::Gnu, _, BackendRequest::Auto) => Ok(choice(
            BackendKind::Zigbuild,
            "glibc target: zig links against glibc for any architecture, with a glibc floor".into(),
            None,
        )),
        (Libc::Musl, Some(why), _) => {
            Err(PlanError::NeedsCCompiler { package: package.into(), triple: target.triple.clone(), why })
        }
        (Libc::Gnu, _, _) => Err(PlanError::NeedsCCompiler {
            package: package.into(),
            triple: target.triple.clone(),
            why: "linking against glibc needs a C toolchain for the target, and no linker is configured".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_C: &[&str] = &[];
    const WITH_C: &[&str] =
        &["ring 0.17.14 (links = \"ring_core_0_17_14_\")", "zstd-sys 2.1.3 (build-dependency on cc)"];

    /// One row: (request, target, configured linker, C builds) → (backend or error, reason or message).
    fn row(request: BackendRequest, target: &str, linker: Option<&str>, c: &[&str]) -> String {
        let t = Target::parse(target).unwrap();
        let mut asked = false;
        let mut c_builds = || {
            asked = true;
            Ok(c.iter().map(|s| s.to_string()).collect())
        };
        let facts = Seen { linker: linker.map(String::from), c_builds: &mut c_builds };
        let out = match decide(&t, request, "app", facts) {
            Ok(b) => format!("{:?}{}: {}", b.kind, b.linker.map(|l| format!("+{l}")).unwrap_or_default(), b.reason),
            Err(e) => format!("error: {e}"),
        };
        format!("{out}{}", if asked { "" } else { " [no scan]" })
    }

    #[test]
    fn decision_table() {
        use BackendRequest::*;
        type Row<'a> = (BackendRequest, &'a str, Option<&'a str>, &'a [&'a str], &'a str);
        let cases: &[Row] = &[
            (Auto, "aarch64", None, NO_C, "Cargo+rust-lld: pure Rust for this target: linked by the toolchain's rust-lld, no C toolchain needed"),
            (Auto, "aarch64", None, WITH_C, "Zigbuild: ring 0.17.14 (links = \"ring_core_0_17_14_\") compiles C code (and 1 more): zig is the C cross compiler"),
            (Auto, "aarch64", Some("CARGO_TARGET_X_LINKER=gcc"), WITH_C, "Cargo: linker configured by the user (CARGO_TARGET_X_LINKER=gcc) [no scan]"),
            (Auto, "aarch64-unknown-linux-gnu", None, NO_C, "Zigbuild: glibc target: zig links against glibc for any architecture, with a glibc floor [no scan]"),
            (Auto, "aarch64-unknown-linux-gnu", Some("cfg"), NO_C, "Cargo: linker configured by the user (cfg) [no scan]"),
            (Auto, "aarch64-unknown-linux-gnu.2.31", Some("cfg"), NO_C, "Zigbuild: glibc floor 2.31 asked for: only zig links against an older glibc than the host's [no scan]"),
            (Cargo, "x86_64", None, NO_C, "Cargo+rust-lld: pure Rust for this target: linked by the toolchain's rust-lld, no C toolchain needed"),
            (Cargo, "aarch64", None, WITH_C, "error: `app` needs a C compiler for `aarch64-unknown-linux-musl`: ring 0.17.14 (links = \"ring_core_0_17_14_\") compiles C code (and 1 more)"),
            (Cargo, "aarch64", Some("cfg"), WITH_C, "Cargo: linker configured by the user (cfg) [no scan]"),
            (Cargo, "aarch64-unknown-linux-gnu", None, NO_C, "error: `app` needs a C compiler for `aarch64-unknown-linux-gnu`: linking against glibc needs a C toolchain for the target, and no linker is configured [no scan]"),
            (Cargo, "aarch64-unknown-linux-gnu.2.31", Some("cfg"), NO_C, "error: a glibc floor (2.31 for `aarch64-unknown-linux-gnu`) needs the zigbuild backend, not cargo [no scan]"),
            (Zigbuild, "x86_64", None, NO_C, "Zigbuild: asked for with --backend zigbuild [no scan]"),
            (Zigbuild, "aarch64-unknown-linux-gnu.2.17", Some("cfg"), NO_C, "Zigbuild: asked for with --backend zigbuild [no scan]"),
            (Cross, "aarch64", None, WITH_C, "Cross: asked for with --backend cross [no scan]"),
            (Cross, "aarch64-unknown-linux-gnu.2.31", None, NO_C, "error: a glibc floor (2.31 for `aarch64-unknown-linux-gnu`) needs the zigbuild backend, not cross [no scan]"),
        ];
        for (request, target, linker, c, want) in cases {
            assert_eq!(row(*request, target, *linker, c), *want, "{request:?} {target} {linker:?} {c:?}");
        }
    }
}
