//! `cargo oci rebase IMAGE --base NEWBASE [--output DIR] [--push REF] [--tag T]`: the image's own
//! layers, byte for byte (same digests), put on another base without compiling anything. Per
//! platform:
//! - our layers are the top ones whose history says `cargo-oci`, so the old base needs no
//!   lookup;
//! - the config is made again by the build's own pure step (`image::platform_image`): the new
//!   base's layers, history and runtime config, with the image's settings on top, and the
//!   `org.opencontainers.image.base.*` annotations of the new base;
//! - every executable of our layers goes through the build's ELF check against the new base's
//!   files, and a binary that would no longer start is refused with the reason.
//!
//! `crane rebase` swaps base layers too, but checks nothing: its docs say rebase "is not safe in
//! general". The SBOMs (about our packages, which did not change) are attached again to the new
//! manifests; the provenance is too, as a statement about the new manifest that keeps the
//! original build and records this rebase (`provenance::rebased`).

use std::collections::BTreeMap;
use std::io::Read;

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::check::{self, elf, rootfs::RootFs, BaseFacts, Binary, CheckError};
use crate::env::Env;
use crate::image::ImageInput;
use crate::merge::{MergeError, Outputs};
use crate::oci::{BaseImage, Blob, ContainerConfig, Digest, Image, Layer, MediaFamily, PlatformImage};
use crate::plan::Target;
use crate::provenance::{self, Rebase};
use crate::report::ImageReport;
use crate::shell::Shell;
use crate::store::{self, StoreError};

/// What `rebase` is asked: plain data (the command line is converted in `commands`).
pub struct RebaseRequest<'a> {
    pub image: &'a str,
    pub base: &'a str,
    pub output: Option<&'a std::path::PathBuf>,
    pub push: Option<&'a str>,
    pub tags: &'a [String],
    pub registry: crate::plan::RegistryRequest,
}

#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    #[error(transparent)]
    Outputs(#[from] MergeError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{image}` has no layer made by cargo-oci for {platform}: there is nothing to put on another base")]
    NotOurs { image: String, platform: String },
    #[error("`{image}` cannot be rebased onto `{base}`")]
    Unfit {
        image: String,
        base: String,
        #[source]
        source: Box<CheckError>,
    },
    #[error("could not read the layers of `{image}` for {platform}")]
    Read {
        image: String,
        platform: String,
        #[source]
        source: std::io::Error,
    },
}

impl RebaseError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            RebaseError::Outputs(e) => e.hints(),
            RebaseError::Plan(e) => e.hints(),
            RebaseError::Store(e) => e.hints(),
            RebaseError::NotOurs { .. } => {
                vec!["rebase images built by `cargo oci build` (their layers' history says `cargo-oci`)".into()]
            }
            RebaseError::Unfit { .. } => vec![
                "keep the old base, pick a base that has what the binary needs, or rebuild for the new base: `cargo oci build --base …`".into(),
            ],
            RebaseError::Read { .. } => Vec::new(),
        }
    }

    pub fn covers_cause(&self) -> bool {
        matches!(self, RebaseError::Unfit { .. })
    }
}

pub fn rebase(req: &RebaseRequest<'_>, env: &Env, shell: &mut Shell) -> Result<Vec<ImageReport>, RebaseError> {
    let source_name = store::name_from_arg(req.image, &env.cwd)
        .map_err(|e| StoreError::BadImage { image: req.image.to_string(), why: e.to_string() })?;
    let base_name = crate::plan::parse_base(req.base, env)?;
    let names = [source_name.clone(), base_name.clone()];
    let out = Outputs::resolve(req.output, req.push, req.tags, &names, env, "the rebased image")?;
    let settings = crate::registries::for_command(&req.registry, env, out.creds_for(&names))?;

    let source = store::open(&source_name, &settings);
    let image = source.image()?;
    let annotations =
        crate::merge::root_annotations(&image).map_err(|why| StoreError::BadImage { image: source.name(), why })?;
    let new_base = store::open(&base_name, &settings);
    let bases = image.platforms.iter().map(|old| new_base.base(&old.platform)).collect::<Result<Vec<_>, _>>()?;
    // The new base's layers are read for the check, platform after platform: fetched first, together.
    store::fetch::fetch(bases.iter().flat_map(|b| b.layers.iter().map(|l| &l.blob)), settings.jobs, shell)?;
    let mut platforms = Vec::new();
    let mut referrers = Vec::new();
    for (old, base) in image.platforms.iter().zip(bases) {
        let new_base_ref = base.reference.clone();
        shell.status("Rebasing", format!("{} for {} onto {}", source.name(), old.platform, new_base.name()));
        let new = rebase_platform(old, base, &source.name(), &new_base.name(), shell)?;
        let (image_name, base_name) = (source.name(), new_base.name());
        let rebase = Rebase {
            image: &image_name,
            from: &old.manifest.digest,
            to: &new.manifest.digest,
            old_base: None,
            new_base: new_base_ref.as_ref().map_or(&base_name, |r| &r.name),
            new_base_digest: new_base_ref.as_ref().map(|r| &r.digest),
        };
        referrers.extend(attestations_again(source.as_ref(), old, &new, &rebase)?);
        platforms.push(new);
    }
    // An OCI index over the platforms, as `build` writes it, with the image's annotations.
    let index = crate::image::index(&platforms, &annotations, MediaFamily::Oci)
        .map_err(|source| StoreError::Json { what: "the rebased index", source })?;
    let mut set = Image::new(index, platforms);
    set.referrers = referrers;
    let name = match (&out.output, &out.push) {
        (Some(o), _) => o.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, Some(p)) => p.repository.repository.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    let delivered = store::sink::write(&out.destinations, &settings, &set, &name, shell)?;
    Ok(vec![ImageReport::new(&name, &set, &out.tags, &delivered)])
}

/// One platform: our layers on `base`, after the check.
fn rebase_platform(
    old: &PlatformImage,
    base: BaseImage,
    image: &str,
    base_name: &str,
    shell: &mut Shell,
) -> Result<PlatformImage, RebaseError> {
    let bad = |why: String| StoreError::BadImage { image: image.to_string(), why };
    let config: ImageConfiguration = serde_json::from_slice(&old.config.read_all().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(e.to_string()))?;
    let manifest: ImageManifest = serde_json::from_slice(&old.manifest.read_all().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(e.to_string()))?;
    // Our layers: the top ones whose history entry is ours (`comment: cargo-oci`).
    let history: Vec<_> = config.history().clone().unwrap_or_default();
    let layer_history: Vec<_> = history.iter().filter(|h| !h.empty_layer().unwrap_or(false)).collect();
    let ours_count = layer_history.iter().rev().take_while(|h| h.comment().as_deref() == Some("cargo-oci")).count();
    if ours_count == 0 || layer_history.len() != old.layers.len() {
        return Err(RebaseError::NotOurs { image: image.to_string(), platform: old.platform.to_string() });
    }
    let ours: Vec<Layer> = old.layers[old.layers.len() - ours_count..].to_vec();

    check_fits(&ours, &base, &old.platform, base_name, shell).map_err(|source| RebaseError::Unfit {
        image: image.to_string(),
        base: base_name.to_string(),
        source: Box::new(source),
    })?;

    // The image's settings, as the build put them on its base; merged onto the new base's.
    let c = config.config().clone().unwrap_or_default();
    let settings = ContainerConfig {
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        cmd: c.cmd().clone(),
        env: c
            .env()
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        user: c.user().clone(),
        workdir: c.working_dir().clone(),
        exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
        bin_dir: String::new(),
        stop_signal: c.stop_signal().clone(),
        volumes: c.volumes().clone().unwrap_or_default(),
    };
    let mut annotations: BTreeMap<String, String> =
        manifest.annotations().clone().unwrap_or_default().into_iter().collect();
    annotations.retain(|k, _| !k.starts_with("org.opencontainers.image.base."));
    let epoch = humantime::parse_rfc3339(config.created().as_deref().unwrap_or("1970-01-01T00:00:00Z"))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    crate::image::platform_image(ImageInput {
        platform: &old.platform,
        base: &base,
        layers: ours,
        config: &settings,
        epoch,
        annotations: &annotations,
    })
    .map_err(|source| StoreError::Json { what: "the rebased config", source }.into())
}

/// The referrers about `old`'s manifest, attached to `new`'s, each in a new artifact manifest
/// (same annotations) whose subject is the rebased manifest: the SBOMs are the same documents (our
/// packages did not change); a provenance statement becomes one that records this rebase
/// (`provenance::rebased`).
fn attestations_again(
    source: &dyn store::Source,
    old: &PlatformImage,
    new: &PlatformImage,
    rebase: &Rebase<'_>,
) -> Result<Vec<crate::oci::Referrer>, StoreError> {
    let json = |what| move |source| StoreError::Json { what, source };
    let old_base = json_of(&old.manifest).and_then(|m| {
        let a = &m["annotations"];
        let name = a["org.opencontainers.image.base.name"].as_str()?.to_string();
        Some((name, Digest::parse(a["org.opencontainers.image.base.digest"].as_str()?).ok()?))
    });
    let rebase = Rebase { old_base: old_base.as_ref().map(|(n, d)| (n.as_str(), d)), ..*rebase };
    let mut out = Vec::new();
    for r in source.referrers(&old.manifest.digest)? {
        store::read::check_local(r.blobs.iter())?;
        let Some(document) = r.blobs.last() else { continue };
        let annotations: BTreeMap<String, String> = json_of(&r.manifest)
            .and_then(|m| m["annotations"].as_object().cloned())
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
            .collect();
        let document = if r.artifact_type == provenance::MEDIA_TYPE {
            let statement = json_of(document).ok_or_else(|| StoreError::BadImage {
                image: rebase.image.to_string(),
                why: format!("its provenance {} is not JSON", document.digest),
            })?;
            Blob::json(provenance::MEDIA_TYPE, &provenance::rebased(&statement, &rebase))
                .map_err(json("the rebased provenance"))?
        } else {
            document.clone()
        };
        out.push(
            crate::image::referrer::artifact(&new.manifest, document, &annotations)
                .map_err(json("an attestation's artifact manifest"))?,
        );
    }
    Ok(out)
}

fn json_of(blob: &Blob) -> Option<serde_json::Value> {
    serde_json::from_slice(&blob.read_all().ok()?).ok()
}

/// Every executable in `ours` against the new base's files: the build's ELF check.
fn check_fits(
    ours: &[Layer],
    base: &BaseImage,
    platform: &crate::oci::Platform,
    base_name: &str,
    shell: &mut Shell,
) -> Result<(), CheckError> {
    let read_base = |source| CheckError::ReadBase { base: base_name.into(), platform: platform.to_string(), source };
    let files = RootFs::from_layers(&base.layers).map_err(read_base)?;
    let glibc = elf::base_glibc(&files, &elf::default_lib_dirs(&platform.architecture));
    let facts = BaseFacts { name: base_name.to_string(), files, glibc };
    for layer in ours {
        let read = |source| CheckError::ReadBinary { path: layer.blob.digest.to_string().into(), source };
        let mut archive = tar::Archive::new(
            crate::layer::read::open(&layer.blob.media_type, layer.blob.open().map_err(read)?).map_err(read)?,
        );
        for entry in archive.entries().map_err(read)? {
            let mut entry = entry.map_err(read)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = format!("/{}", String::from_utf8_lossy(&entry.path_bytes()).trim_start_matches("./"));
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(read)?;
            if !bytes.starts_with(b"\x7fELF") {
                continue;
            }
            let needs = elf::needs(&bytes).map_err(|source| CheckError::NotElf {
                bin: path.clone(),
                path: path.clone().into(),
                source,
            })?;
            let target = target_of(platform, needs.interpreter.is_some());
            let bin = path.rsplit('/').next().unwrap_or(&path);
            let summary = check::check_binary(&Binary { bin, in_image: &path, target: &target }, &needs, &facts)?;
            shell.verbose("Checked", format!("{path} for {platform}: {summary}"));
        }
    }
    Ok(())
}

/// The target a binary of `platform` was built for, as far as the messages need it: gnu when
/// it has a dynamic loader, else musl.
fn target_of(platform: &crate::oci::Platform, dynamic: bool) -> Target {
    let musl = Target::parse(&platform.full()).or_else(|_| Target::parse(&platform.to_string()));
    match musl {
        Ok(t) if dynamic => Target::parse(&t.triple.replace("-musl", "-gnu")).unwrap_or(t),
        Ok(t) => t,
        Err(_) => Target {
            triple: format!("{}-unknown-linux", platform.architecture),
            glibc: None,
            platform: platform.clone(),
            libc: if dynamic { crate::plan::Libc::Gnu } else { crate::plan::Libc::Musl },
        },
    }
}
