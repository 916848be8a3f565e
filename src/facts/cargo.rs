//! What cargo is told (the feature and lock flags every invocation gets) and what it tells:
//! `cargo metadata`, run once per question and kept in the [`Facts`](super::Facts) cache.

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand};
use serde::Serialize;

use super::FactsError;
use crate::env::Env;

/// Flags passed through to every cargo invocation.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CargoFlags {
    pub manifest_path: PathBuf,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// `--config KEY=VALUE` overrides, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
}

/// The feature and lock flags as cargo takes them (shared by metadata and build).
pub fn feature_args(flags: &CargoFlags) -> Vec<String> {
    let mut v = Vec::new();
    for f in &flags.features {
        v.extend(["--features".to_string(), f.clone()]);
    }
    let switches = [
        (flags.all_features, "--all-features"),
        (flags.no_default_features, "--no-default-features"),
        (flags.locked, "--locked"),
        (flags.frozen, "--frozen"),
        (flags.offline, "--offline"),
    ];
    v.extend(switches.iter().filter(|(on, _)| *on).map(|(_, s)| s.to_string()));
    for c in &flags.config {
        v.extend(["--config".to_string(), c.clone()]);
    }
    v
}

/// The cache key of one `cargo metadata` question.
pub(super) fn key(env: &Env, manifest: Option<&Path>, flags: &CargoFlags, platform: Option<&str>) -> String {
    format!("{:?} {manifest:?} {:?} {platform:?}", env.cwd, feature_args(flags))
}

/// `cargo metadata`, with the user's feature and lock flags; `--no-deps` unless a platform is
/// given, in which case the dependency graph is resolved for it.
pub(super) fn metadata(
    env: &Env,
    manifest: Option<&Path>,
    flags: &CargoFlags,
    platform: Option<&str>,
) -> Result<Metadata, FactsError> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(env.cargo()).current_dir(&env.cwd);
    if let Some(m) = manifest {
        cmd.manifest_path(env.cwd.join(m));
    }
    let mut opts = feature_args(flags);
    match platform {
        Some(p) => opts.extend(["--filter-platform".to_string(), p.to_string()]),
        None => {
            cmd.no_deps();
        }
    }
    cmd.other_options(opts);
    cmd.exec().map_err(|source| FactsError::Metadata {
        manifest: manifest.map(Path::to_path_buf).unwrap_or_else(|| env.cwd.join("Cargo.toml")),
        source,
    })
}

/// The files cargo read to give `meta`: each local package's (see
/// [`super::memo::package_files`]), the workspace's `Cargo.lock`, the config files, and the
/// manifest and `--config` files named on the command line.
pub(super) fn read_files(env: &Env, manifest: Option<&Path>, flags: &CargoFlags, meta: &Metadata) -> Vec<PathBuf> {
    let local: Vec<&Path> =
        meta.packages.iter().filter(|p| p.source.is_none()).map(|p| p.manifest_path.as_std_path()).collect();
    let root = meta.workspace_root.as_std_path();
    let mut files: Vec<PathBuf> = local.iter().flat_map(|m| super::memo::package_files(m)).collect();
    // A member's siblings: where a `members = ["crates/*"]` glob finds a new member. (Not the
    // root package's: its directory's listing changes with every `target` dir made in it.)
    let dirs = local.iter().filter_map(|m| m.parent()).filter(|d| *d != root);
    files.extend(dirs.filter_map(Path::parent).map(Path::to_path_buf));
    files.push(root.join("Cargo.lock"));
    files.extend(super::cargo_config::config_paths(env));
    files.extend(manifest.map(|m| env.cwd.join(m)));
    files.extend(flags.config.iter().filter(|c| !c.contains('=')).map(|c| env.cwd.join(c)));
    files
}
