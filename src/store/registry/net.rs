//! How a request leaves this machine: through which proxy (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY`, in both cases, as curl and Go read them) and trusting which CAs
//! (Mozilla's roots, the system bundle, `SSL_CERT_DIR`, podman's and docker's `certs.d/HOST[:PORT]`
//! directories, `--ca-cert`).
//!
//! The proxy decision is hand-written rather than `ureq::Proxy::try_from_env`: that reads the
//! process environment itself (we read variables only through [`Env`]), silently skips a value it
//! cannot parse, and gives one proxy for every scheme. The decision is a pure function of the
//! variables and the URL, so it is unit-tested without any network.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ureq::tls::Certificate;

use super::RegistryError;
use crate::env::{Env, EnvVars};
use crate::oci::name::is_loopback;

/// A proxy named by a variable.
#[derive(Clone)]
pub struct ProxyVar {
    /// The variable it came from (`https_proxy`, `ALL_PROXY`, …).
    pub var: &'static str,
    /// The URL with any user and password replaced by `***`, for messages.
    pub shown: String,
    proxy: ureq::Proxy,
}

impl ProxyVar {
    pub fn proxy(&self) -> ureq::Proxy {
        self.proxy.clone()
    }
}

impl fmt::Debug for ProxyVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.var, self.shown)
    }
}

/// A proxy variable whose value is not a proxy URL: an error when a request would use it (a
/// build that pushes nothing, or pushes to this machine, is not stopped by it).
#[derive(Clone, Debug)]
struct BadProxy {
    var: &'static str,
    shown: String,
    why: String,
}

type Slot = Option<Result<ProxyVar, BadProxy>>;

/// The proxy variables of the environment, parsed once.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    https: Slot,
    http: Slot,
    all: Slot,
    no_proxy: Vec<NoProxy>,
}

/// One `NO_PROXY` entry (Go's `httpproxy` grammar, which curl's is a subset of).
#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxy {
    /// `*`: no proxy for anything.
    All,
    /// `example.com`: that host and its subdomains; `.example.com` / `*.example.com`: subdomains only.
    Domain { name: String, subdomains_only: bool, port: Option<u16> },
    /// `10.1.2.3`, `10.0.0.0/8`, `::1`, `[fd00::]/8`, with an optional port.
    Ip { net: IpAddr, bits: u8, port: Option<u16> },
}

/// Lowercase first, as curl reads them (Go reads the uppercase first; set one spelling).
fn var<'e>(env: &'e Env, lower: &'static str, upper: &'static str) -> Option<(&'static str, &'e str)> {
    env.get(lower).map(|v| (lower, v)).or_else(|| env.get(upper).map(|v| (upper, v)))
}

/// `scheme://user:pass@host` → `scheme://***@host`.
pub(super) fn redact_userinfo(value: &str) -> String {
    let (scheme, rest) = value.split_once("://").map_or(("", value), |(s, r)| (s, r));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let shown = match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("***@{host}{}", &rest[authority_end..]),
        None => rest.to_string(),
    };
    if scheme.is_empty() {
        shown
    } else {
        format!("{scheme}://{shown}")
    }
}

fn parse_proxy(var: &'static str, value: &str) -> Result<ProxyVar, BadProxy> {
    let bad = |why: String| BadProxy { var, shown: redact_userinfo(value), why };
    let value = value.trim();
    // Go and curl take a bare `host:port` as an HTTP proxy.
    let url = if value.contains("://") { value.to_string() } else { format!("http://{value}") };
    let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad(format!("`{scheme}://` proxies are not supported, only http:// and https://")));
    }
    let proxy = ureq::Proxy::new(&url).map_err(|e| bad(e.to_string()))?;
    if proxy.host().is_empty() {
        return Err(bad("it names no host".into()));
    }
    let authority = proxy.uri().authority().map(|a| a.as_str()).unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some((_, port)) = host_port.rsplit_once(':').filter(|(_, p)| !p.ends_with(']')) {
        if port.parse::<u16>().is_err() {
            return Err(bad(format!("`{port}` is not a port number")));
        }
    }
    Ok(ProxyVar { var, shown: redact_userinfo(&url), proxy })
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse().ok()
}

/// `[v6]:port`, `v4:port`, `v6`, `v4`, with an optional `/bits`.
fn parse_ip_entry(entry: &str) -> Option<NoProxy> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let (ip, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']')?;
        (
            ip,
            match tail.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None if tail.is_empty() => None,
                None => return None,
            },
        )
    } else if addr.matches(':').count() == 1 {
        let (ip, p) = addr.split_once(':')?;
        (ip, Some(parse_port(p)?))
    } else {
        (addr, None)
    };
    let net: IpAddr = ip.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(NoProxy::Ip { net, bits, port })
}

fn parse_no_proxy(value: &str) -> Vec<NoProxy> {
    value
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            if e == "*" {
                return Some(NoProxy::All);
            }
            if let Some(ip) = parse_ip_entry(e) {
                return Some(ip);
            }
            let (name, port) = match e.rsplit_once(':') {
                Some((n, p)) => (n, Some(parse_port(p)?)),
                None => (e, None),
            };
            let (name, subdomains_only) = match name.strip_prefix("*.").or_else(|| name.strip_prefix('.')) {
                Some(n) => (n, true),
                None => (name, false),
            };
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (!name.is_empty()).then_some(NoProxy::Domain { name, subdomains_only, port })
        })
        .collect()
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    bits == 0 || (a >> shift) == (b >> shift)
}

impl NoProxy {
    fn matches(&self, host: &str, port: u16) -> bool {
        match self {
            NoProxy::All => true,
            NoProxy::Ip { net, bits, port: p } => {
                p.is_none_or(|p| p == port) && host.parse::<IpAddr>().is_ok_and(|ip| in_net(ip, *net, *bits))
            }
            NoProxy::Domain { name, subdomains_only, port: p } => {
                p.is_none_or(|p| p == port)
                    && (host.strip_suffix(name.as_str()).is_some_and(|head| head.ends_with('.'))
                        || (!subdomains_only && host == name))
            }
        }
    }
}

impl Proxies {
    /// Reads the proxy variables. A value that is not a proxy URL is kept as an error for the
    /// requests that would go through it, never ignored.
    pub fn from_env(env: &Env) -> Proxies {
        let parse = |lower, upper| var(env, lower, upper).map(|(v, value)| parse_proxy(v, value));
        let no_proxy = var(env, EnvVars::NO_PROXY_LOWER, EnvVars::NO_PROXY).map(|(_, v)| parse_no_proxy(v));
        Proxies {
            https: parse(EnvVars::HTTPS_PROXY_LOWER, EnvVars::HTTPS_PROXY),
            http: parse(EnvVars::HTTP_PROXY_LOWER, EnvVars::HTTP_PROXY),
            all: parse(EnvVars::ALL_PROXY_LOWER, EnvVars::ALL_PROXY),
            no_proxy: no_proxy.unwrap_or_default(),
        }
    }

    /// The proxy for a request to `url`: none for loopback hosts (as Go decides) and hosts
    /// `NO_PROXY` names; else the scheme's own variable, else `ALL_PROXY`. An unusable value of
    /// the variable that applies is an error.
    pub fn for_url(&self, url: &str) -> Result<Option<&ProxyVar>, RegistryError> {
        let Ok(uri) = url.parse::<ureq::http::Uri>() else { return Ok(None) };
        let https = uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let Some(host) = uri.host() else { return Ok(None) };
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if is_loopback(&host) || host.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()) {
            return Ok(None);
        }
        if self.no_proxy.iter().any(|n| n.matches(&host, port)) {
            return Ok(None);
        }
        match if https { &self.https } else { &self.http }.as_ref().or(self.all.as_ref()) {
            None => Ok(None),
            Some(Ok(p)) => Ok(Some(p)),
            Some(Err(b)) => {
                Err(RegistryError::BadProxy { var: b.var.into(), value: b.shown.clone(), why: b.why.clone() })
            }
        }
    }
}

/// Where CA certificates come from, besides Mozilla's roots (always trusted).
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// The system bundle: `SSL_CERT_FILE`, else the first well-known file that exists.
    pub bundle: Option<PathBuf>,
    /// `SSL_CERT_DIR` (colon-separated, as OpenSSL reads it): every certificate file in them.
    pub cert_dirs: Vec<PathBuf>,
    /// `certs.d` roots, each holding `HOST[:PORT]/*.crt` (podman's order, docker's last).
    pub certs_d: Vec<PathBuf>,
    /// `--ca-cert` files: must exist and hold a certificate.
    pub extra: Vec<PathBuf>,
}

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system-wide `certs.d` roots, after the user's `$XDG_CONFIG_HOME/containers/certs.d`
/// (containers-certs.d(5); `/etc/docker/certs.d` is docker's and podman's fallback).
const SYSTEM_CERTS_D: &[&str] = &["/etc/containers/certs.d", "/etc/docker/certs.d"];

impl Trust {
    pub fn from_env(env: &Env, ca_certs: Vec<PathBuf>) -> Trust {
        let bundle = env
            .get(EnvVars::SSL_CERT_FILE)
            .map(PathBuf::from)
            .or_else(|| SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()));
        let cert_dirs = env.get(EnvVars::SSL_CERT_DIR).map(|d| std::env::split_paths(d).collect()).unwrap_or_default();
        let mut certs_d: Vec<PathBuf> = env.config_home().map(|c| c.join("containers/certs.d")).into_iter().collect();
        certs_d.extend(SYSTEM_CERTS_D.iter().map(PathBuf::from));
        Trust { bundle, cert_dirs, certs_d, extra: ca_certs }
    }

    /// Every certificate to trust for `hosts` (a registry's name and API host, `host[:port]`).
    pub fn roots(&self, hosts: &[&str]) -> Result<Vec<Certificate<'static>>, RegistryError> {
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if let Some(b) = &self.bundle {
            // An unreadable system bundle is not ours to fix: Mozilla's roots still apply.
            if let Ok(pem) = std::fs::read(b) {
                roots.extend(pem_certs(&pem));
            }
        }
        for dir in &self.cert_dirs {
            for file in files_in(dir, |_| true) {
                if let Ok(pem) = std::fs::read(&file) {
                    roots.extend(pem_certs(&pem));
                }
            }
        }
        let mut required: Vec<PathBuf> = Vec::new();
        for root in &self.certs_d {
            for host in hosts {
                required.extend(files_in(&root.join(host), |n| n.ends_with(".crt")));
            }
        }
        required.extend(self.extra.iter().cloned());
        for path in required {
            let ca_err = |source| RegistryError::CaCert { path: path.clone(), source };
            let pem = std::fs::read(&path).map_err(ca_err)?;
            let certs = pem_certs(&pem);
            if certs.is_empty() {
                return Err(ca_err(std::io::Error::other("no PEM certificate in it")));
            }
            roots.extend(certs);
        }
        Ok(roots)
    }
}

fn pem_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// The files of `dir` whose names pass `keep`, sorted (nothing when it is not a directory).
fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_str().is_some_and(&keep))
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(pairs: &[(&str, &str)]) -> Result<Proxies, RegistryError> {
        Ok(Proxies::from_env(&Env::from_pairs("/".into(), pairs.iter().copied())))
    }

    fn via(p: &Proxies, url: &str) -> Option<String> {
        p.for_url(url).unwrap().map(|v| format!("{} {}", v.var, v.shown))
    }

    #[test]
    fn scheme_variables_then_all_proxy_in_either_case() {
        let p =
            proxies(&[("HTTPS_PROXY", "http://sec:3128"), ("http_proxy", "plain:8080"), ("ALL_PROXY", "http://all:1")])
                .unwrap();
        assert_eq!(via(&p, "https://ghcr.io/v2/").as_deref(), Some("HTTPS_PROXY http://sec:3128"));
        assert_eq!(via(&p, "http://lab.internal:5000/v2/").as_deref(), Some("http_proxy http://plain:8080"));
        let p = proxies(&[("all_proxy", "http://all:1")]).unwrap();
        assert_eq!(via(&p, "https://ghcr.io/v2/").as_deref(), Some("all_proxy http://all:1"));
        let p = proxies(&[("https_proxy", "http://lower:1"), ("HTTPS_PROXY", "http://upper:2")]).unwrap();
        assert_eq!(via(&p, "https://ghcr.io/").as_deref(), Some("https_proxy http://lower:1"), "curl's order");
        assert_eq!(via(&proxies(&[]).unwrap(), "https://ghcr.io/"), None);
    }

    #[test]
    fn loopback_never_goes_through_a_proxy() {
        let p = proxies(&[("HTTPS_PROXY", "http://p:1"), ("HTTP_PROXY", "http://p:1")]).unwrap();
        for url in ["http://127.0.0.1:5000/v2/", "https://localhost/v2/", "http://[::1]:5000/v2/", "http://127.9.9.9/"]
        {
            assert_eq!(via(&p, url), None, "{url}");
        }
    }

    #[test]
    fn no_proxy_in_both_cases_and_every_form() {
        for var in ["NO_PROXY", "no_proxy"] {
            let p = proxies(&[
                ("HTTPS_PROXY", "http://p:1"),
                (var, "corp.example, .svc.local,*.apps.test,10.0.0.0/8 , 192.168.1.7,[fd00::1]:443,lab:5000"),
            ])
            .unwrap();
            let direct = |url: &str| via(&p, url).is_none();
            assert!(direct("https://corp.example/v2/"), "{var}: the domain itself");
            assert!(direct("https://REG.Corp.Example/v2/"), "{var}: subdomains, any case");
            assert!(!direct("https://notcorp.example/v2/"), "{var}: not a suffix of a label");
            assert!(direct("https://a.svc.local/"), "{var}: leading dot: subdomains");
            assert!(!direct("https://svc.local/"), "{var}: leading dot: not the domain itself (Go)");
            assert!(direct("https://x.apps.test/") && !direct("https://apps.test/"), "{var}: `*.`");
            assert!(direct("https://10.20.30.40/") && !direct("https://11.0.0.1/"), "{var}: CIDR");
            assert!(direct("https://192.168.1.7:5000/") && !direct("https://192.168.1.8/"), "{var}: IP");
            assert!(direct("https://[fd00::1]/") && !direct("https://[fd00::1]:5000/"), "{var}: IPv6 with port");
            assert!(direct("https://lab:5000/") && !direct("https://lab/"), "{var}: host with port");
            assert!(!direct("https://ghcr.io/"), "{var}: anything else is proxied");
        }
        let p = proxies(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]).unwrap();
        assert_eq!(via(&p, "https://ghcr.io/"), None);
    }

    #[test]
    fn a_bad_value_is_an_error_and_never_shows_a_password() {
        for (var, value) in [
            ("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
            ("http_proxy", "http://proxy:notaport"),
            ("ALL_PROXY", "http://"),
            ("HTTPS_PROXY", "http://user:hunter2@bad host:1"),
        ] {
            let p = proxies(&[(var, value)]).unwrap();
            let url = if var.eq_ignore_ascii_case("http_proxy") { "http://lab:5000/" } else { "https://ghcr.io/" };
            let e = p.for_url(url).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{var}=`")), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(e.hints()[0].contains(var), "{:?}", e.hints());
        }
        // An unusable value stops only the requests that would go through it.
        let p = proxies(&[("ALL_PROXY", "socks5://127.0.0.1:1080"), ("HTTPS_PROXY", "http://p:1")]).unwrap();
        assert!(p.for_url("https://ghcr.io/").is_ok() && p.for_url("http://127.0.0.1:5000/").is_ok());
        assert!(p.for_url("http://lab/").is_err());
        let p = proxies(&[("HTTPS_PROXY", "http://user:hunter2@proxy.corp:3128")]).unwrap();
        assert_eq!(via(&p, "https://ghcr.io/").unwrap(), "HTTPS_PROXY http://***@proxy.corp:3128");
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn certs_d_roots_are_podmans_then_dockers() {
        let env = Env::from_pairs("/".into(), [("HOME", "/h")]);
        let t = Trust::from_env(&env, Vec::new());
        let roots = ["/h/.config/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"];
        assert_eq!(t.certs_d, roots.map(PathBuf::from));
        let env = Env::from_pairs("/".into(), [("SSL_CERT_DIR", "/a:/b"), ("XDG_CONFIG_HOME", "/x")]);
        let t = Trust::from_env(&env, Vec::new());
        assert_eq!(t.cert_dirs, [PathBuf::from("/a"), "/b".into()]);
        assert_eq!(t.certs_d[0], PathBuf::from("/x/containers/certs.d"));
    }

    #[test]
    fn certs_d_files_are_found_per_host_and_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("containers/certs.d/reg.example:5000");
        std::fs::create_dir_all(&host).unwrap();
        let trust = Trust { certs_d: vec![dir.path().join("containers/certs.d")], ..Trust::default() };
        let base = trust.roots(&["reg.example:5000"]).unwrap().len();
        std::fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        std::fs::write(host.join("client.key"), "ignored: only *.crt are CAs").unwrap();
        let e = trust.roots(&["reg.example:5000"]).unwrap_err();
        assert!(e.to_string().contains("ca.crt"), "{e}");
        assert_eq!(trust.roots(&["reg.example"]).unwrap().len(), base, "the port is part of the directory name");
    }
}
