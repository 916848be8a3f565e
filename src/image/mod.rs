//! Pure image assembly: (base, layers, settings, platform, epoch) → config + manifest, and
//! platform images → index; referrer manifests in `referrer`. No I/O; every digest is of the
//! exact bytes returned. Imports only `oci`.

use std::collections::BTreeMap;

use oci_spec::image::{
    Arch, Descriptor, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    Os, PlatformBuilder, RootFsBuilder,
};

pub mod referrer;

use crate::oci::{rfc3339, BaseImage, Blob, ContainerConfig, Layer, MediaFamily, Platform, PlatformImage};

/// Everything one platform image is made of.
pub struct ImageInput<'a> {
    pub platform: &'a Platform,
    pub base: &'a BaseImage,
    /// Our layers, on top of the base's.
    pub layers: Vec<Layer>,
    pub config: &'a ContainerConfig,
    pub epoch: u64,
    pub annotations: &'a BTreeMap<String, String>,
}

fn oci_platform(p: &Platform) -> oci_spec::image::Platform {
    let b = PlatformBuilder::default().architecture(Arch::from(p.architecture.as_str())).os(Os::from(p.os.as_str()));
    match &p.variant {
        Some(v) => b.variant(v.clone()),
        None => b,
    }
    .build()
    .expect("all fields set")
}

/// Config and manifest for one platform. Platform fields come from `input.platform` only:
/// oci-spec's builders would otherwise default them to the host.
pub fn platform_image(input: ImageInput<'_>) -> serde_json::Result<PlatformImage> {
    let ImageInput { platform, base, layers: ours, config: ours_cfg, epoch, annotations } = input;
    let family = base.media;
    let created = rfc3339(epoch);

    let mut cfg = base.config.clone();
    cfg.set_entrypoint(Some(ours_cfg.entrypoint.clone()));
    // Setting an entrypoint resets the base's Cmd (Docker semantics): it was meant for another program.
    cfg.set_cmd(ours_cfg.cmd.clone());
    cfg.set_env(Some(merge_env(cfg.env().as_deref().unwrap_or_default(), &ours_cfg.env)));
    if let Some(u) = &ours_cfg.user {
        cfg.set_user(Some(u.clone()));
    }
    if let Some(w) = &ours_cfg.workdir {
        cfg.set_working_dir(Some(w.clone()));
    }
    if !ours_cfg.exposed_ports.is_empty() {
        cfg.set_exposed_ports(Some(union(cfg.exposed_ports(), &ours_cfg.exposed_ports)));
    }
    if let Some(sig) = &ours_cfg.stop_signal {
        cfg.set_stop_signal(Some(sig.clone()));
    }
    if !ours_cfg.volumes.is_empty() {
        cfg.set_volumes(Some(union(cfg.volumes(), &ours_cfg.volumes)));
    }
    if !ours_cfg.labels.is_empty() {
        let mut labels = cfg.labels().clone().unwrap_or_default();
        labels.extend(ours_cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        cfg.set_labels(Some(labels));
    }

    let mut layers = base.layers.clone();
    layers.extend(ours.iter().cloned());
    let mut history = base.history.clone();
    history.extend(ours.iter().map(|l| {
        HistoryBuilder::default()
            .created(created.clone())
            .created_by(l.created_by.clone())
            .comment("cargo-oci")
            .build()
            .expect("all fields set")
    }));
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>())
        .build()
        .expect("all fields set");
    let mut image_config = ImageConfigurationBuilder::default()
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .created(created)
        .config(cfg)
        .rootfs(rootfs)
        .history(history);
    if let Some(v) = &platform.variant {
        image_config = image_config.variant(v.clone());
    }
    let config = Blob::json(family.config(), &image_config.build().expect("all fields set"))?;

    let layer_descs: Vec<Descriptor> = layers
        .iter()
        .map(|l| {
            let mut d = l.blob.descriptor();
            d.set_media_type(MediaType::from(layer_media_type(&l.blob.media_type, family).as_str()));
            d
        })
        .collect();
    let mut manifest_annotations = annotations.clone();
    if let Some(r) = &base.reference {
        manifest_annotations.insert("org.opencontainers.image.base.name".into(), r.name.clone());
        manifest_annotations.insert("org.opencontainers.image.base.digest".into(), r.digest.to_string());
    }
    let mut m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(family.manifest())
        .config(config.descriptor())
        .layers(layer_descs);
    if family == MediaFamily::Oci && !manifest_annotations.is_empty() {
        m = m.annotations(manifest_annotations.into_iter().collect::<std::collections::HashMap<_, _>>());
    }
    let manifest = Blob::json(family.manifest(), &m.build().expect("all fields set"))?;
    Ok(PlatformImage { platform: platform.clone(), layers, config, manifest })
}

/// A layer keeps its bytes but is named in the manifest's family (a gzip'd tar is a gzip'd tar).
fn layer_media_type(t: &str, family: MediaFamily) -> String {
    if MediaFamily::is_gzip_layer(t) {
        family.layer_gzip().into()
    } else {
        t.into()
    }
}

/// The base's set (ports, volumes) with ours added: sorted, each once.
fn union(base: &Option<Vec<String>>, ours: &[String]) -> Vec<String> {
    let mut all = base.clone().unwrap_or_default();
    all.extend(ours.iter().cloned());
    all.sort();
    all.dedup();
    all
}

/// `KEY=VALUE` lists: the base's, with ours replacing same-named keys and new ones appended.
fn merge_env(base: &[String], ours: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for (k, v) in ours {
        let entry = format!("{k}={v}");
        match out.iter_mut().find(|e| e.split_once('=').map(|(bk, _)| bk) == Some(k.as_str())) {
            Some(slot) => *slot = entry,
            None => out.push(entry),
        }
    }
    out
}

/// The multi-platform index over `images` (in their order), in the family of the first.
pub fn index(
    images: &[PlatformImage],
    annotations: &BTreeMap<String, String>,
    family: MediaFamily,
) -> serde_json::Result<Blob> {
    let manifests: Vec<Descriptor> = images
        .iter()
        .map(|i| {
            let mut d = i.manifest.descriptor();
            d.set_platform(Some(oci_platform(&i.platform)));
            d
        })
        .collect();
    let mut b = ImageIndexBuilder::default().schema_version(2u32).media_type(family.index()).manifests(manifests);
    if family == MediaFamily::Oci && !annotations.is_empty() {
        b = b.annotations(annotations.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
    }
    Blob::json(family.index(), &b.build().expect("all fields set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merge_replaces_by_key() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let ours = vec![("A".to_string(), "2".to_string()), ("B".to_string(), "x=y".to_string())];
        assert_eq!(merge_env(&base, &ours), ["PATH=/bin", "A=2", "B=x=y"]);
    }
}
