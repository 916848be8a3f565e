//! glibc floors: the oldest glibc a gnu binary may need. From the target's `.2.31` suffix, from
//! `--glibc`, or (the automatic floor) from the glibc version of the base it goes onto.

use std::fmt;

use super::target::{Libc, Target};
use super::{BackendKind, ImagePlan, ImageTarget, Plan, PlanError};

/// A glibc version such as `2.31` (a third part, rare, is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion(pub u32, pub u32, pub u32);

impl GlibcVersion {
    /// `2.31`, `2.31.1`; also the start of a Debian version (`2.36-9+deb12u4` → 2.36).
    pub fn parse(s: &str) -> Option<GlibcVersion> {
        let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let parts: Vec<&str> = s[..end].trim_end_matches('.').split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let n: Vec<u32> = parts.iter().map(|p| p.parse().ok()).collect::<Option<_>>()?;
        Some(GlibcVersion(n[0], n[1], n.get(2).copied().unwrap_or(0)))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            p => write!(f, "{}.{}.{p}", self.0, self.1),
        }
    }
}

/// `--glibc V` sets the floor of every gnu target that has no suffix of its own.
pub fn apply_flag(targets: &mut [Target], flag: Option<&str>) -> Result<(), PlanError> {
    let Some(value) = flag else { return Ok(()) };
    let v = GlibcVersion::parse(value)
        .filter(|v| v.to_string() == value.trim())
        .ok_or_else(|| PlanError::BadGlibc { value: value.into() })?;
    for t in targets.iter_mut().filter(|t| t.libc == Libc::Gnu && t.glibc.is_none()) {
        t.glibc = Some(v.to_string());
    }
    Ok(())
}

impl Plan {
    /// Whether a job wants the automatic floor (see [`apply_base_floors`]), so the bases must be
    /// read to plan it.
    pub fn wants_base_floors(&self) -> bool {
        self.jobs.iter().any(wants_floor)
    }
}

fn wants_floor(job: &super::CompileJob) -> bool {
    job.target.libc == Libc::Gnu && job.target.glibc.is_none() && job.backend.kind == BackendKind::Zigbuild
}

/// The automatic floor, the plan's second step (pure: `base_glibc` says what each image target's
/// base has, `None`: unknown): every zigbuild job for a gnu target without a floor builds against
/// the oldest glibc among the bases its triple goes onto, so no binary needs a newer glibc than
/// its base has. The image targets built by that job get the floor and the reason, and the jobs
/// are derived again. `build` runs it once the bases are read; `cargo oci plan` runs it too, so
/// the plan it prints is the one built. Returns one line per decision, for `-v`.
pub fn apply_base_floors(
    plan: &mut Plan,
    base_glibc: &dyn Fn(&ImagePlan, &ImageTarget) -> Option<GlibcVersion>,
) -> Vec<String> {
    let mut notes = Vec::new();
    for job in plan.jobs.clone() {
        if !wants_floor(&job) {
            continue;
        }
        let triple = &job.target.triple;
        let bases: Vec<(&ImagePlan, &ImageTarget, Option<GlibcVersion>)> = plan
            .images
            .iter()
            .flat_map(|i| i.targets.iter().filter(|t| t.target.triple == *triple).map(move |t| (i, t)))
            .map(|(i, t)| (i, t, base_glibc(i, t)))
            .collect();
        let Some(v) = bases.iter().filter_map(|(_, _, v)| *v).min() else {
            notes.push(format!(
                "none for {triple}: the base's glibc version is unknown (zig's default applies; the ELF check still runs)"
            ));
            continue;
        };
        let from = bases.iter().find(|(_, _, b)| *b == Some(v)).map(|(_, t, _)| t.base.to_string()).unwrap_or_default();
        for t in plan.images.iter_mut().flat_map(|i| i.targets.iter_mut()) {
            if t.target.triple == *triple && t.target.glibc.is_none() && t.backend == job.backend {
                t.target.glibc = Some(v.to_string());
                t.backend.reason.push_str(&format!("; glibc floor {v}, the glibc of the base `{from}`"));
            }
        }
        notes.push(format!("{v} for {triple}: the glibc of the base `{from}`"));
    }
    let old = std::mem::replace(&mut plan.jobs, super::jobs(&plan.images));
    // The floors change no package's dependencies: each job keeps the system libraries found for
    // the same triple and packages.
    for job in &mut plan.jobs {
        for o in old.iter().filter(|o| o.target.triple == job.target.triple) {
            if o.units.iter().any(|u| job.units.iter().any(|n| n.package_id == u.package_id)) {
                for lib in &o.system_libs {
                    if !job.system_libs.contains(lib) {
                        job.system_libs.push(lib.clone());
                    }
                }
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(GlibcVersion::parse("2.31"), Some(GlibcVersion(2, 31, 0)));
        assert_eq!(GlibcVersion::parse("2.36-9+deb12u4"), Some(GlibcVersion(2, 36, 0)));
        assert_eq!(GlibcVersion::parse("2.17.1"), Some(GlibcVersion(2, 17, 1)));
        assert_eq!(GlibcVersion::parse("2"), None);
        assert_eq!(GlibcVersion::parse("x.1"), None);
        assert!(GlibcVersion(2, 9, 0) < GlibcVersion(2, 17, 0), "numeric, not text, order");
        assert_eq!(GlibcVersion(2, 28, 0).to_string(), "2.28");
    }

    #[test]
    fn flag_applies_to_gnu_targets_without_their_own_floor() {
        let mut t: Vec<Target> = ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64"]
            .iter()
            .map(|n| Target::parse(n).unwrap())
            .collect();
        apply_flag(&mut t, Some("2.31")).unwrap();
        let floors: Vec<Option<&str>> = t.iter().map(|t| t.glibc.as_deref()).collect();
        assert_eq!(floors, [Some("2.31"), Some("2.17"), None]);
        assert!(matches!(apply_flag(&mut t, Some("2.31-x")), Err(PlanError::BadGlibc { .. })));
        assert!(matches!(apply_flag(&mut t, Some("latest")), Err(PlanError::BadGlibc { .. })));
    }
}
