//! Which base an image is built on: parsing `--base`, and what each kind of base can run.

use super::glibc::GlibcVersion;
use super::target::{Libc, Target};
use super::{ImageName, PlanError};
use crate::env::Env;

/// Short names for well-known distroless-style bases (the built-in `static` stands in for the
/// first). Debian 12's distroless images lost support in September 2026: the aliases name the
/// Debian 13 ones (which add riscv64; `cc-debian13` has glibc 2.41).
pub const ALIASES: &[(&str, &str)] = &[
    ("distroless-static", "gcr.io/distroless/static-debian13:nonroot"),
    ("distroless-cc", "gcr.io/distroless/cc-debian13:nonroot"),
    ("chainguard-static", "cgr.dev/chainguard/static:latest"),
];

/// What a well-known base has for a C library, by repository (any tag or digest): `None` is no
/// libc at all (static binaries only), `Some(v)` glibc `v`. Known before anything is pulled, so
/// a gnu target on a static base is refused up front, and the glibc floor of a base whose files
/// do not say is still right.
const KNOWN_LIBC: &[(&str, Option<GlibcVersion>)] = &[
    ("gcr.io/distroless/static-debian13", None),
    ("gcr.io/distroless/static-debian12", None),
    ("gcr.io/distroless/static", None),
    ("cgr.dev/chainguard/static", None),
    ("gcr.io/distroless/cc-debian13", Some(GlibcVersion(2, 41, 0))),
    ("gcr.io/distroless/cc-debian12", Some(GlibcVersion(2, 36, 0))),
];

/// `Some(libc)` for a base whose C library is known (see [`KNOWN_LIBC`]); the built-in bases
/// have none.
pub fn known_libc(base: &ImageName) -> Option<Option<GlibcVersion>> {
    match base {
        ImageName::Static | ImageName::Scratch => Some(None),
        ImageName::Registry { reference } => {
            KNOWN_LIBC.iter().find(|(name, _)| reference.name() == *name).map(|(_, libc)| *libc)
        }
        ImageName::Layout { .. } => None,
    }
}

/// `static`, `scratch`, `oci:DIR[:TAG]` (relative to the cwd), a registry reference (optionally
/// as `docker://REF`), or an alias from [`ALIASES`].
pub fn parse_base(base: &str, env: &Env) -> Result<ImageName, PlanError> {
    match base {
        "static" => Ok(ImageName::Static),
        "scratch" => Ok(ImageName::Scratch),
        other => match crate::oci::name::parse_oci_ref(other) {
            Some((path, tag)) => Ok(ImageName::Layout { path: env.cwd.join(path), tag, digest: None }),
            None if other.is_empty() => Err(PlanError::UnknownBase { base: other.into() }),
            None => {
                let r = ALIASES.iter().find(|(a, _)| *a == other).map_or(other, |(_, r)| r);
                let r = r.strip_prefix("docker://").unwrap_or(r);
                Ok(ImageName::Registry { reference: crate::oci::Reference::parse(r)? })
            }
        },
    }
}

/// gnu binaries are dynamically linked against glibc; the built-in bases and the static
/// distroless-style ones have none.
pub fn check_libc(target: &Target, base: &ImageName) -> Result<(), PlanError> {
    if target.libc == Libc::Gnu && known_libc(base) == Some(None) {
        let musl = target.triple.replace("-gnu", "-musl");
        let short = Target::parse(&musl).ok().map(|t| t.triple);
        return Err(PlanError::GlibcTargetOnBase { triple: target.triple.clone(), short, base: base.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_bases_and_aliases() {
        let env = Env::from_pairs("/w".into(), []);
        let spec = |s: &str| parse_base(s, &env).map(|b| b.to_string());
        assert_eq!(spec("distroless-static").unwrap(), "gcr.io/distroless/static-debian13:nonroot");
        assert_eq!(spec("distroless-cc").unwrap(), "gcr.io/distroless/cc-debian13:nonroot");
        assert_eq!(spec("chainguard-static").unwrap(), "cgr.dev/chainguard/static:latest");
        assert_eq!(spec("docker://127.0.0.1:5000/base:1").unwrap(), "127.0.0.1:5000/base:1");
        assert_eq!(spec("alpine").unwrap(), "docker.io/library/alpine");
        assert_eq!(spec("oci:lay:t").unwrap(), "oci:/w/lay:t");
        assert!(matches!(parse_base("Not A Ref", &env), Err(PlanError::Reference(_))));
    }

    #[test]
    fn gnu_on_builtin_base_is_refused_with_the_musl_alternative() {
        let t = Target::parse("aarch64-unknown-linux-gnu").unwrap();
        match check_libc(&t, &ImageName::Static) {
            Err(PlanError::GlibcTargetOnBase { short, .. }) => {
                assert_eq!(short.as_deref(), Some("aarch64-unknown-linux-musl"))
            }
            other => panic!("{other:?}"),
        }
        assert!(check_libc(&Target::parse("aarch64").unwrap(), &ImageName::Scratch).is_ok());
        let env = Env::from_pairs("/w".into(), []);
        for static_base in [
            "distroless-static",
            "chainguard-static",
            "gcr.io/distroless/static-debian12@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let base = parse_base(static_base, &env).unwrap();
            assert!(matches!(check_libc(&t, &base), Err(PlanError::GlibcTargetOnBase { .. })), "{static_base}");
        }
        assert!(check_libc(&t, &parse_base("distroless-cc", &env).unwrap()).is_ok());
        assert!(
            check_libc(&t, &parse_base("127.0.0.1:5000/debian:12", &env).unwrap()).is_ok(),
            "unknown: checked later"
        );
    }

    #[test]
    fn the_glibc_of_known_bases_follows_the_debian_release() {
        let env = Env::from_pairs("/w".into(), []);
        let libc = |s: &str| known_libc(&parse_base(s, &env).unwrap());
        assert_eq!(libc("distroless-cc"), Some(Some(GlibcVersion(2, 41, 0))));
        assert_eq!(libc("gcr.io/distroless/cc-debian12:latest"), Some(Some(GlibcVersion(2, 36, 0))));
        assert_eq!(libc("distroless-static"), Some(None));
        assert_eq!(libc("static"), Some(None));
        assert_eq!(libc("alpine"), None);
        assert_eq!(libc("oci:lay:t"), None);
    }
}
