//! Registries as a source (`source`) and a sink (`sink`, `push`): the distribution API over
//! HTTP(S), every request through one path (`transport`).
//!
//! HTTP stack: `ureq` 3 with rustls, blocking. Our pipeline is synchronous, and a blocking client
//! streams a request body from any `Read` (a file, or another registry's response) with a known
//! `Content-Length`. `oci-client` was considered and not used: it is async (a tokio runtime for
//! a handful of requests) and takes blob bodies as in-memory `Vec<u8>`, so it cannot stream a
//! layer from disk or from another registry, which push must do.

pub mod auth;
pub mod credentials;
pub mod error;
pub mod net;
pub mod push;
pub mod referrers;
pub mod sink;
pub mod source;
pub mod transport;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::oci::{Reference, ReferenceError};
pub use credentials::{CredentialSources, Credentials, Secret};
pub use error::RegistryError;

use crate::env::Env;
use crate::store::cache::Cache;

/// How to reach registries: resolved once from flags and the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub credentials: CredentialSources,
    /// Which CAs are trusted (system, `SSL_CERT_DIR`, `certs.d`, `--ca-cert`).
    pub trust: net::Trust,
    /// Hosts that may be spoken to over plain HTTP (`--insecure-registry`), besides loopback.
    pub insecure: Vec<String>,
    pub cache: Option<Arc<Cache>>,
    /// `CARGO_OCI_CHUNK_SIZE`: upload in PATCH chunks of this size. `None`: one request per blob,
    /// chunked only when the registry refuses a large body.
    pub chunk_size: Option<u64>,
    pub retry: RetryPolicy,
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`.
    pub proxies: net::Proxies,
}

/// Bounded retries with exponential backoff on connection errors and temporary answers.
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

impl Settings {
    /// What the plan decided (`--creds` for one registry, `--ca-cert`, `--insecure-registry`, the
    /// chunk size) with what the environment says (credential files, CAs, proxies, the cache).
    pub fn new(
        env: &Env,
        explicit: Option<(String, Credentials)>,
        ca_certs: Vec<PathBuf>,
        insecure: Vec<String>,
        chunk_size: Option<u64>,
    ) -> Settings {
        let mut credentials = CredentialSources::from_env(env);
        credentials.explicit = explicit;
        Settings {
            credentials,
            trust: net::Trust::from_env(env, ca_certs),
            insecure,
            cache: Cache::from_env(env).map(Arc::new),
            chunk_size,
            retry: RetryPolicy::default(),
            proxies: net::Proxies::from_env(env),
        }
    }

    /// Plain HTTP is allowed for loopback hosts and those named with `--insecure-registry`.
    pub fn allows_plain_http(&self, host: &str) -> bool {
        crate::oci::name::is_loopback(host) || self.insecure.iter().any(|h| h == host)
    }
}

/// A URL as shown in messages: no query string (upload URLs carry opaque state there), no user
/// name or password.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((u, _)) => format!("{}?…", net::redact_userinfo(u)),
        None => net::redact_userinfo(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_named_hosts() {
        let env = Env::from_pairs("/".into(), [("HOME", "/h")]);
        let s = Settings::new(&env, None, Vec::new(), vec!["lab.internal:5000".into()], None);
        assert!(s.allows_plain_http("127.0.0.1:5000") && s.allows_plain_http("localhost"));
        assert!(s.allows_plain_http("lab.internal:5000"));
        assert!(!s.allows_plain_http("lab.internal") && !s.allows_plain_http("ghcr.io"));
        assert_eq!(
            s.cache.as_ref().unwrap().path(&crate::oci::Digest::of(b"")).parent().unwrap(),
            std::path::Path::new("/h/.cache/cargo-oci/blobs/sha256")
        );
    }

    #[test]
    fn creds_go_only_to_their_registry_and_never_print() {
        let env = Env::from_pairs("/".into(), []);
        let creds = Credentials::parse_user_pass("bot:pa55word").unwrap();
        let s = Settings::new(&env, Some(("ghcr.io".into(), creds)), Vec::new(), Vec::new(), None);
        assert!(s.credentials.lookup("ghcr.io").unwrap().is_some());
        assert!(s.credentials.lookup("docker.io").unwrap().is_none());
        assert!(!format!("{s:?}").contains("pa55word"));
    }
}
