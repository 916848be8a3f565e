//! Layers of settings (workspace, package, command line; each with its per-target tables)
//! resolved strictly into one package's values, every error pointing at the layer that set it.

use std::collections::BTreeMap;

use super::config::{flag_of, KeyPath, OciConfig, Origin, TargetConfig};
use super::target::{parse_targets, UnknownTarget};
use super::{base, files, FileCopy, ImageName, PlanError, Target};
use crate::facts::Facts;

/// What `--target` means when neither the command line nor Cargo.toml says: the two
/// architectures of a mixed fleet.
pub const DEFAULT_TARGETS: &[&str] = &["x86_64", "aarch64"];
/// Where binaries go in the image.
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";

/// One layer of settings and where it came from. Layers are given bottom (workspace) first.
#[derive(Clone, Debug)]
pub struct Layer {
    pub config: OciConfig,
    pub origin: Origin,
}

/// One package's settings, resolved: no `Option` where a default exists.
#[derive(Clone, Debug)]
pub struct Settings {
    pub targets: Vec<TargetSettings>,
    /// Empty: the package version.
    pub tags: Vec<String>,
    /// `bins = [...]`: one image holding these binaries (checked against the package's).
    pub bins: Option<Vec<String>>,
    /// `None`: the first binary, at `bin_dir`.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub bin_dir: String,
    pub files: Vec<FileCopy>,
    /// `init = true`: the binary runs behind cargo-oci's init for PID 1.
    pub init: bool,
    /// `SIGINT`-style, normalised.
    pub stop_signal: Option<String>,
    /// Absolute, normalised, sorted, each once.
    pub volumes: Vec<String>,
    /// `.dep-v0` in every binary (`auditable = false` turns it off).
    pub auditable: bool,
    /// `repository`: the prefix every image of the package is pushed under, and who set it.
    pub repository: Option<(String, Origin)>,
    /// `strip`: passed to cargo for the profile (one value for the whole build).
    pub strip: Option<super::strip::Strip>,
    /// How our layers are compressed (gzip unless a layer says otherwise).
    pub compression: crate::layer::Compression,
}

/// One target and what it is built on and with.
#[derive(Clone, Debug)]
pub struct TargetSettings {
    pub target: Target,
    pub base: ImageName,
    /// The `backend` asked for (`None`: choose automatically).
    pub backend: Option<super::BackendRequest>,
}

/// The package being configured: where it is and which binaries it has.
pub struct PackageContext<'a> {
    pub name: &'a str,
    pub bins: &'a [String],
}

/// The topmost layer that sets a key, with its origin.
fn top<'a, T: ?Sized>(
    layers: &'a [Layer],
    get: impl Fn(&'a OciConfig) -> Option<&'a T>,
) -> Option<(&'a T, &'a Origin)> {
    layers.iter().rev().find_map(|l| get(&l.config).map(|v| (v, &l.origin)))
}

/// A table merged key by key, upper layers winning.
fn merged<'a>(
    layers: &'a [Layer],
    get: impl Fn(&'a OciConfig) -> Option<&'a BTreeMap<String, String>>,
) -> BTreeMap<String, (String, &'a Origin)> {
    let mut out = BTreeMap::new();
    for l in layers {
        for (k, v) in get(&l.config).into_iter().flatten() {
            out.insert(k.clone(), (v.clone(), &l.origin));
        }
    }
    out
}

pub fn resolve(layers: &[Layer], package: &PackageContext<'_>, facts: &Facts) -> Result<Settings, PlanError> {
    let env = facts.env();
    let targets = targets(layers, env)?;

    let mut tags = Vec::new();
    if let Some((list, origin)) = top(layers, |c| c.tags.as_ref()) {
        for (i, t) in list.iter().enumerate() {
            match (super::resolve::check_tag(t), origin) {
                (Ok(t), _) => tags.push(t),
                (Err(e), Origin::CommandLine) => return Err(e),
                (Err(e), _) => {
                    return Err(origin
                        .invalid(&KeyPath::key("tags").at(i), e.to_string(), "e.g. `tags = [\"1.2.3\", \"latest\"]`")
                        .into())
                }
            }
        }
    }

    let bins = match top(layers, |c| c.bins.as_ref()) {
        None => None,
        Some((_, origin @ Origin::Manifest(m))) if m.section == super::config::Section::Workspace => {
            return Err(origin
                .invalid(
                    &KeyPath::key("bins"),
                    "`bins` names binaries of one package",
                    "move it to that package's [package.metadata.oci]",
                )
                .into())
        }
        Some((list, origin)) => Some(check_bins(list, origin, package)?),
    };

    let non_empty_list = |key: &str, v: Option<(&Vec<String>, &Origin)>| -> Result<Option<Vec<String>>, PlanError> {
        match v {
            Some((list, origin)) if list.is_empty() || list.iter().any(String::is_empty) => Err(origin
                .invalid(
                    &KeyPath::key(key),
                    format!("`{key}` needs a non-empty program and arguments"),
                    "e.g. `entrypoint = [\"/usr/local/bin/api\", \"--serve\"]`",
                )
                .into()),
            other => Ok(other.map(|(l, _)| l.clone())),
        }
    };
    let entrypoint = non_empty_list("entrypoint", top(layers, |c| c.entrypoint.as_ref()))?;
    let cmd = top(layers, |c| c.cmd.as_ref()).map(|(l, _)| l.clone());

    let mut env_vars = BTreeMap::new();
    for (k, (v, origin)) in merged(layers, |c| c.env.as_ref()) {
        if k.contains('=') || k.is_empty() {
            let hint = "environment variable names have no `=`: `env = { RUST_LOG = \"info\" }`";
            return Err(origin
                .invalid(&KeyPath::key("env").then(&k), format!("`{k}` is not a variable name"), hint)
                .into());
        }
        env_vars.insert(k, v);
    }
    let plain = |m: BTreeMap<String, (String, &Origin)>| m.into_iter().map(|(k, (v, _))| (k, v)).collect();

    let user = top(layers, |c| c.user.as_ref()).map(|(u, origin)| non_empty("user", u, origin)).transpose()?;
    let workdir = top(layers, |c| c.workdir.as_ref()).map(|(w, origin)| absolute("workdir", w, origin)).transpose()?;
    let bin_dir = match top(layers, |c| c.bin_dir.as_ref()) {
        Some((d, origin)) => absolute("bin-dir", d, origin)?,
        None => DEFAULT_BIN_DIR.to_string(),
    };

    let mut exposed_ports = Vec::new();
    if let Some((ports, origin)) = top(layers, |c| c.exposed_ports.as_ref()) {
        for (i, p) in ports.iter().enumerate() {
            let port = parse_port(p).map_err(|why| {
                origin.invalid(
                    &KeyPath::key("exposed-ports").at(i),
                    why,
                    "write ports as `8080/tcp`, `53/udp` or `8080` (tcp)",
                )
            })?;
            if !exposed_ports.contains(&port) {
                exposed_ports.push(port);
            }
        }
        exposed_ports.sort();
    }

    let files = match top(layers, |c| c.files.as_ref()) {
        Some((specs, origin)) => files::resolve(specs, origin, &env.cwd, facts)?,
        None => Vec::new(),
    };

    let stop_signal = match top(layers, |c| c.stop_signal.as_ref()) {
        Some((sig, origin)) => Some(super::signal::stop_signal(sig).map_err(|why| {
            let hint = match origin {
                Origin::CommandLine => "e.g. `--stop-signal SIGINT` (a name, with or without SIG, or a number)",
                _ => "e.g. `stop-signal = \"SIGINT\"` (a name, with or without SIG, or a number)",
            };
            origin.invalid(&KeyPath::key("stop-signal"), why, hint)
        })?),
        None => None,
    };
    let mut volumes = Vec::new();
    if let Some((list, origin)) = top(layers, |c| c.volumes.as_ref()) {
        for v in list {
            volumes.push(absolute("volumes", v, origin)?);
        }
        volumes.sort();
        volumes.dedup();
    }

    Ok(Settings {
        targets,
        tags,
        bins,
        entrypoint,
        cmd,
        env: env_vars,
        user,
        workdir,
        exposed_ports,
        labels: plain(merged(layers, |c| c.labels.as_ref())),
        annotations: plain(merged(layers, |c| c.annotations.as_ref())),
        bin_dir,
        files,
        init: top(layers, |c| c.init.as_ref()).is_some_and(|(on, _)| *on),
        stop_signal,
        volumes,
        auditable: top(layers, |c| c.auditable.as_ref()).is_none_or(|(on, _)| *on),
        repository: top(layers, |c| c.repository.as_ref()).map(|(r, o)| (r.clone(), o.clone())),
        strip: top(layers, |c| c.strip.as_ref()).map(|(s, _)| *s),
        compression: top(layers, |c| c.compression.as_ref()).map(|(c, _)| *c).unwrap_or_default(),
    })
}

/// Targets, then each target's base and backend: a layer's `target.<triple>` table overrides
/// that layer's own keys, then workspace < package < command line.
fn targets(layers: &[Layer], env: &crate::env::Env) -> Result<Vec<TargetSettings>, PlanError> {
    let targets = match top(layers, |c| c.targets.as_ref()) {
        None => parse_targets(DEFAULT_TARGETS)?,
        Some((list, origin)) => {
            let targets = parse_targets(list).map_err(|e| unknown_target(e, origin, KeyPath::key("targets")))?;
            if targets.is_empty() {
                return Err(no_targets(origin));
            }
            targets
        }
    };
    // Each layer's per-target tables, by the triple their key names.
    let mut per_target: Vec<BTreeMap<String, &TargetConfig>> = Vec::new();
    for l in layers {
        let mut m = BTreeMap::new();
        for (name, t) in l.config.target.iter().flatten() {
            let target =
                Target::parse(name).map_err(|e| unknown_target(e, &l.origin, KeyPath::key("target").then(name)))?;
            m.insert(target.triple, t);
        }
        per_target.push(m);
    }
    let mut out = Vec::new();
    for target in targets {
        let base = match pick(layers, &per_target, &target.triple, |c| c.base.as_ref(), |t| t.base.as_ref()) {
            None => ImageName::Static,
            Some((b, origin, specific)) => {
                let mut here = env.clone();
                here.cwd = origin.dir(&env.cwd).to_path_buf();
                let key = if specific {
                    KeyPath::key("target").then(&target.triple).then("base")
                } else {
                    KeyPath::key("base")
                };
                match (base::parse_base(&b, &here), origin) {
                    (Ok(b), _) => b,
                    (Err(e), Origin::CommandLine) => return Err(e),
                    (Err(e), _) => return Err(origin.invalid(&key, e.to_string(), e.hints().join("; ")).into()),
                }
            }
        };
        let backend = pick(layers, &per_target, &target.triple, |c| c.backend.as_ref(), |t| t.backend.as_ref())
            .map(|(b, _, _)| b);
        out.push(TargetSettings { target, base, backend });
    }
    Ok(out)
}

/// The topmost layer's value of a key for `triple`: its `target.<triple>` table's, else its own;
/// with the layer's origin and whether it came from the per-target table.
fn pick<'a, T: Clone + 'a>(
    layers: &'a [Layer],
    per_target: &[BTreeMap<String, &'a TargetConfig>],
    triple: &str,
    get: impl Fn(&'a OciConfig) -> Option<&'a T>,
    get_t: impl Fn(&'a TargetConfig) -> Option<&'a T>,
) -> Option<(T, &'a Origin, bool)> {
    layers.iter().zip(per_target).rev().find_map(|(l, pt)| {
        let specific = pt.get(triple).and_then(|t| get_t(t)).map(|v| (v, true));
        specific.or_else(|| get(&l.config).map(|v| (v, false))).map(|(v, specific)| (v.clone(), &l.origin, specific))
    })
}

/// `--target ''`, `--target ,`, `targets = []`: an index with no image would be written (or
/// pushed over an existing tag) with exit 0, so it is refused wherever it is said.
fn no_targets(origin: &Origin) -> PlanError {
    match origin {
        Origin::CommandLine => PlanError::NoTargets,
        _ => origin
            .invalid(
                &KeyPath::key("targets"),
                "`targets` lists no target",
                format!(
                    "name at least one, e.g. `targets = [\"x86_64\", \"aarch64\"]` ({}), or remove the key for the default",
                    UnknownTarget::known_names()
                ),
            )
            .into(),
    }
}

fn unknown_target(e: UnknownTarget, origin: &Origin, key: KeyPath) -> PlanError {
    match origin {
        Origin::CommandLine => e.into(),
        _ => origin
            .invalid(
                &key,
                e.to_string(),
                format!(
                    "use one of {}, or a full triple such as aarch64-unknown-linux-musl",
                    UnknownTarget::known_names()
                ),
            )
            .into(),
    }
}

fn check_bins(list: &[String], origin: &Origin, package: &PackageContext<'_>) -> Result<Vec<String>, PlanError> {
    if list.is_empty() {
        return Err(origin
            .invalid(
                &KeyPath::key("bins"),
                "`bins` is empty",
                "name the binaries this image holds: `bins = [\"api\", \"worker\"]`",
            )
            .into());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, b) in list.iter().enumerate() {
        if !package.bins.contains(b) {
            let why = format!("package `{}` has no binary named `{b}`", package.name);
            return Err(origin
                .invalid(
                    &KeyPath::key("bins").at(i),
                    why,
                    format!("binaries in this package: {}", package.bins.join(", ")),
                )
                .into());
        }
        if !out.contains(b) {
            out.push(b.clone());
        }
    }
    Ok(out)
}

fn non_empty(key: &str, v: &str, origin: &Origin) -> Result<String, PlanError> {
    if v.trim().is_empty() {
        return Err(origin
            .invalid(&KeyPath::key(key), format!("`{key}` is empty"), format!("e.g. `{key} = \"65532:65532\"`"))
            .into());
    }
    Ok(v.to_string())
}

/// An absolute, normalised path in the image.
fn absolute(key: &str, v: &str, origin: &Origin) -> Result<String, PlanError> {
    let hint = || match origin {
        Origin::CommandLine => format!("e.g. `{} /data`", flag_of(key)),
        _ => format!("e.g. `{key} = \"/data\"`"),
    };
    if !v.starts_with('/') {
        return Err(origin.invalid(&KeyPath::key(key), format!("`{v}` is not an absolute path"), hint()).into());
    }
    let n = crate::layer::normalize(v).map_err(|why| origin.invalid(&KeyPath::key(key), why, hint()))?;
    Ok(format!("/{n}"))
}

/// `8080/tcp`, `53/udp`, `9/sctp`; a bare `8080` means tcp.
pub fn parse_port(p: &str) -> Result<String, String> {
    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let ok_num = num.parse::<u16>().is_ok_and(|n| n > 0) && !num.starts_with('0');
    if !ok_num || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!("`{p}` is not a port (1-65535, then /tcp, /udp or /sctp)"));
    }
    Ok(format!("{num}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("8080").unwrap(), "8080/tcp");
        assert_eq!(parse_port("53/UDP").unwrap(), "53/udp");
        for bad in ["0", "65536", "80/http", "x/tcp", "", "080"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    fn layer(toml_text: &str) -> Layer {
        let text = format!("[package]\nname = \"p\"\nversion = \"0.1.0\"\n[package.metadata.oci]\n{toml_text}");
        let dir = std::env::temp_dir();
        let config =
            super::super::config::parse_text(&dir.join("Cargo.toml"), super::super::config::Section::Package, &text)
                .unwrap();
        Layer { config, origin: Origin::CommandLine }
    }

    fn settings(layers: &[Layer]) -> Result<Settings, PlanError> {
        let bins = ["api".to_string(), "worker".to_string()];
        let facts = Facts::new(&crate::env::Env::from_pairs("/".into(), []));
        resolve(layers, &PackageContext { name: "p", bins: &bins }, &facts)
    }

    #[test]
    fn upper_layers_win_and_tables_merge() {
        let ws = layer(
            "user = \"1\"\nenv = { A = \"ws\", B = \"ws\" }\nexposed-ports = [\"80\"]\ntargets = [\"aarch64\"]\n",
        );
        let pkg = layer("env = { B = \"pkg\" }\nexposed-ports = [\"443/tcp\", \"80/tcp\"]\n");
        let s = settings(&[ws, pkg]).unwrap();
        assert_eq!(s.user.as_deref(), Some("1"));
        assert_eq!(s.env, BTreeMap::from([("A".into(), "ws".into()), ("B".into(), "pkg".into())]));
        assert_eq!(s.exposed_ports, ["443/tcp", "80/tcp"]);
        assert_eq!(s.targets.len(), 1);
        assert_eq!(s.bin_dir, "/usr/local/bin");
    }

    #[test]
    fn per_target_tables_override_their_own_layer_only() {
        let ws = layer("target.aarch64 = { base = \"scratch\", backend = \"zigbuild\" }\n");
        let s = settings(std::slice::from_ref(&ws)).unwrap();
        let by: BTreeMap<_, _> = s.targets.iter().map(|t| (t.target.triple.as_str(), t)).collect();
        assert_eq!(by["aarch64-unknown-linux-musl"].base, ImageName::Scratch);
        assert_eq!(by["aarch64-unknown-linux-musl"].backend, Some(super::super::BackendRequest::Zigbuild));
        assert_eq!(by["x86_64-unknown-linux-musl"].base, ImageName::Static);
        assert_eq!(by["x86_64-unknown-linux-musl"].backend, None);
        // The package's general `base` beats the workspace's per-target one.
        let s = settings(&[ws, layer("base = \"static\"\n")]).unwrap();
        assert!(s.targets.iter().all(|t| t.base == ImageName::Static));
    }

    #[test]
    fn bins_are_checked() {
        assert_eq!(settings(&[layer("bins = [\"worker\", \"api\"]\n")]).unwrap().bins.unwrap(), ["worker", "api"]);
        let e = settings(&[layer("bins = [\"nope\"]\n")]).unwrap_err();
        assert_eq!(e.to_string(), "`--bin` is invalid: package `p` has no binary named `nope`");
    }

    #[test]
    fn paths_in_the_image_are_absolute() {
        let e = settings(&[layer("workdir = \"data\"\n")]).unwrap_err();
        assert_eq!(e.to_string(), "`--workdir` is invalid: `data` is not an absolute path");
        assert_eq!(settings(&[layer("bin-dir = \"/opt//bin/\"\n")]).unwrap().bin_dir, "/opt/bin");
    }
}
