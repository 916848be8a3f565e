//! A content-addressed cache of registry blobs and manifests (`blobs/sha256/<hex>`), shared by
//! every build of this user. Entries are verified each time they are read: a corrupt one is
//! removed and reported as missing, so it is fetched again and never used.
//!
//! Writers hold the cache directory's lock shared while an entry goes in (temp file + rename:
//! any number at once, as entries are content-addressed); the first writer of a process sweeps
//! the temp files of killed writers, but only while nobody writes (the lock exclusive, tried,
//! never waited for).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, Ordering};

use super::disk;
use super::lock::DirLock;
use super::sweep::{self, Legacy};
use crate::env::Env;
use crate::oci::{digest_reader, Digest, HashWriter};

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    /// Whether this process has swept the leftovers of killed writers yet.
    swept: AtomicBool,
}

impl Cache {
    /// `CARGO_OCI_CACHE`, else `$XDG_CACHE_HOME/cargo-oci`, else `~/.cache/cargo-oci`.
    pub fn from_env(env: &Env) -> Option<Cache> {
        Some(Cache::at(&env.cargo_oci_cache()?))
    }

    pub fn at(dir: &Path) -> Cache {
        Cache { dir: dir.to_path_buf(), swept: AtomicBool::new(false) }
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// The entry's path if it is there and its bytes match `digest` (and `size`, if known).
    pub fn file(&self, digest: &Digest, size: Option<u64>) -> Option<PathBuf> {
        let p = self.path(digest);
        let f = fs::File::open(&p).ok()?;
        match digest_reader(f) {
            Ok((d, n)) if d == *digest && size.is_none_or(|s| s == n) => Some(p),
            _ => {
                // Corrupt or truncated: drop it so it is fetched again.
                let _ = fs::remove_file(&p);
                None
            }
        }
    }

    /// Whether an entry of `size` bytes is there. Its bytes are not read: whoever reads them
    /// checks them ([`Cache::file`]), and a corrupt entry is fetched again then.
    pub fn holds(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// A small entry's bytes (a manifest or config), verified.
    pub fn bytes(&self, digest: &Digest, size: Option<u64>) -> Option<Vec<u8>> {
        let p = self.path(digest);
        let bytes = fs::read(&p).ok()?;
        if Digest::of(&bytes) == *digest && size.is_none_or(|s| s == bytes.len() as u64) {
            Some(bytes)
        } else {
            let _ = fs::remove_file(&p);
            None
        }
    }

    /// Stores bytes already checked against `digest`. A cache that cannot be written is no
    /// reason to fail a build: errors are ignored.
    pub fn put_bytes(&self, digest: &Digest, bytes: &[u8]) {
        let _ = self.put(digest, |w| w.write_all(bytes));
    }

    /// Copies `r` into the cache, checking digest and size on the way; the entry appears only
    /// complete and verified (temp file + rename). `InvalidData` if the bytes do not match.
    pub fn put_reader(&self, digest: &Digest, size: u64, r: &mut dyn Read) -> io::Result<PathBuf> {
        self.put(digest, |w| {
            let n = io::copy(r, w)?;
            if n != size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{n} bytes where {size} were expected"),
                ));
            }
            Ok(())
        })
    }

    fn put(&self, digest: &Digest, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<PathBuf> {
        let dest = self.path(digest);
        let dir = dest.parent().expect("blob paths have a parent");
        disk::create_dir_all(dir)?;
        if !self.swept.swap(true, Ordering::Relaxed) {
            if let Ok(Some(_alone)) = DirLock::try_exclusive(&self.dir) {
                sweep::sweep(dir, Legacy::Yes);
            }
        }
        let _writing = DirLock::shared(&self.dir)?;
        let tmp = disk::temp_file(dir)?;
        let mut w = HashWriter::new(io::BufWriter::new(tmp));
        fill(&mut w)?;
        let (w, actual, _) = w.finish();
        if actual != *digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("content is {actual}, not {digest}")));
        }
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&dest).map_err(|e| e.error)?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_on_read_and_corrupt_entries_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::at(dir.path());
        let d = Digest::of(b"hello");
        assert!(c.file(&d, Some(5)).is_none());
        c.put_bytes(&d, b"hello");
        assert_eq!(c.bytes(&d, Some(5)).unwrap(), b"hello");
        assert!(c.file(&d, Some(5)).is_some());
        std::fs::write(c.path(&d), b"jello").unwrap();
        assert!(c.file(&d, None).is_none(), "a corrupt entry is not used");
        assert!(!c.path(&d).exists(), "and is dropped");
        let err = c.put_reader(&d, 5, &mut &b"world"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(!c.path(&d).exists(), "a mismatching download leaves nothing");
        assert!(c.put_reader(&d, 5, &mut &b"hello"[..]).is_ok());
        assert!(c.bytes(&d, Some(5)).is_some());
    }
}
