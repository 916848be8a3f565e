//! The oci-archive sink (`--tar FILE`): a tar of a one-tag OCI layout that is also a
//! docker-archive, so that `docker load` (classic and containerd image stores), `podman load`,
//! `skopeo copy oci-archive:FILE` and `ctr images import` all read it, under the image's name.
//! Written to a temp file beside FILE and renamed into place, blobs streamed (never whole in
//! memory), fixed metadata.
//!
//! The name: index.json's entry carries `io.containerd.image.name` (the full reference: ctr and
//! podman name the image from it, docker's containerd store too) and
//! `org.opencontainers.image.ref.name` (the tag, as skopeo's `oci-archive:FILE:TAG` selects it).
//! Docker's classic image store reads only a `manifest.json` (docker/buildx#59,
//! bazel-contrib/rules_oci#651): one entry with `RepoTags`, `Config` and `Layers` pointing at
//! the blobs already in the archive (the layout `docker save` writes since Docker 25). It holds
//! one platform per name, so that entry is one platform's image: see [`LocalName`].

use std::io::{self, BufWriter, Write};
use std::path::Path;

use oci_spec::image::{ImageIndexBuilder, MediaType};

use super::disk;
use super::layout::REF_NAME;
use super::lock::DirLock;
use super::sink::{Delivery, Sink};
use super::sweep::{self, Legacy};
use super::StoreError;
use crate::oci::{Blob, Image, LocalName, PlatformImage};
use crate::shell::Shell;

/// `--tar FILE`: the image under one tag.
pub struct ArchiveSink {
    pub path: std::path::PathBuf,
    pub tag: String,
    pub name: LocalName,
}

impl Sink for ArchiveSink {
    fn write(&self, image: &Image, what: &str, shell: &mut Shell) -> Result<Delivery, StoreError> {
        shell.status("Archiving", format!("{what}:{} to {}", self.tag, self.path.display()));
        write(&self.path, image, &self.tag, &self.name)?;
        Ok(Delivery::Archive(format!("oci-archive:{}:{}", self.path.display(), self.tag)))
    }

    fn reads(&self, _blob: &Blob) -> bool {
        true
    }
}

/// The annotation containerd (and podman, and docker's containerd store) names an imported
/// image by.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The one platform image Docker's classic store gets: `name.platform`'s, else the first.
fn docker_platform<'a>(set: &'a Image, name: &LocalName) -> Option<&'a PlatformImage> {
    set.platforms.iter().find(|p| p.platform.matches(&name.platform)).or(set.platforms.first())
}

/// `manifest.json`: docker-archive's index, one entry naming the config and layers by path.
fn docker_manifest(set: &Image, name: &LocalName) -> Vec<u8> {
    let path = |d: &crate::oci::Digest| format!("blobs/sha256/{}", d.hex());
    let entries: Vec<serde_json::Value> = docker_platform(set, name)
        .map(|p| {
            serde_json::json!({
                "Config": path(&p.config.digest),
                "RepoTags": [name.reference.familiar()],
                "Layers": p.layers.iter().map(|l| path(&l.blob.digest)).collect::<Vec<_>>(),
            })
        })
        .into_iter()
        .collect();
    crate::oci::json::to_vec(&entries).expect("plain JSON values")
}

/// One tag only: podman refuses archives whose index.json lists several images.
pub fn write(path: &Path, set: &Image, tag: &str, name: &LocalName) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    sweep::sweep(dir, Legacy::No);
    let tmp = disk::temp_file(dir).map_err(StoreError::io("create a temp file in", dir))?;
    // Held while it is written, so no other build's sweep takes it for a dead one's.
    let _writing = DirLock::try_exclusive(tmp.path()).map_err(StoreError::io("lock", tmp.path()))?;
    let mut tar = tar::Builder::new(BufWriter::new(tmp.reopen().map_err(StoreError::io("open", tmp.path()))?));
    let add = |tar: &mut tar::Builder<_>, name: &str, size: u64, data: &mut dyn io::Read| -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(if name.ends_with('/') { 0o755 } else { 0o644 });
        h.set_entry_type(if name.ends_with('/') { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, name, data)
    };
    let mut d = set.root.descriptor();
    d.set_annotations(Some(
        [(REF_NAME.to_string(), tag.to_string()), (CONTAINERD_NAME.to_string(), name.reference.to_string())].into(),
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![d])
        .build()
        .expect("all fields set");
    let index = crate::oci::json::to_vec(&index).map_err(|source| StoreError::Json { what: "index.json", source })?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    let written = (|| -> io::Result<()> {
        add(&mut tar, "oci-layout", layout.len() as u64, &mut &layout[..])?;
        add(&mut tar, "blobs/", 0, &mut io::empty())?;
        add(&mut tar, "blobs/sha256/", 0, &mut io::empty())?;
        for blob in set.blobs_children_first() {
            add(&mut tar, &format!("blobs/sha256/{}", blob.digest.hex()), blob.size, &mut blob.open()?)?;
        }
        let manifest = docker_manifest(set, name);
        add(&mut tar, "manifest.json", manifest.len() as u64, &mut &manifest[..])?;
        add(&mut tar, "index.json", index.len() as u64, &mut &index[..])?;
        let mut w = tar.into_inner()?;
        w.flush()?;
        disk::sync_file(w.get_ref())
    })();
    written.map_err(StoreError::io("write", path))?;
    tmp.persist(path).map_err(|e| StoreError::io("rename into", path)(e.error))?;
    disk::sync_dir(dir).map_err(StoreError::io("sync", dir))
}
