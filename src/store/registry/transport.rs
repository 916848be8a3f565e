//! The HTTP side of one registry: TLS roots, HTTPS-or-plain decision, the 401 → credentials →
//! retry dance per repository scope, bounded retries with backoff, and error reading.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use super::auth::{self, Challenge};
use super::credentials::{Credentials, Secret};
use super::{redact_url, Reference, RegistryError, RetryPolicy, Settings};

/// One registry host, as reached from here.
pub struct Registry {
    /// As references name it (`docker.io`, `127.0.0.1:5000`): for credentials and messages.
    name: String,
    /// `https://host` or `http://host`.
    base_url: String,
    agent: Agent,
    settings: Arc<Settings>,
    creds: Mutex<Option<Option<Credentials>>>,
}

impl Registry {
    /// Prepares a client for the reference's registry. Loopback and `--insecure-registry` hosts
    /// are probed: HTTPS if it answers, else plain HTTP (docker does the same for localhost).
    pub fn connect(reference: &Reference, settings: &Arc<Settings>) -> Result<Arc<Registry>, RegistryError> {
        let host = reference.api_host().to_string();
        let plain_ok = settings.allows_plain_http(&reference.registry);
        let agent = agent(settings, !super::reference::is_loopback(&host))?;
        let mut base_url = format!("https://{host}");
        if plain_ok {
            let probe =
                |url: &str| agent.get(url).config().timeout_global(Some(Duration::from_secs(10))).build().call();
            if probe(&format!("https://{host}/v2/")).is_err() {
                if let Ok(r) = probe(&format!("http://{host}/v2/")) {
                    // A TLS server answers plain HTTP with 400: it is HTTPS after all.
                    if r.status() != StatusCode::BAD_REQUEST {
                        base_url = format!("http://{host}");
                    }
                }
            }
        }
        Ok(Arc::new(Registry {
            name: reference.registry.clone(),
            base_url,
            agent,
            settings: settings.clone(),
            creds: Mutex::new(None),
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Credentials are looked up once, and only when a registry asks for them (a helper such as
    /// `docker-credential-ecr-login` can be slow).
    fn credentials(&self) -> Result<Option<Credentials>, RegistryError> {
        let mut slot = self.creds.lock().expect("credentials lock");
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.settings.credentials.lookup(&self.name)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// A token realm must be HTTPS unless its host may be spoken to in plain HTTP.
    pub fn check_realm(&self, realm: &str) -> Result<(), RegistryError> {
        match realm.strip_prefix("http://") {
            Some(rest) if !self.settings.allows_plain_http(rest.split('/').next().unwrap_or("")) => {
                Err(RegistryError::PlainRealm { realm: redact_url(realm) })
            }
            _ => Ok(()),
        }
    }

    /// A client for one repository with the scopes it needs (`pull`, `pull,push`, and `pull` on
    /// the repository blobs are mounted from).
    pub fn repo(self: &Arc<Self>, repository: &str, actions: &str, mount_from: Option<&str>) -> Repo {
        let mut scopes = vec![format!("repository:{repository}:{actions}")];
        scopes.extend(mount_from.filter(|m| *m != repository).map(|m| format!("repository:{m}:pull")));
        Repo { registry: self.clone(), repository: repository.into(), scopes, auth: Mutex::new(None) }
    }
}

/// The agent: rustls with the system's and Mozilla's roots plus `--ca-cert`s; statuses are
/// answers, not errors; redirects (blob storage) never carry our `Authorization`.
fn agent(settings: &Settings, remote: bool) -> Result<Agent, RegistryError> {
    let mut roots: Vec<Certificate<'static>> =
        webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect();
    let files = settings.system_roots.iter().map(|p| (p, false)).chain(settings.ca_certs.iter().map(|p| (p, true)));
    for (path, required) in files {
        let ca_err = |source| RegistryError::CaCert { path: path.clone(), source };
        let pem = match std::fs::read(path) {
            Ok(p) => p,
            Err(_) if !required => continue,
            Err(e) => return Err(ca_err(e)),
        };
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                roots.push(c);
            }
        }
        if required && roots.len() == before {
            return Err(ca_err(std::io::Error::other("no PEM certificate in it")));
        }
    }
    let tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots)).build();
    let proxy = match (&settings.https_proxy, remote) {
        (Some(p), true) => ureq::Proxy::new(p).ok(),
        _ => None,
    };
    Ok(Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .proxy(proxy)
        .user_agent(concat!("cargo-oci/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .build()
        .new_agent())
}

/// A request body, made again for each attempt: a reader and its exact length.
pub type BodyFn<'a> = dyn FnMut() -> Result<(Box<dyn Read + Send + 'a>, u64), RegistryError> + 'a;

/// One repository on a registry, with its own authorization for its scopes.
pub struct Repo {
    pub registry: Arc<Registry>,
    pub repository: String,
    scopes: Vec<String>,
    auth: Mutex<Option<Secret>>,
}

impl Repo {
    /// `<base>/v2/<repository>/<tail>`.
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.registry.base_url, self.repository)
    }

    /// Resolves a `Location` header against the registry (it may be relative).
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.registry.base_url, location.trim_start_matches('/'))
        }
    }

    /// Sends one request, answering one 401 challenge with credentials or a token. No retries
    /// here: see [`retry`].
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        mut body: Option<&mut BodyFn<'_>>,
    ) -> Result<Response<Body>, RegistryError> {
        let op = method.to_string();
        for round in 0..2 {
            let mut req = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = self.auth.lock().expect("auth lock").as_ref() {
                req = req.header("Authorization", a.expose());
            }
            let transport =
                |source| RegistryError::Transport { op: op.clone(), url: redact_url(url), source: Box::new(source) };
            let response = match body.as_mut() {
                Some(make) => {
                    let (mut reader, len) = make()?;
                    let req = req.header("Content-Length", len.to_string());
                    let req =
                        req.body(SendBody::from_reader(&mut reader)).map_err(|e| transport(ureq::Error::Http(e)))?;
                    self.registry.agent.run(req)
                }
                None => {
                    let req = if matches!(method, "POST" | "PUT" | "PATCH") {
                        req.header("Content-Length", "0")
                    } else {
                        req
                    };
                    let req = req.body(()).map_err(|e| transport(ureq::Error::Http(e)))?;
                    self.registry.agent.run(req)
                }
            }
            .map_err(transport)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let creds = self.registry.credentials()?;
            let challenge = response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok().and_then(auth::parse_challenge))
                .min_by_key(|c| matches!(c, Challenge::Basic));
            match challenge {
                Some(c) if round == 0 => {
                    let value = auth::authorize(&self.registry, &c, &self.scopes, creds.as_ref())?;
                    *self.auth.lock().expect("auth lock") = Some(value);
                }
                _ => break,
            }
        }
        let had_credentials = self.registry.credentials()?.is_some();
        Err(RegistryError::Unauthorized {
            registry: self.registry.name.clone(),
            scope: self.scopes.join(" "),
            had_credentials,
        })
    }

    /// `send` with retries, for requests that may be repeated as they are (no body, or a small
    /// one in memory: a manifest).
    pub fn send_retrying(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<Body>, RegistryError> {
        retry(&self.registry.settings.retry, || {
            let make = |bytes: &[u8]| -> Result<(Box<dyn Read + Send + '_>, u64), RegistryError> {
                Ok((Box::new(std::io::Cursor::new(bytes.to_vec())), bytes.len() as u64))
            };
            let r = match body {
                Some(b) => self.send(method, url, headers, Some(&mut || make(b)))?,
                None => self.send(method, url, headers, None)?,
            };
            check_retryable_status(method, url, r)
        })
    }
}

/// Turns a 5xx/429 answer into a retryable error (other statuses are for the caller to judge).
pub fn check_retryable_status(method: &str, url: &str, r: Response<Body>) -> Result<Response<Body>, RegistryError> {
    let s = r.status().as_u16();
    if s >= 500 || s == 429 {
        Err(status_error(method, url, r))
    } else {
        Ok(r)
    }
}

/// The registry's error for an unexpected status: its `errors[].code/message`, and `Retry-After`.
pub fn status_error(method: &str, url: &str, r: Response<Body>) -> RegistryError {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = r.into_body().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let detail = match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|e| [e.code.as_deref(), e.message.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": "))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body).chars().take(200).collect::<String>().trim().to_string(),
    };
    RegistryError::Status { op: method.to_string(), url: redact_url(url), status, detail, retry_after }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy's attempts or waiting budget
/// run out; waits grow exponentially, and a `Retry-After` within the budget is honoured.
pub fn retry<T>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut() -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let mut waited = Duration::ZERO;
    let mut delay = policy.first_delay;
    let mut n = 1;
    loop {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Some(after) = e.retryable() else { return Err(e) };
                let wait = after.unwrap_or(delay).min(policy.max_delay.max(after.unwrap_or_default()));
                if n >= policy.attempts || waited + wait > policy.budget {
                    return Err(e);
                }
                std::thread::sleep(wait);
                waited += wait;
                delay = (delay * 2).min(policy.max_delay);
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> RegistryError {
        RegistryError::Status {
            op: "GET".into(),
            url: "u".into(),
            status: code,
            detail: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            budget: Duration::from_secs(2),
        }
    }

    #[test]
    fn retries_5xx_and_429_then_succeeds() {
        let mut answers = vec![Err(status(503, None)), Err(status(429, Some(0))), Ok(7)].into_iter();
        assert_eq!(retry(&fast(), || answers.next().unwrap()).unwrap(), 7);
    }

    #[test]
    fn gives_up_after_the_attempts_and_not_on_4xx() {
        let mut n = 0;
        let r: Result<(), _> = retry(&fast(), || {
            n += 1;
            Err(status(500, None))
        });
        assert!(r.is_err());
        assert_eq!(n, 4);
        let mut n = 0;
        let r: Result<(), _> = retry(&fast(), || {
            n += 1;
            Err(status(404, None))
        });
        assert!(r.is_err());
        assert_eq!(n, 1);
    }

    #[test]
    fn a_retry_after_beyond_the_budget_fails_at_once() {
        let mut n = 0;
        let r: Result<(), _> = retry(&fast(), || {
            n += 1;
            Err(status(503, Some(3600)))
        });
        assert!(r.is_err());
        assert_eq!(n, 1);
    }
}
