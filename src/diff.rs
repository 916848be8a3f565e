//! `cargo oci diff A B`: names the first difference between two images — which platform, which
//! config key or env var, which layer, which file and which tar header field — so a changed digest
//! can be explained instead of guessed at.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde_json::Value;

use crate::oci::media::is_index;
use crate::oci::{Digest, HashWriter, Image as Stored, Layer};
use crate::store::{Source, StoreError};

/// One image (index or single manifest) as `diff` compares it: JSON values.
struct Image {
    /// Index annotations (empty for a single manifest).
    annotations: BTreeMap<String, String>,
    /// platform → manifest digest, document and config.
    platforms: BTreeMap<String, Platform>,
}

struct Platform {
    digest: String,
    manifest: Value,
    config: Value,
    /// The layers, opened only if their digests differ.
    layers: Vec<Layer>,
}

/// Compares `a` and `b`; `None` when they are the same image (same top digest).
pub fn diff(a: &dyn Source, b: &dyn Source) -> Result<Option<String>, StoreError> {
    let (sa, sb) = (a.image()?, b.image()?);
    if sa.root.digest == sb.root.digest {
        return Ok(None);
    }
    let (ia, ib) = (as_json(a, &sa)?, as_json(b, &sb)?);
    let pa: BTreeSet<&String> = ia.platforms.keys().collect();
    let pb: BTreeSet<&String> = ib.platforms.keys().collect();
    if let Some(p) = pa.difference(&pb).next() {
        return Ok(Some(format!("platform {p} is only in A")));
    }
    if let Some(p) = pb.difference(&pa).next() {
        return Ok(Some(format!("platform {p} is only in B")));
    }
    for (name, x) in &ia.platforms {
        let y = &ib.platforms[name];
        if x.digest == y.digest {
            continue;
        }
        if let Some(d) = platform_diff(a, b, x, y)? {
            return Ok(Some(format!("platform {name}: {d}")));
        }
    }
    if let Some(d) = map_diff("index annotation", &ia.annotations, &ib.annotations) {
        return Ok(Some(d));
    }
    Ok(Some(format!("the top-level documents differ ({} vs {}) in formatting only", sa.root.digest, sb.root.digest)))
}

/// The stored image's documents as JSON values, keyed by platform.
fn as_json(store: &dyn Source, image: &Stored) -> Result<Image, StoreError> {
    let bytes = |blob: &crate::oci::Blob| blob.read_all().map_err(StoreError::io("read", store.name()));
    let parse = |bytes: Vec<u8>| -> Result<Value, StoreError> {
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadImage { image: store.name(), why: e.to_string() })
    };
    let value = |blob: &crate::oci::Blob| parse(bytes(blob)?);
    let root = bytes(&image.root)?;
    let annotations = match is_index(&image.root.media_type, &root) {
        true => string_map(&parse(root)?["annotations"]),
        false => BTreeMap::new(),
    };
    let mut platforms = BTreeMap::new();
    for p in &image.platforms {
        let platform = Platform {
            digest: p.manifest.digest.to_string(),
            manifest: value(&p.manifest)?,
            config: value(&p.config)?,
            layers: p.layers.clone(),
        };
        platforms.insert(p.platform.full(), platform);
    }
    Ok(Image { annotations, platforms })
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect()
        })
        .unwrap_or_default()
}

/// Config (runtime settings, then top-level fields), layers, history, manifest annotations.
fn platform_diff(a: &dyn Source, b: &dyn Source, x: &Platform, y: &Platform) -> Result<Option<String>, StoreError> {
    let (cx, cy) = (&x.config["config"], &y.config["config"]);
    if let Some(d) = env_diff(cx, cy) {
        return Ok(Some(d));
    }
    if let Some(d) = json_diff("config.config", cx, cy) {
        return Ok(Some(d));
    }
    for key in ["architecture", "os", "variant", "created", "author"] {
        if let Some(d) = json_diff(&format!("config.{key}"), &x.config[key], &y.config[key]) {
            return Ok(Some(d));
        }
    }
    let (lx, ly) = (layers(&x.manifest), layers(&y.manifest));
    if lx.len() != ly.len() {
        return Ok(Some(format!("{} layers in A, {} in B", lx.len(), ly.len())));
    }
    let diff_ids = |c: &Value, i: usize| c["rootfs"]["diff_ids"][i].as_str().unwrap_or_default().to_string();
    for (i, (da, db)) in lx.iter().zip(&ly).enumerate() {
        if da["digest"] == db["digest"] {
            continue;
        }
        let which = format!("layer {} of {} ({} vs {})", i + 1, lx.len(), short(&da["digest"]), short(&db["digest"]));
        if diff_ids(&x.config, i) == diff_ids(&y.config, i) {
            return Ok(Some(format!("{which}: same files, different compression (gzip bytes differ)")));
        }
        let ea = entries(a, &x.layers, da)?;
        let eb = entries(b, &y.layers, db)?;
        let d = tar_diff(&ea, &eb).unwrap_or_else(|| "the tar streams differ in padding or order only".into());
        return Ok(Some(format!("{which}: {d}")));
    }
    if let Some(d) = json_diff("config.history", &x.config["history"], &y.config["history"]) {
        return Ok(Some(d));
    }
    let (ma, mb) = (string_map(&x.manifest["annotations"]), string_map(&y.manifest["annotations"]));
    Ok(map_diff("manifest annotation", &ma, &mb))
}

fn layers(m: &Value) -> Vec<Value> {
    m["layers"].as_array().cloned().unwrap_or_default()
}

fn short(d: &Value) -> String {
    let s = d.as_str().unwrap_or_default();
    s.get(..19).unwrap_or(s).to_string()
}

/// `Env` compared as variables, so the message names the variable, not an array index.
fn env_diff(a: &Value, b: &Value) -> Option<String> {
    let vars = |v: &Value| -> BTreeMap<String, String> {
        v["Env"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    map_diff("env var", &vars(a), &vars(b))
}

fn map_diff(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Option<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().find_map(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) if x != y => Some(format!("{what} `{k}`: `{x}` in A, `{y}` in B")),
        (Some(_), None) => Some(format!("{what} `{k}` is only in A")),
        (None, Some(_)) => Some(format!("{what} `{k}` is only in B")),
        _ => None,
    })
}

/// The first differing JSON path (`config.config.User`), objects by sorted key. `Env` is skipped
/// (see [`env_diff`]).
fn json_diff(path: &str, a: &Value, b: &Value) -> Option<String> {
    if a == b {
        return None;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> =
                x.keys().chain(y.keys()).filter(|k| !(path == "config.config" && *k == "Env")).collect();
            keys.into_iter().find_map(|k| {
                json_diff(&format!("{path}.{k}"), x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| json_diff(&format!("{path}[{i}]"), p, q))
        }
        _ => Some(format!("{path}: {} in A, {} in B", show(a), show(b))),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "absent".into(),
        v => format!("`{}`", v.to_string().trim_matches('"')),
    }
}

/// A tar entry's header fields and content digest, in archive order.
#[derive(Debug, PartialEq)]
struct TarEntry {
    path: String,
    kind: String,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: String,
    content: Digest,
}

fn entries(store: &dyn Source, layers: &[Layer], d: &Value) -> Result<Vec<TarEntry>, StoreError> {
    let digest = Digest::parse(d["digest"].as_str().unwrap_or_default())
        .map_err(|why| StoreError::BadImage { image: store.name(), why })?;
    let Some(layer) = layers.iter().find(|l| l.blob.digest == digest) else {
        return Err(StoreError::BadImage {
            image: store.name(),
            why: format!("layer {digest} is not in its manifest"),
        });
    };
    let read = || read_entries(crate::layer::open_tar(layer.blob.open()?)?);
    read().map_err(StoreError::io("read layer", digest.to_string()))
}

fn read_entries(r: impl Read) -> std::io::Result<Vec<TarEntry>> {
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(r);
    for e in ar.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let mut w = HashWriter::new(std::io::sink());
        std::io::copy(&mut e, &mut w)?;
        let (_, content, _) = w.finish();
        out.push(TarEntry {
            path: e.path()?.display().to_string(),
            kind: format!("{:?}", h.entry_type()),
            mode: h.mode()?,
            uid: h.uid()?,
            gid: h.gid()?,
            size: h.size()?,
            mtime: h.mtime()?,
            link: e.link_name()?.map(|l| l.display().to_string()).unwrap_or_default(),
            content,
        });
    }
    Ok(out)
}

fn tar_diff(a: &[TarEntry], b: &[TarEntry]) -> Option<String> {
    let names_a: BTreeSet<&str> = a.iter().map(|e| e.path.as_str()).collect();
    let names_b: BTreeSet<&str> = b.iter().map(|e| e.path.as_str()).collect();
    if let Some(p) = a.iter().find(|e| !names_b.contains(e.path.as_str())) {
        return Some(format!("file `{}` is only in A", p.path));
    }
    if let Some(p) = b.iter().find(|e| !names_a.contains(e.path.as_str())) {
        return Some(format!("file `{}` is only in B", p.path));
    }
    for x in a {
        let Some(y) = b.iter().find(|e| e.path == x.path) else { continue };
        let fields: [(&str, String, String); 8] = [
            ("type", x.kind.clone(), y.kind.clone()),
            ("mode", format!("{:04o}", x.mode), format!("{:04o}", y.mode)),
            ("uid", x.uid.to_string(), y.uid.to_string()),
            ("gid", x.gid.to_string(), y.gid.to_string()),
            ("size", x.size.to_string(), y.size.to_string()),
            ("content digest", x.content.to_string(), y.content.to_string()),
            ("mtime", x.mtime.to_string(), y.mtime.to_string()),
            ("link target", x.link.clone(), y.link.clone()),
        ];
        if let Some((f, p, q)) = fields.into_iter().find(|(_, p, q)| p != q) {
            return Some(format!("file `{}`: {f} {p} in A, {q} in B", x.path));
        }
    }
    let order_a: Vec<&str> = a.iter().map(|e| e.path.as_str()).collect();
    let order_b: Vec<&str> = b.iter().map(|e| e.path.as_str()).collect();
    (order_a != order_b).then(|| "the same files in a different order".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(path: &str, mode: u32, body: &[u8]) -> TarEntry {
        TarEntry {
            path: path.into(),
            kind: "Regular".into(),
            mode,
            uid: 0,
            gid: 0,
            size: body.len() as u64,
            mtime: 0,
            link: String::new(),
            content: Digest::of(body),
        }
    }

    #[test]
    fn names_the_file_and_field() {
        let a = vec![entry("etc/x", 0o644, b"1"), entry("usr/bin/app", 0o755, b"app")];
        let b = vec![entry("etc/x", 0o644, b"1"), entry("usr/bin/app", 0o700, b"app")];
        assert_eq!(tar_diff(&a, &b).unwrap(), "file `usr/bin/app`: mode 0755 in A, 0700 in B");
        let c = vec![entry("etc/x", 0o644, b"1"), entry("usr/bin/app", 0o755, b"ppa")];
        assert!(tar_diff(&a, &c).unwrap().starts_with("file `usr/bin/app`: content digest sha256:"));
        assert_eq!(tar_diff(&a, &a[..1]).unwrap(), "file `usr/bin/app` is only in A");
    }

    #[test]
    fn names_env_vars_and_config_keys() {
        let a = json!({"Env": ["PATH=/bin", "RUST_LOG=info"], "User": "1"});
        let b = json!({"Env": ["PATH=/bin", "RUST_LOG=debug"], "User": "2"});
        assert_eq!(env_diff(&a, &b).unwrap(), "env var `RUST_LOG`: `info` in A, `debug` in B");
        assert_eq!(json_diff("config.config", &a, &b).unwrap(), "config.config.User: `1` in A, `2` in B");
    }
}
