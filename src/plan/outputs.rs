//! Where each image goes: the OCI layout, a registry (`--push`), an oci-archive (`--tar`), a
//! local engine (`--load`), and in which media types (`--media-types`); each image's
//! destinations, in the order they are written. Whether they can be written is `preflight`'s to
//! check.

use std::path::PathBuf;

use serde::Serialize;

use super::{ImagePlan, Request};
use crate::env::{Env, EnvVars};
use crate::oci::{Destination, LoadEngine, LocalName, MediaFamily, Platform, Reference};

/// What the output flags ask for, for every image of a build.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Write the OCI layout at the image's `output` (off when only pushing or archiving,
    /// unless `--output` is given too).
    pub layout: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<PushPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tar: Option<PathBuf>,
    /// `--media-types`; none keeps the base's family (a Docker-typed base gives Docker types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_types: Option<MediaFamily>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadPlan>,
    /// `--output` was given: the layout is written even when the image is pushed.
    #[serde(skip)]
    pub output: bool,
}

/// `--load[=ENGINE]`: which engine, and where Docker's API is asked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LoadPlan {
    pub engine: LoadEngine,
    pub docker_socket: PathBuf,
}

/// Where Docker listens when `DOCKER_HOST` is unset.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// `--push REF`: the repository and every tag it gets.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PushPlan {
    pub repository: Reference,
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error("`--{flag}` names one image, but this package has {} binaries: {}", bins.len(), bins.join(", "))]
    SeveralImages { flag: &'static str, bins: Vec<String> },
    #[error("cannot push to `{reference}`: a push names a repository and tags, not a digest")]
    PushToDigest { reference: String },
    #[error("no tag to push `{image}` as")]
    NoTag { image: String },
    /// `--push=false`, `--push true`: a habit from flags that take booleans (buildx's
    /// `--push`, `--load`); taken as a reference it would push to `docker.io/library/false`.
    #[error("`--{flag}` takes {takes}, not `{value}`")]
    Boolean { flag: &'static str, takes: &'static str, value: String },
    #[error("`--load={name}`: there is no such engine")]
    UnknownEngine { name: String },
    #[error("`--load` reaches Docker on a unix socket only, and DOCKER_HOST is `{host}`")]
    DockerHost { host: String },
}

impl OutputsError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            OutputsError::SeveralImages { flag, bins } => {
                vec![format!(
                    "pick one binary: `--bin {} --{flag} …`",
                    bins.first().map(String::as_str).unwrap_or("NAME")
                )]
            }
            OutputsError::PushToDigest { .. } => vec!["push to a tag: `--push REGISTRY/REPO:TAG`".into()],
            OutputsError::NoTag { .. } => vec!["name one: `cargo oci push SOURCE REGISTRY/REPO:TAG`".into()],
            OutputsError::Boolean { flag, .. } if *flag == "load" => {
                vec!["leave `--load` out to not load; `--load` alone loads into whichever engine answers, \
                 `--load=docker|podman|containerd` into that one"
                    .into()]
            }
            OutputsError::UnknownEngine { .. } => {
                vec!["`--load` alone loads into whichever engine answers; or name one: `--load=docker`, `--load=podman`, `--load=containerd`".into()]
            }
            OutputsError::DockerHost { .. } => {
                vec!["set `DOCKER_HOST=unix:///PATH/docker.sock`, or write an archive and load it: \
                 `--tar image.tar`, then `docker load -i image.tar`"
                    .into()]
            }
            OutputsError::Boolean { flag, .. } => vec![format!(
                "leave `--{flag}` out to not push; to push, name where: `--{flag} REGISTRY/REPO:TAG`, \
                 or `--repository REGISTRY/PREFIX` for every image"
            )],
        }
    }
}

/// A push destination from the command line: `REF` (never by digest) and the tags it gets: REF's
/// own tag, then each of `extra`, else `fallback`. `what` names the image for the error.
pub fn push_destination(
    reference: &str,
    extra: &[String],
    fallback: &[String],
    what: &str,
) -> Result<PushPlan, super::PlanError> {
    refuse_boolean("push", "an image reference `REGISTRY/REPO[:TAG]`", reference)?;
    let parsed = Reference::parse(reference.strip_prefix("docker://").unwrap_or(reference))?;
    if parsed.digest.is_some() {
        return Err(OutputsError::PushToDigest { reference: reference.into() }.into());
    }
    let mut tags: Vec<String> = parsed.tag.iter().cloned().collect();
    for t in extra {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    if tags.is_empty() {
        tags.extend(fallback.iter().cloned());
    }
    if let Some(bad) = tags.iter().find(|t| !crate::oci::name::is_tag(t)) {
        return Err(super::PlanError::InvalidTag { tag: bad.clone() });
    }
    if tags.is_empty() {
        return Err(OutputsError::NoTag { image: what.into() }.into());
    }
    Ok(PushPlan { repository: Reference { tag: None, ..parsed }, tags })
}

/// Refuses `true`/`false` (and their usual spellings) where a flag takes a name.
pub fn refuse_boolean(flag: &'static str, takes: &'static str, value: &str) -> Result<(), OutputsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "false" | "yes" | "no" | "on" | "off" | "0" | "1" => {
            Err(OutputsError::Boolean { flag, takes, value: value.into() })
        }
        _ => Ok(()),
    }
}

/// Resolves the output flags for the images (`bins`: their names).
/// `fallback_tags`: the image's tags (`--tag`, else `tags` in Cargo.toml, else the version), used
/// when the push reference names no tag.
pub fn resolve(
    args: &Request,
    env: &Env,
    bins: &[String],
    fallback_tags: &[String],
) -> Result<Outputs, super::PlanError> {
    let one = |flag: &'static str| {
        if bins.len() > 1 {
            Err(OutputsError::SeveralImages { flag, bins: bins.to_vec() })
        } else {
            Ok(())
        }
    };
    let push = match &args.push {
        Some(r) => {
            one("push")?;
            Some(push_destination(r, &args.tags, fallback_tags, bins.first().map_or("the image", String::as_str))?)
        }
        None => None,
    };
    let tar = match &args.tar {
        Some(t) => {
            one("tar")?;
            Some(env.cwd.join(t))
        }
        None => None,
    };
    let load = match &args.load {
        Some(engine) => Some(LoadPlan { engine: load_engine(engine)?, docker_socket: docker_socket(env)? }),
        None => None,
    };
    Ok(Outputs {
        layout: args.output.is_some() || (push.is_none() && tar.is_none() && load.is_none()),
        push,
        tar,
        media_types: args.media_types,
        load,
        output: args.output.is_some(),
    })
}

/// `--load=ENGINE`.
fn load_engine(name: &str) -> Result<LoadEngine, OutputsError> {
    refuse_boolean("load", "an engine (`docker`, `podman`, `containerd`) or nothing", name)?;
    match name {
        "" | "auto" => Ok(LoadEngine::Auto),
        "docker" => Ok(LoadEngine::Docker),
        "podman" => Ok(LoadEngine::Podman),
        "containerd" | "ctr" => Ok(LoadEngine::Containerd),
        _ => Err(OutputsError::UnknownEngine { name: name.into() }),
    }
}

/// `DOCKER_HOST=unix://PATH`, else Docker's default socket.
fn docker_socket(env: &Env) -> Result<PathBuf, OutputsError> {
    match env.get(EnvVars::DOCKER_HOST) {
        None => Ok(DOCKER_SOCKET.into()),
        Some(h) => match h.strip_prefix("unix://") {
            Some(path) => Ok(path.into()),
            None => Err(OutputsError::DockerHost { host: h.into() }),
        },
    }
}

impl Outputs {
    /// Where `image` goes: its layout (at `output`, under its tags; `gc` after writing), an
    /// oci-archive under its first tag, a local engine, a registry (mounting from its base on
    /// the same registry). `repository`: the image's `PREFIX/<image>` (`--repository`), pushed
    /// under every tag unless `--push` names where this image goes.
    pub fn destinations(&self, image: &ImagePlan, gc: bool, repository: Option<&Reference>) -> Vec<Destination> {
        let push = self
            .push
            .clone()
            .or_else(|| repository.map(|r| PushPlan { repository: r.clone(), tags: image.tags.clone() }));
        let mut out = Vec::new();
        // A push by `repository` replaces the layout as `--push` does, unless `--output` is given.
        if self.layout && (self.output || push.is_none()) {
            out.push(Destination::Layout { path: image.output.clone(), tags: image.tags.clone(), gc });
        }
        if let Some(path) = &self.tar {
            // Under the name's tag, so skopeo's `oci-archive:FILE:TAG` and the engines agree.
            let name = local_name(image, push.as_ref());
            let tag = name.reference.tag.clone().unwrap_or_else(|| image.tags[0].clone());
            out.push(Destination::Archive { path: path.clone(), tag, name });
        }
        if let Some(l) = &self.load {
            let (engine, docker_socket) = (l.engine, l.docker_socket.clone());
            out.push(Destination::Load { engine, name: local_name(image, push.as_ref()), docker_socket });
        }
        if let Some(p) = &push {
            let base = image.registry_base().filter(|b| b.registry == p.repository.registry);
            out.push(p.destination(base.cloned()));
        }
        out
    }
}

/// The name `image` gets in a local engine: the push reference (with its first tag) if
/// there is one, else `<image>:<tag>` (Docker Hub's namespace, as `docker build -t` names
/// it). The docker-archive platform: the host's, when the image has it, else its first — an
/// engine that keeps one platform per name runs the host's.
pub fn local_name(image: &ImagePlan, push: Option<&PushPlan>) -> LocalName {
    let tag = &image.tags[0];
    let reference = match push {
        Some(p) => p.repository.with_tag(p.tags.first().unwrap_or(tag)),
        None => {
            let repo = image.name.to_ascii_lowercase();
            Reference::parse(&format!("{repo}:{tag}")).unwrap_or(Reference {
                registry: crate::oci::name::DOCKER_HUB.into(),
                repository: format!("library/{repo}"),
                tag: Some(tag.clone()),
                digest: None,
            })
        }
    };
    let host = super::target::Target::parse(std::env::consts::ARCH).ok().map(|t| t.platform);
    let platforms: Vec<&Platform> = image.targets.iter().map(|t| &t.target.platform).collect();
    let platform = host
        .filter(|h| platforms.iter().any(|p| p.matches(h)))
        .or_else(|| platforms.first().map(|p| (*p).clone()))
        .unwrap_or_else(|| Platform::new("linux", "amd64", None));
    LocalName { reference, platform }
}

impl PushPlan {
    /// The registry destination; `mount_from` is a repository whose blobs may be mounted.
    pub fn destination(&self, mount_from: Option<Reference>) -> Destination {
        Destination::Registry { repository: self.repository.clone(), tags: self.tags.clone(), mount_from }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn outputs(args: Request, bins: &[&str]) -> Result<Outputs, super::super::PlanError> {
        let bins: Vec<String> = bins.iter().map(|b| b.to_string()).collect();
        resolve(&args, &Env::from_pairs("/tmp".into(), []), &bins, &["0.1.0".to_string()])
    }

    #[test]
    fn push_tags_come_from_the_reference_then_the_tag_flags_then_the_version() {
        let push = |r: &str, tags: &[&str]| {
            let args = Request {
                push: Some(r.into()),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            };
            outputs(args, &["app"]).unwrap().push.unwrap()
        };
        let p = push("127.0.0.1:5000/app:1", &["extra", "1"]);
        assert_eq!((p.repository.to_string(), p.tags), ("127.0.0.1:5000/app".into(), vec!["1".into(), "extra".into()]));
        assert_eq!(push("ghcr.io/o/app", &[]).tags, ["0.1.0"]);
        assert_eq!(push("docker://ghcr.io/o/app", &["a"]).tags, ["a"]);
    }

    #[test]
    fn docker_host_is_a_unix_socket() {
        let env = |v: &str| Env::from_pairs("/tmp".into(), [("DOCKER_HOST", v)]);
        assert_eq!(
            docker_socket(&env("unix:///run/user/1/docker.sock")).unwrap(),
            Path::new("/run/user/1/docker.sock")
        );
        assert_eq!(docker_socket(&env("")).unwrap(), Path::new(DOCKER_SOCKET));
        let e = docker_socket(&env("tcp://10.0.0.1:2375")).unwrap_err();
        assert!(e.hints()[0].contains("--tar image.tar"), "{:?}", e.hints());
    }

    #[test]
    fn which_sinks_are_written() {
        assert!(outputs(Request::default(), &["a"]).unwrap().layout);
        let push_only = Request { push: Some("r.io/a:1".into()), ..Default::default() };
        assert!(!outputs(push_only.clone(), &["a"]).unwrap().layout);
        let both = Request { output: Some("lay".into()), ..push_only.clone() };
        assert!(outputs(both, &["a"]).unwrap().layout);
        let e = outputs(push_only, &["a", "b"]).unwrap_err().to_string();
        assert_eq!(e, "`--push` names one image, but this package has 2 binaries: a, b");
        let load = Request { load: Some("auto".into()), ..Default::default() };
        assert!(!outputs(load, &["a"]).unwrap().layout, "--load alone writes no layout");
        for (typed, engine) in [("", LoadEngine::Auto), ("docker", LoadEngine::Docker), ("ctr", LoadEngine::Containerd)]
        {
            let load = Request { load: Some(typed.into()), ..Default::default() };
            assert_eq!(outputs(load, &["a"]).unwrap().load.unwrap().engine, engine);
        }
        let e = outputs(Request { load: Some("false".into()), ..Default::default() }, &["a"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`--load` takes an engine (`docker`, `podman`, `containerd`) or nothing, not `false`"
        );
        let e = outputs(Request { load: Some("rkt".into()), ..Default::default() }, &["a"]).unwrap_err();
        assert_eq!(e.to_string(), "`--load=rkt`: there is no such engine");
        let pinned = Request { push: Some(format!("r.io/a@sha256:{}", "0".repeat(64))), ..Default::default() };
        assert!(outputs(pinned, &["a"]).is_err());
        for no in ["false", "true", "FALSE", "0"] {
            let e = outputs(Request { push: Some(no.into()), ..Default::default() }, &["a"]).unwrap_err().to_string();
            assert_eq!(e, format!("`--push` takes an image reference `REGISTRY/REPO[:TAG]`, not `{no}`"));
        }
    }
}
