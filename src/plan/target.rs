//! The one table between Rust target triples and OCI platforms, and the short names users type.

use serde::Serialize;

use crate::oci::Platform;

/// The C library a target links against; decides which bases can run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// Statically linked by default: runs on any base, even `scratch`.
    Musl,
    /// Dynamically linked against glibc: needs a base that ships it.
    Gnu,
}

/// One row of the table: a triple's architecture prefix and what it means for OCI.
struct Row {
    /// The triple with the vendor/os/env part left out, e.g. `aarch64`, `armv7`.
    arch: &'static str,
    /// Suffixes (`unknown-linux-musl`, …) that this row accepts.
    envs: &'static [&'static str],
    oci_arch: &'static str,
    variant: Option<&'static str>,
}

const MUSL: &str = "unknown-linux-musl";
const GNU: &str = "unknown-linux-gnu";

/// Every triple we can put into an image. Keep it sorted by architecture; `TABLE` order is the
/// order of the "known targets" list in error messages.
const TABLE: &[Row] = &[
    Row { arch: "x86_64", envs: &[MUSL, GNU], oci_arch: "amd64", variant: None },
    Row { arch: "aarch64", envs: &[MUSL, GNU], oci_arch: "arm64", variant: Some("v8") },
    Row { arch: "i686", envs: &[MUSL, GNU], oci_arch: "386", variant: None },
    Row { arch: "i586", envs: &[MUSL, GNU], oci_arch: "386", variant: None },
    Row {
        arch: "armv7",
        envs: &["unknown-linux-gnueabihf", "unknown-linux-musleabihf"],
        oci_arch: "arm",
        variant: Some("v7"),
    },
    Row {
        arch: "arm",
        envs: &[
            "unknown-linux-gnueabihf",
            "unknown-linux-musleabihf",
            "unknown-linux-gnueabi",
            "unknown-linux-musleabi",
        ],
        oci_arch: "arm",
        variant: Some("v6"),
    },
    Row { arch: "riscv64gc", envs: &[GNU, MUSL], oci_arch: "riscv64", variant: None },
    Row { arch: "s390x", envs: &[GNU, MUSL], oci_arch: "s390x", variant: None },
    Row { arch: "powerpc64le", envs: &[GNU, MUSL], oci_arch: "ppc64le", variant: None },
    Row { arch: "loongarch64", envs: &[GNU, MUSL], oci_arch: "loong64", variant: None },
];

/// Short names and Docker platform strings → the triple they stand for. musl by default: a
/// static binary runs on every base, including the built-in one.
const SHORT: &[(&str, &str)] = &[
    ("x86_64", "x86_64-unknown-linux-musl"),
    ("amd64", "x86_64-unknown-linux-musl"),
    ("linux/amd64", "x86_64-unknown-linux-musl"),
    ("aarch64", "aarch64-unknown-linux-musl"),
    ("arm64", "aarch64-unknown-linux-musl"),
    ("linux/arm64", "aarch64-unknown-linux-musl"),
    ("linux/arm64/v8", "aarch64-unknown-linux-musl"),
    ("i686", "i686-unknown-linux-musl"),
    ("386", "i686-unknown-linux-musl"),
    ("linux/386", "i686-unknown-linux-musl"),
    ("armv7", "armv7-unknown-linux-musleabihf"),
    ("linux/arm/v7", "armv7-unknown-linux-musleabihf"),
    ("riscv64", "riscv64gc-unknown-linux-gnu"),
    ("linux/riscv64", "riscv64gc-unknown-linux-gnu"),
    ("s390x", "s390x-unknown-linux-gnu"),
    ("linux/s390x", "s390x-unknown-linux-gnu"),
    ("ppc64le", "powerpc64le-unknown-linux-gnu"),
    ("linux/ppc64le", "powerpc64le-unknown-linux-gnu"),
];

/// A target the user asked for, resolved: the exact Rust triple and its OCI platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The triple cargo builds for, e.g. `aarch64-unknown-linux-musl`.
    pub triple: String,
    /// A glibc floor for gnu targets (zigbuild's `.2.31` suffix), e.g. `2.31`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
    pub platform: Platform,
    pub libc: Libc,
}

/// Why a target name was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown target `{0}`")]
pub struct UnknownTarget(pub String);

impl UnknownTarget {
    /// The names users can type, for the hint.
    pub fn known_names() -> String {
        let mut names: Vec<&str> = SHORT.iter().filter(|(s, _)| !s.contains('/')).map(|(s, _)| *s).collect();
        names.dedup();
        names.join(", ")
    }
}

impl Target {
    /// Parses a short name (`aarch64`), a Docker platform (`linux/arm64`), a triple
    /// (`aarch64-unknown-linux-gnu`) or a triple with a glibc floor (`aarch64-unknown-linux-gnu.2.31`).
    pub fn parse(name: &str) -> Result<Target, UnknownTarget> {
        let name = name.trim();
        let unknown = || UnknownTarget(name.to_string());
        if let Some((_, triple)) = SHORT.iter().find(|(s, _)| s.eq_ignore_ascii_case(name)) {
            return Target::from_triple(triple, None).ok_or_else(unknown);
        }
        // zigbuild's glibc suffix: everything after the first `.` that follows `-gnu…`.
        let (triple, glibc) = match name.split_once(".") {
            Some((t, v)) if t.contains("-gnu") && is_version(v) => (t, Some(v.to_string())),
            Some(_) => return Err(unknown()),
            None => (name, None),
        };
        Target::from_triple(triple, glibc).ok_or_else(unknown)
    }

    fn from_triple(triple: &str, glibc: Option<String>) -> Option<Target> {
        let (arch, env) = triple.split_once('-')?;
        let row = TABLE.iter().find(|r| r.arch == arch && r.envs.contains(&env))?;
        let libc = if env.contains("musl") { Libc::Musl } else { Libc::Gnu };
        Some(Target {
            triple: triple.to_string(),
            glibc: glibc.filter(|_| libc == Libc::Gnu),
            platform: Platform::new("linux", row.oci_arch, row.variant),
            libc,
        })
    }

    /// The triple as zigbuild wants it, with the glibc floor (if any) appended.
    pub fn zig_triple(&self) -> String {
        match &self.glibc {
            Some(v) => format!("{}.{v}", self.triple),
            None => self.triple.clone(),
        }
    }
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses `--target` values: each may be a comma-separated list. Duplicates (also under different
/// spellings) are dropped; the result is sorted by platform so the index does not depend on the
/// order the user typed.
pub fn parse_targets<S: AsRef<str>>(values: &[S]) -> Result<Vec<Target>, UnknownTarget> {
    let mut out: Vec<Target> = Vec::new();
    for v in values {
        for name in v.as_ref().split(',').filter(|s| !s.trim().is_empty()) {
            let t = Target::parse(name)?;
            if !out.iter().any(|o| o.triple == t.triple) {
                out.push(t);
            }
        }
    }
    out.sort_by(|a, b| a.platform.to_string().cmp(&b.platform.to_string()).then(a.triple.cmp(&b.triple)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plat(name: &str) -> String {
        Target::parse(name).unwrap().platform.to_string()
    }

    #[test]
    fn whole_table() {
        let cases = [
            ("x86_64-unknown-linux-musl", "linux/amd64", Libc::Musl),
            ("x86_64-unknown-linux-gnu", "linux/amd64", Libc::Gnu),
            ("aarch64-unknown-linux-musl", "linux/arm64", Libc::Musl),
            ("aarch64-unknown-linux-gnu", "linux/arm64", Libc::Gnu),
            ("i686-unknown-linux-musl", "linux/386", Libc::Musl),
            ("i686-unknown-linux-gnu", "linux/386", Libc::Gnu),
            ("i586-unknown-linux-gnu", "linux/386", Libc::Gnu),
            ("armv7-unknown-linux-gnueabihf", "linux/arm/v7", Libc::Gnu),
            ("armv7-unknown-linux-musleabihf", "linux/arm/v7", Libc::Musl),
            ("arm-unknown-linux-gnueabihf", "linux/arm/v6", Libc::Gnu),
            ("arm-unknown-linux-musleabihf", "linux/arm/v6", Libc::Musl),
            ("riscv64gc-unknown-linux-gnu", "linux/riscv64", Libc::Gnu),
            ("riscv64gc-unknown-linux-musl", "linux/riscv64", Libc::Musl),
            ("s390x-unknown-linux-gnu", "linux/s390x", Libc::Gnu),
            ("powerpc64le-unknown-linux-gnu", "linux/ppc64le", Libc::Gnu),
            ("loongarch64-unknown-linux-gnu", "linux/loong64", Libc::Gnu),
        ];
        for (triple, platform, libc) in cases {
            let t = Target::parse(triple).unwrap();
            assert_eq!(t.triple, triple);
            assert_eq!(t.platform.to_string(), platform, "{triple}");
            assert_eq!(t.libc, libc, "{triple}");
        }
    }

    #[test]
    fn short_names() {
        for (name, triple) in [
            ("x86_64", "x86_64-unknown-linux-musl"),
            ("amd64", "x86_64-unknown-linux-musl"),
            ("linux/amd64", "x86_64-unknown-linux-musl"),
            ("aarch64", "aarch64-unknown-linux-musl"),
            ("arm64", "aarch64-unknown-linux-musl"),
            ("linux/arm64", "aarch64-unknown-linux-musl"),
            ("i686", "i686-unknown-linux-musl"),
            ("386", "i686-unknown-linux-musl"),
        ] {
            assert_eq!(Target::parse(name).unwrap().triple, triple, "{name}");
        }
        assert_eq!(plat("arm64"), "linux/arm64");
        assert_eq!(Target::parse("arm64").unwrap().platform.variant.as_deref(), Some("v8"));
        assert_eq!(plat("386"), "linux/386");
    }

    #[test]
    fn glibc_floor_suffix() {
        let t = Target::parse("aarch64-unknown-linux-gnu.2.31").unwrap();
        assert_eq!(t.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(t.glibc.as_deref(), Some("2.31"));
        assert_eq!(t.zig_triple(), "aarch64-unknown-linux-gnu.2.31");
        assert!(Target::parse("aarch64-unknown-linux-gnu.x").is_err());
        assert!(Target::parse("aarch64-unknown-linux-musl.2.31").is_err());
    }

    #[test]
    fn unknown_names() {
        for bad in ["", "mips", "x86_64-pc-windows-msvc", "aarch64-apple-darwin", "linux/arm64/v9"] {
            assert_eq!(Target::parse(bad), Err(UnknownTarget(bad.to_string())));
        }
        assert!(UnknownTarget::known_names().contains("aarch64"));
    }

    #[test]
    fn list_parsing_sorts_and_dedups() {
        let t = parse_targets(&["aarch64,x86_64", "amd64", "linux/arm64"]).unwrap();
        let triples: Vec<_> = t.iter().map(|t| t.triple.as_str()).collect();
        assert_eq!(triples, ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]);
    }
}
