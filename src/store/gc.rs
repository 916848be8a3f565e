//! `cargo oci gc DIR` (and `build --gc`): removes the blobs of a layout that nothing in
//! `index.json` reaches any more — tags and referrers, through indexes' manifests and manifests'
//! configs, layers and subjects — under the layout's lock.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::layout::{read_index, LayoutWriter};
use super::{disk, StoreError};
use crate::oci::Digest;

/// What a collection removed and kept.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Collected {
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept: usize,
}

/// Removes every blob of `layout` that `index.json` does not reach. A document on the way that
/// is missing or does not hash to its name stops the collection (nothing is removed): what it
/// references cannot be known, and guessing could delete a blob a tag needs.
pub fn collect(layout: &LayoutWriter) -> Result<Collected, StoreError> {
    let root = layout.root();
    let live = reachable(root)?;
    let dir = root.join("blobs/sha256");
    let mut out = Collected::default();
    let entries = fs::read_dir(&dir).map_err(StoreError::io("read", &dir))?;
    let mut names: Vec<(String, u64)> = Vec::new();
    for e in entries {
        let e = e.map_err(StoreError::io("read", &dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // Only blobs: anything else in the directory is not ours to judge.
        if Digest::parse(&format!("sha256:{name}")).is_err() {
            continue;
        }
        names.push((name, e.metadata().map(|m| m.len()).unwrap_or(0)));
    }
    names.sort();
    for (name, size) in names {
        if live.contains(&name) {
            out.kept += 1;
            continue;
        }
        let p = dir.join(&name);
        disk::remove_file(&p).map_err(StoreError::io("remove", &p))?;
        out.removed += 1;
        out.freed_bytes = out.freed_bytes.saturating_add(size);
    }
    disk::sync_dir(&dir).map_err(StoreError::io("sync", &dir))?;
    Ok(out)
}

/// The hex digests of every blob `index.json` reaches.
pub fn reachable(root: &Path) -> Result<BTreeSet<String>, StoreError> {
    let index = read_index(root)?;
    let mut live = BTreeSet::new();
    // Documents to open (indexes and manifests), each with whether it must be there: a
    // referrer's subject may live elsewhere (the spec allows it), a tag's manifests may not.
    // Leaves (configs, layers) are only marked.
    let mut documents: Vec<(Value, bool)> = Vec::new();
    for d in index.manifests() {
        let v = serde_json::to_value(d).map_err(|source| StoreError::Json { what: "index.json", source })?;
        documents.push((v, true));
    }
    while let Some((d, required)) = documents.pop() {
        let Some(digest) = descriptor_digest(&d) else { continue };
        if !live.insert(digest.hex().to_string()) {
            continue;
        }
        if !required && !root.join("blobs/sha256").join(digest.hex()).exists() {
            continue;
        }
        let doc = read_document(root, &digest, &d)?;
        documents.extend(descriptors(&doc["manifests"]).into_iter().map(|d| (d, true)));
        documents.extend(descriptors(&doc["subject"]).into_iter().map(|d| (d, false)));
        for key in ["config", "layers", "blobs"] {
            for leaf in descriptors(&doc[key]) {
                if let Some(digest) = descriptor_digest(&leaf) {
                    live.insert(digest.hex().to_string());
                }
            }
        }
    }
    Ok(live)
}

/// A descriptor's digest, if it is one we store (sha256).
fn descriptor_digest(d: &Value) -> Option<Digest> {
    Digest::parse(d["digest"].as_str()?).ok()
}

/// A single descriptor or an array of them.
fn descriptors(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    }
}

/// A manifest or index, verified; JSON that is not an object (an artifact's document listed as
/// a manifest) has nothing to follow.
fn read_document(root: &Path, digest: &Digest, d: &Value) -> Result<Value, StoreError> {
    let path = root.join("blobs/sha256").join(digest.hex());
    let bytes = fs::read(&path).map_err(StoreError::io("read", &path))?;
    let actual = Digest::of(&bytes);
    let size = d["size"].as_u64().unwrap_or(bytes.len() as u64);
    if actual != *digest || size != bytes.len() as u64 {
        return Err(StoreError::blob_mismatch(&path, digest, size, &actual, bytes.len() as u64));
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, v: &Value) -> Value {
        let bytes = serde_json::to_vec(v).unwrap();
        let d = Digest::of(&bytes);
        fs::write(root.join("blobs/sha256").join(d.hex()), &bytes).unwrap();
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.to_string(), "size": bytes.len()})
    }

    fn leaf(root: &Path, body: &[u8]) -> Value {
        let d = Digest::of(body);
        fs::write(root.join("blobs/sha256").join(d.hex()), body).unwrap();
        serde_json::json!({"mediaType": "application/octet-stream", "digest": d.to_string(), "size": body.len()})
    }

    #[test]
    fn keeps_what_tags_and_referrers_reach() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let w = LayoutWriter::open(root, &mut |_| {}).unwrap();
        let (config, layer, gone) = (leaf(root, b"config"), leaf(root, b"layer"), leaf(root, b"old layer"));
        let manifest = put(root, &serde_json::json!({"config": config, "layers": [layer]}));
        let index = put(root, &serde_json::json!({"manifests": [manifest]}));
        let sbom = leaf(root, b"sbom");
        let referrer =
            put(root, &serde_json::json!({"config": leaf(root, b"{}"), "layers": [sbom], "subject": manifest}));
        let mut tagged = index.clone();
        tagged["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
        let idx = serde_json::json!({"schemaVersion": 2, "manifests": [tagged, referrer]});
        fs::write(root.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
        fs::write(root.join("blobs/sha256/not-a-blob"), b"x").unwrap();

        let c = collect(&w).unwrap();
        assert_eq!((c.removed, c.kept, c.freed_bytes), (1, 7, 9));
        assert!(!root.join("blobs/sha256").join(&gone["digest"].as_str().unwrap()[7..]).exists());
        assert!(root.join("blobs/sha256/not-a-blob").exists());
        assert_eq!(collect(&w).unwrap().removed, 0);

        // A reachable manifest that is damaged stops the collection, naming it.
        let m = root.join("blobs/sha256").join(&manifest["digest"].as_str().unwrap()[7..]);
        fs::write(&m, b"{}").unwrap();
        let err = collect(&w).unwrap_err().to_string();
        assert!(err.contains(&m.display().to_string()), "{err}");
    }
}
