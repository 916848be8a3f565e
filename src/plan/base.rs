//! Which base an image is built on: parsing `--base`, and what each kind of base can run.

use super::platform::{Libc, Target};
use super::{BaseSpec, PlanError};
use crate::env::Env;

/// `static`, `scratch`, or `oci:DIR[:TAG]` (relative to the cwd).
pub fn parse_base(base: &str, env: &Env) -> Result<BaseSpec, PlanError> {
    match base {
        "static" => Ok(BaseSpec::Static),
        "scratch" => Ok(BaseSpec::Scratch),
        other => match crate::store::layout_source::parse_oci_ref(other) {
            Some((path, tag)) => Ok(BaseSpec::Layout { path: env.cwd.join(path), tag }),
            None => Err(PlanError::UnknownBase { base: other.into() }),
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
