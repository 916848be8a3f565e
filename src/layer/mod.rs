//! Deterministic layers: sorted tar entries with explicit parents and fixed metadata, compressed
//! in one streaming pass that yields the diff_id and the blob digest together.

mod compress;
mod gzip;
pub mod key;
pub mod read;
mod zstd;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

pub use compress::{Compression, Encoder, GZIP_LEVEL, ZSTD_LEVEL};

use crate::oci::{Digest, HashWriter};

/// The digest and size of one file's content, as it went into a layer.
pub type Content = (Digest, u64);

/// The media type of layers written with the default compression (gzip).
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

/// Writes `entries` as a deterministic tar.gz into `out` (the default [`Compression`]).
///
/// Entries are sorted by path; missing parent directories are added as `0755 root:root`; every
/// header gets `mtime`, no user/group names and ustar format. A later entry for the same path
/// replaces an earlier one (so callers can override a parent's mode).
pub fn write<W: Write>(entries: Vec<Entry>, mtime: u64, out: W) -> io::Result<(W, Digests)> {
    write_reporting(entries, mtime, out, &|_| Ok(()))
}

/// Hears how many bytes of file content went into a layer after each chunk (for progress bars:
/// the total is the sum of the files' sizes); an error it returns stops the layer there (work
/// that is no longer wanted), and is the layer's error.
pub type OnRead<'a> = &'a dyn Fn(u64) -> io::Result<()>;

/// [`write`], telling `read` of each chunk of file content (see [`OnRead`]).
pub fn write_reporting<W: Write>(
    entries: Vec<Entry>,
    mtime: u64,
    out: W,
    read: OnRead<'_>,
) -> io::Result<(W, Digests)> {
    write_as(entries, mtime, Compression::default(), out, read)
}

/// [`write_reporting`] with a chosen compression (its media type is [`Compression::media_type`]).
/// One pass: tar → hash (diff_id) → compress → hash (digest) → `out`.
pub fn write_as<W: Write>(
    entries: Vec<Entry>,
    mtime: u64,
    compression: Compression,
    out: W,
    read: OnRead<'_>,
) -> io::Result<(W, Digests)> {
    write_prepared(&prepare(entries)?, mtime, compression, out, read).map(|(w, d, _)| (w, d))
}

/// The entries a layer holds, in the order it holds them: paths normalised, sorted, missing
/// parents added as `0755 root:root`, a later entry for a path replacing an earlier one.
pub fn prepare(entries: Vec<Entry>) -> io::Result<Vec<Entry>> {
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
    Ok(by_path.into_values().collect())
}

/// Writes entries [`prepare`]d before; also returns each file's content digest and size as it
/// was read while writing (what the layer cache keys on: the bytes really packaged, even if a
/// file changed since it was hashed for the lookup).
pub fn write_prepared<W: Write>(
    entries: &[Entry],
    mtime: u64,
    compression: Compression,
    out: W,
    read: OnRead<'_>,
) -> io::Result<(W, Digests, Vec<Content>)> {
    let blob = HashWriter::new(out);
    let mut tar = tar::Builder::new(HashWriter::new(compression.encoder(blob)?));
    let mut contents = Vec::new();
    for e in entries {
        contents.extend(append(&mut tar, e, mtime, read)?);
    }
    let (encoder, diff_id, _) = tar.into_inner()?.finish();
    let (out, digest, size) = encoder.finish()?.finish();
    Ok((out, Digests { diff_id, digest, size }, contents))
}

/// Appends one entry; for a file, returns its content's digest and size.
fn append<W: Write>(tar: &mut tar::Builder<W>, e: &Entry, mtime: u64, read: OnRead<'_>) -> io::Result<Option<Content>> {
    let mut h = tar::Header::new_ustar();
    h.set_mtime(mtime);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mode(e.mode);
    match &e.kind {
        Kind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{}/", e.path), io::empty()).map(|()| None)
        }
        Kind::Symlink(target) => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &e.path, target).map(|()| None)
        }
        Kind::File(Source::Bytes(b)) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(b.len() as u64);
            tar.append_data(&mut h, &e.path, &b[..])?;
            Ok(Some((Digest::of(b), b.len() as u64)))
        }
        Kind::File(Source::Path(p)) => {
            let f = File::open(p)
                .map_err(|err| io::Error::new(err.kind(), format!("cannot read {}: {err}", p.display())))?;
            let size = f.metadata()?.len();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            // `take` + the count check keep the archive valid if the file changes while we read.
            let mut r = CountingReader { inner: f.take(size), hash: HashWriter::new(io::sink()), report: read };
            tar.append_data(&mut h, &e.path, &mut r)?;
            let (_, digest, n) = r.hash.finish();
            if n != size {
                return Err(io::Error::other(format!("{} changed size while being packaged", p.display())));
            }
            Ok(Some((digest, n)))
        }
    }
}

/// Counts (for the progress bar) and hashes (for the layer cache key) a file on its way in.
struct CountingReader<'a, R> {
    inner: R,
    hash: HashWriter<io::Sink>,
    report: OnRead<'a>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        (self.report)(n as u64)?;
        Ok(n)
    }
}

/// Writes a layer straight into a file (buffered) with `compression`, syncing it before returning.
pub fn write_file_as(
    entries: Vec<Entry>,
    mtime: u64,
    compression: Compression,
    file: File,
    read: OnRead<'_>,
) -> io::Result<Digests> {
    write_file_prepared(&prepare(entries)?, mtime, compression, file, read).map(|(d, _)| d)
}

/// [`write_prepared`] into a file (buffered), syncing it before returning.
pub fn write_file_prepared(
    entries: &[Entry],
    mtime: u64,
    compression: Compression,
    file: File,
    read: OnRead<'_>,
) -> io::Result<(Digests, Vec<Content>)> {
    let out = BufWriter::with_capacity(256 * 1024, file);
    let (w, digests, contents) = write_prepared(entries, mtime, compression, out, read)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((digests, contents))
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

    /// A layer of several compression blocks: a 2.5 MB pseudo-binary (repeats and noise) beside the
    /// small files, so the golden digests cover a layer of several gzip members.
    fn sample_big() -> Vec<Entry> {
        let bin = gzip::tests::sample(2_500_000);
        let mut entries = sample();
        entries.push(Entry::file("/usr/local/bin/big", Source::Bytes(bin), 0o755));
        entries
    }

    fn digests(entries: Vec<Entry>, compression: Compression) -> Digests {
        let (bytes, d) = write_as(entries, 0, compression, Vec::new(), &|_| Ok(())).unwrap();
        assert_eq!(d.size, bytes.len() as u64);
        assert_eq!(d.digest, Digest::of(&bytes));
        d
    }

    #[test]
    fn golden_digests() {
        // If one of these changes, every image digest users have changes: only on purpose, with a
        // note in README ("Compression"). The compressors are pinned in Cargo.toml for this.
        let small = digests(sample(), Compression::default());
        assert_eq!(small, write(sample(), 0, Vec::new()).unwrap().1, "the default is what `write` uses");
        assert_eq!(small.diff_id.as_str(), "sha256:fdd7a62c4d5ff60d355cb5b0e58e7cce997c88a875ab8e191f6eb1740046c617");
        assert_eq!(small.digest.as_str(), "sha256:54df5ffe4a2323156f204243369eb1dfb16a4429fe4d45b44dbbb3930dc3cb04");
        let big_gzip = digests(sample_big(), Compression::default());
        let big_zstd = digests(sample_big(), Compression::Zstd { level: ZSTD_LEVEL });
        let big_gzip9 = digests(sample_big(), Compression::Gzip { level: 9 });
        assert_eq!(big_gzip.diff_id, big_zstd.diff_id, "the tar is the same whatever compresses it");
        assert_eq!(
            big_gzip.diff_id.as_str(),
            "sha256:57890d60343617f76fcc60510df43b750fdb772cf8baaf5f8bc8c0c6294ddad5"
        );
        assert_eq!(big_gzip.digest.as_str(), "sha256:43d775d9889241675a3e0a23260cfb122a418013b0428ee4a8e2591cf21e22c7");
        assert_eq!(
            big_gzip9.digest.as_str(),
            "sha256:ccb4236d41ed51300f7dcfd325359361733a1782eff3d9c8dfc0d95f2b9d72ae"
        );
        assert_eq!(big_zstd.digest.as_str(), "sha256:919d279f1e8e09f92a76dad5503208f3d8889fa33bc8996a67ecb046c65ebeb5");
    }

    #[test]
    fn every_compression_reads_back_through_the_layer_reader() {
        for c in [Compression::default(), Compression::Gzip { level: 1 }, Compression::Zstd { level: 3 }] {
            let (bytes, d) = write_as(sample_big(), 0, c, Vec::new(), &|_| Ok(())).unwrap();
            let mut tar = Vec::new();
            read::open(c.media_type(), &bytes[..]).unwrap().read_to_end(&mut tar).unwrap();
            assert_eq!(Digest::of(&tar), d.diff_id, "{c}");
        }
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
        let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(&bytes[..]));
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
