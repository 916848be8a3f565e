//! Deterministic layers: sorted tar entries with explicit parents and fixed metadata, gzip'd in one
//! streaming pass that yields the diff_id and the blob digest together.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use flate2::{Compression, GzBuilder};

use crate::oci::{Digest, HashWriter};

/// The gzip level. Pinned with the deflate implementation (see Cargo.toml): the compressed bytes,
/// and so every layer digest, depend on both.
pub const GZIP_LEVEL: u32 = 6;
/// The gzip header's OS byte: 255 = "unknown", so the host OS never leaks into the bytes.
const GZIP_OS_UNKNOWN: u8 = 255;
pub const MEDIA_TYPE: &str = crate::oci::media::OCI_LAYER_GZIP;

/// What a tar entry holds.
#[derive(Clone, Debug)]
pub enum Kind {
    Dir,
    File(Source),
    Symlink(String),
}

/// Where a file entry's bytes come from. Files are streamed, never read whole.
#[derive(Clone, Debug)]
pub enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// One file system entry in a layer. `path` is relative to `/` (normalised by [`normalize`]).
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Entry {
    pub fn dir(path: &str, mode: u32, uid: u64, gid: u64) -> Entry {
        Entry { path: path.into(), kind: Kind::Dir, mode, uid, gid }
    }
    pub fn file(path: &str, source: Source, mode: u32) -> Entry {
        Entry { path: path.into(), kind: Kind::File(source), mode, uid: 0, gid: 0 }
    }
}

/// The two digests a layer needs: `diff_id` (uncompressed, for the config) and the blob's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
}

/// Normalises an absolute or relative image path to tar form (`usr/local/bin/app`): strips `/`,
/// folds `//` and `.`. A `..` is refused rather than resolved: it can only be a mistake or an
/// attempt to escape the root.
pub fn normalize(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            // Lexically, as the image has no symlinks yet to follow: `/etc/../x` is `/x`.
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("`{path}` leaves the image root through `..`"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Writes `entries` as a deterministic tar.gz into `out`.
///
/// Entries are sorted by path; missing parent directories are added as `0755 root:root`; every
/// header gets `mtime`, no user/group names and ustar format. A later entry for the same path
/// replaces an earlier one (so callers can override a parent's mode).
pub fn write<W: Write>(entries: Vec<Entry>, mtime: u64, out: W) -> io::Result<(W, Digests)> {
    write_reporting(entries, mtime, out, &|_| {})
}

/// [`write`], telling `read` how many bytes of file content went in after each chunk (for
/// progress bars: the total is the sum of the files' sizes).
pub fn write_reporting<W: Write>(
    entries: Vec<Entry>,
    mtime: u64,
    out: W,
    read: &dyn Fn(u64),
) -> io::Result<(W, Digests)> {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    for mut e in entries {
        e.path = normalize(&e.path).map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        if e.path.is_empty() {
            continue; // the root itself is never an entry
        }
        let mut parent = e.path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            by_path.entry(p.to_string()).or_insert_with(|| Entry::dir(p, 0o755, 0, 0));
            parent = p;
        }
        by_path.insert(e.path.clone(), e);
    }

    let blob = HashWriter::new(out);
    let gz = GzBuilder::new().mtime(0).operating_system(GZIP_OS_UNKNOWN).write(blob, Compression::new(GZIP_LEVEL));
    let mut tar = tar::Builder::new(HashWriter::new(gz));
    for e in by_path.values() {
        append(&mut tar, e, mtime, read)?;
    }
    let (gz, diff_id, _) = tar.into_inner()?.finish();
    let (out, digest, size) = gz.finish()?.finish();
    Ok((out, Digests { diff_id, digest, size }))
}

fn append<W: Write>(tar: &mut tar::Builder<W>, e: &Entry, mtime: u64, read: &dyn Fn(u64)) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_mtime(mtime);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mode(e.mode);
    match &e.kind {
        Kind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{}/", e.path), io::empty())
        }
        Kind::Symlink(target) => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &e.path, target)
        }
        Kind::File(Source::Bytes(b)) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(b.len() as u64);
            tar.append_data(&mut h, &e.path, &b[..])
        }
        Kind::File(Source::Path(p)) => {
            let f = File::open(p)
                .map_err(|err| io::Error::new(err.kind(), format!("cannot read {}: {err}", p.display())))?;
            let size = f.metadata()?.len();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            // `take` + the count check keep the archive valid if the file changes while we read.
            let mut r = CountingReader { inner: f.take(size), n: 0, report: read };
            tar.append_data(&mut h, &e.path, &mut r)?;
            if r.n != size {
                return Err(io::Error::other(format!("{} changed size while being packaged", p.display())));
            }
            Ok(())
        }
    }
}

struct CountingReader<'a, R> {
    inner: R,
    n: u64,
    report: &'a dyn Fn(u64),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        (self.report)(n as u64);
        Ok(n)
    }
}

/// A layer's bytes as a tar stream, whatever its media type says: gzip is recognised by its
/// magic bytes, a plain tar passes through, zstd is refused (no reader for it yet).
pub fn open_tar<'a>(raw: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut raw = std::io::BufReader::new(raw);
    let magic = std::io::BufRead::fill_buf(&mut raw)?;
    Ok(match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(raw)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "zstd-compressed layers cannot be read yet"))
        }
        _ => Box::new(raw),
    })
}

/// Writes a layer straight into a file (buffered), syncing it before returning.
pub fn write_file(entries: Vec<Entry>, mtime: u64, file: File, read: &dyn Fn(u64)) -> io::Result<Digests> {
    let (w, digests) = write_reporting(entries, mtime, BufWriter::with_capacity(256 * 1024, file), read)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::file("/usr/local/bin/app", Source::Bytes(b"\x7fELF fake binary".to_vec()), 0o755),
            Entry::dir("/tmp", 0o1777, 0, 0),
            Entry::file("etc/passwd", Source::Bytes(b"root:x:0:0:root:/root:/sbin/nologin\n".to_vec()), 0o644),
        ]
    }

    #[test]
    fn golden_digests() {
        // If this changes, every image digest users have changes: only on purpose, with a note.
        let (bytes, d) = write(sample(), 0, Vec::new()).unwrap();
        assert_eq!(d.size, bytes.len() as u64);
        assert_eq!(d.digest, Digest::of(&bytes));
        assert_eq!(d.diff_id.as_str(), "sha256:fdd7a62c4d5ff60d355cb5b0e58e7cce997c88a875ab8e191f6eb1740046c617");
        assert_eq!(d.digest.as_str(), "sha256:c9868b36727d281ad82aea03199a4ce5af4cb5049099034e3bb9807ad0ad288a");
    }

    #[test]
    fn gzip_header_is_fixed() {
        let (bytes, _) = write(sample(), 1_700_000_000, Vec::new()).unwrap();
        // magic, CM=deflate, FLG=0, MTIME=0, XFL=0 (level 6), OS=255
        assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn order_of_input_does_not_matter_but_mtime_does() {
        let mut rev = sample();
        rev.reverse();
        let a = write(sample(), 0, Vec::new()).unwrap().1;
        assert_eq!(a, write(rev, 0, Vec::new()).unwrap().1);
        assert_ne!(a, write(sample(), 1, Vec::new()).unwrap().1);
    }

    #[test]
    fn entries_are_sorted_with_explicit_parents() {
        let (bytes, _) = write(sample(), 42, Vec::new()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let got: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap())
            })
            .collect();
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, ["etc/", "etc/passwd", "tmp/", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app"]);
        assert!(got.iter().all(|g| g.2 == 0 && g.3 == 42));
        assert_eq!(got[2].1, 0o1777);
        assert_eq!(got[6].1, 0o755);
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/usr//local/./bin/").unwrap(), "usr/local/bin");
        assert!(normalize("/etc/../../x").is_err());
        assert_eq!(normalize("/etc/../x").unwrap(), "x");
        assert_eq!(normalize("/a/b/../../c/./d/..").unwrap(), "c");
        assert!(normalize("/..").is_err());
    }
}
