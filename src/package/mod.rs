//! Layer + image stage: each image's bases, its files layer (once), each platform's own layers
//! (binaries, init: [`target_layers`], made as soon as that target is built), then on each
//! platform's base its config and manifest, and the index; with the attestations ([`assemble`])
//! every image of the plan, ready for the sinks.

pub mod files;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::compile::Artifacts;
use crate::image::ImageInput;
use crate::layer::{Compression, Entry, Kind, Source};
use crate::oci::{BaseImage, ImageName};
use crate::oci::{Image, Layer, MediaFamily};
use crate::plan::{ImagePlan, LayerPlan, Plan, Target};
use crate::progress::Progress;
use crate::shell::Shell;
use crate::store::staging::{LayerCounts, Staging};
use crate::store::StoreError;
use crate::Error;

/// The base of each of the image's targets (in target order), resolved before anything is
/// compiled: a base that lacks a platform fails the build before it costs anything.
pub fn resolve_bases(
    image: &ImagePlan,
    registries: &std::sync::Arc<crate::store::registry::Settings>,
) -> Result<Vec<BaseImage>, StoreError> {
    let mut opened: Vec<(&ImageName, Box<dyn crate::store::Source>)> = Vec::new();
    let mut which = Vec::new();
    for t in image.targets.iter() {
        let spec = &t.base;
        let i = match opened.iter().position(|(s, _)| *s == spec) {
            Some(i) => i,
            None => {
                opened.push((spec, crate::store::open(spec, registries)));
                opened.len() - 1
            }
        };
        which.push((i, &t.target.platform));
    }
    // A registry base's platforms at once (each a manifest and a config: round trips); the
    // index is fetched once, by whichever asks first. Local bases are read in turn.
    let remote = image.targets.iter().any(|t| matches!(t.base, ImageName::Registry { .. }));
    let jobs = if remote { registries.jobs } else { 1 };
    let read = |(i, platform): &(usize, &crate::oci::Platform)| opened[*i].1.base(platform);
    let bases = if jobs > 1 && which.len() > 1 {
        crate::store::concurrent::each_concurrently(&which, jobs, read)?
    } else {
        which.iter().map(read).collect::<Result<Vec<_>, _>>()?
    };
    // `--media-types` re-types the base; a manifest never mixes the two families.
    bases
        .into_iter()
        .map(|base| match image.media_types {
            Some(family) => Ok(base.with_media(family)?),
            None => Ok(base),
        })
        .collect()
}

/// One image packaged, and how many of its layers had to be compressed.
pub struct Packaged {
    pub image: Image,
    pub layers: LayerCounts,
}

/// Layers in the staging directory, and how many of them had to be compressed.
#[derive(Clone, Default)]
pub struct Staged {
    pub layers: Vec<Layer>,
    pub counts: LayerCounts,
}

impl Staged {
    fn push(&mut self, (layer, counts): (Layer, LayerCounts)) {
        self.layers.push(layer);
        self.counts += counts;
    }
}

/// One image's layers: its `files` layer (shared by its platforms) and, for each of its targets
/// in order, that platform's own ([`target_layers`]).
pub struct ImageLayers {
    pub files: Staged,
    pub targets: Vec<Staged>,
}

/// Puts every image of the plan together from its layers (configs, manifests, index) with its
/// referrers, in plan order.
pub fn assemble(
    plan: &Plan,
    bases: &[Vec<BaseImage>],
    layers: Vec<ImageLayers>,
    build: &crate::provenance::BuildFacts,
    facts: &crate::facts::Facts,
    shell: &mut Shell,
) -> Result<Vec<Packaged>, Error> {
    let mut sets = Vec::new();
    for ((image, bases), layers) in plan.images.iter().zip(bases).zip(layers) {
        let platforms: Vec<String> = image.targets.iter().map(|t| t.target.platform.to_string()).collect();
        shell.status("Packaging", format!("{} {} for {}", image.name, image.package.version, platforms.join(", ")));
        let mut counts = layers.files.counts;
        layers.targets.iter().for_each(|t| counts += t.counts);
        shell.verbose(
            "Layers",
            format!("{}: {} compressed, {} reused from the layer cache", image.name, counts.compressed, counts.reused),
        );
        let mut set = image_of(image, bases, &layers, plan.epoch)?;
        set.referrers = crate::attest::attest(plan, image, &set, bases, build, facts)?;
        sets.push(Packaged { image: set, layers: counts });
    }
    Ok(sets)
}

/// What packaging reads besides the plan: the compiled binaries, where layers are staged, the
/// timestamp, and where progress goes.
pub struct Inputs<'a> {
    pub artifacts: &'a Artifacts,
    pub staging: &'a Staging,
    pub epoch: u64,
    pub profile: &'a str,
    pub progress: &'a Progress,
    pub compression: Compression,
    /// Set when the layers are no longer wanted (the build failed elsewhere): a layer being made
    /// stops at its next chunk.
    pub stop: &'a AtomicBool,
}

/// Configs, manifests and index for one image, from its layers: pure, the layers are made.
pub fn image_of(image: &ImagePlan, bases: &[BaseImage], layers: &ImageLayers, epoch: u64) -> Result<Image, Error> {
    let mut images = Vec::new();
    for ((t, base), own) in image.targets.iter().zip(bases).zip(&layers.targets) {
        let target = &t.target;
        let (mut files, mut own) = (layers.files.layers.iter(), own.layers.iter());
        let mut all = Vec::new();
        for l in &image.layers {
            let next = match l {
                LayerPlan::Files { .. } => files.next(),
                LayerPlan::Binaries { .. } | LayerPlan::Init { .. } => own.next(),
            };
            all.extend(next.cloned());
        }
        let platform_image = crate::image::platform_image(ImageInput {
            platform: &target.platform,
            base,
            layers: all,
            config: &image.config,
            epoch,
            annotations: &image.annotations,
        });
        images.push(platform_image.map_err(|e| Error::Package {
            image: image.name.clone(),
            platform: target.platform.to_string(),
            source: e.into(),
        })?);
    }
    // An OCI index, also over Docker-typed manifests (an index may list any manifest type):
    // layout readers such as skopeo's take only OCI types from `index.json`, so a Docker manifest
    // list there could not be read back at all. Only `--media-types docker` asks for a Docker
    // manifest list, for registries that reject OCI indexes.
    let family = image.media_types.unwrap_or(MediaFamily::Oci);
    let index = crate::image::index(&images, &image.annotations, family)
        .map_err(|source| StoreError::Json { what: "the image index", source })?;
    Ok(Image::new(index, images))
}

/// The layers of `image` that are `target`'s own (binaries, init), in plan order. The gzip of a
/// large binary is the slow part of packaging: each target's run on a thread of their own.
pub fn target_layers(image: &ImagePlan, target: &Target, inputs: &Inputs<'_>) -> Result<Staged, Error> {
    let failed = |source| Error::Package { image: image.name.clone(), platform: target.platform.to_string(), source };
    let mut out = Staged::default();
    for l in &image.layers {
        match l {
            LayerPlan::Files { .. } => {}
            LayerPlan::Binaries { dir, bins } => {
                out.push(binaries_layer(image, dir, bins, target, inputs).map_err(failed)?)
            }
            LayerPlan::Init { path } => out.push(init_layer(path, target, inputs).map_err(failed)?),
        }
    }
    Ok(out)
}

/// The `files` layer, if the plan has one: the same bytes for every platform, so one blob in
/// every manifest.
pub fn files_layer(image: &ImagePlan, inputs: &Inputs<'_>) -> Result<Staged, Error> {
    let mut out = Staged::default();
    let Some(files) = image.layers.iter().find_map(|l| match l {
        LayerPlan::Files { files } => Some(files),
        LayerPlan::Binaries { .. } | LayerPlan::Init { .. } => None,
    }) else {
        return Ok(out);
    };
    let failed = |source| Error::Package { image: image.name.clone(), platform: "every platform".into(), source };
    let entries = files::entries(files).map_err(failed)?;
    let list: Vec<String> = files.iter().map(|f| f.dest.clone()).collect();
    let created_by = format!("cargo-oci files: {}", list.join(", "));
    out.push(compress(entries, format!("files of {}", image.name), created_by, inputs).map_err(failed)?);
    Ok(out)
}

/// The layer holding `bins` at `dir`, 0755 root.
fn binaries_layer(
    image: &ImagePlan,
    dir: &str,
    bins: &[String],
    target: &Target,
    inputs: &Inputs<'_>,
) -> std::io::Result<(Layer, LayerCounts)> {
    let triple = &target.triple;
    let mut entries = Vec::new();
    for bin in bins {
        let path = inputs
            .artifacts
            .get(&image.package.id, bin, triple)
            .ok_or_else(|| std::io::Error::other(format!("no build of `{bin}` for {triple}")))?;
        entries.push(Entry::file(&format!("{dir}/{bin}"), Source::Path(path.to_path_buf()), 0o755));
    }
    let created_by = format!("cargo-oci: {} ({triple}, profile {}) → {dir}", bins.join(", "), inputs.profile);
    compress(entries, format!("{} for {}", bins.join(", "), target.platform), created_by, inputs)
}

/// The init for PID 1 at `path`, 0755 root: the same bytes in every image of the target (its
/// `created_by` names no image), so one blob however many images use it.
fn init_layer(path: &str, target: &Target, inputs: &Inputs<'_>) -> std::io::Result<(Layer, LayerCounts)> {
    let triple = &target.triple;
    let name = crate::compile::init::NAME;
    let exe = inputs
        .artifacts
        .get(name, name, triple)
        .ok_or_else(|| std::io::Error::other(format!("no build of the init for {triple}")))?;
    let entries = vec![Entry::file(path, Source::Path(exe.to_path_buf()), 0o755)];
    let created_by = format!("cargo-oci: init for PID 1 ({triple}) → {path}");
    compress(entries, format!("init for {}", target.platform), created_by, inputs)
}

/// Stages one layer, with a progress bar when its files are large.
fn compress(
    entries: Vec<Entry>,
    what: String,
    created_by: String,
    inputs: &Inputs<'_>,
) -> std::io::Result<(Layer, LayerCounts)> {
    let total: u64 = entries
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::File(Source::Path(p)) => std::fs::metadata(p).ok().map(|m| m.len()),
            Kind::File(Source::Bytes(b)) => Some(b.len() as u64),
            _ => None,
        })
        .sum();
    let bar = inputs.progress.bytes("Compressing", what, total);
    bar.tick(); // drawn at once, not only after the first chunk
    let read = |n| {
        if inputs.stop.load(Ordering::Relaxed) {
            // Not `Interrupted`: readers retry on that.
            return Err(std::io::Error::other("stopped: the build failed elsewhere"));
        }
        bar.inc(n);
        Ok(())
    };
    let layer = inputs.staging.layer(entries, inputs.epoch, inputs.compression, created_by, &read);
    inputs.progress.finish(bar);
    layer
}
