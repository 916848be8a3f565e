//! The HTTP side of one registry, and the one request path every request takes
//! ([`Registry::call`]): proxy choice, the HTTPS-or-plain probe, the 401 → credentials → token
//! dance per repository scope, bounded retries with backoff, and a typed error for any status the
//! caller did not ask for. Call sites say what they want (method, URL, body, the statuses they
//! expect), never how to retry: go-containerregistry's `transport.CheckError` is the model.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use super::auth::{self, Challenge};
use super::credentials::{Credentials, Secret};
use super::{redact_url, Reference, RegistryError, RetryPolicy, Settings};

/// Bodies at least this large ask `Expect: 100-continue` first (curl's threshold), so a registry
/// that refuses them (413, 416) says so before the bytes are sent.
const EXPECT_CONTINUE_FROM: u64 = 1 << 20;

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

/// A request body, made again for each attempt: a reader and its exact length.
pub type BodyFn<'a> = dyn FnMut() -> Result<(Box<dyn Read + Send + 'a>, u64), RegistryError> + 'a;

enum Payload<'a> {
    None,
    Bytes(&'a [u8]),
    Stream(Box<BodyFn<'a>>),
}

/// One request as a call site wants it; [`Registry::call`] does the rest.
pub struct Call<'a> {
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Payload<'a>,
    /// The statuses that are answers; any other is an error. Empty: every status is an answer.
    expect: &'a [u16],
    /// Repeat this very request on a temporary failure. Off for the steps of an upload session,
    /// which is restarted as a whole instead.
    retry: bool,
    redirects: bool,
    timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    pub fn new(method: &'static str, url: impl Into<String>) -> Call<'a> {
        Call {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Payload::None,
            expect: &[200],
            retry: true,
            redirects: true,
            timeout: None,
        }
    }
    pub fn get(url: impl Into<String>) -> Call<'a> {
        Call::new("GET", url)
    }
    pub fn head(url: impl Into<String>) -> Call<'a> {
        Call::new("HEAD", url)
    }
    pub fn put(url: impl Into<String>) -> Call<'a> {
        Call::new("PUT", url)
    }
    pub fn post(url: impl Into<String>) -> Call<'a> {
        Call::new("POST", url)
    }
    pub fn patch(url: impl Into<String>) -> Call<'a> {
        Call::new("PATCH", url)
    }
    pub fn delete(url: impl Into<String>) -> Call<'a> {
        Call::new("DELETE", url)
    }
    /// The statuses that count as answers (default: 200).
    pub fn expect(mut self, statuses: &'a [u16]) -> Self {
        self.expect = statuses;
        self
    }
    /// Every status is an answer (the probe).
    pub fn any_status(mut self) -> Self {
        self.expect = &[];
        self
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// A small body held in memory (a manifest, a token form).
    pub fn bytes(mut self, body: &'a [u8]) -> Self {
        self.body = Payload::Bytes(body);
        self
    }
    /// A streamed body with a known length (a blob or a chunk of one).
    pub fn stream(
        mut self,
        body: impl FnMut() -> Result<(Box<dyn Read + Send + 'a>, u64), RegistryError> + 'a,
    ) -> Self {
        self.body = Payload::Stream(Box::new(body));
        self
    }
    /// One step of an operation that is retried as a whole (an upload session).
    pub fn once(mut self) -> Self {
        self.retry = false;
        self
    }
    /// Take a redirect as the answer instead of following it.
    pub fn no_redirects(mut self) -> Self {
        self.redirects = false;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// A repository's authorization: the scopes it needs and the `Authorization` value that works.
struct Scoped {
    scopes: Vec<String>,
    header: Mutex<Option<Secret>>,
}

impl Registry {
    /// Prepares a client for the reference's registry. Loopback and `--insecure-registry` hosts
    /// are probed: HTTPS if it answers, else plain HTTP (docker does the same for localhost).
    pub fn connect(reference: &Reference, settings: &Arc<Settings>) -> Result<Arc<Registry>, RegistryError> {
        let host = reference.api_host().to_string();
        let roots = settings.trust.roots(&[&reference.registry, &host])?;
        let tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots)).build();
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            // Chosen per request (`Settings::proxies`): never ureq's own reading of the environment.
            .proxy(None)
            .user_agent(concat!("cargo-oci/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .build()
            .new_agent();
        let mut registry = Registry {
            name: reference.registry.clone(),
            base_url: format!("https://{host}"),
            agent,
            settings: settings.clone(),
            creds: Mutex::new(None),
        };
        if settings.allows_plain_http(&reference.registry) {
            registry.base_url = registry.probe(&host)?;
        }
        Ok(Arc::new(registry))
    }

    /// `GET /v2/` over HTTPS, then plain HTTP, retried as one step: a dropped connection on
    /// either never decides the scheme (nor turns into a TLS error on a plain-HTTP host).
    fn probe(&self, host: &str) -> Result<String, RegistryError> {
        let (https, http) = (format!("https://{host}"), format!("http://{host}"));
        let probe = |base: &str| {
            self.call(Call::get(format!("{base}/v2/")).any_status().once().timeout(Duration::from_secs(10)), None)
        };
        retry(&self.settings.retry, || {
            if probe(&https).is_ok() {
                return Ok(https.clone());
            }
            let answer = probe(&http)?;
            // A TLS server answers a plain-HTTP request with 400: it is HTTPS after all.
            Ok(if answer.status() == StatusCode::BAD_REQUEST { https.clone() } else { http.clone() })
        })
        .map_err(|source| RegistryError::Unreachable { host: host.to_string(), source: Box::new(source) })
    }

    pub fn name(&self) -> &str {
        &self.name
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

    /// A token realm must be an absolute `https` URL with no user name or password in it; plain
    /// `http` only for hosts that may be spoken to in plain HTTP. Checked on the parsed URL: the
    /// scheme in any case, the host after any `user@`.
    pub fn check_realm(&self, realm: &str) -> Result<(), RegistryError> {
        let bad = |why: &str| RegistryError::BadRealm {
            realm: redact_url(realm),
            registry: self.name.clone(),
            why: why.to_string(),
        };
        let uri: ureq::http::Uri = realm.parse().map_err(|_| bad("it is not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| bad("it is not an absolute URL"))?.to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(|| bad("it names no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("it carries a user name or password"));
        }
        match scheme.as_str() {
            "https" => Ok(()),
            "http" if self.settings.allows_plain_http(authority.as_str()) => Ok(()),
            "http" => Err(RegistryError::PlainRealm { realm: redact_url(realm) }),
            other => Err(bad(&format!("`{other}` is neither https nor http"))),
        }
    }

    /// A client for one repository with the scopes it needs (`pull`, `pull,push`, and `pull` on
    /// the repository blobs are mounted from).
    pub fn repo(self: &Arc<Self>, repository: &str, actions: &str, mount_from: Option<&str>) -> Repo {
        let mut scopes = vec![format!("repository:{repository}:{actions}")];
        scopes.extend(mount_from.filter(|m| *m != repository).map(|m| format!("repository:{m}:pull")));
        Repo {
            registry: self.clone(),
            repository: repository.into(),
            auth: Scoped { scopes, header: Mutex::new(None) },
        }
    }

    /// The one request path. Sends `call` (answering one 401 challenge with `auth`'s scopes when
    /// given), repeats it on temporary failures as the retry policy allows (unless it is `once`),
    /// and returns the response when its status is one the call expects, else a typed error.
    pub fn call(&self, mut call: Call<'_>, auth: Option<&Repo>) -> Result<Response<Body>, RegistryError> {
        let once = RetryPolicy { attempts: 1, ..self.settings.retry };
        let policy = if call.retry { self.settings.retry } else { once };
        retry(&policy, || self.attempt(&mut call, auth))
    }

    fn attempt(&self, call: &mut Call<'_>, repo: Option<&Repo>) -> Result<Response<Body>, RegistryError> {
        for round in 0..2 {
            let authorization = repo.and_then(|r| r.auth.header.lock().expect("auth lock").clone());
            let response = self.send(call, authorization)?;
            let Some(repo) = repo.filter(|_| response.status() == StatusCode::UNAUTHORIZED) else {
                return check(call, response);
            };
            let challenge = response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok().and_then(auth::parse_challenge))
                .min_by_key(|c| matches!(c, Challenge::Basic));
            match challenge {
                Some(c) if round == 0 => {
                    let creds = self.credentials()?;
                    let value = auth::authorize(self, &c, &repo.auth.scopes, creds.as_ref())?;
                    *repo.auth.header.lock().expect("auth lock") = Some(value);
                    // A step of an upload (its body may be spent, the session's state unknown)
                    // is not sent again: the upload restarts, with the new authorization.
                    if !call.retry && matches!(call.body, Payload::Stream(_)) {
                        return Err(RegistryError::Reauthorized { url: redact_url(&call.url) });
                    }
                }
                _ => break,
            }
        }
        Err(RegistryError::Unauthorized {
            registry: self.name.clone(),
            scope: repo.map(|r| r.auth.scopes.join(" ")).unwrap_or_default(),
            had_credentials: self.credentials()?.is_some(),
        })
    }

    /// One HTTP exchange, through the proxy the environment picks for its URL.
    fn send(&self, call: &mut Call<'_>, authorization: Option<Secret>) -> Result<Response<Body>, RegistryError> {
        let proxy = self.settings.proxies.for_url(&call.url)?;
        let failed = |source| RegistryError::Transport {
            op: call.method.to_string(),
            url: redact_url(&call.url),
            proxy: proxy.map(|p| p.shown.clone()),
            source: Box::new(source),
        };
        let mut req = ureq::http::Request::builder().method(call.method).uri(&call.url);
        for (k, v) in &call.headers {
            req = req.header(*k, v.as_str());
        }
        if let Some(a) = &authorization {
            req = req.header("Authorization", a.expose());
        }
        let len = match &mut call.body {
            Payload::None => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::Stream(_) => 0, // set below, once the reader is made
        };
        let stream = match &mut call.body {
            Payload::Stream(make) => Some(make()?),
            _ => None,
        };
        let len = stream.as_ref().map_or(len, |(_, n)| *n);
        if len > 0 || matches!(call.method, "POST" | "PUT" | "PATCH") {
            req = req.header("Content-Length", len.to_string());
        }
        if len >= EXPECT_CONTINUE_FROM {
            req = req.header("Expect", "100-continue");
        }
        let run = |req: Result<ureq::http::Request<SendBody<'_>>, ureq::http::Error>| {
            let req = req.map_err(|e| failed(ureq::Error::Http(e)))?;
            let mut config = self.agent.configure_request(req).proxy(proxy.map(|p| p.proxy()));
            if !call.redirects {
                config = config.max_redirects(0);
            }
            if let Some(t) = call.timeout {
                config = config.timeout_global(Some(t));
            }
            self.agent.run(config.build()).map_err(failed)
        };
        match (stream, &call.body) {
            (Some((mut reader, _)), _) => run(req.body(SendBody::from_reader(&mut reader))),
            (None, Payload::Bytes(b)) => {
                let mut reader: &[u8] = b;
                run(req.body(SendBody::from_reader(&mut reader)))
            }
            (None, _) => run(req.body(SendBody::none())),
        }
    }
}

/// A response whose status the call expects, else the registry's error for it.
fn check(call: &Call<'_>, response: Response<Body>) -> Result<Response<Body>, RegistryError> {
    let status = response.status().as_u16();
    if call.expect.is_empty() || call.expect.contains(&status) {
        Ok(response)
    } else {
        Err(status_error(call.method, &call.url, response))
    }
}

/// One repository on a registry, with its own authorization for its scopes.
pub struct Repo {
    pub registry: Arc<Registry>,
    pub repository: String,
    auth: Scoped,
}

impl Repo {
    /// `<base>/v2/<repository>/<tail>`.
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.registry.base_url, self.repository)
    }

    /// Resolves a `Location` header against the registry (it may be relative).
    pub fn absolute(&self, location: &str) -> String {
        let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.registry.base_url, location.trim_start_matches('/'))
        }
    }

    /// [`Registry::call`] with this repository's authorization.
    pub fn call(&self, call: Call<'_>) -> Result<Response<Body>, RegistryError> {
        self.registry.call(call, Some(self))
    }
}

/// The registry's error for an unexpected status: its `errors[].code/message`, and `Retry-After`.
fn status_error(method: &str, url: &str, r: Response<Body>) -> RegistryError {
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
    let (detail, codes) = match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => (
            e.errors
                .iter()
                .map(|e| [e.code.as_deref(), e.message.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": "))
                .collect::<Vec<_>>()
                .join("; "),
            e.errors.iter().filter_map(|e| e.code.clone()).collect(),
        ),
        Err(_) => (String::from_utf8_lossy(&body).chars().take(200).collect::<String>().trim().to_string(), Vec::new()),
    };
    RegistryError::Status { op: method.to_string(), url: redact_url(url), status, detail, codes, retry_after }
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
                let Some(after) = e.temporary() else { return Err(e) };
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
    use crate::env::Env;

    fn status(code: u16, retry_after: Option<u64>) -> RegistryError {
        RegistryError::Status {
            op: "GET".into(),
            url: "u".into(),
            status: code,
            detail: String::new(),
            codes: Vec::new(),
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

    /// A registry client for `host` with `--insecure-registry` hosts, without connecting.
    fn registry(host: &str, insecure: &[&str]) -> Registry {
        let args = insecure.iter().map(|s| s.to_string()).collect();
        let settings = Arc::new(Settings::new(&Env::from_pairs("/".into(), []), None, Vec::new(), args, None));
        Registry {
            name: host.into(),
            base_url: format!("https://{host}"),
            agent: Agent::new_with_defaults(),
            settings,
            creds: Mutex::new(None),
        }
    }

    #[test]
    fn realms_are_checked_on_the_parsed_url() {
        let r = registry("ghcr.io", &["lab.internal:5000"]);
        assert!(r.check_realm("https://ghcr.io/token").is_ok());
        assert!(r.check_realm("HTTPS://ghcr.io/token").is_ok(), "the scheme in any case");
        assert!(r.check_realm("http://127.0.0.1:5001/token").is_ok(), "loopback may be plain");
        assert!(r.check_realm("http://lab.internal:5000/token").is_ok(), "so may --insecure-registry hosts");
        for (realm, why) in [
            ("HTTP://auth.example/token", "plain HTTP"),
            ("Http://auth.example/token", "plain HTTP"),
            ("http://127.0.0.1:80@auth.example/token", "user name or password"),
            ("https://user:pw@auth.example/token", "user name or password"),
            ("ftp://auth.example/token", "neither https nor http"),
            ("/token", "absolute"),
            ("not a url", "not a URL"),
        ] {
            let e = r.check_realm(realm).unwrap_err();
            assert!(e.to_string().contains(why), "{realm}: {e}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }

    #[test]
    fn locations_resolve_against_the_registry() {
        let r = Arc::new(registry("127.0.0.1:5000", &[]));
        let repo = r.repo("app", "pull", None);
        assert_eq!(repo.absolute("/v2/app/blobs/uploads/u?x=1"), "https://127.0.0.1:5000/v2/app/blobs/uploads/u?x=1");
        assert_eq!(repo.absolute("HTTPS://s3.example/u"), "HTTPS://s3.example/u");
    }
}
