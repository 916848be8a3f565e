//! `cargo oci lock [--update [BASE]]`: resolves every registry or layout base of the workspace (each for
//! the platforms its images are built for) to its index digest and per-platform manifest
//! digests, and writes `oci.lock` next to Cargo.lock (see `plan::lockfile`). An entry already
//! locked stays as it is unless `--update` names it (or names nothing: every base); a base no
//! image uses any more is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::env::Env;
use crate::oci::{ImageName, Platform};
use crate::plan::lockfile::{self, LockedBase, OciLock};
use crate::plan::Request;
use crate::shell::Shell;
use crate::store::StoreError;

/// What `--update` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// Keep what is locked; lock what is not.
    None,
    /// `--update`: every base again.
    All,
    /// `--update BASE`: that one again.
    One(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`--update {base}` names no registry or layout base of this workspace")]
    UnknownBase { base: String, bases: Vec<String> },
    #[error("could not write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            LockError::Plan(e) => e.hints(),
            LockError::Store(e) => e.hints(),
            LockError::UnknownBase { bases, .. } if bases.is_empty() => {
                vec!["this workspace builds on no registry or layout base (built-in bases are not locked)".into()]
            }
            LockError::UnknownBase { bases, .. } => {
                vec![format!("its bases, as oci.lock names them: {}", bases.join(", "))]
            }
            LockError::Write { .. } => Vec::new(),
        }
    }
}

/// Writes the workspace's `oci.lock`; returns its path (`None`: no base to lock, nothing written).
pub fn lock(request: &Request, update: &Update, env: &Env, shell: &mut Shell) -> Result<Option<PathBuf>, LockError> {
    // Every member, as the tags say now (the old lock is read below, entry by entry).
    let request =
        Request { workspace: request.packages.is_empty() || request.workspace, oci_lock: false, ..request.clone() };
    let plan = crate::plan::resolve(&request, &crate::facts::Facts::new(env))?;
    let path = lockfile::path(&plan.workspace_root);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => OciLock::parse(&path, &text)?,
        Err(_) => OciLock::default(),
    };
    // Each registry or layout base by its locked name, with the platforms built on it.
    let mut wanted: BTreeMap<String, (ImageName, BTreeSet<Platform>)> = BTreeMap::new();
    for t in plan.images.iter().flat_map(|i| i.targets.iter()) {
        let Some(name) = lockfile::key(&t.base, &plan.workspace_root) else { continue };
        wanted.entry(name).or_insert_with(|| (t.base.clone(), BTreeSet::new())).1.insert(t.target.platform.clone());
    }
    if let Update::One(base) = update {
        if !wanted.contains_key(base) {
            return Err(LockError::UnknownBase { base: base.clone(), bases: wanted.keys().cloned().collect() });
        }
    }
    if wanted.is_empty() {
        shell.status("Nothing", "to lock: no image builds on a registry or layout base");
        return Ok(None);
    }
    let registries = crate::registries::settings(&plan.registry, env);
    let mut new = OciLock { version: 1, base: BTreeMap::new() };
    for (name, (mut base, platforms)) in wanted {
        let again = match update {
            Update::None => false,
            Update::All => true,
            Update::One(b) => *b == name,
        };
        let kept = old.base.get(&name).filter(|_| !again);
        // A kept entry is read at its locked digest (its platforms may have grown).
        if let Some(e) = kept {
            lockfile::pin(&mut base, e.index.clone());
        }
        let image = crate::store::open(&base, &registries).image()?;
        let mut entry = LockedBase { index: image.root.digest.clone(), platforms: BTreeMap::new() };
        for p in &platforms {
            let Some(found) = image.platforms.iter().find(|i| i.platform.matches(p)) else {
                return Err(StoreError::PlatformMissing {
                    image: name.clone(),
                    wanted: p.to_string(),
                    available: image.platforms.iter().map(|i| i.platform.to_string()).collect(),
                }
                .into());
            };
            entry.platforms.insert(p.to_string(), found.manifest.digest.clone());
        }
        match old.base.get(&name) {
            Some(o) if o.index != entry.index => {
                shell.status("Updating", format!("{name} {} -> {}", o.index, entry.index))
            }
            Some(_) => shell.verbose("Unchanged", format!("{name} {}", entry.index)),
            None => shell.status("Locking", format!("{name} {}", entry.index)),
        }
        new.base.insert(name, entry);
    }
    crate::store::disk::replace_file(&path, new.to_text().as_bytes(), false)
        .map_err(|source| LockError::Write { path: path.clone(), source })?;
    Ok(Some(path))
}
