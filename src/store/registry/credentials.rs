//! Credentials for a registry: `--creds`, podman/skopeo `auth.json` (wherever podman writes it,
//! `/run/containers/<uid>` included), docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`, running `docker-credential-<name> get`), and `GITHUB_TOKEN` for ghcr.io.
//!
//! Hand-written rather than with the `docker_credential` crate: that crate reads `DOCKER_CONFIG`
//! and `HOME` from the process environment itself (we read variables only through [`Env`]), and
//! it knows nothing of podman's `auth.json`. The formats are two small JSON shapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::RegistryError;
use crate::env::{Env, EnvVars};
use crate::process::Cmd;
pub use crate::secret::Secret;

/// What to authenticate with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or access token used as one, as ECR and GHCR hand out).
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (`identitytoken` in config.json, `<token>` from a helper).
    IdentityToken(Secret),
}

impl Credentials {
    /// `user:pass` as given to `--creds`.
    pub fn parse_user_pass(s: &str) -> Option<Credentials> {
        let (u, p) = s.split_once(':')?;
        (!u.is_empty()).then(|| Credentials::Basic { username: u.into(), password: Secret::new(p) })
    }

    /// The `Authorization: Basic …` value, where these are a user name and password.
    pub fn basic_header(&self) -> Option<Secret> {
        match self {
            Credentials::Basic { username, password } => Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose()))
            ))),
            Credentials::IdentityToken(_) => None,
        }
    }
}

/// Where credentials were looked for: files in order, and `--creds` for one registry.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    /// `--creds user:pass` and the registry it is for.
    pub explicit: Option<(String, Credentials)>,
    /// podman/skopeo `auth.json` files, then docker's `config.json`: the first that knows the
    /// registry wins (podman's order, containers-auth.json(5)).
    pub files: Vec<PathBuf>,
    /// `GITHUB_TOKEN` (with `GITHUB_ACTOR`): for ghcr.io when no file knows it, as ko does.
    pub github: Option<Credentials>,
    /// Where `docker-credential-*` helpers are looked up.
    pub env: Env,
}

/// Where podman writes `auth.json` when `XDG_RUNTIME_DIR` is unset (`podman login` as root
/// writes `/run/containers/0/auth.json`).
const CONTAINERS_RUN_DIR: &str = "/run/containers";

/// GitHub's registry, the one `GITHUB_TOKEN` is for.
const GHCR: &str = "ghcr.io";

impl CredentialSources {
    /// The default files, from the environment: `$REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json`; then
    /// `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/…`); then docker's `config.json`.
    pub fn from_env(env: &Env) -> CredentialSources {
        let mut files = Vec::new();
        if let Some(f) = env.get(EnvVars::REGISTRY_AUTH_FILE) {
            files.push(env.cwd.join(f));
        } else if let Some(run) = env.get(EnvVars::XDG_RUNTIME_DIR) {
            files.push(PathBuf::from(run).join("containers/auth.json"));
        } else if let Some(uid) = env.uid {
            let run = env.get(EnvVars::CARGO_OCI_CONTAINERS_RUN_DIR).unwrap_or(CONTAINERS_RUN_DIR);
            files.push(PathBuf::from(run).join(uid.to_string()).join("auth.json"));
        }
        if let Some(c) = env.config_home() {
            files.push(c.join("containers/auth.json"));
        }
        match env.get(EnvVars::DOCKER_CONFIG) {
            Some(d) => files.push(env.cwd.join(d).join("config.json")),
            None => {
                if let Some(h) = env.get(EnvVars::HOME) {
                    files.push(PathBuf::from(h).join(".docker/config.json"))
                }
            }
        }
        let github = env.get(EnvVars::GITHUB_TOKEN).map(|token| Credentials::Basic {
            // ghcr.io takes any user name with a token; ko sends `unset` when there is none.
            username: env.get(EnvVars::GITHUB_ACTOR).unwrap_or("unset").to_string(),
            password: Secret::new(token),
        });
        CredentialSources { explicit: None, files, github, env: env.clone() }
    }

    /// Credentials for `registry` (`host[:port]`; Docker Hub is `docker.io`), if any are configured.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some((r, c)) = &self.explicit {
            if r == registry {
                return Ok(Some(c.clone()));
            }
        }
        for file in &self.files {
            let bytes = match std::fs::read(file) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RegistryError::ConfigRead { path: file.clone(), source }),
            };
            let config: ConfigFile = serde_json::from_slice(&bytes)
                .map_err(|source| RegistryError::ConfigParse { path: file.clone(), source })?;
            if let Some(c) = config.lookup(registry, file, &self.env)? {
                return Ok(Some(c));
            }
        }
        Ok(self.github.clone().filter(|_| registry == GHCR))
    }
}

/// The shared shape of docker's config.json and podman's auth.json.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// What docker calls Docker Hub in config files and helper requests.
const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// An `auths` key names a registry as `host`, `https://host`, or `https://host/v1/`.
fn key_host(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    if host == "index.docker.io" || host == "registry-1.docker.io" {
        "docker.io"
    } else {
        host
    }
}

impl ConfigFile {
    fn lookup(&self, registry: &str, file: &Path, env: &Env) -> Result<Option<Credentials>, RegistryError> {
        let server = if registry == "docker.io" { HUB_SERVER } else { registry };
        if let Some((_, helper)) = self.cred_helpers.iter().find(|(k, _)| key_host(k) == registry) {
            return run_helper(helper, server, env);
        }
        if let Some((_, entry)) = self.auths.iter().find(|(k, _)| key_host(k) == registry) {
            if let Some(c) = entry.credentials(file, registry)? {
                return Ok(Some(c));
            }
        }
        match &self.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, server, env),
            _ => Ok(None),
        }
    }
}

impl AuthEntry {
    fn credentials(&self, file: &Path, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(t) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(Secret::new(t))));
        }
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            return Ok(Some(Credentials::Basic { username: u.clone(), password: Secret::new(p.clone()) }));
        }
        let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) else { return Ok(None) };
        let bad = || RegistryError::BadAuthEntry { path: file.to_path_buf(), registry: registry.into() };
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        Credentials::parse_user_pass(&decoded).map(Some).ok_or_else(bad)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// `docker-credential-<name> get` with the server on stdin; `{"Username","Secret"}` on stdout.
/// A helper that knows nothing of the server answers "credentials not found": no credentials.
fn run_helper(name: &str, server: &str, env: &Env) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{name}");
    let Some(path) = env.which(&program) else {
        return Err(RegistryError::HelperMissing { helper: program });
    };
    let cmd = Cmd::new(path).arg("get");
    let out = match cmd.output_with_stdin(server.as_bytes()) {
        Ok(out) => out,
        Err(crate::process::ProcessError::Failed { stderr_tail, .. })
            if stderr_tail.contains("not found") || stderr_tail.is_empty() =>
        {
            return Ok(None)
        }
        Err(source) => return Err(RegistryError::Helper { helper: program, source }),
    };
    // Some helpers print "credentials not found" on stdout with exit 1, handled above; a few exit 0.
    if String::from_utf8_lossy(&out).contains("credentials not found") {
        return Ok(None);
    }
    let reply: HelperReply =
        serde_json::from_slice(&out).map_err(|source| RegistryError::HelperReply { helper: program, source })?;
    Ok(Some(if reply.username == "<token>" {
        Credentials::IdentityToken(Secret::new(reply.secret))
    } else {
        Credentials::Basic { username: reply.username, password: Secret::new(reply.secret) }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, files: &[(&str, &str)]) -> CredentialSources {
        let mut paths = Vec::new();
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            paths.push(p);
        }
        CredentialSources {
            explicit: None,
            files: paths,
            github: None,
            env: Env::from_pairs(dir.into(), [("PATH", "/nonexistent")]),
        }
    }

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic { username: u.into(), password: Secret::new(p) })
    }

    #[test]
    fn auths_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let config = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"ghcr.io":{{"username":"me","password":"tok"}},"http://127.0.0.1:5000":{{"auth":"{}"}},"x.io":{{"identitytoken":"refresh"}}}}}}"#,
            enc("hub:pw"),
            enc("u:p:with:colons")
        );
        let s = sources(dir.path(), &[("config.json", &config)]);
        assert_eq!(s.lookup("docker.io").unwrap(), basic("hub", "pw"));
        assert_eq!(s.lookup("ghcr.io").unwrap(), basic("me", "tok"));
        assert_eq!(s.lookup("127.0.0.1:5000").unwrap(), basic("u", "p:with:colons"));
        assert_eq!(s.lookup("x.io").unwrap(), Some(Credentials::IdentityToken(Secret::new("refresh"))));
        assert_eq!(s.lookup("quay.io").unwrap(), None);
    }

    #[test]
    fn auth_json_before_config_json_and_explicit_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(
            dir.path(),
            &[
                ("auth.json", r#"{"auths":{"r.io":{"username":"podman","password":"1"}}}"#),
                ("config.json", r#"{"auths":{"r.io":{"username":"docker","password":"2"}}}"#),
            ],
        );
        assert_eq!(s.lookup("r.io").unwrap(), basic("podman", "1"));
        s.explicit = Some(("r.io".into(), basic("cli", "3").unwrap()));
        assert_eq!(s.lookup("r.io").unwrap(), basic("cli", "3"));
    }

    #[test]
    fn helpers_run_with_the_server_on_stdin() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread s\ncase \"$s\" in r.io) echo '{\"ServerURL\":\"r.io\",\"Username\":\"h\",\"Secret\":\"s3\"}';; *) echo 'credentials not found in native keychain'; exit 1;; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut s = sources(dir.path(), &[("config.json", r#"{"credHelpers":{"r.io":"fake"},"credsStore":"fake"}"#)]);
        s.env = Env::from_pairs(dir.path().into(), [("PATH", dir.path().to_str().unwrap())]);
        assert_eq!(s.lookup("r.io").unwrap(), basic("h", "s3"));
        assert_eq!(s.lookup("other.io").unwrap(), None, "credsStore asked, knows nothing");
        let s2 = sources(dir.path(), &[("c2.json", r#"{"credHelpers":{"r.io":"absent"}}"#)]);
        let e = s2.lookup("r.io").unwrap_err();
        assert!(e.to_string().contains("docker-credential-absent"), "{e}");
    }

    #[test]
    fn every_location_podman_and_docker_read_in_their_order() {
        let mut env = Env::from_pairs(
            "/w".into(),
            [("HOME", "/h"), ("XDG_RUNTIME_DIR", "/run/user/1000"), ("DOCKER_CONFIG", "dock")],
        );
        env.uid = Some(1000);
        let files = |env: &Env| CredentialSources::from_env(env).files;
        assert_eq!(
            files(&env),
            [
                PathBuf::from("/run/user/1000/containers/auth.json"),
                "/h/.config/containers/auth.json".into(),
                "/w/dock/config.json".into()
            ]
        );
        // `podman login` as root without XDG_RUNTIME_DIR writes /run/containers/0/auth.json.
        let mut root = Env::from_pairs("/w".into(), [("HOME", "/root"), ("XDG_CONFIG_HOME", "/cfg")]);
        root.uid = Some(0);
        assert_eq!(
            files(&root),
            [
                PathBuf::from("/run/containers/0/auth.json"),
                "/cfg/containers/auth.json".into(),
                "/root/.docker/config.json".into()
            ]
        );
        let mut moved = Env::from_pairs("/w".into(), [("CARGO_OCI_CONTAINERS_RUN_DIR", "/tmp/rc")]);
        moved.uid = Some(7);
        assert_eq!(files(&moved), [PathBuf::from("/tmp/rc/7/auth.json")]);
        let explicit = Env::from_pairs("/w".into(), [("REGISTRY_AUTH_FILE", "a.json"), ("XDG_RUNTIME_DIR", "/r")]);
        assert_eq!(files(&explicit)[0], PathBuf::from("/w/a.json"), "REGISTRY_AUTH_FILE replaces the primary file");
    }

    #[test]
    fn github_token_is_for_ghcr_only_and_only_when_no_file_knows_it() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs(dir.path().into(), [("GITHUB_TOKEN", "ghs_tok"), ("GITHUB_ACTOR", "octocat")]);
        let mut s = CredentialSources::from_env(&env);
        s.files.clear();
        assert_eq!(s.lookup("ghcr.io").unwrap(), basic("octocat", "ghs_tok"));
        assert_eq!(s.lookup("docker.io").unwrap(), None);
        assert_eq!(s.lookup("ghcr.io.example.com").unwrap(), None);
        let p = dir.path().join("auth.json");
        std::fs::write(&p, r#"{"auths":{"ghcr.io":{"username":"me","password":"pat"}}}"#).unwrap();
        s.files.push(p);
        assert_eq!(s.lookup("ghcr.io").unwrap(), basic("me", "pat"), "a login wins over the environment");
        let anon = Env::from_pairs(dir.path().into(), [("GITHUB_TOKEN", "ghs_tok")]);
        assert_eq!(CredentialSources::from_env(&anon).github, basic("unset", "ghs_tok"), "any user name works");
    }

    #[test]
    fn secrets_never_print() {
        let c = basic("user", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", c.basic_header()).contains("hunter2"));
        let broken = tempfile::tempdir().unwrap();
        let s = sources(broken.path(), &[("config.json", r#"{"auths":{"r.io":{"auth":"!!notbase64 hunter2"}}}"#)]);
        let e = s.lookup("r.io").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
