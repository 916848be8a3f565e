//! Has the user configured a linker for a target? (env, `.cargo/config.toml`, rustflags)
//!
//! Hand-written because cargo exposes its merged config only through the unstable `cargo config
//! get`; we need one key, looked up the way cargo does: the directories from the cwd up, then
//! `$CARGO_HOME`.

use std::path::{Path, PathBuf};

use crate::env::{Env, EnvVars};

/// Where a linker for `triple` is configured, described for `-v` and the plan; `None` if nowhere.
pub fn configured_linker(triple: &str, env: &Env) -> Option<String> {
    let var = EnvVars::target_linker(triple);
    if let Some(v) = env.get(&var) {
        return Some(format!("{var}={v}"));
    }
    for name in [EnvVars::CARGO_ENCODED_RUSTFLAGS, EnvVars::RUSTFLAGS] {
        if let Some(flags) = env.get(name) {
            if has_linker_flag(flags.split(['\x1f', ' '])) {
                return Some(format!("-C linker in {name}"));
            }
        }
    }
    let per_target = EnvVars::target_rustflags(triple);
    if env.get(&per_target).is_some_and(|f| has_linker_flag(f.split(' '))) {
        return Some(format!("-C linker in {per_target}"));
    }
    config_files(env).into_iter().find_map(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        let doc: toml::Table = text.parse().ok()?;
        linker_in(&doc, triple).map(|what| format!("{what} in {}", file.display()))
    })
}

/// cargo's discovery order: `.cargo/config.toml` (or legacy `config`) in the cwd and each parent,
/// then in `$CARGO_HOME`.
pub fn config_files(env: &Env) -> Vec<PathBuf> {
    config_dirs(env).iter().filter_map(|d| config_candidates(d).into_iter().find(|p| p.is_file())).collect()
}

/// Every path cargo looks for a config file at, in [`config_files`]'s order, present or not
/// (what a change of cargo's config can come from).
pub fn config_paths(env: &Env) -> Vec<PathBuf> {
    config_dirs(env).iter().flat_map(|d| config_candidates(d)).collect()
}

fn config_dirs(env: &Env) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env.cwd.ancestors().map(|d| d.join(".cargo")).collect();
    if let Some(home) = env.cargo_home() {
        if !dirs.contains(&home) {
            dirs.push(home);
        }
    }
    dirs
}

fn config_candidates(dir: &Path) -> [PathBuf; 2] {
    ["config.toml", "config"].map(|n| dir.join(n))
}

/// `[target.<triple>] linker`, a `[target.'cfg(…)'] linker` (we do not evaluate cfg: any such
/// linker counts, so we never override something the user set), or `-C linker` in rustflags.
fn linker_in(doc: &toml::Table, triple: &str) -> Option<String> {
    let targets = doc.get("target")?.as_table()?;
    for (key, table) in targets {
        let Some(table) = table.as_table() else { continue };
        if key != triple && !key.starts_with("cfg(") {
            continue;
        }
        if table.contains_key("linker") {
            return Some(format!("[target.{key}] linker"));
        }
        let flags = table.get("rustflags").and_then(|f| f.as_array());
        if flags.is_some_and(|f| has_linker_flag(f.iter().filter_map(|v| v.as_str()))) {
            return Some(format!("-C linker in [target.{key}] rustflags"));
        }
    }
    None
}

fn has_linker_flag<'a>(flags: impl Iterator<Item = &'a str>) -> bool {
    let flags: Vec<&str> = flags.collect();
    flags.iter().enumerate().any(|(i, f)| {
        f.starts_with("-Clinker=") || (*f == "-C" && flags.get(i + 1).is_some_and(|n| n.starts_with("linker=")))
    })
}

/// An environment rooted at `dir` with no cargo home config, plus `vars` (for config tests).
#[cfg(test)]
pub(crate) fn env_in(dir: &Path, vars: &[(&'static str, &'static str)]) -> Env {
    let mut v = vec![("CARGO_HOME", "/nonexistent-cargo-home")];
    v.extend_from_slice(vars);
    Env::from_pairs(dir.to_path_buf(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_wins() {
        let d = tempfile::tempdir().unwrap();
        let env = env_in(d.path(), &[("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "aarch64-linux-musl-gcc")]);
        assert_eq!(
            configured_linker("aarch64-unknown-linux-musl", &env).unwrap(),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-musl-gcc"
        );
        assert_eq!(configured_linker("x86_64-unknown-linux-musl", &env), None);
    }

    #[test]
    fn config_file_in_a_parent() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join(".cargo/config.toml"), "[target.aarch64-unknown-linux-musl]\nlinker = \"x\"\n")
            .unwrap();
        let env = env_in(&d.path().join("a/b"), &[]);
        assert!(configured_linker("aarch64-unknown-linux-musl", &env)
            .unwrap()
            .starts_with("[target.aarch64-unknown-linux-musl] linker in "));
        assert_eq!(configured_linker("x86_64-unknown-linux-musl", &env), None);
    }

    #[test]
    fn rustflags_linker() {
        let d = tempfile::tempdir().unwrap();
        assert!(configured_linker("x", &env_in(d.path(), &[("RUSTFLAGS", "-C opt-level=3 -C linker=clang")])).is_some());
        assert!(configured_linker("x", &env_in(d.path(), &[("RUSTFLAGS", "-Clinker=clang")])).is_some());
        assert!(configured_linker("x", &env_in(d.path(), &[("RUSTFLAGS", "-C target-cpu=native")])).is_none());
    }
}
