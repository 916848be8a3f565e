//! Registries as a base source and as a sink (the distribution API over HTTP(S)).
//!
//! HTTP stack: `ureq` 3 with rustls, blocking. Our pipeline is synchronous, and a blocking client
//! streams a request body from any `Read` (a file, or another registry's response) with a known
//! `Content-Length`. `oci-client` was considered and not used: it is async (a tokio runtime for
//! a handful of requests) and takes blob bodies as in-memory `Vec<u8>`, so it cannot stream a
//! layer from disk or from another registry, which push must do.

pub mod auth;
pub mod credentials;
pub mod push;
pub mod reference;
pub mod referrers;
pub mod source;
pub mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use credentials::{CredentialSources, Credentials, Secret};
pub use reference::{Reference, ReferenceError};

use crate::env::{Env, EnvVars};
use crate::store::cache::Cache;

/// Flags shared by every command that talks to registries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Credentials `USER:PASSWORD` for the registry pushed to (or the base's registry when not
    /// pushing); otherwise credentials come from docker/podman config files
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// A PEM file of extra CA certificates to trust (repeatable), e.g. a private registry's CA
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Allow plain HTTP (and skip nothing else) for this registry host[:port] (repeatable);
    /// loopback hosts are always allowed
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
}

/// How to reach registries: resolved once from flags and the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub credentials: CredentialSources,
    /// Extra trusted CAs (`--ca-cert`).
    pub ca_certs: Vec<PathBuf>,
    /// The system CA bundle (`SSL_CERT_FILE`, else the first well-known path that exists).
    pub system_roots: Option<PathBuf>,
    /// Hosts that may be spoken to over plain HTTP (`--insecure-registry`), besides loopback.
    pub insecure: Vec<String>,
    pub cache: Option<Arc<Cache>>,
    /// Blobs larger than this are uploaded in PATCH chunks of this size.
    pub chunk_size: u64,
    pub retry: RetryPolicy,
    /// `HTTPS_PROXY`, for registries that are not on this machine.
    pub https_proxy: Option<String>,
}

/// Bounded retries with exponential backoff on connection errors, 5xx and 429.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// The most time spent waiting between attempts of one operation, `Retry-After` included.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            budget: Duration::from_secs(60),
        }
    }
}

/// Default PATCH chunk size: large enough that few layers need several requests.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

impl Settings {
    /// `creds_for` is the registry `--creds` applies to: the push destination, else the base's.
    pub fn new(args: &RegistryArgs, env: &Env, creds_for: Option<&str>) -> Result<Settings, RegistryError> {
        let mut credentials = CredentialSources::from_env(env);
        if let Some(c) = &args.creds {
            let parsed = Credentials::parse_user_pass(c).ok_or(RegistryError::BadCreds)?;
            if let Some(r) = creds_for {
                credentials.explicit = Some((r.to_string(), parsed));
            }
        }
        let system_roots = env
            .get(EnvVars::SSL_CERT_FILE)
            .map(PathBuf::from)
            .or_else(|| SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()));
        let chunk_size = match env.get(EnvVars::CARGO_OCI_CHUNK_SIZE) {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1024)
                .ok_or_else(|| RegistryError::BadChunkSize { value: v.into() })?,
            None => DEFAULT_CHUNK_SIZE,
        };
        Ok(Settings {
            credentials,
            ca_certs: args.ca_cert.iter().map(|p| env.cwd.join(p)).collect(),
            system_roots,
            insecure: args.insecure_registry.clone(),
            cache: Cache::from_env(env).map(Arc::new),
            chunk_size,
            retry: RetryPolicy::default(),
            https_proxy: env.get(EnvVars::HTTPS_PROXY).map(String::from),
        })
    }

    /// Plain HTTP is allowed for loopback hosts and those named with `--insecure-registry`.
    pub fn allows_plain_http(&self, host: &str) -> bool {
        reference::is_loopback(host) || self.insecure.iter().any(|h| h == host)
    }
}

/// A URL as shown in messages: no query string (upload URLs carry opaque state there).
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((u, _)) => format!("{u}?…"),
        None => url.to_string(),
    }
}

/// Talking to a registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("failed to {op} {url}")]
    Transport {
        op: String,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{op} {url}: the registry answered {status}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Status { op: String, url: String, status: u16, detail: String, retry_after: Option<Duration> },
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
    #[error("`--creds` must be `USER:PASSWORD`")]
    BadCreds,
    #[error("CARGO_OCI_CHUNK_SIZE=`{value}` is not a number of bytes (at least 1024)")]
    BadChunkSize { value: String },
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
}

impl RegistryError {
    /// `Some(wait)` when another attempt may succeed (connection errors, 5xx, 429), with the
    /// registry's `Retry-After` if it sent one.
    pub fn retryable(&self) -> Option<Option<Duration>> {
        match self {
            RegistryError::Transport { source, .. } => match source.as_ref() {
                ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => Some(None),
                ureq::Error::Protocol(_) => Some(None),
                _ => None,
            },
            RegistryError::Status { status, retry_after, .. } if *status >= 500 || *status == 429 => Some(*retry_after),
            // A blob read from another registry that broke off mid-stream.
            RegistryError::ReadBlob { source, .. } if source.kind() != std::io::ErrorKind::InvalidData => Some(None),
            _ => None,
        }
    }

    pub fn hints(&self) -> Vec<String> {
        match self {
            RegistryError::Transport { source, url, .. } => {
                let msg = source.to_string();
                let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("HOST");
                if msg.contains("certificate") || msg.contains("UnknownIssuer") {
                    vec![format!("if {host} uses a private CA, trust it with `--ca-cert CA.pem`")]
                } else if msg.contains("corrupt message") || msg.contains("InvalidContentType") {
                    vec![format!("{host} may speak plain HTTP; allow that with `--insecure-registry {host}`")]
                } else {
                    vec![format!("check that {host} is reachable from here")]
                }
            }
            RegistryError::AuthRequired { registry, .. } => vec![
                format!("log in with `docker login {registry}` or `podman login {registry}`, or pass `--creds USER:PASSWORD`"),
            ],
            RegistryError::Unauthorized { registry, had_credentials: true, .. } => vec![format!(
                "check the credentials for {registry} (`--creds`, config.json/auth.json, or its credential helper); `docker login {registry}` refreshes them"
            )],
            RegistryError::Unauthorized { registry, .. } => {
                vec![format!("log in with `docker login {registry}`, or pass `--creds USER:PASSWORD`")]
            }
            RegistryError::BadCreds => vec!["e.g. `--creds ci-bot:$TOKEN`".into()],
            RegistryError::BadChunkSize { .. } => vec!["unset it, or set bytes, e.g. `CARGO_OCI_CHUNK_SIZE=16777216`".into()],
            RegistryError::HelperMissing { helper } => {
                vec![format!("install `{helper}` (e.g. amazon-ecr-credential-helper for ECR), or remove it from config.json")]
            }
            RegistryError::ConfigParse { .. } | RegistryError::BadAuthEntry { .. } => {
                vec!["fix the file, or log in again with `docker login` / `podman login`".into()]
            }
            RegistryError::PlainRealm { .. } => {
                vec!["name the token server's host with `--insecure-registry HOST` if plain HTTP is really intended".into()]
            }
            RegistryError::Status { status: 404, .. } => {
                vec!["check the repository and tag, e.g. with `skopeo inspect docker://REF`".into()]
            }
            RegistryError::Status { status, .. } if *status >= 500 || *status == 429 => {
                vec!["the registry is failing or throttling; run again later".into()]
            }
            RegistryError::PushToDigest { .. } => vec!["push to a tag: `--push REGISTRY/REPO:TAG`".into()],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_named_hosts() {
        let env = Env::from_pairs("/".into(), [("HOME", "/h")]);
        let args = RegistryArgs { insecure_registry: vec!["lab.internal:5000".into()], ..Default::default() };
        let s = Settings::new(&args, &env, None).unwrap();
        assert!(s.allows_plain_http("127.0.0.1:5000") && s.allows_plain_http("localhost"));
        assert!(s.allows_plain_http("lab.internal:5000"));
        assert!(!s.allows_plain_http("lab.internal") && !s.allows_plain_http("ghcr.io"));
        assert_eq!(
            s.cache.as_ref().unwrap().path(&crate::blob::Digest::of(b"")).parent().unwrap(),
            std::path::Path::new("/h/.cache/cargo-oci/blobs/sha256")
        );
    }

    #[test]
    fn creds_go_only_to_their_registry_and_never_print() {
        let env = Env::from_pairs("/".into(), []);
        let args = RegistryArgs { creds: Some("bot:pa55word".into()), ..Default::default() };
        let s = Settings::new(&args, &env, Some("ghcr.io")).unwrap();
        assert!(s.credentials.lookup("ghcr.io").unwrap().is_some());
        assert!(s.credentials.lookup("docker.io").unwrap().is_none());
        assert!(!format!("{s:?}").contains("pa55word"));
        let bad = RegistryArgs { creds: Some("nocolon".into()), ..Default::default() };
        assert!(matches!(Settings::new(&bad, &env, None), Err(RegistryError::BadCreds)));
    }
}
