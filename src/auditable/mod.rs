//! Auditable binaries (on unless `auditable = false` / `--no-auditable`): each built binary gets
//! cargo-auditable's `.dep-v0` section, the list of packages compiled into it for its target,
//! so vulnerability scanners see the dependencies of a distroless image (Trivy, Grype and
//! Docker Scout read nothing else by default: aquasecurity/trivy#3768).
//!
//! Added after linking, to a copy under `<target-dir>/oci/auditable/` (cargo's own outputs stay
//! as they are), rather than at link time. cargo-auditable's own mechanism — a rustc wrapper that
//! links a `.o` holding the section — cannot reach inside `cross` (cross forwards no rustc
//! wrapper and does not mount cargo's bin dir), would change cargo's fingerprints (on/off
//! rebuilds the workspace) and would have to chain a user's own wrapper (sccache). Running under
//! `cargo auditable` when it happens to be installed would make the digest depend on whether,
//! and which version of, it is installed. The data is the same either way: cargo-auditable's
//! walk, auditable-serde's types, the same compression (see `sbom::auditable`); readers find it
//! by section name.

mod elf;

use std::path::{Path, PathBuf};

use crate::compile::Artifacts;
use crate::facts::{Facts, FactsError};
use crate::plan::{CompileJob, Plan};
use crate::shell::Shell;

pub use elf::AppendError;

/// The section cargo-auditable's readers look for.
pub const SECTION: &str = ".dep-v0";

/// Gives every binary `job` built for an auditable image its `.dep-v0` section; `artifacts` then
/// names the copies.
pub fn embed(
    plan: &Plan,
    facts: &Facts,
    job: &CompileJob,
    artifacts: &mut Artifacts,
    shell: &mut Shell,
) -> Result<(), AuditableError> {
    let triple = &job.target.triple;
    for unit in &job.units {
        let wanted = plan.images.iter().any(|i| i.package.id == unit.package_id && i.auditable);
        if !wanted {
            continue;
        }
        let metadata = facts.metadata(Some(plan.cargo.manifest_path.as_path()), &plan.cargo, Some(triple))?;
        let root = cargo_metadata::PackageId { repr: unit.package_id.clone() };
        let (data, count) = crate::sbom::auditable::dep_v0(&metadata, &root)
            .map_err(|source| AuditableError::Json { package: unit.package.clone(), source })?;
        for bin in &unit.bins {
            let Some(path) = artifacts.get(&unit.package_id, bin, triple).map(Path::to_path_buf) else { continue };
            let out = plan.target_dir.join("oci/auditable").join(triple).join(&unit.package).join(bin);
            let failed = |why| AuditableError::Append { bin: bin.clone(), path: path.clone(), why };
            if stamp(&path, &out, &data)
                .is_some_and(|s| std::fs::read_to_string(stamp_path(&out)).is_ok_and(|k| k == s))
            {
                artifacts.insert(&unit.package_id, bin, triple, out);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| AuditableError::Io { path: path.clone(), source })?;
            match elf::append(&bytes, SECTION, &data).map_err(failed)? {
                elf::Appended::Added(with) => {
                    crate::store::disk::replace_file(&out, &with, true)
                        .map_err(|source| AuditableError::Io { path: out.clone(), source })?;
                    if let Some(s) = stamp(&path, &out, &data) {
                        // Without it the next build only does this again.
                        let _ = crate::store::disk::replace_file(&stamp_path(&out), s.as_bytes(), false);
                    }
                    shell.verbose("Auditable", format!("{bin} for {triple}: {count} packages in {SECTION}"));
                    artifacts.insert(&unit.package_id, bin, triple, out);
                }
                elf::Appended::AlreadyThere => {
                    shell.verbose("Auditable", format!("{bin} for {triple}: already has {SECTION}, kept"));
                }
            }
        }
    }
    Ok(())
}

/// What an auditable copy was made from, as cargo judges its own outputs fresh: the source
/// binary's and the copy's size, inode and change times (ctime too, which no tool can set back),
/// and the section's bytes. While it holds, the copy is what appending would make again, so a
/// no-op build reads neither binary (about 1 ms each for a small one).
fn stamp(from: &Path, out: &Path, data: &[u8]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let stat = |p: &Path| {
        std::fs::metadata(p).ok().map(|m| {
            format!(
                "{} {} {} {}.{} {}.{}",
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            )
        })
    };
    Some(format!("{}\n{}\n{}\n", stat(from)?, stat(out)?, crate::oci::Digest::of(data)))
}

/// Where [`stamp`] is kept: beside the copy, as `<bin>.stamp` (cargo allows no `.` in a
/// binary's name, so it is never another binary's copy).
fn stamp_path(out: &Path) -> PathBuf {
    crate::store::disk::with_suffix(out, ".stamp")
}

#[derive(Debug, thiserror::Error)]
pub enum AuditableError {
    #[error(transparent)]
    Metadata(#[from] FactsError),
    #[error("could not encode the dependency list of `{package}`")]
    Json {
        package: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not add the {SECTION} section (dependency list) to `{bin}` at `{}`", path.display())]
    Append {
        bin: String,
        path: PathBuf,
        #[source]
        why: AppendError,
    },
    #[error("could not read or write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AuditableError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            AuditableError::Metadata(e) => e.hints(),
            _ => vec![
                "build without the dependency list: `--no-auditable` (or `auditable = false` in [package.metadata.oci])"
                    .into(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_either_binary_or_the_section() {
        let dir = tempfile::tempdir().unwrap();
        let (from, out) = (dir.path().join("bin"), dir.path().join("copy"));
        std::fs::write(&from, b"one").unwrap();
        std::fs::write(&out, b"one+").unwrap();
        let s = stamp(&from, &out, b"data").unwrap();
        assert_eq!(stamp(&from, &out, b"data").unwrap(), s, "a function of the files and the section");
        assert_ne!(stamp(&from, &out, b"atad").unwrap(), s, "another section");
        // A linker writes a new file (a new inode) and rename(2) replaces it.
        let relinked = dir.path().join("bin.new");
        std::fs::write(&relinked, b"two").unwrap();
        std::fs::rename(&relinked, &from).unwrap();
        let s2 = stamp(&from, &out, b"data").unwrap();
        assert_ne!(s2, s, "a relinked binary");
        std::fs::write(&out, b"two++").unwrap();
        assert_ne!(stamp(&from, &out, b"data").unwrap(), s2, "a changed copy");
        assert!(stamp(&dir.path().join("gone"), &out, b"data").is_none());
    }
}
