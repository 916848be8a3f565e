//! The OCI image layout on disk: checking an output directory, and writing images into it
//! crash-safely (blobs by rename, children first, `index.json` replaced last).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::StoreError;
use crate::blob::{Blob, Content};
use crate::image::referrer::Referrer;
use crate::image::ImageSet;

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

/// Reads `index.json` (an empty index if the layout is new).
pub fn read_index(root: &Path) -> Result<ImageIndex, StoreError> {
    let p = root.join("index.json");
    match fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::BadLayout { path: root.into(), why: format!("index.json: {e}") }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(empty_index()),
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
pub fn write(root: &Path, set: &ImageSet, tags: &[String]) -> Result<(), StoreError> {
    let blobs_dir = root.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(StoreError::io("create", &blobs_dir))?;
    if !root.join("oci-layout").exists() {
        write_atomic(&root.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
    }
    for blob in set.blobs_children_first() {
        put_blob(&blobs_dir, blob)?;
    }
    let mut index = read_index(root)?;
    let mut manifests = index.manifests().clone();
    for tag in tags {
        let mut d = set.index.descriptor();
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
    let manifests = prune_stale_referrers(root, manifests, &set.referrers);
    index.set_manifests(manifests);
    index.set_media_type(Some(MediaType::ImageIndex));
    let bytes = crate::json::to_vec(&index).map_err(|source| StoreError::Json { what: "index.json", source })?;
    write_atomic(&root.join("index.json"), &bytes)
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

/// Puts one blob into `blobs/sha256/`, unless a file of the right size is already there.
/// Staged files are renamed (same file system) or copied; either way via a temp file + rename,
/// so a blob path never holds partial content.
fn put_blob(dir: &Path, blob: &Blob) -> Result<(), StoreError> {
    let dest = dir.join(blob.digest.hex());
    if fs::metadata(&dest).is_ok_and(|m| m.len() == blob.size) {
        return Ok(());
    }
    if let Content::File(src) = &blob.content {
        if fs::hard_link(src.as_path(), &dest).is_ok() {
            return Ok(());
        }
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(StoreError::io("create a temp file in", dir))?;
    let mut r = blob.open().map_err(StoreError::io("read blob for", &dest))?;
    io::copy(&mut r, tmp.as_file_mut()).map_err(StoreError::io("write", &dest))?;
    tmp.as_file().sync_all().map_err(StoreError::io("sync", &dest))?;
    tmp.persist(&dest).map_err(|e| StoreError::io("rename into", &dest)(e.error))?;
    Ok(())
}

/// Replaces `path` by writing a sibling temp file, syncing it, renaming it over, syncing the dir.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(StoreError::io("create a temp file in", dir))?;
    tmp.write_all(bytes).map_err(StoreError::io("write", path))?;
    tmp.as_file().sync_all().map_err(StoreError::io("sync", path))?;
    tmp.persist(path).map_err(|e| StoreError::io("replace", path)(e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
