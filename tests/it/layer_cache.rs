//! The layer cache: unchanged binaries are never compressed again (counted in the JSON report,
//! not timed), a changed one recompresses only its own layer, and a corrupt cached blob is
//! detected and replaced, never used.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// A crate whose arm64 binary alone embeds `arm.txt` (the amd64 build never reads it), so editing
/// that file changes one platform's binary and leaves the other's bytes as they were.
fn project() -> Project {
    Project::empty()
        .file("Cargo.toml", "[package]\nname = \"cached\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n")
        .file(
            "src/main.rs",
            "#[cfg(target_arch = \"aarch64\")]\nconst MSG: &str = include_str!(\"../arm.txt\");\n\
             #[cfg(not(target_arch = \"aarch64\"))]\nconst MSG: &str = \"amd64\";\n\
             fn main() { println!(\"{MSG}\"); }\n",
        )
        .file("arm.txt", "arm64, first")
}

/// One build's JSON report line for the image, and its stderr.
fn build(p: &Project) -> (Value, String) {
    let run = p.oci(&["build", "-v", "--target", "x86_64,aarch64", "--message-format", "json", "-o", "lay"]).success();
    let line = run.stdout().lines().next().expect("an image line").to_string();
    (serde_json::from_str(&line).expect(&line), run.stderr())
}

fn counts(report: &Value) -> (u64, u64) {
    (report["layers"]["compressed"].as_u64().unwrap(), report["layers"]["reused"].as_u64().unwrap())
}

fn cache_blob(p: &Project, digest: &str) -> PathBuf {
    blob_path(&p.path().join("target/oci/.layer-cache"), digest)
}

/// The binary layer digest of each platform (amd64, arm64), read back from the layout.
fn binary_layers(layout: &Path) -> Vec<String> {
    validate_layout(layout, "0.1.0").iter().map(|m| m.layers.last().unwrap().clone()).collect()
}

#[test]
fn unchanged_binaries_are_not_compressed_again() {
    let p = project();
    let (first, _) = build(&p);
    assert_eq!(counts(&first), (2, 0), "a first build compresses both binary layers: {first}");
    let lay = p.path().join("lay");
    let layers = binary_layers(&lay);

    let (second, err) = build(&p);
    assert_eq!(counts(&second), (0, 2), "nothing changed, nothing compressed: {second}");
    assert!(err.contains("cached: 0 compressed, 2 reused from the layer cache"), "{err}");
    assert_eq!(second["index"], first["index"], "the same image");
    assert_eq!(binary_layers(&lay), layers);

    // A cache that lost its blobs still has the output layout to take them from (verified).
    std::fs::remove_dir_all(p.path().join("target/oci/.layer-cache/blobs")).unwrap();
    let (third, _) = build(&p);
    assert_eq!(counts(&third), (0, 2), "the layout's blobs stand in: {third}");
    assert_eq!(third["index"], first["index"]);
    assert!(cache_blob(&p, &layers[1]).is_file(), "and go back into the cache");

    // A changed arm64 binary recompresses its own layer only.
    std::fs::write(p.path().join("arm.txt"), "arm64, second").unwrap();
    let (changed, _) = build(&p);
    assert_eq!(counts(&changed), (1, 1), "only the changed binary's layer: {changed}");
    let now = binary_layers(&lay);
    assert_eq!(now[0], layers[0], "amd64 layer unchanged");
    assert_ne!(now[1], layers[1], "arm64 layer new");
    if have("skopeo") && have("umoci") {
        let work = tempfile::tempdir().unwrap();
        let rootfs = unpack_platform(&lay, "0.1.0", "arm64", work.path());
        let bin = std::fs::read(rootfs.join("usr/local/bin/cached")).unwrap();
        assert!(bin.windows(13).any(|w| w == b"arm64, second"), "the new binary is in the image");
    }
}

#[test]
fn a_corrupt_cached_blob_is_detected_and_compressed_again() {
    let p = project();
    let (first, _) = build(&p);
    let lay = p.path().join("lay");
    let layers = binary_layers(&lay);

    // One flipped byte, same size, in the arm64 layer's cached blob. It is the same file as the
    // layout's blob (a hard link), so the layout's copy is damaged too and cannot stand in.
    let cached = cache_blob(&p, &layers[1]);
    let mid = std::fs::metadata(&cached).unwrap().len() / 2;
    let byte = std::fs::read(&cached).unwrap()[mid as usize];
    let mut f = std::fs::OpenOptions::new().write(true).open(&cached).unwrap();
    f.seek(SeekFrom::Start(mid)).unwrap();
    f.write_all(&[byte ^ 0xff]).unwrap();
    drop(f);

    let (second, _) = build(&p);
    assert_eq!(counts(&second), (1, 1), "the corrupt layer is compressed again, the other reused: {second}");
    assert_eq!(second["index"], first["index"], "to the same bytes");
    assert_eq!(binary_layers(&lay), layers, "the layout's damaged blob is replaced (validated)");
    let (d, _) = sha256_file(&cached);
    assert_eq!(format!("sha256:{d}"), layers[1], "the cache holds good bytes again");
    let (third, _) = build(&p);
    assert_eq!(counts(&third), (0, 2), "{third}");
}

/// The hex sha256 and size of a file.
fn sha256_file(path: &Path) -> (String, u64) {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).unwrap();
    (hex::encode(sha2::Sha256::digest(&bytes)), bytes.len() as u64)
}
