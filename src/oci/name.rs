//! Names of images: registry references as docker spells them (`alpine` →
//! `docker.io/library/alpine:latest`, `host:port/repo:tag`, `repo@sha256:…`, `localhost/repo`), and
//! [`ImageName`], everything cargo-oci reads an image from (`oci:DIR[:TAG]` as skopeo spells it, a
//! registry reference, the built-in bases), and [`Destination`], everything it writes one to.
//!
//! Hand-written: the grammar is docker's `reference` package (a page of regexes); the crates that
//! port it pull in async registries or regex engines we do not otherwise need.

use std::fmt;
use std::path::{Path, PathBuf};

use super::digest::Digest;

/// Where Docker Hub's short names live, and the host its API is served from.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A fully qualified reference: registry, repository, and a tag and/or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct Reference {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`, `localhost`.
    pub registry: String,
    /// `library/alpine`, `org/app`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// A reference that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{reference}` is not a valid image reference: {why}")]
pub struct ReferenceError {
    pub reference: String,
    pub why: String,
}

impl ReferenceError {
    pub fn hints(&self) -> Vec<String> {
        vec!["write it as `[REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST]`, e.g. `ghcr.io/org/app:1.0` or `127.0.0.1:5000/app:1`; repository names are lowercase".into()]
    }
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let bad = |why: &str| ReferenceError { reference: s.to_string(), why: why.to_string() };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|e| bad(&e))?)),
            None => (s, None),
        };
        // A tag is after the last `:` that comes after the last `/` (a port is before a `/`).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !is_tag(t) {
                return Err(bad(&format!("`{t}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)")));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') => {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !is_registry(&registry) {
            return Err(bad(&format!("`{registry}` is not a valid registry host")));
        }
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_string() } else { registry };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository names must be lowercase"));
        }
        if !repository.split('/').all(is_path_component) {
            return Err(bad(
                "repository path components are lowercase letters and digits, separated by `.`, `_`, `__` or dashes",
            ));
        }
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        Ok(Reference { registry, repository, tag: tag.map(String::from), digest })
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.into()), digest: None, ..self.clone() }
    }

    /// What to ask the registry for: the digest if pinned, else the tag (`latest` by default).
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The host (and port) the registry API is served from: Docker Hub's differs from its name.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.to_string()
    }
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !t.starts_with(['.', '-'])
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn is_registry(r: &str) -> bool {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", tail.strip_prefix(':')),
            _ => return false,
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    host_ok && port_ok
}

/// Whether a registry host is on this machine: the only hosts spoken to over plain HTTP
/// without `--insecure-registry`.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || host.parse::<std::net::Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// Where an image is read from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ImageName {
    /// The embedded distroless-static equivalent (a base only).
    Static,
    /// No layers at all (a base only).
    Scratch,
    /// An image in a local OCI layout (`oci:DIR[:TAG]`); `digest`: pinned to that root document
    /// (by `oci.lock`), read from the layout's blobs whatever the tag now points at.
    Layout {
        path: PathBuf,
        tag: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<Digest>,
    },
    /// An image in a registry (`REGISTRY/REPO[:TAG][@DIGEST]`).
    Registry { reference: Reference },
}

/// A name on the command line that is neither `oci:DIR[:TAG]` nor a registry reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{reference}` is not an image reference cargo-oci can read")]
pub struct BadName {
    pub reference: String,
}

impl BadName {
    pub fn hints(&self) -> Vec<String> {
        vec!["name a layout as `oci:DIR:TAG` (skopeo's syntax) or a registry image as `REGISTRY/REPO:TAG`".into()]
    }
}

impl ImageName {
    /// An image named on the command line: `oci:DIR[:TAG]` (relative to `cwd`) or a registry
    /// reference (`[docker://]REGISTRY/REPO[:TAG][@sha256:…]`).
    pub fn parse(name: &str, cwd: &Path) -> Result<ImageName, BadName> {
        if let Some((dir, tag)) = parse_oci_ref(name) {
            return Ok(ImageName::Layout { path: cwd.join(dir), tag, digest: None });
        }
        Reference::parse(name.strip_prefix("docker://").unwrap_or(name))
            .map(|reference| ImageName::Registry { reference })
            .map_err(|_| BadName { reference: name.into() })
    }

    /// The tag it names, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageName::Layout { tag, .. } => tag.as_deref(),
            ImageName::Registry { reference } => reference.tag.as_deref(),
            ImageName::Static | ImageName::Scratch => None,
        }
    }

    /// The registry host, for `--creds`.
    pub fn registry(&self) -> Option<&str> {
        match self {
            ImageName::Registry { reference } => Some(&reference.registry),
            _ => None,
        }
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageName::Static => f.write_str("static"),
            ImageName::Scratch => f.write_str("scratch"),
            ImageName::Layout { path, tag, digest } => {
                write!(f, "oci:{}", path.display())?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                match digest {
                    Some(d) => write!(f, "@{d}"),
                    None => Ok(()),
                }
            }
            ImageName::Registry { reference } => write!(f, "{reference}"),
        }
    }
}

/// Where an image is written, and under which tags.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Destination {
    /// An OCI image layout directory; `gc`: afterwards, remove the blobs no tag reaches.
    Layout { path: PathBuf, tags: Vec<String>, gc: bool },
    /// An oci-archive (a tar of a one-tag layout) that docker, podman, skopeo and `ctr` load
    /// under `name` (see [`LocalName`]).
    Archive { path: PathBuf, tag: String, name: LocalName },
    /// Loaded into a local engine's image store (`--load`), under `name`.
    /// `docker_socket`: where the Docker Engine is asked (`DOCKER_HOST`, else the default).
    Load { engine: LoadEngine, name: LocalName, docker_socket: PathBuf },
    /// A registry repository. `mount_from`: a repository of the same registry whose blobs may be
    /// mounted rather than uploaded (the base's, a merged source's).
    Registry {
        repository: Reference,
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mount_from: Option<Reference>,
    },
}

/// The name an image gets in a local engine (docker, podman, containerd), and the one platform
/// an engine that keeps one platform per name (Docker's classic image store) gets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LocalName {
    /// `REGISTRY/REPO:TAG`, fully qualified (`docker.io/library/app:0.1.0`).
    pub reference: Reference,
    /// The platform of the docker-archive part (`manifest.json`): the host's when the image has
    /// it, else the image's first.
    pub platform: super::Platform,
}

/// `--load[=ENGINE]`: which local engine gets the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadEngine {
    /// Whichever answers first: docker, then podman, then containerd.
    Auto,
    Docker,
    Podman,
    Containerd,
}

impl Reference {
    /// The name as `docker images` shows it: `app:0.1.0` for `docker.io/library/app:0.1.0`.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let short = full.strip_prefix("docker.io/").unwrap_or(&full);
        short.strip_prefix("library/").unwrap_or(short).to_string()
    }
}

/// Parses skopeo's `oci:DIR[:TAG]`: the part after the last `:` is a tag if it has no `/`.
pub fn parse_oci_ref(s: &str) -> Option<(PathBuf, Option<String>)> {
    let rest = s.strip_prefix("oci:")?;
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !tag.is_empty() && !dir.is_empty() => {
            Some((dir.into(), Some(tag.into())))
        }
        _ if !rest.is_empty() => Some((rest.into(), None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oci_refs() {
        assert_eq!(parse_oci_ref("oci:/a/b:v1"), Some(("/a/b".into(), Some("v1".into()))));
        assert_eq!(parse_oci_ref("oci:rel/dir"), Some(("rel/dir".into(), None)));
        assert_eq!(parse_oci_ref("oci:./x:y/z"), Some(("./x:y/z".into(), None)));
        assert_eq!(parse_oci_ref("oci:"), None);
        assert_eq!(parse_oci_ref("docker://x"), None);
    }

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_defaults() {
        assert_eq!(full("alpine"), "docker.io/library/alpine");
        assert_eq!(Reference::parse("alpine").unwrap().target(), "latest");
        assert_eq!(full("alpine:3.20"), "docker.io/library/alpine:3.20");
        assert_eq!(full("user/app"), "docker.io/user/app");
        assert_eq!(full("index.docker.io/library/alpine:1"), "docker.io/library/alpine:1");
        assert_eq!(full("localhost/app"), "localhost/app");
        assert_eq!(full("localhost:5000/a/b:c"), "localhost:5000/a/b:c");
        assert_eq!(full("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
        assert_eq!(full("[::1]:5000/app"), "[::1]:5000/app");
        assert_eq!(full("gcr.io/distroless/static-debian12:nonroot"), "gcr.io/distroless/static-debian12:nonroot");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/o/app:1@{d}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.target()), (Some("1"), d.clone()));
        assert_eq!(Reference::parse("alpine").unwrap().api_host(), "registry-1.docker.io");
    }

    #[test]
    fn bad_references() {
        for bad in [
            "",
            "UPPER/case",
            "app:",
            "app:-x",
            "a//b",
            "host:port:x/app",
            "app@sha256:short",
            "app@md5:00",
            "-app",
            "a/b-",
            "[zz]:1/app",
            "host:99999999/app",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["gcr.io", "10.0.0.1:5000", "[::2]:5000", "localhost.evil.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,2})[a-z0-9]{1,4}){0,2}"
    }

    fn registry() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("docker.io".to_string()),
            Just("localhost".to_string()),
            "[a-z][a-z0-9]{0,6}\\.(io|com)",
            (1u16..65535).prop_map(|p| format!("127.0.0.1:{p}")),
            (1u16..65535).prop_map(|p| format!("[::1]:{p}")),
        ]
    }

    fn reference() -> impl Strategy<Value = Reference> {
        (
            registry(),
            proptest::collection::vec(component(), 1..4),
            proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            proptest::option::of("[0-9a-f]{64}"),
        )
            .prop_map(|(registry, mut path, tag, digest)| {
                if registry == DOCKER_HUB && path.len() == 1 {
                    path.insert(0, "library".into());
                }
                Reference {
                    registry,
                    repository: path.join("/"),
                    tag,
                    digest: digest.map(|h| Digest::parse(&format!("sha256:{h}")).unwrap()),
                }
            })
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(r in reference()) {
            prop_assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn short_hub_names_normalise(name in component(), tag in proptest::option::of("[a-z0-9]{1,8}")) {
            let short = match &tag { Some(t) => format!("{name}:{t}"), None => name.clone() };
            let r = Reference::parse(&short).unwrap();
            prop_assert_eq!(&r.registry, "docker.io");
            prop_assert_eq!(r.repository, format!("library/{name}"));
            prop_assert_eq!(r.tag, tag);
            // The normalised form parses to itself.
            prop_assert_eq!(full(&full(&short)), full(&short));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Reference::parse(&s);
        }
    }
}
