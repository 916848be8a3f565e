//! The OCI image layout on disk: checking an output directory, and writing images into it
//! crash-safely (blobs by rename, children first, `index.json` replaced last).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::disk;
use super::lock::DirLock;
use super::sweep::{self, Legacy};
use super::StoreError;
use crate::oci::Image;
use crate::oci::Referrer;
use crate::oci::{digest_reader, Blob, Digest, HashWriter};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An output directory we must not or cannot write.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output `{}` exists and is not an OCI image layout (it has {found} but no `oci-layout` file)", path.display())]
    NotALayout { path: PathBuf, found: String },
    #[error("output `{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("output `{}` is not writable", path.display())]
    Unwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("output `{}` has an unreadable index.json", path.display())]
    BadIndex {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OutputError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            OutputError::NotALayout { path, .. } | OutputError::NotADirectory { path } => vec![format!(
                "write to a new or empty directory, e.g. `--output {}`; cargo-oci never overwrites other files",
                path.with_extension("oci").display()
            )],
            OutputError::Unwritable { .. } => vec!["pick a directory you can write with `--output DIR`".into()],
            OutputError::BadIndex { .. } => {
                vec!["repair or remove its index.json, or write to a new directory with `--output DIR`".into()]
            }
        }
    }
}

/// Checks, before anything is built, that `path` is an OCI layout, an empty directory or
/// nothing yet, and that we can write there. Creates nothing.
pub fn check_output(path: &Path) -> Result<(), OutputError> {
    match fs::metadata(path) {
        Ok(m) if !m.is_dir() => return Err(OutputError::NotADirectory { path: path.into() }),
        Ok(_) if path.join("oci-layout").is_file() => {
            read_index(path).map_err(|source| OutputError::BadIndex { path: path.into(), source: source.into() })?;
        }
        Ok(_) if is_partial_layout(path) => {}
        Ok(_) => {
            let mut names: Vec<String> = fs::read_dir(path)
                .map_err(|source| OutputError::Unwritable { path: path.into(), source })?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            if !names.is_empty() {
                names.sort();
                let more = if names.len() > 3 { format!(" and {} more", names.len() - 3) } else { String::new() };
                names.truncate(3);
                let found = format!("`{}`{more}", names.join("`, `"));
                return Err(OutputError::NotALayout { path: path.into(), found });
            }
        }
        Err(_) => {}
    }
    // The nearest existing ancestor must take a new file (an anonymous temp file: leaves nothing).
    let existing = path.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
    if !existing.is_dir() {
        return Err(OutputError::NotADirectory { path: existing.into() });
    }
    tempfile::tempfile_in(existing).map(drop).map_err(|source| OutputError::Unwritable { path: path.into(), source })
}

/// What a first write that failed part-way (a full disk, a kill) can leave before `oci-layout`
/// exists: a `blobs/sha256` tree of blobs and nothing else but our temp files. Such a directory
/// is ours, and the next write completes it.
fn is_partial_layout(path: &Path) -> bool {
    let only = |dir: &Path, allowed: &dyn Fn(&str) -> bool| {
        fs::read_dir(dir).is_ok_and(|entries| {
            entries.into_iter().all(|e| e.is_ok_and(|e| allowed(&e.file_name().to_string_lossy())))
        })
    };
    let temp = |n: &str| n.starts_with(disk::TEMP_PREFIX) || (n.starts_with(".tmp") && n.len() == 10);
    let blob = |n: &str| temp(n) || Digest::parse(&format!("sha256:{n}")).is_ok();
    path.join("blobs/sha256").is_dir()
        && only(path, &|n| n == "blobs" || temp(n))
        && only(&path.join("blobs"), &|n| n == "sha256")
        && only(&path.join("blobs/sha256"), &blob)
}

/// Reads `index.json` (an empty index if the layout is new).
pub fn read_index(root: &Path) -> Result<ImageIndex, StoreError> {
    read_index_bytes(root).map(|(index, _)| index)
}

/// `index.json`, parsed and as it is on disk (`None` if the layout is new).
fn read_index_bytes(root: &Path) -> Result<(ImageIndex, Option<Vec<u8>>), StoreError> {
    let p = root.join("index.json");
    match fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(|index| (index, Some(bytes)))
            .map_err(|e| StoreError::BadLayout { path: root.into(), why: format!("index.json: {e}") }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((empty_index(), None)),
        Err(e) => Err(StoreError::io("read", p)(e)),
    }
}

/// An index with no entries (a new layout's, a new referrers list).
pub(crate) fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("all fields set")
}

/// Writes `set` into the layout at `root` under each of `tags`. Other tags and their blobs stay.
/// Waits silently for another writer of the same layout (see [`LayoutWriter`] for a status line).
pub fn write(root: &Path, set: &Image, tags: &[String]) -> Result<(), StoreError> {
    LayoutWriter::open(root, &mut |_| {})?.write(set, tags)
}

/// A layout opened for writing: holds the layout's lock (an advisory `flock` on its directory)
/// until dropped, so writers take turns from reading `index.json` to replacing it, and a `gc`
/// never runs while blobs are on their way in. Readers need no lock: every write is a rename.
pub struct LayoutWriter {
    root: PathBuf,
    _lock: DirLock,
}

impl LayoutWriter {
    /// Creates the layout if needed and takes its lock; after a second of waiting for another
    /// writer, `waiting(dir)` is called once (for a status line). Then removes what killed
    /// writers left in it (their temp files: nobody else writes while we hold the lock).
    pub fn open(root: &Path, waiting: &mut dyn FnMut(&Path)) -> Result<LayoutWriter, StoreError> {
        disk::create_dir_all(root).map_err(StoreError::io("create", root))?;
        let lock = DirLock::exclusive(root, waiting).map_err(StoreError::io("lock", root))?;
        // `oci-layout` before anything else: a directory this write leaves half-done is then one
        // every tool recognises as a layout (and `check_output` recognises a bare `blobs` tree,
        // which earlier versions could leave, as ours).
        if !root.join("oci-layout").exists() {
            write_atomic(&root.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
        }
        let blobs = root.join("blobs").join("sha256");
        disk::create_dir_all(&blobs).map_err(StoreError::io("create", &blobs))?;
        sweep::sweep(root, Legacy::Yes);
        sweep::sweep(&blobs, Legacy::Yes);
        Ok(LayoutWriter { root: root.to_path_buf(), _lock: lock })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `set` under each of `tags`: blobs first (each verified if already there, and
    /// synced), then the `blobs/sha256` directory synced, then `index.json` replaced, then the
    /// layout directory synced, so after a crash `index.json` never names a blob that is not on disk.
    /// What the current `index.json` already names was synced before it was written, so a
    /// rebuild that changes nothing syncs nothing (each fsync is a device flush, ~4 ms here) and
    /// leaves `index.json` as it was.
    pub fn write(&self, set: &Image, tags: &[String]) -> Result<(), StoreError> {
        let blobs_dir = self.root.join("blobs").join("sha256");
        let (mut index, old_bytes) = read_index_bytes(&self.root)?;
        let durable = durable(&index, set);
        let mut added = false;
        for blob in set.blobs_children_first() {
            added |= put_blob(&blobs_dir, blob, durable.contains(&blob.digest))?;
        }
        if added {
            disk::sync_dir(&blobs_dir).map_err(StoreError::io("sync", &blobs_dir))?;
        }
        let mut manifests = index.manifests().clone();
        for tag in tags {
            let mut d = set.root.descriptor();
            d.set_annotations(Some([(REF_NAME.to_string(), tag.clone())].into()));
            match manifests.iter_mut().find(|m| ref_name(m) == Some(tag)) {
                Some(slot) => *slot = d,
                None => manifests.push(d),
            }
        }
        for r in &set.referrers {
            if !manifests.iter().any(|m| m.digest() == r.manifest.descriptor().digest()) {
                manifests.push(r.descriptor());
            }
        }
        let manifests = prune_stale_referrers(&self.root, manifests, &set.referrers);
        index.set_manifests(manifests);
        index.set_media_type(Some(MediaType::ImageIndex));
        let bytes =
            crate::oci::json::to_vec(&index).map_err(|source| StoreError::Json { what: "index.json", source })?;
        if old_bytes.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        write_atomic(&self.root.join("index.json"), &bytes)
    }
}

/// The blobs of `set` that `index` (the layout's current one) already names: the image's own
/// when its root is listed, a referrer's when its manifest is. Every writer puts (and we sync)
/// blobs before the index that names them, so these are on disk already.
fn durable(index: &ImageIndex, set: &Image) -> std::collections::BTreeSet<Digest> {
    let listed = |d: &Digest| index.manifests().iter().any(|m| m.digest().as_ref() == d.as_str());
    let mut out = std::collections::BTreeSet::new();
    if listed(&set.root.digest) {
        let own = set.leaves().into_iter().chain(set.manifests()).chain([&set.root]);
        out.extend(own.map(|b| b.digest.clone()));
    }
    for r in set.referrers.iter().filter(|r| listed(&r.manifest.digest)) {
        out.extend(r.blobs.iter().chain([&r.manifest]).map(|b| b.digest.clone()));
    }
    out
}

/// Drops untagged artifact entries (SBOMs, provenance) whose subject is no longer reachable from
/// any tag, and those that `new` replaces (same subject and artifact type), so index.json keeps
/// one current document of each kind per manifest. Entries we cannot read stay.
fn prune_stale_referrers(root: &Path, manifests: Vec<Descriptor>, new: &[Referrer]) -> Vec<Descriptor> {
    let read = |d: &Descriptor| -> Option<serde_json::Value> {
        let hex = d.digest().as_ref().strip_prefix("sha256:")?;
        serde_json::from_slice(&fs::read(root.join("blobs/sha256").join(hex)).ok()?).ok()
    };
    let mut live: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for d in manifests.iter().filter(|d| ref_name(d).is_some()) {
        live.insert(d.digest().to_string());
        let children = read(d).and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned())).unwrap_or_default();
        live.extend(children.iter().filter_map(|c| c["digest"].as_str().map(String::from)));
    }
    manifests
        .into_iter()
        .filter(|d| {
            if ref_name(d).is_some() || d.artifact_type().is_none() {
                return true;
            }
            let Some(subject) = read(d).and_then(|v| v["subject"]["digest"].as_str().map(String::from)) else {
                return true;
            };
            let replaced = new.iter().any(|r| {
                r.subject.as_str() == subject
                    && d.artifact_type().as_ref().is_some_and(|t| t.to_string() == r.artifact_type)
                    && d.digest().as_ref() != r.manifest.digest.as_str()
            });
            live.contains(&subject) && !replaced
        })
        .collect()
}

pub fn ref_name(d: &Descriptor) -> Option<&String> {
    d.annotations().as_ref()?.get(REF_NAME)
}

/// Puts one blob into `blobs/sha256/`; true if it made a new directory entry. A file already
/// there is reused only if its bytes hash to its name (and synced, unless `durable`: the index
/// already names it); one that does not (flipped bits, a truncated copy) is replaced like a
/// missing one. A local file (ours, or another layout's, checked) with the right mode is
/// hard-linked; anything else is copied through a temp file, hashed on the way, and renamed into
/// place, so a blob path never holds partial content.
fn put_blob(dir: &Path, blob: &Blob, durable: bool) -> Result<bool, StoreError> {
    let dest = dir.join(blob.digest.hex());
    let sync = |added: bool| disk::sync_path(&dest).map(|()| added).map_err(StoreError::io("sync", &dest));
    match fs::symlink_metadata(&dest) {
        Ok(m) if m.is_file() && m.len() == blob.size && hashes_to(&dest, &blob.digest) => {
            return if durable { Ok(false) } else { sync(false) };
        }
        Ok(_) => {}
        Err(_) => {
            // A file on this machine (a staged layer, another layout's blob, checked) is linked.
            if let Some(src) = blob.local_file().map_err(StoreError::io("read blob for", &dest))? {
                if linkable(&src) && fs::hard_link(&src, &dest).is_ok() {
                    return sync(true);
                }
            }
        }
    }
    let tmp = disk::temp_file(dir).map_err(StoreError::io("create a temp file in", dir))?;
    let mut w = HashWriter::new(tmp);
    let mut r = blob.open().map_err(StoreError::io("read blob for", &dest))?;
    io::copy(&mut r, &mut w).map_err(StoreError::io("write", &dest))?;
    let (tmp, digest, size) = w.finish();
    if digest != blob.digest || size != blob.size {
        let what = format!("the bytes written to {}", dest.display());
        return Err(StoreError::mismatch(what, &blob.digest, blob.size, &digest, size));
    }
    disk::sync_file(tmp.as_file()).map_err(StoreError::io("sync", &dest))?;
    tmp.persist(&dest).map_err(|e| StoreError::io("rename into", &dest)(e.error))?;
    Ok(true)
}

/// Whether the file's bytes hash to `digest` (an unreadable file does not).
fn hashes_to(path: &Path, digest: &Digest) -> bool {
    File::open(path).and_then(digest_reader).is_ok_and(|(d, _)| d == *digest)
}

/// A source file can become a blob by hard link if it has the mode this process gives new files
/// (our staged layers do; another layout's blob may not, and would keep its mode).
fn linkable(src: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(src).map(|m| m.permissions().mode() & 0o7777);
    disk::file_mode().is_some_and(|want| mode.is_ok_and(|m| m == want))
}

/// Replaces `path` by writing a sibling temp file, syncing it, renaming it over, syncing the dir.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = disk::temp_file(dir).map_err(StoreError::io("create a temp file in", dir))?;
    tmp.write_all(bytes).map_err(StoreError::io("write", path))?;
    disk::sync_file(tmp.as_file()).map_err(StoreError::io("sync", path))?;
    tmp.persist(path).map_err(|e| StoreError::io("replace", path)(e.error))?;
    disk::sync_dir(dir).map_err(StoreError::io("sync", dir))
}
