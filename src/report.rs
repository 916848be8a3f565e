//! What `build` and `merge` tell their caller on stdout: one `oci:DIR:TAG@DIGEST` line per image,
//! or with `--message-format json` one JSON object per line (schema in README, "Machine-readable
//! output").

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::MessageFormat;
use crate::oci::Image;
use crate::oci::{Blob, Digest};
use crate::store::sink::Delivery;

/// One image written. Every field is plain data; where the image went is `layout` (and, once
/// pushing exists, a `pushed` list of references next to it).
#[derive(Clone, Debug, Serialize)]
pub struct ImageReport {
    /// The image name (the binary's, the package's for `bins = [...]`, the layout's for `merge`).
    pub image: String,
    /// The package it was built from (`build` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub tags: Vec<String>,
    pub index: BlobReport,
    /// One per platform, in index order.
    pub manifests: Vec<ManifestReport>,
    /// The OCI layout directory written (none with `--push` alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<PathBuf>,
    /// `oci:<layout>:<tag>` for each tag: what skopeo and podman take.
    pub references: Vec<String>,
    /// `REGISTRY/REPO:TAG` for each tag pushed (`--push`).
    pub pushed: Vec<String>,
    /// `oci-archive:FILE:TAG` (`--tar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// `docker-daemon:NAME`, `containers-storage:NAME` or `containerd:NAME` (`--load`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlobReport {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

impl From<&Blob> for BlobReport {
    fn from(b: &Blob) -> BlobReport {
        BlobReport { media_type: b.media_type.clone(), digest: b.digest.clone(), size: b.size }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ManifestReport {
    /// `linux/arm64/v8`: as in the index.
    pub platform: String,
    pub media_type: String,
    pub digest: Digest,
    /// Bytes of the manifest itself.
    pub size: u64,
    /// Bytes to pull for this platform: manifest, config and every (compressed) layer.
    pub total_size: u64,
}

impl ImageReport {
    /// What `delivered` says of `set`, written under `tags`.
    pub fn new(image: &str, set: &Image, tags: &[String], delivered: &[Delivery]) -> ImageReport {
        let layout = delivered.iter().find_map(|d| match d {
            Delivery::Layout(dir) => Some(dir.clone()),
            _ => None,
        });
        let manifests = set
            .platforms
            .iter()
            .map(|i| ManifestReport {
                platform: i.platform.full(),
                media_type: i.manifest.media_type.clone(),
                digest: i.manifest.digest.clone(),
                size: i.manifest.size,
                // A base's descriptors can claim any size: saturate rather than wrap.
                total_size: i
                    .layers
                    .iter()
                    .fold(i.manifest.size.saturating_add(i.config.size), |t, l| t.saturating_add(l.blob.size)),
            })
            .collect();
        ImageReport {
            image: image.to_string(),
            package: None,
            version: None,
            tags: tags.to_vec(),
            index: (&set.root).into(),
            manifests,
            references: layout
                .iter()
                .flat_map(|l| tags.iter().map(move |t| format!("oci:{}:{t}", l.display())))
                .collect(),
            layout,
            pushed: delivered
                .iter()
                .flat_map(|d| match d {
                    Delivery::Pushed(refs) => refs.clone(),
                    _ => Vec::new(),
                })
                .collect(),
            archive: delivered.iter().find_map(|d| match d {
                Delivery::Archive(a) => Some(a.clone()),
                _ => None,
            }),
            loaded: delivered.iter().find_map(|d| match d {
                Delivery::Loaded(a) => Some(a.clone()),
                _ => None,
            }),
        }
    }
}

impl std::fmt::Display for ImageReport {
    /// `oci:<layout>:<tag>@sha256:<index digest>` (or, without a layout, the pushed `REF:TAG@…`,
    /// else `oci-archive:FILE:TAG@…`, else the loaded `docker-daemon:NAME@…`), for skopeo/podman and scripts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.references.first().or(self.pushed.first()).or(self.archive.as_ref()).or(self.loaded.as_ref());
        write!(f, "{}@{}", first.map(String::as_str).unwrap_or(&self.image), self.index.digest)
    }
}

/// The lines of `--message-format json`, tagged by `reason` like cargo's.
#[derive(Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum Message<'a> {
    /// An image was written.
    Image(&'a ImageReport),
    /// The command is over; the last line, also after a failure.
    Finished { success: bool, images: usize },
}

fn json_line(m: &Message<'_>) -> String {
    let bytes = crate::oci::json::to_vec(m).expect("reports are plain data");
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

/// Prints the results of a command (or, for JSON, the failure line before the error goes on).
pub fn emit<E>(format: MessageFormat, result: Result<Vec<ImageReport>, E>) -> Result<(), E> {
    match (format, result) {
        (MessageFormat::Human, Ok(images)) => images.iter().for_each(|i| println!("{i}")),
        (MessageFormat::Json, Ok(images)) => {
            for i in &images {
                println!("{}", json_line(&Message::Image(i)));
            }
            println!("{}", json_line(&Message::Finished { success: true, images: images.len() }));
        }
        (MessageFormat::Human, Err(e)) => return Err(e),
        (MessageFormat::Json, Err(e)) => {
            println!("{}", json_line(&Message::Finished { success: false, images: 0 }));
            return Err(e);
        }
    }
    Ok(())
}
