//! The sinks after the layout: push to a registry (`--push`), write an oci-archive (`--tar`);
//! and `cargo oci push SOURCE REF`, which pushes what a layout (or registry) already holds.

use std::sync::Arc;

use crate::cli::PushArgs;
use crate::env::Env;
use crate::image::ImageSet;
use crate::plan::outputs::OutputsError;
use crate::plan::{BaseSpec, ImagePlan, Plan, PlanError};
use crate::shell::Shell;
use crate::store::registry::push::{push, PushReport, PushSet};
use crate::store::registry::{Reference, RegistryArgs, Settings};
use crate::store::{archive, ImageName, StoreError};
use crate::Error;

/// Registry settings for a build: `--creds` applies to the registry pushed to, or to the base's
/// registry when nothing is pushed (never to both: credentials go only where they were meant).
pub fn settings(plan: &Plan, args: &RegistryArgs, env: &Env) -> Result<Arc<Settings>, Error> {
    let creds_for = plan.images.first().and_then(|i| {
        i.outputs.push.as_ref().map(|p| p.repository.registry.clone()).or(match &i.base {
            BaseSpec::Registry { reference } => Some(reference.registry.clone()),
            _ => None,
        })
    });
    Ok(Arc::new(Settings::new(args, env, creds_for.as_deref()).map_err(StoreError::from)?))
}

/// Writes the image's other outputs. Returns what the stdout line names when it is not the
/// layout: the pushed `REF:TAG`, or `oci-archive:FILE:TAG`.
pub fn deliver(
    image: &ImagePlan,
    set: &ImageSet,
    registries: &Arc<Settings>,
    shell: &mut Shell,
) -> Result<Option<String>, Error> {
    let mut shown = None;
    if let Some(tar) = &image.outputs.tar {
        shell.status("Archiving", format!("{}:{} to {}", image.name, image.tags[0], tar.display()));
        archive::write(tar, set, &image.tags[0])?;
        if !image.outputs.layout {
            shown = Some(format!("oci-archive:{}:{}", tar.display(), image.tags[0]));
        }
    }
    if let Some(p) = &image.outputs.push {
        shell.status("Pushing", format!("{}:{}", p.repository, p.tags.join(",")));
        let mount_from = match &image.base {
            BaseSpec::Registry { reference } => Some(reference),
            _ => None,
        };
        let report = push(&PushSet::from_image_set(set), &p.repository, &p.tags, mount_from, registries)
            .map_err(StoreError::from)?;
        shell.status("Pushed", summary(&report));
        shown = Some(p.repository.with_tag(&p.tags[0]).to_string());
    }
    Ok(shown)
}

fn summary(r: &PushReport) -> String {
    format!("{} blob(s) uploaded ({} bytes), {} mounted, {} already present", r.uploaded, r.bytes, r.mounted, r.present)
}

/// `cargo oci push SOURCE REF [--tag T]…`: prints `REF:TAG@sha256:<digest>`.
pub fn push_command(args: &PushArgs, env: &Env, shell: &mut Shell) -> Result<String, Error> {
    let reference = Reference::parse(args.reference.strip_prefix("docker://").unwrap_or(&args.reference))
        .map_err(PlanError::from)?;
    if reference.digest.is_some() {
        return Err(PlanError::from(OutputsError::PushToDigest { reference: args.reference.clone() }).into());
    }
    let settings = Arc::new(Settings::new(&args.registry, env, Some(&reference.registry)).map_err(StoreError::from)?);
    let source = ImageName::parse(&args.source, &env.cwd)?;
    let source_tag = source.tag().map(String::from);
    let store = source.open(&settings);
    let mut tags: Vec<String> = reference.tag.iter().cloned().collect();
    tags.extend(args.tag.iter().filter(|t| reference.tag.as_ref().is_none_or(|r| r != *t)).cloned());
    if tags.is_empty() {
        tags.extend(source_tag);
    }
    if let Some(bad) = tags.iter().find(|t| !crate::store::registry::reference::is_tag(t)) {
        return Err(PlanError::InvalidTag { tag: bad.clone() }.into());
    }
    if tags.is_empty() {
        return Err(PlanError::from(OutputsError::NoTag { image: args.source.clone() }).into());
    }
    let set = PushSet::from_store(store.as_ref())?;
    let mount_from = base_of(&set);
    shell.status("Pushing", format!("{} to {}:{}", store.name(), reference.name(), tags.join(",")));
    let report = push(&set, &reference, &tags, mount_from.as_ref(), &settings)
        .map_err(|source| StoreError::Push { target: reference.name(), source: Box::new(source) })?;
    shell.status("Pushed", summary(&report));
    Ok(format!("{}@{}", reference.with_tag(&tags[0]), set.root.digest))
}

/// The base an image names in its `org.opencontainers.image.base.name` annotation, if it is a
/// registry reference: its blobs may be mounted rather than uploaded.
fn base_of(set: &PushSet) -> Option<Reference> {
    set.manifests.iter().chain([&set.root]).find_map(|m| {
        let v: serde_json::Value = serde_json::from_slice(&m.read_all().ok()?).ok()?;
        Reference::parse(v["annotations"]["org.opencontainers.image.base.name"].as_str()?).ok()
    })
}
