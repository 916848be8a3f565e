//! Rustflags for reproducible builds: the flags cargo would use for a target anyway (env or
//! config, by cargo's precedence), plus `--remap-path-prefix` for every machine-specific path, so
//! ours are added without ever dropping the user's.
//!
//! Why not simply set RUSTFLAGS: cargo takes rustflags from exactly one source (the first set of
//! CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, target.<triple|cfg>.rustflags, build.rustflags), so setting
//! one silently discards the others. We compute the one cargo would use and pass it with ours.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::env::{Env, EnvVars};
use crate::facts::cargo_config::config_files;
use crate::process::Cmd;

/// The rustflags cargo would use for `triple`, and where they came from (for `-v` and the plan).
pub fn user_rustflags(triple: &str, env: &Env) -> (Vec<String>, String) {
    if let Some(f) = env.get(EnvVars::CARGO_ENCODED_RUSTFLAGS) {
        return (f.split('\x1f').map(String::from).collect(), EnvVars::CARGO_ENCODED_RUSTFLAGS.into());
    }
    if let Some(f) = env.get(EnvVars::RUSTFLAGS) {
        return (split(f), EnvVars::RUSTFLAGS.into());
    }
    // Config arrays concatenate, lowest precedence ($CARGO_HOME) first.
    let docs: Vec<(PathBuf, toml::Table)> = config_files(env)
        .into_iter()
        .rev()
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?.parse().ok()?)))
        .collect();
    let mut cfgs: Option<Vec<cargo_platform::Cfg>> = None;
    let mut target_flags = Vec::new();
    for (_, doc) in &docs {
        for (key, table) in doc.get("target").and_then(|t| t.as_table()).into_iter().flatten() {
            let applies = key == triple
                || (key.starts_with("cfg(")
                    && cargo_platform::Platform::from_str(key)
                        .is_ok_and(|p| p.matches(triple, cfgs.get_or_insert_with(|| target_cfgs(triple, env)))));
            if applies {
                target_flags.extend(flag_list(table.get("rustflags")));
            }
        }
    }
    if let Some(f) = env.get(&EnvVars::target_rustflags(triple)) {
        target_flags.extend(split(f));
    }
    if !target_flags.is_empty() {
        return (target_flags, format!("[target.{triple}] rustflags in cargo config"));
    }
    let mut build: Vec<String> =
        docs.iter().flat_map(|(_, d)| flag_list(d.get("build").and_then(|b| b.get("rustflags")))).collect();
    if let Some(f) = env.get(EnvVars::CARGO_BUILD_RUSTFLAGS) {
        build.extend(split(f));
    }
    let from = if build.is_empty() { "none" } else { "[build] rustflags in cargo config" };
    (build, from.into())
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// `rustflags = "a b"` or `rustflags = ["a", "b"]`.
fn flag_list(v: Option<&toml::Value>) -> Vec<String> {
    match v {
        Some(toml::Value::String(s)) => split(s),
        Some(toml::Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

/// `rustc --print cfg --target T`, to evaluate `[target.'cfg(…)']` tables as cargo does.
fn target_cfgs(triple: &str, env: &Env) -> Vec<cargo_platform::Cfg> {
    let out =
        Cmd::new(env.rustc()).args(["--print", "cfg", "--target", triple]).cwd(&env.cwd).output().unwrap_or_default();
    String::from_utf8_lossy(&out).lines().filter_map(|l| cargo_platform::Cfg::from_str(l).ok()).collect()
}

/// `--remap-path-prefix` for every path that differs between machines and can end up in a
/// binary (panic locations, debug info, `file!()`, include paths under OUT_DIR): cargo's home
/// (registry sources), rustup's home, the workspace and the target dir. The target dir comes last
/// because it is usually inside the workspace and rustc applies the last matching prefix.
pub fn path_remaps(env: &Env, workspace_root: &Path, target_dir: &Path) -> Vec<String> {
    let mut pairs: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(h) = env.cargo_home() {
        pairs.push((h, "/cargo"));
    }
    if let Some(h) = env.rustup_home() {
        pairs.push((h, "/rustup"));
    }
    pairs.push((workspace_root.to_path_buf(), "/build"));
    pairs.push((target_dir.to_path_buf(), "/target"));
    let mut out = Vec::new();
    for (from, to) in pairs {
        // Both spellings: cargo may hand rustc the path as configured or resolved.
        let canonical = from.canonicalize().ok();
        for p in std::iter::once(from.clone()).chain(canonical.filter(|c| *c != from)) {
            out.push(format!("--remap-path-prefix={}={to}", p.display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::cargo_config::env_in;

    #[test]
    fn env_beats_config_and_encoded_beats_plain() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(d.path().join(".cargo/config.toml"), "[build]\nrustflags = [\"-Cforce-frame-pointers\"]\n")
            .unwrap();
        let t = "x86_64-unknown-linux-musl";
        assert_eq!(user_rustflags(t, &env_in(d.path(), &[])).0, ["-Cforce-frame-pointers"]);
        assert_eq!(user_rustflags(t, &env_in(d.path(), &[("RUSTFLAGS", "-C opt-level=2")])).0, ["-C", "opt-level=2"]);
        let both = env_in(d.path(), &[("RUSTFLAGS", "-Cx"), ("CARGO_ENCODED_RUSTFLAGS", "-C\x1fa b")]);
        assert_eq!(user_rustflags(t, &both).0, ["-C", "a b"]);
    }

    #[test]
    fn target_tables_replace_build_flags_and_cfg_tables_count() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".cargo")).unwrap();
        std::fs::write(
            d.path().join(".cargo/config.toml"),
            "[build]\nrustflags = \"-Cbuild\"\n[target.aarch64-unknown-linux-musl]\nrustflags = [\"-Ctriple\"]\n\
             [target.'cfg(target_arch = \"aarch64\")']\nrustflags = [\"-Ccfg\"]\n",
        )
        .unwrap();
        let env = env_in(d.path(), &[]);
        let (mut flags, _) = user_rustflags("aarch64-unknown-linux-musl", &env);
        flags.sort();
        assert_eq!(flags, ["-Ccfg", "-Ctriple"]);
        assert_eq!(user_rustflags("x86_64-unknown-linux-musl", &env).0, ["-Cbuild"]);
    }

    #[test]
    fn remaps_cover_homes_workspace_and_target_dir_last() {
        let env = Env::from_pairs("/w".into(), [("CARGO_HOME", "/h/.cargo"), ("RUSTUP_HOME", "/h/.rustup")]);
        let r = path_remaps(&env, Path::new("/w"), Path::new("/w/target"));
        assert_eq!(
            r,
            [
                "--remap-path-prefix=/h/.cargo=/cargo",
                "--remap-path-prefix=/h/.rustup=/rustup",
                "--remap-path-prefix=/w=/build",
                "--remap-path-prefix=/w/target=/target"
            ]
        );
    }
}
