//! `cargo oci inspect IMAGE`: what an image is made of — platforms, digests, sizes, layers and
//! runtime settings — from any image store, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::oci::Digest;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::oci::media::is_index;
use crate::oci::{Blob, PlatformImage};
use crate::store::{Source, StoreError};

#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The image as it was named.
    pub image: String,
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Index annotations (for a single manifest, they are in its platform).
    pub annotations: BTreeMap<String, String>,
    pub platforms: Vec<PlatformReport>,
}

#[derive(Debug, Serialize)]
pub struct PlatformReport {
    pub platform: String,
    pub manifest: Doc,
    pub config: Doc,
    /// Manifest, config and layers: what a pull of this platform moves.
    pub total_size: u64,
    pub created: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub env: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<LayerReport>,
}

#[derive(Debug, Serialize)]
pub struct Doc {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Serialize)]
pub struct LayerReport {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub diff_id: Option<String>,
    /// The history entry that made it.
    pub created_by: Option<String>,
}

fn sorted(m: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

pub fn inspect(store: &dyn Source) -> Result<InspectReport, StoreError> {
    let image = store.image()?;
    let root = &image.root;
    let index: Option<ImageIndex> = match is_index(&root.media_type, &read(store, root)?) {
        true => Some(parse(store, root)?),
        false => None,
    };
    Ok(InspectReport {
        image: store.name(),
        media_type: root.media_type.clone(),
        digest: root.digest.clone(),
        size: root.size,
        annotations: sorted(index.as_ref().and_then(|i| i.annotations().as_ref())),
        platforms: image.platforms.iter().map(|p| platform(store, p)).collect::<Result<_, _>>()?,
    })
}

/// A document's bytes (held in memory: the source read and verified them).
fn read(store: &dyn Source, blob: &Blob) -> Result<Vec<u8>, StoreError> {
    blob.read_all().map_err(StoreError::io("read", store.name()))
}

fn parse<T: serde::de::DeserializeOwned>(store: &dyn Source, blob: &Blob) -> Result<T, StoreError> {
    serde_json::from_slice(&read(store, blob)?)
        .map_err(|e| StoreError::BadImage { image: store.name(), why: format!("{}: {e}", blob.digest) })
}

fn platform(store: &dyn Source, p: &PlatformImage) -> Result<PlatformReport, StoreError> {
    let m: ImageManifest = parse(store, &p.manifest)?;
    let c: ImageConfiguration = parse(store, &p.config)?;
    let (m, c) = (&m, &c);
    let rc = c.config().clone().unwrap_or_default();
    let history: Vec<_> = c.history().iter().flatten().filter(|h| !h.empty_layer().unwrap_or(false)).collect();
    let diff_ids = c.rootfs().diff_ids();
    let layers: Vec<LayerReport> = m
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| LayerReport {
            media_type: l.media_type().to_string(),
            digest: l.digest().to_string(),
            size: l.size(),
            diff_id: diff_ids.get(i).cloned(),
            created_by: history.get(i).and_then(|h| h.created_by().clone()),
        })
        .collect();
    let (manifest, config) = (doc(&p.manifest), doc(&p.config));
    let mut ports = rc.exposed_ports().clone().unwrap_or_default();
    ports.sort();
    // The layer sizes are the manifest's claims: a crafted one must not wrap the sum.
    let total_size =
        layers.iter().try_fold(manifest.size + config.size, |t, l| t.checked_add(l.size)).ok_or_else(|| {
            StoreError::BadImage {
                image: store.name(),
                why: format!("the layer sizes of {} add up to more than 2^64 bytes", p.manifest.digest),
            }
        })?;
    Ok(PlatformReport {
        platform: p.platform.full(),
        total_size,
        manifest,
        config,
        created: c.created().clone(),
        entrypoint: rc.entrypoint().clone(),
        cmd: rc.cmd().clone(),
        user: rc.user().clone(),
        workdir: rc.working_dir().clone(),
        env: rc.env().clone().unwrap_or_default(),
        exposed_ports: ports,
        labels: sorted(rc.labels().as_ref()),
        annotations: sorted(m.annotations().as_ref()),
        layers,
    })
}

fn doc(b: &Blob) -> Doc {
    Doc { media_type: b.media_type.clone(), digest: b.digest.clone(), size: b.size }
}

/// The report as aligned text.
pub fn human(r: &InspectReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", r.image);
    let _ = writeln!(o, "  {:<12}{} ({}, {} bytes)", "digest", r.digest, r.media_type, r.size);
    for (k, v) in &r.annotations {
        let _ = writeln!(o, "  {:<12}{k}={v}", "annotation");
    }
    for p in &r.platforms {
        let _ = writeln!(o, "\n{}", p.platform);
        let mut row = |k: &str, v: String| {
            let _ = writeln!(o, "  {k:<12}{v}");
        };
        row("manifest", format!("{} ({} bytes)", p.manifest.digest, p.manifest.size));
        row("config", format!("{} ({} bytes)", p.config.digest, p.config.size));
        row("total size", format!("{} bytes", p.total_size));
        let json = |v: &Option<Vec<String>>| v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default());
        let optional = [
            ("created", p.created.clone()),
            ("entrypoint", json(&p.entrypoint)),
            ("cmd", json(&p.cmd)),
            ("user", p.user.clone()),
            ("workdir", p.workdir.clone()),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                row(k, v);
            }
        }
        p.env.iter().for_each(|e| row("env", e.clone()));
        p.exposed_ports.iter().for_each(|e| row("port", e.clone()));
        p.labels.iter().for_each(|(k, v)| row("label", format!("{k}={v}")));
        p.annotations.iter().for_each(|(k, v)| row("annotation", format!("{k}={v}")));
        for l in &p.layers {
            let by = l.created_by.as_deref().map(|b| format!("  {b}")).unwrap_or_default();
            row("layer", format!("{} ({} bytes){by}", l.digest, l.size));
        }
    }
    o
}
