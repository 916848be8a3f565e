//! What can go wrong talking to a registry, which failures another attempt may cure
//! ([`RegistryError::temporary`], go-containerregistry's `Error.Temporary` as the model), and the
//! hint that fixes each.

use std::path::PathBuf;
use std::time::Duration;

/// Talking to a registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("failed to {op} {url}{}", proxy.as_ref().map(|p| format!(" through the proxy {p}")).unwrap_or_default())]
    Transport {
        op: String,
        url: String,
        /// The proxy the request went through (credentials redacted), if any.
        proxy: Option<String>,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("cannot reach {host} over HTTPS or plain HTTP")]
    Unreachable {
        host: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{op} {url}: the registry answered {status}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Status {
        op: String,
        url: String,
        status: u16,
        detail: String,
        /// The `errors[].code` values of the registry's answer (`TAG_INVALID`, `DENIED`, …).
        codes: Vec<String>,
        retry_after: Option<Duration>,
    },
    #[error("{registry} requires authentication for {scope}, and no credentials were found for it")]
    AuthRequired { registry: String, scope: String },
    #[error("{registry} refused the {} for {scope}", if *had_credentials { "credentials" } else { "anonymous request" })]
    Unauthorized { registry: String, scope: String, had_credentials: bool },
    #[error("failed to get a token from {realm} for {registry}")]
    Token {
        realm: String,
        registry: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("refusing to send credentials over plain HTTP to {realm}")]
    PlainRealm { realm: String },
    #[error("refusing the token realm `{realm}` of {registry}: {why}")]
    BadRealm { realm: String, registry: String, why: String },
    #[error("{var}=`{value}` is not a usable proxy: {why}")]
    BadProxy { var: String, value: String, why: String },
    #[error("failed to read `{}`", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a valid registry credentials file", path.display())]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the `auth` entry for {registry} in `{}` is not base64 of `user:password`", path.display())]
    BadAuthEntry { path: PathBuf, registry: String },
    #[error("credential helper `{helper}` is configured but not on PATH")]
    HelperMissing { helper: String },
    #[error("credential helper `{helper}` failed")]
    Helper {
        helper: String,
        #[source]
        source: crate::process::ProcessError,
    },
    #[error("credential helper `{helper}` did not answer with its JSON")]
    HelperReply {
        helper: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to read CA certificates from `{}`", path.display())]
    CaCert {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} from {url} is larger than {limit} bytes")]
    TooLarge { what: String, url: String, limit: u64 },
    #[error("{url} answered {what} where {wanted} was asked for")]
    Unexpected { url: String, what: String, wanted: String },
    #[error("cannot push to `{reference}`: a push names a repository and tags, not a digest")]
    PushToDigest { reference: String },
    #[error("failed to read {what} for the upload to {url}")]
    ReadBlob {
        what: String,
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to download {what} from {url}")]
    Download {
        what: String,
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} asked for credentials again in the middle of an upload")]
    Reauthorized { url: String },
    #[error("the registry refuses to move the tag `{tag}`: the repository's tags are immutable")]
    ImmutableTag {
        tag: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// A failure after a tag was published: the image is there, something else is not.
    #[error("the image is pushed ({}); {missing}", pushed.join(", "))]
    PartlyPushed {
        /// `REGISTRY/REPO:TAG` of every tag that points at the image now.
        pushed: Vec<String>,
        /// What is not, as a clause: "its attestations are not", "`REGISTRY/REPO:latest` is not".
        missing: String,
        #[source]
        source: Box<RegistryError>,
    },
}

/// Statuses another attempt may cure (go-containerregistry's `temporaryStatusCodes`, plus 429).
const TEMPORARY_STATUSES: &[u16] = &[408, 429, 500, 502, 503, 504];

impl RegistryError {
    /// `Some(wait)` when another attempt may succeed (connection errors, 408/429/5xx gateway and
    /// availability answers), with the registry's `Retry-After` if it sent one.
    pub fn temporary(&self) -> Option<Option<Duration>> {
        match self {
            RegistryError::Transport { source, .. } => match source.as_ref() {
                // Nothing listens there (a stopped registry, a dead proxy): another attempt will
                // not change that (Go's ECONNREFUSED is not Temporary either).
                ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => None,
                ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::Timeout(_)
                | ureq::Error::Protocol(_) => Some(None),
                _ => None,
            },
            RegistryError::Status { status, retry_after, .. } if TEMPORARY_STATUSES.contains(status) => {
                Some(*retry_after)
            }
            // A token that expired during a long upload: renewed, the session starts again.
            RegistryError::Reauthorized { .. } => Some(None),
            // A blob read from a registry that broke off mid-stream.
            RegistryError::ReadBlob { source, .. } | RegistryError::Download { source, .. }
                if source.kind() != std::io::ErrorKind::InvalidData =>
            {
                Some(None)
            }
            _ => None,
        }
    }

    /// The HTTP status of a refusal, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A refusal to overwrite a tag because the repository's tags are immutable (ECR answers
    /// `400 TAG_INVALID … cannot be overwritten because the repository is immutable`, see
    /// aws/containers-roadmap#862; others `409 TAG_IMMUTABLE` or `412`).
    pub fn is_immutable_refusal(&self) -> bool {
        match self {
            RegistryError::Status { status, codes, detail, .. } => {
                matches!(status, 400 | 403 | 409 | 412)
                    && (codes.iter().any(|c| c == "TAG_IMMUTABLE") || detail.to_ascii_lowercase().contains("immutable"))
            }
            _ => false,
        }
    }

    /// Whether [`RegistryError::hints`] already stands for its cause's: cannot-reach keeps the
    /// probe's hints except the plain-HTTP one, which would be wrong advice there.
    pub fn covers_cause(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }

    /// The fixes this error knows; those of its causes are added by `error::hints`.
    pub fn hints(&self) -> Vec<String> {
        match self {
            RegistryError::Transport { source, url, proxy, .. } => {
                let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("HOST");
                let msg = source.to_string();
                if msg.contains("certificate") || msg.contains("UnknownIssuer") {
                    vec![format!(
                        "if {host} uses a private CA, trust it with `--ca-cert CA.pem`, or put it in `/etc/containers/certs.d/{host}/ca.crt`"
                    )]
                } else if let Some(p) = proxy {
                    vec![format!(
                        "check that the proxy {p} is running and reachable, or exempt {host} with `NO_PROXY={}`",
                        host.split(':').next().unwrap_or(host)
                    )]
                } else if msg.contains("corrupt message") || msg.contains("InvalidContentType") {
                    vec![format!("{host} may speak plain HTTP; allow that with `--insecure-registry {host}`")]
                } else {
                    vec![format!("check that {host} is reachable from here")]
                }
            }
            RegistryError::Unreachable { host, source } => {
                let mut h = source.hints();
                h.retain(|h| !h.contains("--insecure-registry"));
                if h.is_empty() {
                    h.push(format!("check that {host} is running and reachable from here"));
                }
                h
            }
            RegistryError::AuthRequired { registry, .. } => vec![format!(
                "log in with `docker login {registry}` or `podman login {registry}`, or pass `--creds USER:PASSWORD`"
            )],
            RegistryError::Unauthorized { registry, had_credentials: true, .. } => vec![format!(
                "check the credentials for {registry} (`--creds`, config.json/auth.json, or its credential helper); `docker login {registry}` refreshes them"
            )],
            RegistryError::Unauthorized { registry, .. } => {
                vec![format!("log in with `docker login {registry}`, or pass `--creds USER:PASSWORD`")]
            }
            RegistryError::BadProxy { var, .. } => vec![format!(
                "set it to a proxy URL such as `{var}=http://proxy.example:3128` (http or https), or unset it"
            )],
            RegistryError::HelperMissing { helper } => {
                vec![format!("install `{helper}` (e.g. amazon-ecr-credential-helper for ECR), or remove it from config.json")]
            }
            RegistryError::ConfigParse { .. } | RegistryError::BadAuthEntry { .. } => {
                vec!["fix the file, or log in again with `docker login` / `podman login`".into()]
            }
            RegistryError::PlainRealm { .. } => {
                vec!["name the token server's host with `--insecure-registry HOST` if plain HTTP is really intended".into()]
            }
            RegistryError::BadRealm { registry, .. } => {
                vec![format!("{registry} sent a token server address cargo-oci will not use; report it to the registry's operator")]
            }
            RegistryError::Status { status: 404, .. } => {
                vec!["check the repository and tag, e.g. with `skopeo inspect docker://REF`".into()]
            }
            RegistryError::Status { status, .. } if TEMPORARY_STATUSES.contains(status) => {
                vec!["the registry is failing or throttling; run again later".into()]
            }
            RegistryError::Download { source, .. } if source.kind() == std::io::ErrorKind::InvalidData => {
                vec!["run again: a download that does not match its digest is never kept; if it persists, the registry's copy is damaged".into()]
            }
            RegistryError::Download { url, .. } => vec![format!(
                "check the connection to {} and run again: the blobs already pulled are kept in the cache",
                url.split('/').next().unwrap_or(url)
            )],
            RegistryError::PushToDigest { .. } => vec!["push to a tag: `--push REGISTRY/REPO:TAG`".into()],
            RegistryError::ImmutableTag { tag, .. } if tag.starts_with("sha256-") => vec![
                "the registry has no referrers API, so attestations are listed under a `sha256-<digest>` tag that must change when new ones are added".into(),
                "allow tag overwrites for this repository, or push to a registry with the OCI referrers API".into(),
            ],
            RegistryError::ImmutableTag { tag, .. } => {
                vec![format!("push under a new tag, or allow overwriting `{tag}` in the repository's settings")]
            }
            RegistryError::PartlyPushed { .. } => {
                vec!["run the same command again: what the registry has is skipped, the rest is pushed".into()]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, codes: &[&str], detail: &str) -> RegistryError {
        RegistryError::Status {
            op: "PUT".into(),
            url: "u".into(),
            status: code,
            detail: detail.into(),
            codes: codes.iter().map(|c| c.to_string()).collect(),
            retry_after: None,
        }
    }

    #[test]
    fn temporary_statuses_are_go_containerregistrys() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(status(s, &[], "").temporary().is_some(), "{s}");
        }
        for s in [400, 401, 404, 413, 416, 501, 505] {
            assert!(status(s, &[], "").temporary().is_none(), "{s}");
        }
    }

    #[test]
    fn immutable_refusals_are_recognised() {
        let ecr = "TAG_INVALID: The image tag 'sha256-ab' already exists in the 'app' repository and cannot be overwritten because the repository is immutable.";
        assert!(status(400, &["TAG_INVALID"], ecr).is_immutable_refusal());
        assert!(status(409, &["TAG_IMMUTABLE"], "").is_immutable_refusal());
        assert!(!status(400, &["MANIFEST_INVALID"], "manifest invalid").is_immutable_refusal());
        assert!(!status(500, &[], "immutable").is_immutable_refusal());
    }

    #[test]
    fn partial_pushes_say_what_is_there() {
        let e = RegistryError::PartlyPushed {
            pushed: vec!["r.io/app:1".into()],
            missing: "its attestations are not".into(),
            source: Box::new(status(503, &[], "")),
        };
        assert_eq!(e.to_string(), "the image is pushed (r.io/app:1); its attestations are not");
        assert!(e.hints().iter().any(|h| h.contains("run the same command again")));
    }
}
