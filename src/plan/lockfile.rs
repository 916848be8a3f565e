//! `oci.lock`: the digest each registry or layout base resolved to, next to the workspace's Cargo.lock
//! (apko and nix2container keep such files; Cargo.lock is the model). When it exists, planning
//! pins each base it lists to its locked index digest — a build uses the locked bytes even after
//! the tag moved — and `--locked` refuses a base it does not list. Written by `cargo oci lock`.
//!
//! TOML, sorted by base name and platform, so a change is one reviewable hunk:
//!
//! ```toml
//! version = 1
//!
//! [base."ghcr.io/org/base:1"]
//! index = "sha256:…"            # what the tag pointed at: an index (or a single manifest)
//!
//! [base."ghcr.io/org/base:1".platforms]
//! "linux/amd64" = "sha256:…"    # each platform's manifest, for review
//! ```
//!
//! Layout bases (`oci:DIR:TAG`) are locked too, under a name that reads the same on every
//! checkout: `oci:` and the directory relative to the workspace root when it is inside it
//! (`oci:bases/base:1`), else its absolute path. A locked layout base is read from the layout's
//! blobs at its digest, whatever the tag points at now (see `LayoutStore::pinned`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ImagePlan, PlanError};
use crate::oci::{Digest, ImageName};

/// The file's name, in the workspace root.
pub const FILE: &str = "oci.lock";

/// The header written above the data.
const HEADER: &str = "# Written by `cargo oci lock`: the digest each base resolved to. Builds use these\n\
                      # digests even when a tag moves; `cargo oci lock --update [BASE]` moves them. Commit it.\n";

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OciLock {
    pub version: u32,
    /// By the base's name as the settings write it (`REGISTRY/REPO:TAG`).
    #[serde(default)]
    pub base: BTreeMap<String, LockedBase>,
}

/// One base: what its tag pointed at when locked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    pub index: Digest,
    /// Platform (`linux/arm64/v8`) → that platform's manifest.
    #[serde(default)]
    pub platforms: BTreeMap<String, Digest>,
}

impl OciLock {
    pub fn parse(path: &Path, text: &str) -> Result<OciLock, PlanError> {
        let lock: OciLock =
            toml::from_str(text).map_err(|e| PlanError::BadLock { path: path.into(), why: e.message().to_string() })?;
        if lock.version != 1 {
            let why = format!("version {} is not one this cargo-oci reads (1)", lock.version);
            return Err(PlanError::BadLock { path: path.into(), why });
        }
        Ok(lock)
    }

    /// The file's bytes: the header, then the data (the maps are sorted).
    pub fn to_text(&self) -> String {
        format!("{HEADER}{}", toml::to_string(self).expect("plain data serializes"))
    }
}

/// The name a base is locked under: a registry base's reference as written, tag and all; a
/// layout base's directory relative to the workspace root (`root`) when inside it. `None`: a
/// built-in base, or one pinned by digest already.
pub fn key(base: &ImageName, root: &Path) -> Option<String> {
    match base {
        ImageName::Registry { reference } => reference.digest.is_none().then(|| reference.to_string()),
        ImageName::Layout { path, tag, digest: None } => {
            let (path, root) = (normalize(path), normalize(root));
            let dir = path.strip_prefix(&root).unwrap_or(&path);
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            // `/` on every host: the file is shared through git.
            let dir = dir.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/");
            let dir = dir.strip_prefix("//").map_or(dir.clone(), |d| format!("/{d}"));
            Some(match tag {
                Some(t) => format!("oci:{dir}:{t}"),
                None => format!("oci:{dir}"),
            })
        }
        _ => None,
    }
}

/// `base` read at `digest` from now on.
pub fn pin(base: &mut ImageName, digest: Digest) {
    match base {
        ImageName::Registry { reference } => reference.digest = Some(digest),
        ImageName::Layout { digest: d, .. } => *d = Some(digest),
        ImageName::Static | ImageName::Scratch => {}
    }
}

/// `path` with its `.` and `..` taken out by name (the layout may not exist yet, so no
/// `canonicalize`): `oci:../bases/b` from a member reads as the workspace's `bases/b`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Pins every registry or layout base the lock lists to its locked index digest and marks it
/// locked. With `--locked` (`locked`), a base the lock does not list (or a platform it lacks) fails:
/// the lock would change.
pub fn apply(images: &mut [ImagePlan], lock: Option<&OciLock>, path: &Path, locked: bool) -> Result<(), PlanError> {
    for image in images.iter_mut() {
        for t in image.targets.iter_mut() {
            let root = path.parent().unwrap_or(Path::new("."));
            let Some(name) = key(&t.base, root) else { continue }; // built in, or pinned by digest already
            let entry = lock.and_then(|l| l.base.get(&name));
            let platform = t.target.platform.to_string();
            match entry {
                Some(e) if !locked || e.platforms.contains_key(&platform) => {
                    pin(&mut t.base, e.index.clone());
                    t.locked = true;
                }
                _ if locked => {
                    return Err(PlanError::NotLocked {
                        base: name,
                        platform,
                        path: path.to_path_buf(),
                        missing: lock.is_none(),
                    })
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Where the lock of a workspace is.
pub fn path(workspace_root: &Path) -> PathBuf {
    workspace_root.join(FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_with_a_header() {
        let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
        let mut lock = OciLock { version: 1, base: BTreeMap::new() };
        let platforms = BTreeMap::from([("linux/arm64/v8".to_string(), d('b')), ("linux/amd64".to_string(), d('c'))]);
        lock.base.insert("127.0.0.1:5000/base:1".into(), LockedBase { index: d('a'), platforms });
        let text = lock.to_text();
        assert!(text.starts_with("# Written by `cargo oci lock`"));
        assert!(text.find("linux/amd64").unwrap() < text.find("linux/arm64").unwrap(), "{text}");
        assert_eq!(OciLock::parse(Path::new("oci.lock"), &text).unwrap(), lock);
        let e = OciLock::parse(Path::new("oci.lock"), "version = 2\n").unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
    }

    #[test]
    fn layout_bases_are_keyed_by_their_path_in_the_workspace_else_the_absolute_one() {
        let root = Path::new("/w/ws");
        let layout = |p: &str, tag: Option<&str>| ImageName::Layout {
            path: PathBuf::from(p),
            tag: tag.map(String::from),
            digest: None,
        };
        let key = |b: &ImageName| key(b, root);
        assert_eq!(key(&layout("/w/ws/bases/base", Some("1"))).unwrap(), "oci:bases/base:1");
        assert_eq!(key(&layout("/w/ws/member/../bases/./base", None)).unwrap(), "oci:bases/base");
        assert_eq!(key(&layout("/w/other/base", Some("1"))).unwrap(), "oci:/w/other/base:1");
        assert_eq!(key(&layout("/w/ws", Some("1"))).unwrap(), "oci:.:1");
        let mut pinned = layout("/w/ws/b", Some("1"));
        pin(&mut pinned, Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap());
        assert_eq!(key(&pinned), None, "pinned by digest already");
        assert_eq!(pinned.to_string(), format!("oci:/w/ws/b:1@sha256:{}", "a".repeat(64)));
        assert_eq!(layout("/w/ws/b", Some("1")).to_string(), "oci:/w/ws/b:1", "unpinned: as before");
        assert_eq!(key(&ImageName::Static), None);
    }
}
