//! A layer's cache key: the digest of everything that fixes its bytes — each entry's tar header
//! fields (path, type, mode, owner, size, link target, mtime), each file's content digest, the
//! entry list itself, and the compression with its level — so equal keys mean equal layers and a
//! stored blob can stand in for compressing again (ko's `pkg/build/cache.go` keys the same way).

use std::fs::File;
use std::io;

use serde::Serialize;

use super::{Compression, Entry, Kind, Source};
use crate::oci::{digest_reader, Digest};

/// What the tar writer's bytes depend on besides the fields below. Bump it when `append` or the
/// tar crate changes what it writes (the golden digest test in `layer` fails when it does), so no
/// old entry answers for new bytes. The compressor's implementation is left out on purpose: an
/// unchanged input keeps its stored blob, and so its digest, across compressor upgrades.
const FORMAT: &str = "cargo-oci layer v1: ustar, parents explicit, no user/group names";

#[derive(Serialize)]
struct KeyDoc<'a> {
    format: &'static str,
    compression: String,
    media_type: &'static str,
    mtime: u64,
    entries: Vec<EntryDoc<'a>>,
}

#[derive(Serialize)]
struct EntryDoc<'a> {
    path: &'a str,
    kind: &'static str,
    mode: u32,
    uid: u64,
    gid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
}

/// The digest and size of each file entry's content, in entry order (what [`key`] takes).
pub fn contents(entries: &[Entry]) -> io::Result<Vec<(Digest, u64)>> {
    entries
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::File(Source::Bytes(b)) => Some(Ok((Digest::of(b), b.len() as u64))),
            Kind::File(Source::Path(p)) => Some(
                File::open(p)
                    .and_then(digest_reader)
                    .map_err(|err| io::Error::new(err.kind(), format!("cannot read {}: {err}", p.display()))),
            ),
            Kind::Dir | Kind::Symlink(_) => None,
        })
        .collect()
}

/// The key of the layer `entries` (as [`super::prepare`] left them) make with `mtime` and
/// `compression`; `contents` has one `(digest, size)` per file entry, in order.
pub fn key(entries: &[Entry], contents: &[(Digest, u64)], mtime: u64, compression: Compression) -> Digest {
    let mut files = contents.iter();
    let entries = entries
        .iter()
        .map(|e| {
            let (kind, content, link) = match &e.kind {
                Kind::Dir => ("dir", None, None),
                Kind::Symlink(t) => ("symlink", None, Some(t.as_str())),
                Kind::File(_) => ("file", files.next(), None),
            };
            EntryDoc {
                path: &e.path,
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                size: content.map(|c| c.1),
                content: content.map(|c| &c.0),
                link,
            }
        })
        .collect();
    let doc = KeyDoc {
        format: FORMAT,
        compression: compression.to_string(),
        media_type: compression.media_type(),
        mtime,
        entries,
    };
    Digest::of(&crate::oci::json::to_vec(&doc).expect("a key document is plain data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(entries: Vec<Entry>, mtime: u64, c: Compression) -> Digest {
        let entries = super::super::prepare(entries).unwrap();
        key(&entries, &contents(&entries).unwrap(), mtime, c)
    }

    #[test]
    fn every_input_of_the_bytes_changes_the_key() {
        let bin = |b: &[u8], mode| vec![Entry::file("/app/bin", Source::Bytes(b.to_vec()), mode)];
        let gz = Compression::default();
        let base = key_of(bin(b"one", 0o755), 0, gz);
        assert_eq!(base, key_of(bin(b"one", 0o755), 0, gz), "a key is a function of its inputs");
        let mut others = vec![
            key_of(bin(b"two", 0o755), 0, gz),
            key_of(bin(b"one", 0o700), 0, gz),
            key_of(bin(b"one", 0o755), 1, gz),
            key_of(bin(b"one", 0o755), 0, Compression::Gzip { level: 9 }),
            key_of(bin(b"one", 0o755), 0, Compression::Zstd { level: 3 }),
            key_of(vec![Entry::file("/app/other", Source::Bytes(b"one".to_vec()), 0o755)], 0, gz),
            key_of(vec![Entry { uid: 1, ..bin(b"one", 0o755).remove(0) }], 0, gz),
            key_of(vec![Entry { gid: 1, ..bin(b"one", 0o755).remove(0) }], 0, gz),
            key_of([bin(b"one", 0o755), vec![Entry::dir("/tmp", 0o1777, 0, 0)]].concat(), 0, gz),
            key_of([bin(b"one", 0o755), vec![Entry::dir("/app", 0o700, 0, 0)]].concat(), 0, gz),
        ];
        others.push(key_of(
            [
                bin(b"one", 0o755),
                vec![Entry { path: "/l".into(), kind: Kind::Symlink("a".into()), mode: 0o777, uid: 0, gid: 0 }],
            ]
            .concat(),
            0,
            gz,
        ));
        others.push(key_of(
            [
                bin(b"one", 0o755),
                vec![Entry { path: "/l".into(), kind: Kind::Symlink("b".into()), mode: 0o777, uid: 0, gid: 0 }],
            ]
            .concat(),
            0,
            gz,
        ));
        others.push(base.clone());
        let distinct: std::collections::BTreeSet<_> = others.iter().collect();
        assert_eq!(distinct.len(), others.len(), "every change gives a new key: {others:#?}");
    }

    #[test]
    fn a_file_and_its_bytes_have_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, b"\x7fELF").unwrap();
        let gz = Compression::default();
        assert_eq!(
            key_of(vec![Entry::file("/bin", Source::Path(p), 0o755)], 0, gz),
            key_of(vec![Entry::file("/bin", Source::Bytes(b"\x7fELF".to_vec()), 0o755)], 0, gz),
            "the key is of the content, not of where it comes from"
        );
    }
}
