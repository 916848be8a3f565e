//! A loopback HTTP/1.1 proxy in front of a real registry (Debian's docker-registry): it counts
//! requests, injects faults, can play a bearer-token server, and answers the way registries in the
//! field are reported to answer ([`Quirks`], each citing where). Also [`Tunnel`], a CONNECT proxy
//! that plays `HTTPS_PROXY`: whatever host a client asks for, its bytes go to one port on
//! 127.0.0.1, so nothing is ever looked up or sent off this machine.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIB: usize = 1 << 20;

/// How a registry of the field answers, played in front of distribution (which accepts anything).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Quirks {
    #[default]
    None,
    /// GHCR caps a chunked upload's request body at 4 MiB: a bigger PATCH gets
    /// `416 … exceeds the maximum permissible limit of 4.00MiB` (oras-project/rust-oci-client#35,
    /// wasmCloud/wash#268, ocx-sh/ocx#237). Whole-blob PUTs are taken (containerd's monolithic
    /// push works there).
    Ghcr,
    /// ECR answers a chunk's PATCH with 201, not 202 (openai/tart#273, jdx/mise#11376); its
    /// `Range` stays at the first chunk's while every chunk is stored (aws/containers-roadmap#2831);
    /// an empty closing PUT after chunks gets 500 (openai/tart#159).
    Ecr,
    /// An S3-backed registry: the POST advertises `OCI-Chunk-Min-Length: 5242880` and a PATCH
    /// smaller than that is refused, S3 multipart parts being at least 5 MiB
    /// (opencontainers/distribution-spec#374, #391).
    S3,
    /// A registry that takes only what containerd sends (containerd/containerd#3533: POST, then
    /// one PUT): PATCH is 405, and a PUT body must be `application/octet-stream` (zot answers 415
    /// otherwise, containerd/containerd#4017).
    Monolithic,
    /// A front end with a request-body limit (nginx's `client_max_body_size`, which the
    /// distribution docs' nginx recipe sets to 0 "to avoid HTTP 413 for large image uploads").
    BodyLimit(usize),
    /// Google Artifact Registry: the referrers endpoint redirects to a login page
    /// (awslabs/soci-snapshotter docs/registry.md, "Testing the referrers API redirects to login").
    LoginRedirect,
    /// Immutable tags: a PUT to an existing tag is `400 TAG_INVALID … cannot be overwritten
    /// because the repository is immutable` (ECR, aws/containers-roadmap#862).
    ImmutableTags,
}

/// One request seen by the proxy.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// `Content-Length` of the request.
    pub length: usize,
    pub content_range: Option<String>,
    pub content_type: Option<String>,
    /// The status the proxy answered itself (a quirk or a fault), if it did.
    pub refused: Option<u16>,
}

/// What a fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without an answer.
    Drop,
    /// Answer this status (503 or 500 with `Retry-After: 0`; 401 with a bearer challenge, as for
    /// an expired token).
    Status(u16),
    /// Pass the request on, and close the connection halfway through the answer's body (a
    /// download that breaks off).
    CutBody,
}

/// Faults for the requests with `method` whose path contains `path` (or is it, written `=PATH`):
/// the n-th such request gets the n-th step (`None`: passes through).
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: String,
    pub path: String,
    pub steps: std::collections::VecDeque<Option<Fault>>,
}

impl Rule {
    fn matches(&self, head: &Head) -> bool {
        self.method == head.method
            && match self.path.strip_prefix('=') {
                Some(exact) => head.path == exact,
                None => head.path.contains(&self.path),
            }
    }
}

/// Faults the proxy injects.
#[derive(Default)]
pub struct Faults {
    /// Close the connection halfway through the body of the next blob upload (PUT/PATCH).
    pub drop_upload: bool,
    /// Answer 503 (with `Retry-After: 1`) to the next request with this method whose path contains the text.
    pub unavailable: Option<(String, String)>,
    pub rules: Vec<Rule>,
    /// Hold every `METHOD …/blobs/sha256:…` (`HEAD`: a push's checks, `GET`: a pull) this long
    /// before answering (a slow link's round trip), so requests a client makes at once are seen
    /// at once.
    pub slow_blobs: Option<(&'static str, Duration)>,
}

/// A bearer-token server played by the proxy: `GET /token` wants Basic `user:pass`, `POST /token`
/// a refresh-token grant with `refresh`.
#[derive(Default)]
pub struct Bearer {
    pub user: String,
    pub pass: String,
    pub refresh: String,
    /// The realm the challenge names instead of the proxy's own `/token` (a hostile registry).
    pub realm: Option<String>,
}

struct State {
    upstream: u16,
    own_port: u16,
    quirks: Quirks,
    bearer: Option<Bearer>,
    seen: Arc<Mutex<Vec<Seen>>>,
    faults: Arc<Mutex<Faults>>,
    dropped: Arc<Mutex<usize>>,
    /// Blob requests held now (see `Faults::slow_blobs`), and the most ever held at once.
    held: Arc<Mutex<(usize, usize)>>,
    /// ECR: per upload session, the `Range` its first chunk was answered with.
    sessions: Mutex<BTreeMap<String, String>>,
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of a registry: one request per connection.
pub struct Proxy {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub faults: Arc<Mutex<Faults>>,
    pub dropped: Arc<Mutex<usize>>,
    /// Blob requests held now (see `Faults::slow_blobs`), and the most ever held at once.
    pub held: Arc<Mutex<(usize, usize)>>,
}

impl Proxy {
    pub fn start(upstream: u16, bearer: Option<Bearer>) -> Proxy {
        Proxy::serve(upstream, bearer, Quirks::None)
    }

    /// A proxy that answers as `quirks` describes.
    pub fn playing(upstream: u16, quirks: Quirks) -> Proxy {
        Proxy::serve(upstream, None, quirks)
    }

    fn serve(upstream: u16, bearer: Option<Bearer>, quirks: Quirks) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let own_port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            upstream,
            own_port,
            quirks,
            bearer,
            seen: Arc::default(),
            faults: Arc::default(),
            dropped: Arc::default(),
            held: Arc::default(),
            sessions: Mutex::default(),
        });
        let proxy = Proxy {
            port: own_port,
            seen: state.seen.clone(),
            faults: state.faults.clone(),
            dropped: state.dropped.clone(),
            held: state.held.clone(),
        };
        // The accept loop ends with the test process; each connection has its own thread.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &state);
                });
            }
        });
        proxy
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Injects `fault` into the next `times` requests with `method` whose path contains `path`
    /// (or is it: `=/v2/`).
    pub fn fail(&self, method: &str, path: &str, fault: Fault, times: usize) {
        self.script(method, path, &vec![Some(fault); times]);
    }

    /// The n-th request with `method` whose path contains `path` gets `steps[n]`.
    pub fn script(&self, method: &str, path: &str, steps: &[Option<Fault>]) {
        let rule = Rule { method: method.into(), path: path.into(), steps: steps.iter().copied().collect() };
        self.faults.lock().unwrap().rules.push(rule);
    }

    /// Faults of [`Proxy::fail`] and [`Proxy::script`] not served yet.
    pub fn pending_faults(&self) -> usize {
        self.faults.lock().unwrap().rules.iter().map(|r| r.steps.iter().filter(|s| s.is_some()).count()).sum()
    }

    /// Blob upload requests seen (POST/PATCH/PUT under `/blobs/uploads/`).
    pub fn uploads(&self) -> usize {
        self.requests(|r| r.path.contains("/blobs/uploads/") && r.method != "GET" && r.method != "HEAD").len()
    }

    /// The requests seen that `keep` selects.
    pub fn requests(&self, keep: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|r| keep(r)).cloned().collect()
    }
}

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    lines: Vec<String>,
}

impl Head {
    fn header(&self, name: &str) -> Option<String> {
        self.lines[1..].iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    fn len(&self) -> usize {
        self.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// An answer the proxy gives itself.
struct Answer {
    status: &'static str,
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Answer {
    fn new(status: &'static str, headers: &[&str], body: &[u8]) -> Answer {
        Answer { status, headers: headers.iter().map(|h| h.to_string()).collect(), body: body.to_vec() }
    }
    fn code(&self) -> u16 {
        self.status[..3].parse().unwrap()
    }
    /// A registry error (`{"errors":[{code, message}]}`).
    fn error(status: &'static str, code: &str, message: &str) -> Answer {
        let body = serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string();
        Answer::new(status, &["Content-Type: application/json"], body.as_bytes())
    }
}

/// The upload session id in `/v2/<name>/blobs/uploads/<id>?…`.
fn session_of(path: &str) -> Option<String> {
    let rest = path.split("/blobs/uploads/").nth(1)?;
    let id = rest.split('?').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

/// What a quirk answers from the request head alone (before any body byte is read).
fn quirk_answer(head: &Head, state: &State) -> Option<Answer> {
    let (m, path, len) = (head.method.as_str(), head.path.as_str(), head.len());
    let upload = path.contains("/blobs/uploads/");
    match state.quirks {
        Quirks::Ghcr if m == "PATCH" && len > 4 * MIB => Some(Answer::error(
            "416 Requested Range Not Satisfiable",
            "REQUESTED_RANGE_NOT_SATISFIABLE",
            "the request body is too large and exceeds the maximum permissible limit of 4.00MiB",
        )),
        Quirks::S3 if m == "PATCH" && len < 5 * MIB => Some(Answer::error(
            "416 Requested Range Not Satisfiable",
            "SIZE_INVALID",
            &format!("a chunk of {len} bytes is smaller than the minimum part size of 5242880"),
        )),
        Quirks::Ecr if m == "PUT" && upload && len == 0 => {
            let patched = session_of(path).is_some_and(|s| state.sessions.lock().unwrap().contains_key(&s));
            patched.then(|| Answer::new("500 Internal Server Error", &[], b""))
        }
        Quirks::Monolithic if m == "PATCH" => {
            Some(Answer::error("405 Method Not Allowed", "UNSUPPORTED", "chunked uploads are not supported"))
        }
        Quirks::Monolithic if m == "PUT" && upload && len > 0 => {
            let octet = head.header("content-type").as_deref() == Some("application/octet-stream");
            (!octet).then(|| Answer::error("415 Unsupported Media Type", "UNSUPPORTED", "the body must be application/octet-stream"))
        }
        Quirks::BodyLimit(limit) if len > limit => Some(Answer::new(
            "413 Request Entity Too Large",
            &["Content-Type: text/html"],
            b"<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>\n",
        )),
        Quirks::LoginRedirect if m == "GET" && path.contains("/referrers/") => {
            let location = format!("Location: http://127.0.0.1:{}/login?continue={}", state.own_port, path.replace('/', "%2F"));
            Some(Answer { status: "302 Found", headers: vec![location], body: Vec::new() })
        }
        Quirks::LoginRedirect if path.starts_with("/login") => Some(Answer::new(
            "200 OK",
            &["Content-Type: text/html; charset=utf-8"],
            b"<!doctype html><html><body><form>Sign in to continue to Cloud Console</form></body></html>",
        )),
        Quirks::ImmutableTags if m == "PUT" && path.contains("/manifests/") && !path.contains("/manifests/sha256:") => {
            let tag = path.rsplit('/').next().unwrap_or("");
            let repo = path.trim_start_matches("/v2/").split("/manifests/").next().unwrap_or("");
            (upstream_status(state.upstream, "HEAD", path) == 200).then(|| Answer::error(
                "400 Bad Request",
                "TAG_INVALID",
                &format!("The image tag '{tag}' already exists in the '{repo}' repository and cannot be overwritten because the repository is immutable."),
            ))
        }
        _ => None,
    }
}

/// The status a request to the registry itself gets (used to see whether a tag exists).
fn upstream_status(upstream: u16, method: &str, path: &str) -> u16 {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else { return 0 };
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    let _ = write!(up, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    let mut line = String::new();
    let _ = BufReader::new(up).read_line(&mut line);
    line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A fault of the rules (or the two one-shot fields) for this request, if any, with the
/// `Retry-After` its answer carries.
fn fault_for(head: &Head, state: &State) -> Option<(Fault, &'static str)> {
    let mut f = state.faults.lock().unwrap();
    let is_upload =
        head.path.contains("/blobs/uploads/") && (head.method == "PUT" || head.method == "PATCH") && head.len() > 0;
    if is_upload && std::mem::take(&mut f.drop_upload) {
        return Some((Fault::Drop, ""));
    }
    if let Some((m, p)) = &f.unavailable {
        if *m == head.method && head.path.contains(p.as_str()) {
            f.unavailable = None;
            return Some((Fault::Status(503), "Retry-After: 1"));
        }
    }
    let rule = f.rules.iter_mut().find(|r| !r.steps.is_empty() && r.matches(head))?;
    rule.steps.pop_front().flatten().map(|fault| (fault, "Retry-After: 0"))
}

fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Head>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        // A TLS probe (or anything that is not HTTP) is hung up on.
        if lines.is_empty() && !line.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    let mut parts = lines[0].split(' ');
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    Ok(Some(Head { method, path, lines }))
}

fn serve(mut client: TcpStream, state: &State) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else { return client.shutdown(Shutdown::Both) };
    let slow = state.faults.lock().unwrap().slow_blobs;
    if let Some((_, wait)) = slow.filter(|(m, _)| head.method == *m && head.path.contains("/blobs/sha256:")) {
        let mut n = state.held.lock().unwrap();
        n.0 += 1;
        n.1 = n.1.max(n.0);
        drop(n);
        std::thread::sleep(wait);
        state.held.lock().unwrap().0 -= 1;
    }
    let len = head.len();
    let authorization = head.header("authorization");
    let record = |refused: Option<u16>| {
        state.seen.lock().unwrap().push(Seen {
            method: head.method.clone(),
            path: head.path.clone(),
            authorization: authorization.clone(),
            length: len,
            content_range: head.header("content-range"),
            content_type: head.header("content-type"),
            refused,
        })
    };
    let expects_continue = head.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));

    let mut cut = false;
    match fault_for(&head, state) {
        Some((Fault::CutBody, _)) => cut = true,
        Some((Fault::Drop, _)) => {
            record(Some(0));
            // Cut off halfway through the body, or before any answer when there is none.
            if len > 0 && !expects_continue {
                let mut half = vec![0; len / 2];
                reader.read_exact(&mut half)?;
            }
            *state.dropped.lock().unwrap() += 1;
            return client.shutdown(Shutdown::Both);
        }
        Some((Fault::Status(code), retry_after)) => {
            record(Some(code));
            drain(&mut reader, len, expects_continue)?;
            if code == 401 {
                // An expired token: the challenge again, as at the start.
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{}/token\",service=\"test-registry\"",
                    state.own_port
                );
                return respond(&mut client, "401 Unauthorized", &[&challenge], b"");
            }
            let status = if code == 503 { "503 Service Unavailable" } else { "500 Internal Server Error" };
            return respond(&mut client, status, &[retry_after], b"");
        }
        None => {}
    }
    if let Some(a) = quirk_answer(&head, state) {
        record(Some(a.code()));
        // With `Expect: 100-continue` the refusal comes before the body, as a real server's.
        drain(&mut reader, len, expects_continue)?;
        let headers: Vec<&str> = a.headers.iter().map(String::as_str).collect();
        return respond(&mut client, a.status, &headers, &a.body);
    }
    record(None);
    if expects_continue {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    if let Some(b) = &state.bearer {
        if let Some(answer) = bearer_answer(b, &head, &body, authorization.as_deref(), state.own_port) {
            let headers: Vec<&str> = answer.headers.iter().map(String::as_str).collect();
            return respond(&mut client, answer.status, &headers, &answer.body);
        }
    }
    forward(&mut client, &head, &body, state, cut)
}

/// Reads and discards a body the proxy answers itself, unless the client waits for 100 Continue.
fn drain(reader: &mut BufReader<TcpStream>, len: usize, expects_continue: bool) -> std::io::Result<()> {
    if !expects_continue {
        std::io::copy(&mut reader.take(len as u64), &mut std::io::sink())?;
    }
    Ok(())
}

/// The token server, and the 401 for requests without its token.
fn bearer_answer(b: &Bearer, head: &Head, body: &[u8], authorization: Option<&str>, own_port: u16) -> Option<Answer> {
    use base64::Engine as _;
    if head.path.starts_with("/token") {
        let want =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", b.user, b.pass)));
        // OAuth2 refresh-token grant (docker's identity tokens): answered with `access_token`.
        let form = String::from_utf8_lossy(body);
        let json = ["Content-Type: application/json"];
        if head.method == "POST" {
            let ok =
                form.contains("grant_type=refresh_token") && form.contains(&format!("refresh_token={}", b.refresh));
            return Some(if ok {
                Answer::new("200 OK", &json, br#"{"access_token":"test-token"}"#)
            } else {
                Answer::new("401 Unauthorized", &[], b"")
            });
        }
        return Some(if authorization == Some(want.as_str()) {
            Answer::new("200 OK", &json, br#"{"token":"test-token"}"#)
        } else {
            Answer::new("401 Unauthorized", &[], b"")
        });
    }
    if authorization == Some("Bearer test-token") {
        return None;
    }
    let realm = b.realm.clone().unwrap_or_else(|| format!("http://127.0.0.1:{own_port}/token"));
    let challenge = format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"test-registry\"");
    let mut a = Answer::error("401 Unauthorized", "UNAUTHORIZED", "authentication required");
    a.headers.push(challenge);
    Some(a)
}

/// Sends the request on to the registry and its answer back, as the quirks rewrite it; with
/// `cut`, only the first half of the answer's body.
fn forward(client: &mut TcpStream, head: &Head, body: &[u8], state: &State, cut: bool) -> std::io::Result<()> {
    let mut up = TcpStream::connect(("127.0.0.1", state.upstream))?;
    let mut out = format!("{} {} HTTP/1.1\r\n", head.method, head.path);
    for h in &head.lines[1..] {
        let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name == "connection" || name == "expect" || (state.bearer.is_some() && name == "authorization") {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(body)?;
    let mut from = BufReader::new(up);
    let mut status = String::new();
    from.read_line(&mut status)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if from.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_string());
    }
    let mut extra = Vec::new();
    match state.quirks {
        Quirks::Ecr if head.method == "PATCH" && status.contains(" 202 ") => {
            status = "HTTP/1.1 201 Created\r\n".into();
            if let Some(session) = session_of(&head.path) {
                let range = headers.iter().find(|h| h.to_ascii_lowercase().starts_with("range:")).cloned();
                let mut sessions = state.sessions.lock().unwrap();
                let first = sessions.entry(session).or_insert_with(|| range.clone().unwrap_or_default()).clone();
                headers.retain(|h| !h.to_ascii_lowercase().starts_with("range:"));
                headers.push(first);
            }
        }
        Quirks::S3 if head.method == "POST" && status.contains(" 202 ") => {
            extra.push("OCI-Chunk-Min-Length: 5242880".to_string())
        }
        _ => {}
    }
    let mut answer = status;
    for h in headers.iter().chain(&extra) {
        answer.push_str(h);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    client.write_all(answer.as_bytes())?;
    let length = headers.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<u64>().ok())?
    });
    match length.filter(|_| cut) {
        Some(len) => std::io::copy(&mut (&mut from).take(len / 2), client)?,
        None => std::io::copy(&mut from, client)?,
    };
    client.shutdown(Shutdown::Both)
}

fn respond(client: &mut TcpStream, status: &str, headers: &[&str], body: &[u8]) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes())?;
    client.write_all(body)?;
    client.shutdown(Shutdown::Both)
}

/// A CONNECT proxy (`HTTPS_PROXY=http://127.0.0.1:PORT`): every tunnel, whatever host it names,
/// goes to `127.0.0.1:target`. Records the hosts asked for.
pub struct Tunnel {
    pub port: u16,
    pub connects: Arc<Mutex<Vec<String>>>,
}

impl Tunnel {
    pub fn start(target: u16) -> Tunnel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = tunnel(conn, target, &seen);
                });
            }
        });
        Tunnel { port, connects }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn tunnel(client: TcpStream, target: u16, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else { return Ok(()) };
    let mut client = client;
    if head.method != "CONNECT" {
        return respond(&mut client, "405 Method Not Allowed", &[], b"");
    }
    seen.lock().unwrap().push(head.path.clone());
    let up = TcpStream::connect(("127.0.0.1", target))?;
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    let (mut up_read, mut client_write) = (up.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    let mut up_write = up;
    let _ = std::io::copy(&mut reader, &mut up_write);
    let _ = up_write.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// A port on 127.0.0.1 nothing listens on (a dead proxy).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
