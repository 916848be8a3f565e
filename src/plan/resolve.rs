//! Turns CLI arguments, the environment and `cargo metadata` into a [`Plan`], strictly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};

use super::platform::parse_targets;
use super::{backend, base, CargoFlags, CompileJob, ContainerConfig, ImagePlan, PackageInfo, Plan, PlanError, Unit};
use crate::cli::BuildArgs;
use crate::env::{Env, EnvVars};
use crate::process::Cmd;
use crate::store::layout;

/// What `--target` means when it is not given: the two architectures of a mixed fleet.
pub const DEFAULT_TARGETS: &[&str] = &["x86_64", "aarch64"];
/// Where binaries go in the image.
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";

pub fn resolve(args: &BuildArgs, env: &Env) -> Result<Plan, PlanError> {
    let mut targets =
        if args.target.is_empty() { parse_targets(DEFAULT_TARGETS)? } else { parse_targets(&args.target)? };
    super::glibc::apply_flag(&mut targets, args.glibc.as_deref())?;
    let tags = args.tag.iter().map(|t| check_tag(t)).collect::<Result<Vec<_>, _>>()?;
    let base = base::parse_base(&args.base, env)?;
    let epoch = source_date_epoch(env)?;

    let flags = CargoFlags {
        manifest_path: PathBuf::new(),
        features: args.features.clone(),
        all_features: args.all_features,
        no_default_features: args.no_default_features,
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
    };
    let meta = metadata(args.manifest_path.as_deref(), &flags, None, env)?;
    let package = select_package(&meta, args.package.as_deref(), args.manifest_path.as_deref())?;
    let bins = select_bins(package, &args.bin)?;
    let flags = CargoFlags { manifest_path: meta.workspace_root.join("Cargo.toml").into(), ..flags };

    for t in &targets {
        base::check_libc(t, &base)?;
    }
    let unit = Unit { package: package.name.to_string(), package_id: package.id.repr.clone(), bins: bins.clone() };
    let mut jobs = Vec::new();
    for target in &targets {
        let backend = backend::choose_backend(target, args.backend, package, &flags, env)?;
        jobs.push(CompileJob { target: target.clone(), backend, units: vec![unit.clone()] });
    }

    let target_dir: PathBuf = meta.target_directory.clone().into();
    let manifest_dir: PathBuf = package.manifest_path.parent().map(|p| p.to_path_buf().into()).unwrap_or_default();
    let revision = git_revision(&manifest_dir);
    let several = bins.len() > 1;
    let mut images = Vec::new();
    for bin in &bins {
        let output = match &args.output {
            Some(dir) if several => env.cwd.join(dir).join(bin),
            Some(dir) => env.cwd.join(dir),
            None => target_dir.join("oci").join(bin),
        };
        layout::check_output(&output)?;
        images.push(ImagePlan {
            name: bin.clone(),
            package: PackageInfo {
                name: package.name.to_string(),
                version: package.version.to_string(),
                id: package.id.repr.clone(),
                manifest_dir: manifest_dir.clone(),
            },
            bins: vec![bin.clone()],
            targets: targets.clone(),
            base: base.clone(),
            tags: if tags.is_empty() { vec![package.version.to_string()] } else { tags.clone() },
            output,
            config: ContainerConfig::for_bin(bin),
            annotations: annotations(package, bin, revision.as_deref(), epoch),
        });
    }

    Ok(Plan {
        workspace_root: meta.workspace_root.clone().into(),
        target_dir,
        profile: args.profile.clone(),
        cargo: flags,
        epoch,
        jobs,
        images,
        elf_check: !args.no_elf_check,
    })
}

/// `cargo metadata`, with the user's feature and lock flags; `--no-deps` unless a platform is
/// given, in which case the dependency graph is resolved for it.
pub(super) fn metadata(
    manifest: Option<&Path>,
    flags: &CargoFlags,
    platform: Option<&str>,
    env: &Env,
) -> Result<Metadata, PlanError> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(env.cargo()).current_dir(&env.cwd);
    if let Some(m) = manifest {
        cmd.manifest_path(env.cwd.join(m));
    }
    let mut opts = feature_args(flags);
    match platform {
        Some(p) => opts.extend(["--filter-platform".to_string(), p.to_string()]),
        None => {
            cmd.no_deps();
        }
    }
    cmd.other_options(opts);
    cmd.exec().map_err(|source| PlanError::Metadata {
        manifest: manifest.map(Path::to_path_buf).unwrap_or_else(|| env.cwd.join("Cargo.toml")),
        source,
    })
}

/// The feature and lock flags as cargo takes them (shared by metadata and build).
pub fn feature_args(flags: &CargoFlags) -> Vec<String> {
    let mut v = Vec::new();
    for f in &flags.features {
        v.extend(["--features".to_string(), f.clone()]);
    }
    let switches = [
        (flags.all_features, "--all-features"),
        (flags.no_default_features, "--no-default-features"),
        (flags.locked, "--locked"),
        (flags.frozen, "--frozen"),
        (flags.offline, "--offline"),
    ];
    v.extend(switches.iter().filter(|(on, _)| *on).map(|(_, s)| s.to_string()));
    v
}

fn select_package<'m>(
    meta: &'m Metadata,
    name: Option<&str>,
    manifest: Option<&Path>,
) -> Result<&'m Package, PlanError> {
    let members = meta.workspace_packages();
    let names = || members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>();
    match name {
        Some(n) => members
            .iter()
            .copied()
            .find(|p| p.name.as_str() == n)
            .ok_or_else(|| PlanError::NoSuchPackage { name: n.into(), members: names() }),
        None => meta.root_package().ok_or_else(|| PlanError::VirtualManifest {
            manifest: manifest.map(Path::to_path_buf).unwrap_or_else(|| meta.workspace_root.join("Cargo.toml").into()),
            members: names(),
        }),
    }
}

fn select_bins(package: &Package, wanted: &[String]) -> Result<Vec<String>, PlanError> {
    let mut bins: Vec<String> =
        package.targets.iter().filter(|t| t.kind.contains(&TargetKind::Bin)).map(|t| t.name.clone()).collect();
    bins.sort();
    if bins.is_empty() {
        return Err(PlanError::NoBinary { package: package.name.to_string() });
    }
    if wanted.is_empty() {
        return Ok(bins);
    }
    let mut out = Vec::new();
    for w in wanted {
        if !bins.contains(w) {
            return Err(PlanError::NoSuchBin { package: package.name.to_string(), bin: w.clone(), bins });
        }
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    Ok(out)
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<String, PlanError> {
    let ok = (1..=128).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(tag.to_string())
    } else {
        Err(PlanError::InvalidTag { tag: tag.into() })
    }
}

fn source_date_epoch(env: &Env) -> Result<u64, PlanError> {
    match env.get(EnvVars::SOURCE_DATE_EPOCH) {
        Some(v) => v.trim().parse().map_err(|_| PlanError::BadEpoch { value: v.into() }),
        None => Ok(0),
    }
}

/// The commit the package is built from, if it is in a git work tree.
fn git_revision(dir: &Path) -> Option<String> {
    let out = Cmd::new("git").arg("-C").arg(dir).args(["rev-parse", "--verify", "-q", "HEAD"]).output().ok()?;
    let rev = String::from_utf8(out).ok()?.trim().to_string();
    (rev.len() >= 40).then_some(rev)
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
    put("created", Some(crate::image::rfc3339(epoch)));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        for ok in ["1.0.0", "latest", "v1_2-rc.3", "_x"] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn epoch() {
        let e = |v: &'static str| source_date_epoch(&Env::from_pairs("/".into(), [("SOURCE_DATE_EPOCH", v)]));
        assert_eq!(e("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(e("").unwrap(), 0);
        assert!(e("yesterday").is_err());
    }
}
