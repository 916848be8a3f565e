//! Where each image goes: the OCI layout, a registry (`--push`), an oci-archive (`--tar`), and
//! in which media types (`--media-types`); each image's destinations, in the order they are
//! written. Whether they can be written is `preflight`'s to check.

use std::path::PathBuf;

use serde::Serialize;

use super::{ImagePlan, Request};
use crate::env::Env;
use crate::oci::{Destination, MediaFamily, Reference};

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
}

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
    Ok(Outputs {
        layout: args.output.is_some() || (push.is_none() && tar.is_none()),
        push,
        tar,
        media_types: args.media_types,
    })
}

impl Outputs {
    /// Where `image` goes: its layout (at `output`, under its tags; `gc` after writing), an
    /// oci-archive under its first tag, a registry (mounting from its base on the same registry).
    pub fn destinations(&self, image: &ImagePlan, gc: bool) -> Vec<Destination> {
        let mut out = Vec::new();
        if self.layout {
            out.push(Destination::Layout { path: image.output.clone(), tags: image.tags.clone(), gc });
        }
        if let Some(path) = &self.tar {
            out.push(Destination::Archive { path: path.clone(), tag: image.tags[0].clone() });
        }
        if let Some(p) = &self.push {
            let base = image.registry_base().filter(|b| b.registry == p.repository.registry);
            out.push(p.destination(base.cloned()));
        }
        out
    }
}

impl PushPlan {
    /// The registry destination; `mount_from` is a repository whose blobs may be mounted.
    pub fn destination(&self, mount_from: Option<Reference>) -> Destination {
        Destination::Registry { repository: self.repository.clone(), tags: self.tags.clone(), mount_from }
    }
}

#[cfg(test)]
mod tests {
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
    fn which_sinks_are_written() {
        assert!(outputs(Request::default(), &["a"]).unwrap().layout);
        let push_only = Request { push: Some("r.io/a:1".into()), ..Default::default() };
        assert!(!outputs(push_only.clone(), &["a"]).unwrap().layout);
        let both = Request { output: Some("lay".into()), ..push_only.clone() };
        assert!(outputs(both, &["a"]).unwrap().layout);
        let e = outputs(push_only, &["a", "b"]).unwrap_err().to_string();
        assert_eq!(e, "`--push` names one image, but this package has 2 binaries: a, b");
        let pinned = Request { push: Some(format!("r.io/a@sha256:{}", "0".repeat(64))), ..Default::default() };
        assert!(outputs(pinned, &["a"]).is_err());
    }
}
