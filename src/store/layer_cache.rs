//! The layer cache: a layer's key (`layer::key`: everything that fixes its bytes) → the blob it
//! compressed to, so unchanged binaries are never compressed again and keep their digests across
//! compressor upgrades (ko's `pkg/build/cache.go` does the same for Go binaries).
//!
//! It lives in `<target-dir>/oci/.layer-cache`, not in the user cache dir: its blobs are large
//! (one per binary and target, a new one at every change) and belong to one project, so they go
//! where the binaries they come from go, and `cargo clean` removes both; it is on the same file
//! system as the staging directory and the default output, so a blob moves in and out by hard
//! link, never by copy. (The user-wide `store::cache` keeps registry blobs, shared by projects.)
//!
//! `keys/<key hex>.json` holds a [`Record`]; `blobs/sha256/<hex>` the compressed blob. Both are
//! written by temp file + rename, so readers see whole files or none. Every build that uses the
//! cache holds its directory's lock shared; the pruning of old entries takes it exclusive, tried,
//! never waited for, so it only runs while nobody else uses the cache. A blob is verified (digest
//! and size) every time it is reused: a corrupt one is dropped and the layer compressed again.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::disk;
use super::lock::DirLock;
use super::sweep::{self, Legacy};
use crate::oci::{digest_reader, Digest};

/// Entries kept, most recently used first: every build's layers with room for a few builds of
/// several images and targets. Each is one compressed binary (tens of MB at most).
const KEEP: usize = 32;

/// What a key maps to: the layer as it was compressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub media_type: String,
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug)]
pub struct LayerCache {
    dir: PathBuf,
    _using: DirLock,
}

impl LayerCache {
    /// Opens (creating) the cache in `dir`: prunes it if nobody else uses it, then holds its
    /// lock shared until dropped.
    pub fn open(dir: &Path) -> io::Result<LayerCache> {
        for sub in ["keys", "blobs/sha256"] {
            disk::create_dir_all(&dir.join(sub))?;
        }
        if let Some(_alone) = DirLock::try_exclusive(dir)? {
            sweep::sweep(&dir.join("keys"), Legacy::No);
            sweep::sweep(&dir.join("blobs/sha256"), Legacy::No);
            prune(dir, KEEP);
        }
        Ok(LayerCache { dir: dir.to_path_buf(), _using: DirLock::shared(dir)? })
    }

    fn key_path(&self, key: &Digest) -> PathBuf {
        self.dir.join("keys").join(format!("{}.json", key.hex()))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// The record of `key`, if there is a readable one (an unreadable one is dropped).
    pub fn get(&self, key: &Digest) -> Option<Record> {
        let p = self.key_path(key);
        let bytes = fs::read(&p).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(r) => Some(r),
            Err(_) => {
                let _ = fs::remove_file(&p);
                None
            }
        }
    }

    /// Puts a verified copy of `record`'s blob at `to` (a hard link where it can), taken from the
    /// cache or else from one of the `layouts` (OCI layout directories that may hold it), and
    /// marks the entry used. `false` if no good copy exists: a corrupt cached blob is removed
    /// with its key, so the layer is compressed again and the entry replaced.
    pub fn restore(&self, key: &Digest, record: &Record, to: &Path, layouts: &[PathBuf]) -> bool {
        let own = self.blob_path(&record.digest);
        let elsewhere = layouts.iter().map(|l| l.join("blobs/sha256").join(record.digest.hex()));
        for (i, src) in std::iter::once(own.clone()).chain(elsewhere).enumerate() {
            if !src.is_file() {
                continue;
            }
            let _ = fs::remove_file(to);
            if fs::hard_link(&src, to).is_err() && fs::copy(&src, to).is_err() {
                continue;
            }
            let good =
                File::open(to).and_then(digest_reader).is_ok_and(|(d, n)| d == record.digest && n == record.size);
            if good {
                if i > 0 {
                    self.put_blob(to, &record.digest);
                }
                touch(&self.key_path(key));
                return true;
            }
            let _ = fs::remove_file(to);
            if i == 0 {
                let _ = fs::remove_file(&own);
            }
        }
        let _ = fs::remove_file(self.key_path(key));
        false
    }

    /// Records that `key` compressed to `record`, whose blob is the file `staged`. A cache that
    /// cannot be written is no reason to fail a build: errors are ignored (the next build
    /// compresses again).
    pub fn put(&self, key: &Digest, record: &Record, staged: &Path) {
        if !self.put_blob(staged, &record.digest) {
            return;
        }
        let Ok(json) = serde_json::to_vec(record) else { return };
        let _ = write_replacing(&self.key_path(key), |tmp| fs::write(tmp, &json));
    }

    /// Links `file` in as the blob `digest` (replacing what is there: it may be a corrupt copy).
    fn put_blob(&self, file: &Path, digest: &Digest) -> bool {
        write_replacing(&self.blob_path(digest), |tmp| {
            fs::hard_link(file, tmp).or_else(|_| fs::copy(file, tmp).map(drop))
        })
        .is_ok()
    }
}

/// Writes `dest` through a fresh temp name beside it (`fill` creates that file) and a rename.
fn write_replacing(dest: &Path, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!("{}{}", disk::temp_prefix("put"), dest.file_name().unwrap_or_default().to_string_lossy()));
    let _ = fs::remove_file(&tmp);
    fill(&tmp).and_then(|()| fs::rename(&tmp, dest)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Marks an entry used now (its file's mtime orders the pruning).
fn touch(path: &Path) {
    if let Ok(f) = File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Keeps the `keep` most recently used entries and the blobs they name; removes the rest.
/// Only with the cache's lock held exclusively.
fn prune(dir: &Path, keep: usize) {
    let Ok(read) = fs::read_dir(dir.join("keys")) else { return };
    let mut keys: Vec<(SystemTime, PathBuf)> = read
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH), e.path()))
        .collect();
    let blobs = |dir: &Path| fs::read_dir(dir.join("blobs/sha256")).map(|r| r.count()).unwrap_or(0);
    if keys.len() <= keep && blobs(dir) <= keys.len() {
        return; // nothing to drop (the usual case: reading every record would cost a no-op build ~1 ms)
    }
    keys.sort_by(|a, b| b.cmp(a));
    let mut live = std::collections::BTreeSet::new();
    for (i, (_, path)) in keys.iter().enumerate() {
        let record = fs::read(path).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok());
        match record {
            Some(r) if i < keep => {
                live.insert(r.digest.hex().to_string());
            }
            _ => {
                let _ = fs::remove_file(path);
            }
        }
    }
    let Ok(blobs) = fs::read_dir(dir.join("blobs/sha256")) else { return };
    for b in blobs.flatten() {
        let name = b.file_name().to_string_lossy().into_owned();
        if !name.starts_with(disk::TEMP_PREFIX) && !live.contains(&name) {
            let _ = fs::remove_file(b.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8]) -> Record {
        Record {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            diff_id: Digest::of(b"tar"),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }

    #[test]
    fn a_put_blob_is_restored_verified_and_a_corrupt_one_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let cache = LayerCache::open(&d.path().join("cache")).unwrap();
        let (key, r) = (Digest::of(b"key"), record(b"blob"));
        let staged = d.path().join("staged");
        fs::write(&staged, b"blob").unwrap();
        assert_eq!(cache.get(&key), None);
        cache.put(&key, &r, &staged);
        assert_eq!(cache.get(&key), Some(r.clone()));
        let to = d.path().join("restored");
        assert!(cache.restore(&key, &r, &to, &[]));
        assert_eq!(fs::read(&to).unwrap(), b"blob");

        // A flipped byte (same size) in the cached blob: detected, dropped with its key.
        fs::remove_file(&to).unwrap();
        fs::remove_file(&staged).unwrap(); // a separate inode from here on
        fs::write(cache.blob_path(&r.digest), b"blub").unwrap();
        assert!(!cache.restore(&key, &r, &to, &[]));
        assert!(!to.exists(), "nothing corrupt is left where the layer was to go");
        assert!(!cache.blob_path(&r.digest).exists() && cache.get(&key).is_none());
    }

    #[test]
    fn a_layout_that_holds_the_blob_stands_in_for_a_lost_one() {
        let d = tempfile::tempdir().unwrap();
        let cache = LayerCache::open(&d.path().join("cache")).unwrap();
        let (key, r) = (Digest::of(b"key"), record(b"blob"));
        let layout = d.path().join("layout");
        fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        fs::write(layout.join("blobs/sha256").join(r.digest.hex()), b"blob").unwrap();
        cache.put(&key, &r, &layout.join("blobs/sha256").join(r.digest.hex()));
        fs::remove_file(cache.blob_path(&r.digest)).unwrap();
        let to = d.path().join("restored");
        assert!(cache.restore(&key, &r, &to, std::slice::from_ref(&layout)));
        assert!(cache.blob_path(&r.digest).is_file(), "and the cache has it again");
    }

    #[test]
    fn pruning_keeps_the_most_recently_used() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("cache");
        let cache = LayerCache::open(&dir).unwrap();
        let staged = d.path().join("staged");
        let mut keys = Vec::new();
        for i in 0..4u8 {
            fs::write(&staged, [i]).unwrap();
            let key = Digest::of(&[i]);
            cache.put(&key, &record(&[i]), &staged);
            fs::remove_file(&staged).unwrap();
            let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + u64::from(i));
            File::options().append(true).open(cache.key_path(&key)).unwrap().set_modified(when).unwrap();
            keys.push(key);
        }
        drop(cache);
        prune(&dir, 2);
        let cache = LayerCache::open(&dir).unwrap();
        let kept: Vec<bool> = keys.iter().map(|k| cache.get(k).is_some()).collect();
        assert_eq!(kept, [false, false, true, true]);
        assert!(!cache.blob_path(&Digest::of(&[0])).exists(), "a pruned entry's blob goes with it");
        assert!(cache.blob_path(&Digest::of(&[3])).exists());
    }
}
