//! Test support for the layout store: a validator of everything a layout's index.json reaches,
//! its blobs and tags, leftovers of killed builds, and commands run under a umask.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{check_blob_bytes, read_json, validate_layout};

/// Checks every descriptor `index.json` reaches (tags and referrers, through indexes'
/// manifests and manifests' configs, layers and subjects): its blob exists and hashes to its
/// name with its size. Returns the reachable digests (hex). Every tag is also checked whole by
/// [`validate_layout`].
pub fn validate_all(layout: &Path) -> std::collections::BTreeSet<String> {
    let index_json = read_json(&layout.join("index.json"));
    let mut live = std::collections::BTreeSet::new();
    let mut todo: Vec<(Value, bool)> =
        index_json["manifests"].as_array().unwrap().iter().map(|d| (d.clone(), true)).collect();
    while let Some((d, document)) = todo.pop() {
        let digest = d["digest"].as_str().unwrap().to_string();
        if !live.insert(digest.strip_prefix("sha256:").unwrap().to_string()) {
            continue;
        }
        let bytes = check_blob_bytes(layout, &d);
        if !document {
            continue;
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("document {digest}: {e}"));
        let list = |v: &Value| match v {
            Value::Array(a) => a.clone(),
            Value::Object(_) => vec![v.clone()],
            _ => Vec::new(),
        };
        todo.extend(list(&v["manifests"]).into_iter().chain(list(&v["subject"])).map(|d| (d, true)));
        todo.extend(list(&v["config"]).into_iter().chain(list(&v["layers"])).map(|d| (d, false)));
    }
    for d in index_json["manifests"].as_array().unwrap() {
        if let Some(tag) = d["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            validate_layout(layout, tag);
        }
    }
    live
}

/// The blobs of a layout (hex names).
pub fn blob_names(layout: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Temp files and scratch directories anywhere under `dir` (ours, `.cargo-oci-…`, and the names
/// earlier versions used).
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".cargo-oci-") || name.starts_with(".tmp") || name.starts_with(".staging-") {
            out.push(p);
        } else if p.is_dir() && !p.is_symlink() {
            out.extend(leftovers(&p));
        }
    }
    out
}

/// The tags of a layout's index.json, sorted.
pub fn tags(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    let mut t: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str().map(String::from))
        .collect();
    t.sort();
    t
}

/// `c` run by `sh` under `umask`: the same program, arguments, environment and directory.
pub fn under_umask(c: &Command, umask: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(format!("umask {umask} && exec \"$@\"")).arg("sh").arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        sh.current_dir(d);
    }
    sh
}
