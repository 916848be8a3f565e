//! Turns a [`Request`], the environment and the facts (`cargo metadata`, the `[*.metadata.oci]`
//! settings, git) into a [`Plan`], strictly: which packages, which images, which targets with
//! which bases and backends, which destinations and settings. Reads nothing itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, Package, TargetKind};

use super::config::{self, KeyPath, OciConfig, Origin, Section};
use super::outputs::Outputs;
use super::settings::{self, Layer, PackageContext, Settings};
use super::{
    backend, base, BackendChoice, CargoFlags, ContainerConfig, ImagePlan, ImageTarget, LayerPlan, PackageInfo, Plan,
    PlanError, Request, Target, Targets,
};
use crate::env::{Env, EnvVars};
use crate::facts::cdeps::SystemLib;
use crate::facts::Facts;
use crate::oci::Reference;

pub fn resolve(args: &Request, facts: &Facts) -> Result<Plan, PlanError> {
    let env = facts.env();
    let flags = CargoFlags {
        manifest_path: PathBuf::new(),
        features: args.features.clone(),
        all_features: args.all_features,
        no_default_features: args.no_default_features,
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
        config: args.cargo_config.clone(),
    };
    let meta = facts.metadata(args.manifest_path.as_deref(), &flags, None)?;
    let epoch = source_date_epoch(env, meta.workspace_root.as_std_path(), facts)?;
    let flags = CargoFlags { manifest_path: meta.workspace_root.join("Cargo.toml").into(), ..flags };
    let packages = select_packages(&meta, args, facts)?;
    let (ws_config, ws_origin) = config::load(&flags.manifest_path, Section::Workspace, facts)?;
    let cli = Layer { config: cli_config(args, env), origin: Origin::CommandLine };
    let target_dir: PathBuf = match &args.target_dir {
        Some(dir) => env.cwd.join(dir),
        None => meta.target_directory.clone().into(),
    };

    let mut images = Vec::new();
    // Which package's settings each image follows (an index into `owners`).
    let mut owners: Vec<(&Package, Settings)> = Vec::new();
    let mut owner_of: Vec<usize> = Vec::new();
    // Each image's `repository` push (`PREFIX/<image>`), when one is configured.
    let mut repositories: Vec<Option<Reference>> = Vec::new();
    for package in &packages {
        let (pkg_config, pkg_origin) = config::load(package.manifest_path.as_std_path(), Section::Package, facts)?;
        let layers = [
            Layer { config: ws_config.clone(), origin: ws_origin.clone() },
            Layer { config: pkg_config, origin: pkg_origin },
            cli.clone(),
        ];
        let all_bins = bins_of(package);
        let mut s = settings::resolve(&layers, &PackageContext { name: &package.name, bins: &all_bins }, facts)?;
        // `--glibc` is the floor of every gnu target that names none (`….2.31`).
        let mut targets: Vec<Target> = s.targets.iter().map(|t| t.target.clone()).collect();
        super::glibc::apply_flag(&mut targets, args.glibc.as_deref())?;
        for (t, floored) in s.targets.iter_mut().zip(targets) {
            t.target = floored;
        }
        for t in &s.targets {
            base::check_libc(&t.target, &t.base)?;
        }
        let groups: Vec<Vec<String>> = match &s.bins {
            Some(b) => vec![b.clone()],
            None => all_bins.iter().map(|b| vec![b.clone()]).collect(),
        };
        let manifest_dir: PathBuf = package.manifest_path.parent().map(|p| p.to_path_buf().into()).unwrap_or_default();
        let revision = facts.revision(&manifest_dir);
        for bins in groups {
            if !args.bins.is_empty() && !bins.iter().any(|b| args.bins.contains(b)) {
                continue;
            }
            let name = if s.bins.is_some() { package.name.to_string() } else { bins[0].clone() };
            repositories.push(repository_of(&s, &name)?);
            images.push(image_plan(package, name, bins, &s, &manifest_dir, revision.as_deref(), epoch));
            owner_of.push(owners.len());
        }
        owners.push((package, s));
    }
    check_wanted_bins(&args.bins, &images, &packages)?;
    let mut flags = flags;
    if let Some(strip) = one_strip(&owners)? {
        flags.config.push(strip.cargo_config(&args.profile));
    }
    check_names(&images)?;
    let names: Vec<String> = images.iter().map(|i| i.name.clone()).collect();
    let fallback_tags = images.first().map(|i| i.tags.clone()).unwrap_or_default();
    let outputs = super::outputs::resolve(args, env, &names, &fallback_tags)?;
    // The backend choice and the SBOM ask cargo for each triple's dependency graph: all at once.
    let triples: std::collections::BTreeSet<&str> =
        owners.iter().flat_map(|(_, s)| s.targets.iter().map(|t| t.target.triple.as_str())).collect();
    facts.prefetch_metadata(&flags, &triples.into_iter().collect::<Vec<_>>());
    // Each target of each image with its base and its backend, chosen once per package and triple.
    let mut chosen: BTreeMap<(usize, String), BackendChoice> = BTreeMap::new();
    for (image, &owner) in images.iter_mut().zip(&owner_of) {
        let (package, s) = &owners[owner];
        let mut targets = Vec::new();
        for t in &s.targets {
            let key = (owner, t.target.triple.clone());
            let backend = match chosen.get(&key) {
                Some(b) => b.clone(),
                None => {
                    let request = t.backend.unwrap_or_default();
                    let b =
                        backend::choose_backend(&t.target, request, (&package.name, &package.id.repr), &flags, facts)?;
                    chosen.insert(key, b.clone());
                    b
                }
            };
            targets.push(ImageTarget { target: t.target.clone(), base: t.base.clone(), backend, locked: false });
        }
        image.targets = Targets(targets);
    }
    if args.oci_lock {
        let path = super::lockfile::path(meta.workspace_root.as_std_path());
        let lock = match facts.read_to_string(&path) {
            Ok(text) => Some(super::lockfile::OciLock::parse(&path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(PlanError::BadLock { path, why: e.to_string() }),
        };
        super::lockfile::apply(&mut images, lock.as_ref(), &path, args.locked || args.frozen)?;
    }
    set_destinations(&mut images, &outputs, &repositories, args, &target_dir, env);
    check_compression(&images)?;
    let warnings = images.iter().filter_map(|i| super::pid1::warning(i, &flags, facts)).collect();
    let mut jobs = super::jobs(&images);
    for job in &mut jobs {
        job.system_libs = system_libs(job, &flags, facts)?;
    }
    // `--creds` goes to the registry pushed to, or to the base's when nothing is pushed (never to
    // both: credentials go only where they were meant).
    let creds_for = outputs
        .push
        .map(|p| p.repository.registry)
        .or_else(|| repositories.iter().flatten().next().map(|r| r.registry.clone()))
        .or_else(|| images.first().and_then(|i| i.registry_base()).map(|r| r.registry.clone()));
    let registry = super::registry::resolve(&args.registry, env, creds_for.as_deref())?;

    Ok(Plan {
        workspace_root: meta.workspace_root.clone().into(),
        target_dir,
        profile: args.profile.clone(),
        cargo: flags,
        epoch,
        jobs,
        images,
        elf_check: args.elf_check,
        verify_reproducible: args.verify_reproducible,
        attestations: super::Attestations { sbom: args.sbom, provenance: args.provenance },
        registry,
        warnings,
    })
}

/// The system libraries `job`'s packages link, when it cross-compiles (the host's own gnu triple
/// finds the host's libraries, as a plain `cargo build` does).
fn system_libs(job: &super::CompileJob, flags: &CargoFlags, facts: &Facts) -> Result<Vec<SystemLib>, PlanError> {
    if job.target.triple == format!("{}-unknown-linux-gnu", std::env::consts::ARCH) {
        return Ok(Vec::new());
    }
    let mut all = Vec::new();
    for u in &job.units {
        for lib in facts.system_libs(flags, &u.package_id, &job.target.triple)? {
            if !all.contains(&lib) {
                all.push(lib);
            }
        }
    }
    Ok(all)
}

/// The `strip` of the build: every target and package is built with one profile.
fn one_strip(owners: &[(&Package, Settings)]) -> Result<Option<super::strip::Strip>, PlanError> {
    let mut set = owners.iter().filter_map(|(p, s)| s.strip.map(|v| (p.name.to_string(), v)));
    let Some((first, value)) = set.next() else { return Ok(None) };
    match set.find(|(_, v)| *v != value) {
        Some((second, _)) => Err(PlanError::StripDiffers { first, second }),
        None => Ok(Some(value)),
    }
}

/// `PREFIX/<image>` when `repository` is set (`--repository`, `CARGO_OCI_REPOSITORY`, Cargo.toml).
fn repository_of(s: &Settings, image: &str) -> Result<Option<Reference>, PlanError> {
    let Some((prefix, origin)) = &s.repository else { return Ok(None) };
    let prefix = prefix.trim_end_matches('/');
    let full = format!("{prefix}/{}", image.to_ascii_lowercase());
    match Reference::parse(&full) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() => Ok(Some(r)),
        Ok(_) | Err(_) => Err(origin
            .invalid(
                &KeyPath::key("repository"),
                format!("`{prefix}` is not a repository prefix (pushing `{image}` to `{full}`)"),
                "name a registry and a path, without tag: e.g. `ghcr.io/org` or `127.0.0.1:5000/team`",
            )
            .into()),
    }
}

/// The command line as the top layer of settings.
fn cli_config(args: &Request, env: &Env) -> OciConfig {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let table = |v: &Vec<(String, String)>| (!v.is_empty()).then(|| v.iter().cloned().collect::<BTreeMap<_, _>>());
    OciConfig {
        base: args.base.clone(),
        targets: list(&args.targets),
        tags: list(&args.tags),
        entrypoint: list(&args.entrypoint),
        cmd: list(&args.cmd),
        env: table(&args.env),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        exposed_ports: list(&args.ports),
        labels: table(&args.labels),
        annotations: table(&args.annotations),
        backend: args.backend,
        init: args.init,
        stop_signal: args.stop_signal.clone(),
        volumes: list(&args.volumes),
        auditable: args.auditable,
        // The variable stands in for the flag, above Cargo.toml (as ko's `KO_DOCKER_REPO`).
        strip: args.strip,
        repository: args.repository.clone().or_else(|| env.get(EnvVars::CARGO_OCI_REPOSITORY).map(String::from)),
        compression: args.compression,
        ..OciConfig::default()
    }
}

fn image_plan(
    package: &Package,
    name: String,
    bins: Vec<String>,
    s: &Settings,
    manifest_dir: &Path,
    revision: Option<&str>,
    epoch: u64,
) -> ImagePlan {
    let mut entrypoint = s.entrypoint.clone().unwrap_or_else(|| vec![format!("{}/{}", s.bin_dir, bins[0])]);
    let mut annotations = annotations(package, &name, revision, epoch);
    annotations.extend(s.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut layers = Vec::new();
    if s.init {
        // The init runs the entrypoint it replaces; `--` ends its own options. Cmd stays as it
        // is: `docker run IMAGE ARGS` still appends to the service's arguments.
        entrypoint.splice(0..0, [super::INIT_PATH.to_string(), "--".into()]);
        layers.push(LayerPlan::Init { path: super::INIT_PATH.into() });
    }
    if !s.files.is_empty() {
        layers.push(LayerPlan::Files { files: s.files.clone() });
    }
    layers.push(LayerPlan::Binaries { dir: s.bin_dir.clone(), bins: bins.clone() });
    ImagePlan {
        name,
        package: PackageInfo {
            name: package.name.to_string(),
            version: package.version.to_string(),
            id: package.id.repr.clone(),
            manifest_dir: manifest_dir.to_path_buf(),
        },
        bins,
        targets: Targets::default(),
        tags: if s.tags.is_empty() { vec![package.version.to_string()] } else { s.tags.clone() },
        output: PathBuf::new(),
        config: ContainerConfig {
            entrypoint,
            cmd: s.cmd.clone(),
            env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            user: s.user.clone(),
            workdir: s.workdir.clone(),
            exposed_ports: s.exposed_ports.clone(),
            labels: s.labels.clone(),
            bin_dir: s.bin_dir.clone(),
            stop_signal: s.stop_signal.clone(),
            volumes: s.volumes.clone(),
        },
        annotations,
        layers,
        destinations: Vec::new(),
        media_types: None,
        compression: s.compression,
        auditable: s.auditable,
    }
}

/// Image names must differ, or their layouts would collide.
fn check_names(images: &[ImagePlan]) -> Result<(), PlanError> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for i in images {
        if let Some(first) = seen.insert(i.name.clone(), i.package.name.clone()) {
            return Err(PlanError::DuplicateImage { name: i.name.clone(), first, second: i.package.name.clone() });
        }
    }
    Ok(())
}

/// Where each image goes. `--output DIR`: the layout itself for one image, `DIR/<image>` for
/// several; by default `<target-dir>/oci/<image>`.
fn set_destinations(
    images: &mut [ImagePlan],
    outputs: &Outputs,
    repositories: &[Option<Reference>],
    args: &Request,
    target_dir: &Path,
    env: &Env,
) {
    let several = images.len() > 1;
    for (image, repository) in images.iter_mut().zip(repositories) {
        image.output = match &args.output {
            Some(dir) if several => env.cwd.join(dir).join(&image.name),
            Some(dir) => env.cwd.join(dir),
            None => target_dir.join("oci").join(&image.name),
        };
        image.destinations = outputs.destinations(image, args.gc, repository.as_ref());
        image.media_types = outputs.media_types;
    }
}

/// Docker manifests have no zstd layer type: `--media-types docker` takes gzip layers only.
fn check_compression(images: &[ImagePlan]) -> Result<(), PlanError> {
    match images.iter().find(|i| i.media_types == Some(crate::oci::MediaFamily::Docker) && !i.compression.is_gzip()) {
        Some(i) => Err(PlanError::ZstdInDocker { image: i.name.clone(), compression: i.compression.to_string() }),
        None => Ok(()),
    }
}

/// The Cargo.toml of workspace member `name` (for `init -p`).
pub fn package_manifest(manifest: Option<&Path>, name: &str, facts: &Facts) -> Result<PathBuf, PlanError> {
    let meta = facts.metadata(manifest, &CargoFlags::default(), None)?;
    let members = meta.workspace_packages();
    match members.iter().find(|p| p.name.as_str() == name) {
        Some(p) => Ok(p.manifest_path.clone().into()),
        None => Err(PlanError::NoSuchPackage {
            name: name.into(),
            members: members.iter().map(|p| p.name.to_string()).collect(),
        }),
    }
}

/// `-p` (repeatable) picks packages; `--workspace`, or a virtual manifest without `-p`, picks
/// every member with a binary; otherwise the package of the manifest.
fn select_packages<'m>(meta: &'m Metadata, args: &Request, facts: &Facts) -> Result<Vec<&'m Package>, PlanError> {
    let members = meta.workspace_packages();
    let names = || members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>();
    let explicit: Vec<&Package> = if !args.packages.is_empty() {
        let mut out: Vec<&Package> = Vec::new();
        for n in &args.packages {
            let p = members
                .iter()
                .copied()
                .find(|p| p.name.as_str() == n)
                .ok_or_else(|| PlanError::NoSuchPackage { name: n.clone(), members: names() })?;
            if !out.iter().any(|o| o.id == p.id) {
                out.push(p);
            }
        }
        out
    } else if let (false, Some(current)) = (args.workspace, current_package(meta, args, facts)) {
        vec![current]
    } else {
        let mut with_bins: Vec<&Package> = members.iter().copied().filter(|p| !bins_of(p).is_empty()).collect();
        with_bins.sort_by(|a, b| a.name.cmp(&b.name));
        if with_bins.is_empty() {
            return Err(PlanError::NoBinaryInWorkspace { manifest: meta.workspace_root.join("Cargo.toml").into() });
        }
        return Ok(with_bins);
    };
    if let Some(p) = explicit.iter().find(|p| bins_of(p).is_empty()) {
        return Err(PlanError::NoBinary { package: p.name.to_string() });
    }
    Ok(explicit)
}

/// The package of the manifest cargo would pick (`--manifest-path`, else the nearest Cargo.toml
/// above the cwd); `None` for a virtual manifest. (`cargo metadata --no-deps` has no
/// `resolve.root` to say it.)
fn current_package<'m>(meta: &'m Metadata, args: &Request, facts: &Facts) -> Option<&'m Package> {
    let cwd = &facts.env().cwd;
    let real = |p: &Path| facts.path(p).ok();
    let manifest = match &args.manifest_path {
        Some(m) => cwd.join(m),
        None => cwd.ancestors().map(|d| d.join("Cargo.toml")).find(|p| real(p).is_some_and(|f| f.is_file))?,
    };
    let manifest = real(&manifest).map(|f| f.real).unwrap_or(manifest);
    meta.workspace_packages().into_iter().find(|p| {
        real(p.manifest_path.as_std_path()).is_some_and(|m| m.real == manifest) || p.manifest_path == manifest
    })
}

/// The package's binaries, sorted.
fn bins_of(package: &Package) -> Vec<String> {
    let mut bins: Vec<String> =
        package.targets.iter().filter(|t| t.kind.contains(&TargetKind::Bin)).map(|t| t.name.clone()).collect();
    bins.sort();
    bins
}

/// Every `--bin` must select an image.
fn check_wanted_bins(wanted: &[String], images: &[ImagePlan], packages: &[&Package]) -> Result<(), PlanError> {
    for w in wanted {
        if images.iter().any(|i| i.bins.contains(w)) {
            continue;
        }
        if let [p] = packages {
            if !bins_of(p).contains(w) {
                return Err(PlanError::NoSuchBin { package: p.name.to_string(), bin: w.clone(), bins: bins_of(p) });
            }
        }
        let mut bins: Vec<String> = images.iter().flat_map(|i| i.bins.iter().cloned()).collect();
        if bins.is_empty() {
            bins = packages.iter().flat_map(|p| bins_of(p)).collect();
        }
        return Err(PlanError::NoImageWithBin { bin: w.clone(), bins });
    }
    Ok(())
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<String, PlanError> {
    let ok = (1..=128).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(tag.to_string())
    } else {
        Err(PlanError::InvalidTag { tag: tag.into() })
    }
}

/// `SOURCE_DATE_EPOCH` if set; else the last commit's time when building from a git work tree
/// (so a release tag always gives the same timestamps); else 0.
fn source_date_epoch(env: &Env, dir: &Path, facts: &Facts) -> Result<u64, PlanError> {
    match env.get(EnvVars::SOURCE_DATE_EPOCH) {
        Some(v) => v.trim().parse().map_err(|_| PlanError::BadEpoch { value: v.into() }),
        None => Ok(facts.commit_time(dir).unwrap_or(0)),
    }
}

/// `org.opencontainers.image.*` annotations from Cargo.toml (pre-defined keys of the image spec).
fn annotations(p: &Package, image: &str, revision: Option<&str>, epoch: u64) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            a.insert(format!("org.opencontainers.image.{k}"), v);
        }
    };
    put("title", Some(image.to_string()));
    put("version", Some(p.version.to_string()));
    put("description", p.description.clone());
    put("licenses", p.license.clone());
    put("source", p.repository.clone());
    put("url", p.homepage.clone());
    put("documentation", p.documentation.clone());
    put("authors", Some(p.authors.join(", ")));
    put("revision", revision.map(String::from));
    put("created", Some(crate::oci::rfc3339(epoch)));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::ImageName;

    #[test]
    fn tags() {
        for ok in ["1.0.0", "latest", "v1_2-rc.3", "_x"] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    /// A plan from a `Request` built in code, no command line: the front end is not needed.
    #[test]
    fn a_request_without_argv() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = "[package]\nname = \"app\"\nversion = \"1.2.3\"\nedition = \"2021\"\n[workspace]\n\
                        [package.metadata.oci]\nbase = \"scratch\"\n";
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        let env = Env::from_pairs(dir.path().into(), [("SOURCE_DATE_EPOCH", "7"), ("CARGO_HOME", "/nonexistent")]);
        let request = Request {
            targets: vec!["aarch64".into()],
            tags: vec!["t".into()],
            push: Some("127.0.0.1:5000/app".into()),
            registry: crate::plan::RegistryRequest {
                creds: Some(crate::secret::Secret::new("u:p")),
                ..Default::default()
            },
            ..Request::default()
        };
        let plan = resolve(&request, &Facts::new(&env)).unwrap();
        assert_eq!(plan.epoch, 7);
        let image = &plan.images[0];
        assert_eq!((image.name.as_str(), image.tags.as_slice()), ("app", &["t".to_string()][..]));
        let t = &image.targets[0];
        assert_eq!((t.target.triple.as_str(), &t.base), ("aarch64-unknown-linux-musl", &ImageName::Scratch));
        assert_eq!(t.backend.linker.as_deref(), Some("rust-lld"), "pure Rust: cargo with rust-lld");
        let pushed = crate::oci::Reference::parse("127.0.0.1:5000/app").unwrap();
        let only = crate::oci::Destination::Registry { repository: pushed, tags: vec!["t".into()], mount_from: None };
        assert_eq!(image.destinations, [only], "--push alone writes no layout");
        assert_eq!(plan.registry.creds.as_ref().map(|c| c.registry.as_str()), Some("127.0.0.1:5000"));
        assert_eq!(plan.jobs.len(), 1);
    }

    #[test]
    fn epoch() {
        let dir = tempfile::tempdir().unwrap();
        let e = |v: &'static str| {
            let env = Env::from_pairs("/".into(), [("SOURCE_DATE_EPOCH", v)]);
            source_date_epoch(&env, dir.path(), &Facts::new(&env))
        };
        assert_eq!(e("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(e("").unwrap(), 0, "not a git work tree: 0");
        assert!(e("yesterday").is_err());
    }
}
