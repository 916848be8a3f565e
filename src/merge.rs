//! `cargo oci merge --output DIR --tag T SRC...`: images built elsewhere — one per architecture on
//! native CI runners, say — combined into one multi-platform index. Manifests, configs and layers
//! are copied byte for byte, so every digest under the new index is the one the sources had.

use std::collections::BTreeMap;

use crate::cli::MergeArgs;
use crate::env::Env;
use crate::oci::{Image, MediaFamily, PlatformImage, Referrer};
use crate::plan::PlanError;
use crate::report::ImageReport;
use crate::shell::Shell;
use crate::store::read::read_image;

use crate::oci::ImageName;
use crate::store::registry::push::PushSet;
use crate::store::{layout, StoreError};
use crate::Error;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("platform {platform} is in both `{first}` and `{second}`")]
    DuplicatePlatform { platform: String, first: String, second: String },
}

impl MergeError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            MergeError::DuplicatePlatform { second, .. } => {
                vec![format!("pass `--replace` to keep the later one (`{second}`), or leave one of them out")]
            }
        }
    }
}

pub fn merge(args: &MergeArgs, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, Error> {
    let tags = args.tag.iter().map(|t| crate::plan::check_tag(t)).collect::<Result<Vec<_>, _>>()?;
    let output = args.output.as_ref().map(|o| env.cwd.join(o));
    if let Some(o) = &output {
        layout::check_output(o).map_err(crate::preflight::PreflightError::from)?;
        if tags.is_empty() {
            let image = o.display().to_string();
            return Err(PlanError::from(crate::plan::outputs::OutputsError::NoTag { image }).into());
        }
    }
    // Everything about the destination is checked before any source is read.
    let push = match &args.push {
        Some(r) => Some(crate::plan::outputs::push_destination(r, &tags, &[], "the merged image")?),
        None => None,
    };
    let names = args.sources.iter().map(|s| ImageName::parse(s, &env.cwd)).collect::<Result<Vec<_>, _>>()?;
    let creds_for = push.as_ref().map(|p| p.repository.registry.as_str()).or(names.iter().find_map(|n| n.registry()));
    let settings = crate::registries_for(&args.registry.to_request(), env, creds_for)?;

    // (platform image, its referrers, the source it came from), and the annotations every
    // source agrees on. Referrers (SBOMs, provenance) follow their manifest into the merge.
    let mut entries: Vec<(PlatformImage, Vec<Referrer>, String)> = Vec::new();
    let mut common: Option<BTreeMap<String, String>> = None;
    for (src, name) in args.sources.iter().zip(&names) {
        let store = crate::store::open(name, &settings);
        let image = read_image(store.as_ref())?;
        let annotations = match &image.index {
            Some(index) => index.annotations().clone(),
            None => image.platforms.first().and_then(|p| p.manifest.value.annotations().clone()),
        };
        let annotations: BTreeMap<String, String> = annotations.unwrap_or_default().into_iter().collect();
        common = Some(match common {
            None => annotations,
            Some(c) => c.into_iter().filter(|(k, v)| annotations.get(k) == Some(v)).collect(),
        });
        let platforms: Vec<String> = image.platforms.iter().map(|p| p.platform.to_string()).collect();
        shell.status("Reading", format!("{src} ({})", platforms.join(", ")));
        for p in &image.platforms {
            let new = p.platform_image(store.as_ref())?;
            let referrers = store.referrers(&new.manifest.digest)?;
            match entries.iter().position(|(e, _, _)| e.platform.matches(&new.platform)) {
                Some(i) if args.replace => {
                    shell.warn(format!("{} of `{}` replaced by the one of `{src}`", new.platform, entries[i].2));
                    entries[i] = (new, referrers, src.clone());
                }
                Some(i) => {
                    return Err(MergeError::DuplicatePlatform {
                        platform: new.platform.to_string(),
                        first: entries[i].2.clone(),
                        second: src.clone(),
                    }
                    .into())
                }
                None => entries.push((new, referrers, src.clone())),
            }
        }
    }
    // The order `build` uses, so merging per-platform builds gives the multi-platform build's index.
    entries.sort_by_key(|(e, _, _)| e.platform.to_string());
    let referrers: Vec<Referrer> = entries.iter().flat_map(|(_, r, _)| r.iter().cloned()).collect();
    let images: Vec<PlatformImage> = entries.into_iter().map(|(e, _, _)| e).collect();
    let family = match images.first() {
        Some(i) if i.manifest.media_type == MediaFamily::Docker.manifest() => MediaFamily::Docker,
        _ => MediaFamily::Oci,
    };
    let index = crate::image::index(&images, &common.unwrap_or_default(), family)
        .map_err(|source| StoreError::Json { what: "the merged index", source })?;
    let set = Image { platforms: images, root: index, referrers };
    if let Some(o) = &output {
        shell.status("Writing", format!("{} to {}", tags.join(","), o.display()));
        crate::gc::open(o, shell)?.write(&set, &tags)?;
    }
    let name = match (&output, &push) {
        (Some(o), _) => o.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, Some(p)) => p.repository.repository.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    let mut report = ImageReport::new(&name, &set, output, &tags);
    if let Some(crate::plan::PushPlan { repository: reference, tags: push_tags }) = &push {
        // Sources on the same registry lend their blobs by cross-repository mount.
        let mount_from = names.iter().find_map(|n| match n {
            ImageName::Registry { reference: r } if r.registry == reference.registry => Some(r.clone()),
            _ => None,
        });
        let push_set = PushSet::from_image_set(&set);
        report.pushed =
            crate::publish::push_set(&push_set, &name, reference, push_tags, mount_from.as_ref(), &settings, shell)?;
    }
    Ok(vec![report])
}
