//! The sinks after the layout: push to a registry (`--push`), write an oci-archive (`--tar`);
//! and `cargo oci push SOURCE REF`, which pushes what a layout (or registry) already holds.

use std::sync::Arc;

use crate::cli::PushArgs;
use crate::env::Env;
use crate::oci::ImageName;
use crate::oci::{Destination, Image};
use crate::plan::outputs::push_destination;
use crate::plan::{ImagePlan, PushPlan};
use crate::report::ImageReport;
use crate::shell::Shell;
use crate::store::read::read_image;
use crate::store::registry::push::{push, PushReport, PushSet};
use crate::store::registry::{Reference, RegistryError, Settings};
use crate::store::{archive, StoreError};
use crate::Error;

/// Where an image went.
#[derive(Debug, Default)]
pub struct Delivered {
    pub layout: Option<std::path::PathBuf>,
    /// `REGISTRY/REPO:TAG` for each tag pushed.
    pub pushed: Vec<String>,
    /// `oci-archive:FILE:TAG`.
    pub archive: Option<String>,
}

/// Writes the image to each of its destinations, in order.
pub fn deliver(
    image: &ImagePlan,
    set: &Image,
    registries: &Arc<Settings>,
    shell: &mut Shell,
) -> Result<Delivered, Error> {
    let mut delivered = Delivered::default();
    for d in &image.destinations {
        match d {
            Destination::Layout { path, tags, gc } => {
                shell.status("Writing", format!("{}:{} to {}", image.name, tags.join(","), path.display()));
                let writer = crate::gc::open(path, shell)?;
                writer.write(set, tags)?;
                if *gc {
                    crate::gc::collect(&writer, shell)?;
                }
                delivered.layout = Some(path.clone());
            }
            Destination::Archive { path, tag } => {
                shell.status("Archiving", format!("{}:{tag} to {}", image.name, path.display()));
                archive::write(path, set, tag)?;
                delivered.archive = Some(format!("oci-archive:{}:{tag}", path.display()));
            }
            Destination::Registry { repository, tags, mount_from } => {
                let set = PushSet::from_image_set(set);
                delivered.pushed =
                    push_set(&set, &image.name, repository, tags, mount_from.as_ref(), registries, shell)?;
            }
        }
    }
    Ok(delivered)
}

fn summary(r: &PushReport) -> String {
    let mut s = format!(
        "{} blob(s) uploaded ({} bytes), {} mounted, {} already present",
        r.uploaded, r.bytes, r.mounted, r.present
    );
    if r.chunked > 0 {
        s.push_str(&format!(" ({} in chunks)", r.chunked));
    }
    if r.referrers.pushed > 0 {
        s.push_str(&format!("; {} referrer(s)", r.referrers.pushed));
        if !r.referrers.fallback_tags.is_empty() {
            s.push_str(" (no referrers API: listed under sha256-<digest> tags)");
        }
    }
    s
}

/// Pushes `set` under every tag and says what it did; returns `REGISTRY/REPO:TAG` per tag.
pub fn push_set(
    set: &PushSet,
    what: &str,
    to: &Reference,
    tags: &[String],
    mount_from: Option<&Reference>,
    settings: &Arc<Settings>,
    shell: &mut Shell,
) -> Result<Vec<String>, Error> {
    shell.status("Pushing", format!("{what} to {}:{}", to.name(), tags.join(",")));
    let report = push(set, to, tags, mount_from, settings).map_err(|source| match source {
        // Part of it is published, or nothing was tried: the error says that, not "failed to push".
        e @ (RegistryError::PartlyPushed { .. } | RegistryError::BadProxy { .. }) => StoreError::Registry(e),
        e => StoreError::Push { target: to.name(), source: Box::new(e) },
    })?;
    for note in &report.notes {
        shell.verbose("Upload", note);
    }
    shell.status("Pushed", summary(&report));
    Ok(tags.iter().map(|t| to.with_tag(t).to_string()).collect())
}

/// `cargo oci push SOURCE REF [--tag T]…`: reports `REF:TAG@sha256:<digest>` (or JSON).
pub fn push_command(args: &PushArgs, env: &Env, shell: &mut Shell) -> Result<ImageReport, Error> {
    let source = ImageName::parse(&args.source, &env.cwd)?;
    let fallback: Vec<String> = source.tag().map(String::from).into_iter().collect();
    let PushPlan { repository: reference, tags } =
        push_destination(&args.reference, &args.tag, &fallback, &args.source)?;
    let settings = crate::registries_for(&args.registry.to_request(), env, Some(&reference.registry))?;
    let store = crate::store::open(&source, &settings);
    let set = PushSet::from_store(store.as_ref())?;
    let mount_from = base_of(&set);
    let pushed = push_set(&set, &store.name(), &reference, &tags, mount_from.as_ref(), &settings, shell)?;
    let name = reference.repository.rsplit('/').next().unwrap_or_default().to_string();
    let mut report = ImageReport::new(&name, &read_image(store.as_ref())?.image_set(store.as_ref())?, None, &tags);
    report.pushed = pushed;
    Ok(report)
}

/// The base an image names in its `org.opencontainers.image.base.name` annotation, if it is a
/// registry reference: its blobs may be mounted rather than uploaded.
fn base_of(set: &PushSet) -> Option<Reference> {
    set.manifests.iter().chain([&set.root]).find_map(|m| {
        let v: serde_json::Value = serde_json::from_slice(&m.read_all().ok()?).ok()?;
        Reference::parse(v["annotations"]["org.opencontainers.image.base.name"].as_str()?).ok()
    })
}
