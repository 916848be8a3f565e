//! `cargo oci merge --output DIR --tag T SRC...`: images built elsewhere — one per architecture on
//! native CI runners, say — combined into one multi-platform index. Manifests, configs and layers
//! are copied byte for byte, so every digest under the new index is the one the sources had.

use std::collections::BTreeMap;

use crate::cli::MergeArgs;
use crate::env::Env;
use crate::oci::{Destination, Image, ImageName, MediaFamily, PlatformImage, Referrer};
use crate::plan::PlanError;
use crate::preflight;
use crate::report::ImageReport;
use crate::shell::Shell;
use crate::store::{self, read::check_local, StoreError};

/// Merging failed: two sources with one platform, or a stage's error (shown as it is).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("platform {platform} is in both `{first}` and `{second}`")]
    DuplicatePlatform { platform: String, first: String, second: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Name(#[from] crate::oci::BadName),
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MergeError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            MergeError::DuplicatePlatform { second, .. } => {
                vec![format!("pass `--replace` to keep the later one (`{second}`), or leave one of them out")]
            }
            MergeError::Plan(e) => e.hints(),
            MergeError::Name(e) => e.hints(),
            MergeError::Preflight(e) => e.hints(),
            MergeError::Store(e) => e.hints(),
        }
    }

    /// As `StoreError::covers_cause`, for a store error shown as it is.
    pub fn covers_cause(&self) -> bool {
        matches!(self, MergeError::Store(e) if e.covers_cause())
    }
}

pub fn merge(args: &MergeArgs, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, MergeError> {
    let names = args.sources.iter().map(|s| crate::store::name_from_arg(s, &env.cwd)).collect::<Result<Vec<_>, _>>()?;
    let to = &args.to;
    let out = Outputs::resolve(to.output.as_ref(), to.push.as_deref(), &to.tag, &names, env, "the merged image")?;
    let (tags, output, push, destinations) = (&out.tags, &out.output, &out.push, &out.destinations);
    let settings = crate::registries::for_command(&args.registry.to_request(), env, out.creds_for(&names))?;

    // (platform image, its referrers, the source it came from), and the annotations every
    // source agrees on. Referrers (SBOMs, provenance) follow their manifest into the merge.
    let mut entries: Vec<(PlatformImage, Vec<Referrer>, String)> = Vec::new();
    let mut common: Option<BTreeMap<String, String>> = None;
    for (src, name) in args.sources.iter().zip(&names) {
        let store = store::open(name, &settings);
        let image = store.image()?;
        // The index's annotations, or the single manifest's.
        let annotations = root_annotations(&image).map_err(|why| StoreError::BadImage { image: store.name(), why })?;
        common = Some(match common {
            None => annotations,
            Some(c) => c.into_iter().filter(|(k, v)| annotations.get(k) == Some(v)).collect(),
        });
        let platforms: Vec<String> = image.platforms.iter().map(|p| p.platform.to_string()).collect();
        shell.status("Reading", format!("{src} ({})", platforms.join(", ")));
        for new in image.platforms {
            let referrers = store.referrers(&new.manifest.digest)?;
            check_local(new.layers.iter().map(|l| &l.blob).chain(referrers.iter().flat_map(|r| &r.blobs)))?;
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
                    })
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
        Some(i) => MediaFamily::of_manifest(&i.manifest.media_type),
        None => MediaFamily::Oci,
    };
    let index = crate::image::index(&images, &common.unwrap_or_default(), family)
        .map_err(|source| StoreError::Json { what: "the merged index", source })?;
    let mut set = Image::new(index, images);
    set.referrers = referrers;
    let name = match (&output, &push) {
        (Some(o), _) => o.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, Some(p)) => p.repository.repository.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    let delivered = store::sink::write(destinations, &settings, &set, &name, shell)?;
    Ok(vec![ImageReport::new(&name, &set, tags, &delivered)])
}

/// Where a command that writes one image read from elsewhere (`merge`, `rebase`) writes it:
/// `--output DIR` and/or `--push REF`, with `--tag`s; checked before any source is read.
pub struct Outputs {
    pub tags: Vec<String>,
    pub output: Option<std::path::PathBuf>,
    pub push: Option<crate::plan::PushPlan>,
    pub destinations: Vec<Destination>,
}

impl Outputs {
    pub fn resolve(
        output: Option<&std::path::PathBuf>,
        push: Option<&str>,
        tags: &[String],
        sources: &[ImageName],
        env: &Env,
        what: &str,
    ) -> Result<Outputs, MergeError> {
        let tags = tags.iter().map(|t| crate::plan::check_tag(t)).collect::<Result<Vec<_>, _>>()?;
        let output = output.map(|o| env.cwd.join(o));
        if let Some(o) = &output {
            if tags.is_empty() {
                let image = o.display().to_string();
                return Err(PlanError::from(crate::plan::outputs::OutputsError::NoTag { image }).into());
            }
        }
        let push = match push {
            Some(r) => Some(crate::plan::outputs::push_destination(r, &tags, &[], what)?),
            None => None,
        };
        let mut destinations = Vec::new();
        if let Some(o) = &output {
            destinations.push(Destination::Layout { path: o.clone(), tags: tags.clone(), gc: false });
        }
        if let Some(p) = &push {
            // Sources on the same registry lend their blobs by cross-repository mount.
            let mount_from = sources.iter().find_map(|n| match n {
                ImageName::Registry { reference } if reference.registry == p.repository.registry => {
                    Some(reference.clone())
                }
                _ => None,
            });
            destinations.push(p.destination(mount_from));
        }
        // Everything about the destinations is checked before any source is read.
        preflight::destinations(&destinations)?;
        Ok(Outputs { tags, output, push, destinations })
    }

    /// The registry `--creds` are for: the one pushed to, else the first source's.
    pub fn creds_for<'a>(&'a self, sources: &'a [ImageName]) -> Option<&'a str> {
        self.push.as_ref().map(|p| p.repository.registry.as_str()).or(sources.iter().find_map(|n| n.registry()))
    }
}

/// The `annotations` of the image's root document (an index's, or a single manifest's).
pub fn root_annotations(image: &Image) -> Result<BTreeMap<String, String>, String> {
    let bytes = image.root.read_all().map_err(|e| e.to_string())?;
    let root: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let pairs = root["annotations"].as_object().into_iter().flatten();
    Ok(pairs.filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
}
