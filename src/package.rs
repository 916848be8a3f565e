//! Layer + image stage for one image: each platform's binary layer on its base, then the index.

use crate::blob::Layer;
use crate::compile::Artifacts;
use crate::image::{ImageInput, ImageSet, MediaFamily, PlatformImage};
use crate::layer::{Entry, Source};
use crate::plan::ImagePlan;
use crate::store::staging::Staging;
use crate::store::{BaseImage, StoreError};
use crate::Error;

/// The base of each of the image's targets (in target order), resolved before anything is
/// compiled: a base that lacks a platform fails the build before it costs anything.
pub fn resolve_bases(image: &ImagePlan) -> Result<Vec<BaseImage>, StoreError> {
    let source = crate::store::open_base(&image.base)?;
    image.targets.iter().map(|t| source.resolve(&t.platform)).collect()
}

/// Layers, configs, manifests and index for one image: each platform in its own thread (the
/// gzip of a large binary is the slow part, and platforms do not depend on each other).
pub fn package(
    image: &ImagePlan,
    bases: &[BaseImage],
    artifacts: &Artifacts,
    staging: &Staging,
    epoch: u64,
    profile: &str,
) -> Result<ImageSet, Error> {
    let images: Vec<Result<PlatformImage, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = image
            .targets
            .iter()
            .zip(bases)
            .map(|(target, base)| {
                s.spawn(move || -> Result<PlatformImage, Error> {
                    let failed = |source| Error::Package {
                        image: image.name.clone(),
                        platform: target.platform.to_string(),
                        source,
                    };
                    let layer =
                        binaries_layer(image, artifacts, &target.triple, staging, epoch, profile).map_err(failed)?;
                    crate::image::platform_image(ImageInput {
                        platform: &target.platform,
                        base,
                        layers: vec![layer],
                        config: &image.config,
                        epoch,
                        annotations: &image.annotations,
                    })
                    .map_err(|e| failed(e.into()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("packaging thread panicked")).collect()
    });
    let images = images.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Always an OCI index, also over Docker-typed manifests (an index may list any manifest
    // type): layout readers such as skopeo's take only OCI types from `index.json`, so a Docker
    // manifest list there could not be read back at all.
    let index = crate::image::index(&images, &image.annotations, MediaFamily::Oci)
        .map_err(|source| StoreError::Json { what: "the image index", source })?;
    Ok(ImageSet { images, index })
}

/// The layer holding the image's binaries at `bin_dir`, 0755 root.
fn binaries_layer(
    image: &ImagePlan,
    artifacts: &Artifacts,
    triple: &str,
    staging: &Staging,
    epoch: u64,
    profile: &str,
) -> std::io::Result<Layer> {
    let mut entries = Vec::new();
    for bin in &image.bins {
        let path = artifacts
            .get(&image.package.id, bin, triple)
            .ok_or_else(|| std::io::Error::other(format!("no build of `{bin}` for {triple}")))?;
        entries.push(Entry::file(&format!("{}/{bin}", image.config.bin_dir), Source::Path(path.to_path_buf()), 0o755));
    }
    let created_by =
        format!("cargo-oci: {} ({triple}, profile {}) → {}", image.bins.join(", "), profile, image.config.bin_dir);
    staging.layer(entries, epoch, created_by)
}
