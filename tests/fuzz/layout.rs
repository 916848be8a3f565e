//! What is read from an OCI layout: index.json, indexes, manifests and configs (mutated, then
//! stored under their new digests with every parent re-linked, so the parsers behind digest
//! verification see them), and the tar headers of layers, as a base, `diff` and the ELF check
//! read them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

use crate::mutate::{apply, apply_json, json_ops, ops, JsonOp, Op};
use crate::{corpus, fuzz};

#[path = "../it/support.rs"]
#[allow(unused)]
mod support;

type Files = BTreeMap<String, Vec<u8>>;

fn sha256(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}

/// The seed: a two-platform image written by cargo-oci, as path → bytes.
fn seed() -> Files {
    let dir = tempfile::tempdir().unwrap();
    support::fake_image(dir.path(), "x", &["amd64", "arm64"], "seed");
    let mut files = Files::new();
    for rel in ["oci-layout", "index.json"] {
        files.insert(rel.into(), std::fs::read(dir.path().join(rel)).unwrap());
    }
    for e in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        files.insert(format!("blobs/sha256/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
    }
    files
}

/// Which document is changed.
#[derive(Clone, Debug)]
enum Pos {
    IndexJson,
    TopIndex,
    Manifest(usize),
    Config(usize),
    Layer(usize),
}

/// The descriptors from index.json down to `pos`, as JSON pointers into each parent.
fn chain(pos: &Pos) -> Vec<&'static str> {
    match pos {
        Pos::IndexJson => vec![],
        Pos::TopIndex => vec!["/manifests/0"],
        Pos::Manifest(i) => vec!["/manifests/0", ["/manifests/0", "/manifests/1"][i % 2]],
        Pos::Config(i) => vec!["/manifests/0", ["/manifests/0", "/manifests/1"][i % 2], "/config"],
        Pos::Layer(i) => vec!["/manifests/0", ["/manifests/0", "/manifests/1"][i % 2], "/layers/0"],
    }
}

#[derive(Clone, Debug)]
enum Change {
    Bytes(Vec<Op>),
    Json(Vec<JsonOp>),
    /// A corpus document in its place (then byte edits).
    Replace(usize, Vec<Op>),
}

/// Rewrites the document at the end of `chain` and re-links every parent up to index.json
/// (digest and, unless `keep_size`, size), so each parent still verifies.
fn rewrite(files: &mut Files, chain: &[&str], change: &dyn Fn(&[u8]) -> Vec<u8>, keep_size: bool) {
    // The documents along the chain: index.json, then each one a pointer leads to.
    let mut docs: Vec<(String, Value)> =
        vec![("index.json".into(), serde_json::from_slice(&files["index.json"]).unwrap())];
    let mut target_path = "index.json".to_string();
    for (i, p) in chain.iter().enumerate() {
        let d = docs.last().unwrap().1.pointer(p).unwrap().clone();
        let hex = d["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
        target_path = format!("blobs/sha256/{hex}");
        if i + 1 < chain.len() {
            docs.push((target_path.clone(), serde_json::from_slice(&files[&target_path]).unwrap()));
        }
    }
    let mut bytes = change(&files[&target_path]);
    for (depth, p) in chain.iter().enumerate().rev() {
        let hex = sha256(&bytes);
        let len = bytes.len();
        files.insert(format!("blobs/sha256/{hex}"), bytes);
        let parent = &mut docs[depth].1;
        let d = parent.pointer_mut(p).unwrap();
        d["digest"] = Value::String(format!("sha256:{hex}"));
        if !(keep_size && depth + 1 == chain.len()) {
            d["size"] = Value::from(len);
        }
        bytes = serde_json::to_vec(parent).unwrap();
    }
    files.insert("index.json".into(), bytes);
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Recomputes the checksum of every block that looks like a ustar header, so edits of the
/// other header fields reach the parser instead of failing the checksum.
pub fn fix_checksums(tar: &mut [u8]) {
    for block in tar.chunks_exact_mut(512) {
        if &block[257..262] != b"ustar" {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

/// Every reader of a layout, on `root`; `seed` is the unchanged layout (for `diff`).
fn read_everything(root: &Path, seed: &Path) {
    use cargo_oci::oci::Platform;
    use cargo_oci::store::layout_source::LayoutStore;
    let store = LayoutStore::new(root, Some("x"));
    if let Ok(r) = cargo_oci::inspect::inspect(&store) {
        let _ = (cargo_oci::inspect::human(&r), serde_json::to_string(&r).unwrap());
    }
    for arch in ["amd64", "arm64"] {
        let platform = Platform::new("linux", arch, None);
        if let Ok(base) = cargo_oci::store::read::base(&store, &platform) {
            let _ = cargo_oci::check::rootfs::RootFs::from_layers(&base.layers);
        }
    }
    let _ = cargo_oci::diff::diff(&LayoutStore::new(seed, Some("x")), &store);
    let _ = cargo_oci::store::layout::check_output(root);
    let _ = cargo_oci::store::gc::reachable(root);
    if let Ok(w) = cargo_oci::store::layout::LayoutWriter::open(root, &mut |_| {}) {
        let _ = cargo_oci::store::gc::collect(&w);
    }
}

fn write_files(root: &Path, files: &Files) {
    for (rel, bytes) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn oci_documents_read_from_a_layout() {
    let seed = seed();
    let seed_dir = tempfile::tempdir().unwrap();
    write_files(seed_dir.path(), &seed);

    let documents: Vec<Vec<u8>> = corpus("layout-document").into_iter().map(|(_, b)| b).collect();
    let n = documents.len();
    let pos = prop_oneof![
        Just(Pos::IndexJson),
        Just(Pos::TopIndex),
        (0usize..2).prop_map(Pos::Manifest),
        (0usize..2).prop_map(Pos::Config),
        (0usize..2).prop_map(Pos::Layer),
    ];
    // JSON edits reach past the parsers into what reads the values: weighted up.
    let change = prop_oneof![
        2 => ops().prop_map(Change::Bytes),
        3 => json_ops().prop_map(Change::Json),
        1 => (0..n, ops()).prop_map(|(i, o)| Change::Replace(i, o)),
    ];
    let run = |pos: &Pos, change: &Change, keep_size: bool| {
        let mut files = seed.clone();
        let layer = matches!(pos, Pos::Layer(_));
        let edit = |b: &[u8]| -> Vec<u8> {
            let plain = if layer { gunzip(b) } else { b.to_vec() };
            let mut out = match change {
                Change::Bytes(o) => apply(&plain, o),
                Change::Json(o) => match serde_json::from_slice::<Value>(&plain) {
                    Ok(mut v) => {
                        apply_json(&mut v, o);
                        serde_json::to_vec(&v).unwrap()
                    }
                    Err(_) => plain,
                },
                Change::Replace(i, o) => apply(&documents[*i], o),
            };
            if layer {
                fix_checksums(&mut out);
                out = gzip(&out);
            }
            out
        };
        rewrite(&mut files, &chain(pos), &edit, keep_size);
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &files);
        read_everything(dir.path(), seed_dir.path());
    };
    // The corpus documents in every place, as they are.
    for i in 0..n {
        for pos in [Pos::IndexJson, Pos::TopIndex, Pos::Manifest(0), Pos::Config(1)] {
            run(&pos, &Change::Replace(i, Vec::new()), false);
        }
    }
    fuzz("layout-document", (pos, change, prop::bool::weighted(0.1)), |(pos, change, keep_size)| {
        run(&pos, &change, keep_size);
        Ok(())
    });
}

/// Small tars with every kind of entry the readers treat specially.
fn tar_seeds() -> Vec<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, link: Option<&str>, body: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(body.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, body).unwrap();
    };
    add("etc/", tar::EntryType::Directory, None, b"", 0o755);
    add("etc/passwd", tar::EntryType::Regular, None, b"root:x:0:0::/root:/bin/sh\n", 0o644);
    add("lib/ld-musl-x86_64.so.1", tar::EntryType::Symlink, Some("/lib/libc.musl-x86_64.so.1"), b"", 0o777);
    add("bin/busybox", tar::EntryType::Regular, None, b"\x7fELF", 0o4755);
    add("bin/sh", tar::EntryType::Link, Some("bin/busybox"), b"", 0o755);
    add("usr/.wh.gone", tar::EntryType::Regular, None, b"", 0o644);
    add("var/.wh..wh..opq", tar::EntryType::Regular, None, b"", 0o644);
    add(&format!("usr/share/{}/file", "long".repeat(30)), tar::EntryType::Regular, None, b"x", 0o644);
    let gnu = b.into_inner().unwrap();
    let mut seeds = vec![gnu];
    seeds.extend(corpus("tar").into_iter().map(|(_, b)| b));
    seeds
}

#[test]
fn tar_headers_of_base_layers() {
    use cargo_oci::check::rootfs::RootFs;
    let seeds = tar_seeds();
    let read = |tar: &[u8]| {
        let mut fs = RootFs::default();
        let _ = fs.add_layer("application/vnd.oci.image.layer.v1.tar", tar);
        let _ = fs.add_layer("application/vnd.oci.image.layer.v1.tar+gzip", &gzip(tar)[..]);
        for p in ["etc/passwd", "bin/sh", "lib/ld-musl-x86_64.so.1", "usr/gone", ""] {
            let _ = (fs.resolve(p), fs.is_file(p), fs.content(p));
        }
        let _ = fs.list("");
        let _ = fs.list("usr");
    };
    for s in &seeds {
        read(s);
    }
    let n = seeds.len();
    fuzz("tar", (0..n, ops(), prop::bool::weighted(0.8)), |(i, o, fix)| {
        let mut tar = apply(&seeds[i], &o);
        if fix {
            fix_checksums(&mut tar);
        }
        read(&tar);
        Ok(())
    });
}
