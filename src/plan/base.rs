//! Which base an image is built on: parsing `--base`, and what each kind of base can run.

use super::platform::{Libc, Target};
use super::{BaseSpec, PlanError};
use crate::env::Env;

/// Short names for the distroless images the built-in `static` base stands in for.
pub const ALIASES: &[(&str, &str)] = &[
    ("distroless-static", "gcr.io/distroless/static-debian12:nonroot"),
    ("distroless-cc", "gcr.io/distroless/cc-debian12:nonroot"),
];

/// `static`, `scratch`, `oci:DIR[:TAG]` (relative to the cwd), a registry reference (optionally
/// as `docker://REF`), or an alias from [`ALIASES`].
pub fn parse_base(base: &str, env: &Env) -> Result<BaseSpec, PlanError> {
    match base {
        "static" => Ok(BaseSpec::Static),
        "scratch" => Ok(BaseSpec::Scratch),
        other => match crate::store::layout_source::parse_oci_ref(other) {
            Some((path, tag)) => Ok(BaseSpec::Layout { path: env.cwd.join(path), tag }),
            None if other.is_empty() => Err(PlanError::UnknownBase { base: other.into() }),
            None => {
                let r = ALIASES.iter().find(|(a, _)| *a == other).map_or(other, |(_, r)| r);
                let r = r.strip_prefix("docker://").unwrap_or(r);
                Ok(BaseSpec::Registry { reference: crate::store::registry::Reference::parse(r)? })
            }
        },
    }
}

/// gnu binaries are dynamically linked against glibc; the built-in bases have none.
pub fn check_libc(target: &Target, base: &BaseSpec) -> Result<(), PlanError> {
    if target.libc == Libc::Gnu && matches!(base, BaseSpec::Static | BaseSpec::Scratch) {
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
        assert_eq!(spec("distroless-static").unwrap(), "gcr.io/distroless/static-debian12:nonroot");
        assert_eq!(spec("distroless-cc").unwrap(), "gcr.io/distroless/cc-debian12:nonroot");
        assert_eq!(spec("docker://127.0.0.1:5000/base:1").unwrap(), "127.0.0.1:5000/base:1");
        assert_eq!(spec("alpine").unwrap(), "docker.io/library/alpine");
        assert_eq!(spec("oci:lay:t").unwrap(), "oci:/w/lay:t");
        assert!(matches!(parse_base("Not A Ref", &env), Err(PlanError::Reference(_))));
    }

    #[test]
    fn gnu_on_builtin_base_is_refused_with_the_musl_alternative() {
        let t = Target::parse("aarch64-unknown-linux-gnu").unwrap();
        match check_libc(&t, &BaseSpec::Static) {
            Err(PlanError::GlibcTargetOnBase { short, .. }) => {
                assert_eq!(short.as_deref(), Some("aarch64-unknown-linux-musl"))
            }
            other => panic!("{other:?}"),
        }
        assert!(check_libc(&Target::parse("aarch64").unwrap(), &BaseSpec::Scratch).is_ok());
    }
}
