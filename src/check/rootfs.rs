//! A base's file tree, read by streaming its layers' tar headers (nothing is unpacked to disk):
//! which paths exist, symlinks and hardlinks, whiteouts, and the few small files the check reads.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::oci::Layer;

/// What a path is in the merged tree of all layers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Symlink(String),
    /// A hardlink to another path of the tree (tar's `linkname`, relative to the root).
    Hardlink(String),
}

/// Files kept with their bytes while streaming: what the glibc version is read from.
fn wanted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") || name == "libc.so.6"
}

/// The largest file kept in memory (a libc.so.6 is ~2 MB; anything bigger is not one).
const MAX_KEPT: u64 = 32 << 20;

/// The merged file tree of an image's layers (paths relative to `/`, no leading slash).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RootFs {
    nodes: BTreeMap<String, Node>,
    contents: BTreeMap<String, Vec<u8>>,
}

impl RootFs {
    /// Applies the layers bottom to top.
    pub fn from_layers(layers: &[Layer]) -> io::Result<RootFs> {
        let mut fs = RootFs::default();
        for layer in layers {
            // The built-in base's layer is known entry by entry: no need to inflate it.
            if let Some(entries) = crate::store::builtin::entries_of(layer) {
                fs.add_entries(entries);
                continue;
            }
            let what = |e: io::Error| io::Error::new(e.kind(), format!("layer {}: {e}", layer.blob.digest));
            fs.add_layer(&layer.blob.media_type, layer.blob.open().map_err(what)?).map_err(what)?;
        }
        Ok(fs)
    }

    /// One layer of `media_type` (a tar, plain, gzip'd or zstd'd). Whiteouts (`.wh.name`,
    /// `.wh..wh..opq`) remove what the layers below had; entries of this layer are added after them.
    pub fn add_layer(&mut self, media_type: &str, raw: impl Read) -> io::Result<()> {
        let mut archive = tar::Archive::new(crate::layer::read::open(media_type, raw)?);
        let mut added: Vec<(String, Node)> = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let Some(path) = clean(&String::from_utf8_lossy(&entry.path_bytes())) else { continue };
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" {
                self.remove_under(dir);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                self.nodes.remove(&gone);
                self.contents.remove(&gone);
                self.remove_under(&gone);
                continue;
            }
            let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
            let node = match entry.header().entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Symlink => Node::Symlink(link()),
                tar::EntryType::Link => Node::Hardlink(clean(&link()).unwrap_or_default()),
                _ => Node::File,
            };
            if node == Node::File && wanted(&path) && entry.size() <= MAX_KEPT {
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes)?;
                self.contents.insert(path.clone(), bytes);
            } else {
                self.contents.remove(&path);
            }
            added.push((path, node));
        }
        for (path, node) in added {
            self.nodes.insert(path, node);
        }
        Ok(())
    }

    /// A layer given as the entries it was written from (see [`crate::layer::prepare`]): the
    /// same tree [`RootFs::add_layer`] reads from its tar (tested on the built-in base).
    fn add_entries(&mut self, entries: &[crate::layer::Entry]) {
        use crate::layer::{Kind, Source};
        for e in entries {
            let Some(path) = clean(&e.path) else { continue };
            let node = match &e.kind {
                Kind::Dir => Node::Dir,
                Kind::Symlink(to) => Node::Symlink(to.clone()),
                Kind::File(_) => Node::File,
            };
            match &e.kind {
                Kind::File(Source::Bytes(b)) if wanted(&path) => drop(self.contents.insert(path.clone(), b.clone())),
                _ => drop(self.contents.remove(&path)),
            }
            self.nodes.insert(path, node);
        }
    }

    fn remove_under(&mut self, dir: &str) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        self.nodes.retain(|p, _| !p.starts_with(&prefix));
        self.contents.retain(|p, _| !p.starts_with(&prefix));
    }

    /// Whether `path` is a directory: listed as one, or implied by a path below it.
    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = format!("{path}/");
        self.nodes.get(path) == Some(&Node::Dir)
            || self.nodes.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// The real path of `path` after following every symlink (absolute ones from the root, as
    /// inside the container), or `None` if it does not exist.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut todo: Vec<String> = path.split('/').rev().map(String::from).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => cur.push(c),
            }
            let here = cur.join("/");
            match self.nodes.get(&here) {
                Some(Node::Symlink(target)) => {
                    hops += 1;
                    if hops > 40 {
                        return None; // a loop, as the kernel's ELOOP
                    }
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(target.split('/').rev().map(String::from));
                }
                Some(_) => {}
                None if self.is_dir(&here) => {}
                None => return None,
            }
        }
        Some(cur.join("/"))
    }

    /// Whether `path` resolves to a regular file (or a hardlink to one).
    pub fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_some_and(|p| matches!(self.nodes.get(&p), Some(Node::File | Node::Hardlink(_))))
    }

    /// The bytes of a kept file (see [`wanted`]), following symlinks and hardlinks.
    pub fn content(&self, path: &str) -> Option<&[u8]> {
        let real = self.resolve(path)?;
        let real = match self.nodes.get(&real) {
            Some(Node::Hardlink(target)) => target.clone(),
            _ => real,
        };
        self.contents.get(&real).map(Vec::as_slice)
    }

    /// Names of the entries directly in directory `dir` (after resolving it).
    pub fn list(&self, dir: &str) -> Vec<String> {
        let Some(real) = self.resolve(dir) else { return Vec::new() };
        let prefix = if real.is_empty() { String::new() } else { format!("{real}/") };
        let mut names: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| p[prefix.len()..].split('/').next().map(String::from))
            .collect();
        names.dedup();
        names
    }
}

/// `./usr/lib/` → `usr/lib`; the root itself and `..` escapes are dropped.
fn clean(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_built_in_layer_read_from_its_entries_is_the_tree_of_its_tar() {
        use crate::store::Source as _;
        let layer = crate::store::builtin::Static.base(&crate::oci::Platform::new("linux", "amd64", None)).unwrap();
        let layer = &layer.layers[0];
        let mut read = RootFs::default();
        read.add_layer(&layer.blob.media_type, layer.blob.open().unwrap()).unwrap();
        assert!(crate::store::builtin::entries_of(layer).is_some(), "known by its entries");
        assert_eq!(RootFs::from_layers(std::slice::from_ref(layer)).unwrap(), read);
        assert!(read.contents.is_empty() && read.nodes.len() > 10, "{read:?}");
    }

    /// A layer as a plain tar: (path, kind) where kind is "dir", "file:<content>", "sym:<target>",
    /// "hard:<target>".
    pub fn tar(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            let (t, arg) = kind.split_once(':').unwrap_or((kind, ""));
            match t {
                "dir" => h.set_entry_type(tar::EntryType::Directory),
                "file" => h.set_entry_type(tar::EntryType::Regular),
                "sym" => h.set_entry_type(tar::EntryType::Symlink),
                "hard" => h.set_entry_type(tar::EntryType::Link),
                other => panic!("{other}"),
            }
            if t == "sym" || t == "hard" {
                h.set_size(0);
                b.append_link(&mut h, path, arg).unwrap();
            } else {
                let data = if t == "file" { arg.as_bytes() } else { b"" };
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn symlinks_absolute_relative_and_through_directories() {
        let mut fs = RootFs::default();
        fs.add_layer(
            GZIP,
            &gz(&tar(&[
                ("usr/lib/aarch64-linux-gnu/libc.so.6", "file:LIBC"),
                ("usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", "file:ld"),
                ("lib", "sym:usr/lib"),
                ("usr/lib/ld-linux-aarch64.so.1", "sym:/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"),
                ("usr/lib/aarch64-linux-gnu/libm.so.6", "sym:../../../usr/./lib/aarch64-linux-gnu/libc.so.6"),
                ("loop1", "sym:loop2"),
                ("loop2", "sym:/loop1"),
            ]))[..],
        )
        .unwrap();
        assert_eq!(
            fs.resolve("/lib/ld-linux-aarch64.so.1").unwrap(),
            "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"
        );
        assert!(fs.is_file("/lib/aarch64-linux-gnu/libc.so.6"));
        assert!(fs.is_file("lib/aarch64-linux-gnu/libm.so.6"));
        assert_eq!(fs.content("/lib/aarch64-linux-gnu/libm.so.6"), Some(&b"LIBC"[..]));
        assert!(!fs.is_file("/lib"), "a directory, not a file");
        assert!(!fs.is_file("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(fs.resolve("/loop1"), None);
        assert_eq!(fs.list("/lib/aarch64-linux-gnu"), ["ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6"]);
    }

    #[test]
    fn whiteouts_and_hardlinks_across_layers() {
        let mut fs = RootFs::default();
        fs.add_layer(
            TAR,
            &tar(&[
                ("lib/libc.so.6", "file:old"),
                ("lib/libgone.so.1", "file:x"),
                ("opt/app/a", "file:a"),
                ("opt/app/b", "file:b"),
            ])[..],
        )
        .unwrap();
        // The upper layer zstd'd, as `skopeo copy --dest-compress-format zstd` writes them.
        let upper = tar(&[
            ("lib/.wh.libgone.so.1", "file:"),
            ("opt/app/.wh..wh..opq", "file:"),
            ("opt/app/c", "file:c"),
            ("lib/libc.so.6", "file:new"),
            ("lib/libc-hard.so", "hard:lib/libc.so.6"),
        ]);
        fs.add_layer(ZSTD, &zstd::encode_all(&upper[..], 3).unwrap()[..]).unwrap();
        assert!(!fs.is_file("/lib/libgone.so.1"));
        assert_eq!(fs.list("/opt/app"), ["c"], "the opaque directory hides the lower layer's files only");
        assert!(fs.is_file("/lib/libc-hard.so"));
        assert_eq!(fs.content("/lib/libc-hard.so"), Some(&b"new"[..]));
        assert_eq!(fs.content("/lib/libc.so.6"), Some(&b"new"[..]));
    }
}
