//! `cargo oci push SOURCE REF [--tag T]…`: the image a layout (or another registry) holds, with
//! the referrers the source has about it, written to a registry through the same sink as
//! `build --push`. Reports `REF:TAG@sha256:<digest>` (or JSON).

use crate::cli::PushArgs;
use crate::env::Env;
use crate::oci::{Image, Reference};
use crate::plan::outputs::push_destination;
use crate::report::ImageReport;
use crate::shell::Shell;
use crate::store::{self, read::check_local, StoreError};
use crate::Error;

pub fn push(args: &PushArgs, env: &Env, shell: &mut Shell) -> Result<ImageReport, Error> {
    let source = crate::store::name_from_arg(&args.source, &env.cwd)?;
    let fallback: Vec<String> = source.tag().map(String::from).into_iter().collect();
    let to = push_destination(&args.reference, &args.tag, &fallback, &args.source)?;
    let settings = crate::registries::for_command(&args.registry.to_request(), env, Some(&to.repository.registry))?;
    let store = store::open(&source, &settings);
    let mut image = store.image()?;
    if image.attached.iter().any(|a| a.nested_index) {
        return Err(StoreError::BadImage { image: store.name(), why: "nested indexes are not supported".into() }.into());
    }
    // The referrers the source holds about what is pushed: every manifest, and the root.
    let subjects: Vec<_> = image.manifests().into_iter().chain([&image.root]).map(|m| m.digest.clone()).collect();
    for subject in &subjects {
        image.referrers.extend(store.referrers(subject)?);
    }
    // What is on this machine is checked before anything goes out.
    check_local(image.leaves().into_iter().chain(image.referrers.iter().flat_map(|r| &r.blobs)))?;
    let destination = to.destination(base_of(&image));
    let delivered = store::sink::write(&[destination], &settings, &image, &store.name(), shell)?;
    let name = to.repository.repository.rsplit('/').next().unwrap_or_default().to_string();
    Ok(ImageReport::new(&name, &image, &to.tags, &delivered))
}

/// The base an image names in its `org.opencontainers.image.base.name` annotation, if it is a
/// registry reference: its blobs may be mounted rather than uploaded.
fn base_of(image: &Image) -> Option<Reference> {
    image.manifests().into_iter().chain([&image.root]).find_map(|m| {
        let v: serde_json::Value = serde_json::from_slice(&m.read_all().ok()?).ok()?;
        Reference::parse(v["annotations"]["org.opencontainers.image.base.name"].as_str()?).ok()
    })
}
