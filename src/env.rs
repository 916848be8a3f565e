//! Every environment variable cargo-oci reads, declared once, captured once at the edge.
//!
//! Deep code never calls `std::env::var`: it gets an [`Env`] and asks it by name, so tests can
//! pass exact environments and the list below is the whole truth.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Names of the variables we read. Each has one line on why.
pub struct EnvVars;

impl EnvVars {
    /// Unix time used for file mtimes, config `created`, history and the `created` annotation.
    pub const SOURCE_DATE_EPOCH: &'static str = "SOURCE_DATE_EPOCH";
    /// The cargo that invoked us (`cargo oci …`); used for every cargo subprocess.
    pub const CARGO: &'static str = "CARGO";
    /// The rustc cargo will use; we ask it for its sysroot to see which targets are installed.
    pub const RUSTC: &'static str = "RUSTC";
    /// Where cargo's global config lives (`$CARGO_HOME/config.toml` may configure linkers).
    pub const CARGO_HOME: &'static str = "CARGO_HOME";
    /// Fallback for `CARGO_HOME` (`~/.cargo`).
    pub const HOME: &'static str = "HOME";
    /// Searched for `rustup`, `git`, `cargo-zigbuild`, `zig`, `cross`, container engines.
    pub const PATH: &'static str = "PATH";
    /// User rustflags; a `-C linker=` in them counts as a configured linker.
    pub const RUSTFLAGS: &'static str = "RUSTFLAGS";
    /// Like `RUSTFLAGS`, 0x1f-separated; takes precedence in cargo.
    pub const CARGO_ENCODED_RUSTFLAGS: &'static str = "CARGO_ENCODED_RUSTFLAGS";
    /// cargo's `build.rustflags` as an environment variable.
    pub const CARGO_BUILD_RUSTFLAGS: &'static str = "CARGO_BUILD_RUSTFLAGS";
    /// Where rustup keeps toolchains (its paths are remapped out of binaries).
    pub const RUSTUP_HOME: &'static str = "RUSTUP_HOME";
    /// cargo's colour choice (`auto`, `always`, `never`), honoured like cargo does.
    pub const CARGO_TERM_COLOR: &'static str = "CARGO_TERM_COLOR";
    /// cargo's progress bar: `auto`, `always`, `never`; when set, we leave it to cargo.
    pub const CARGO_TERM_PROGRESS_WHEN: &'static str = "CARGO_TERM_PROGRESS_WHEN";
    /// The progress bar's width, which cargo needs when it is not writing to the terminal.
    pub const CARGO_TERM_PROGRESS_WIDTH: &'static str = "CARGO_TERM_PROGRESS_WIDTH";
    /// Any value turns colour off (no-color.org).
    pub const NO_COLOR: &'static str = "NO_COLOR";
    /// Docker's config directory: `config.json` with `auths`, `credHelpers`, `credsStore`.
    pub const DOCKER_CONFIG: &'static str = "DOCKER_CONFIG";
    /// podman/skopeo's credentials file (takes the place of `$XDG_RUNTIME_DIR/containers/auth.json`).
    pub const REGISTRY_AUTH_FILE: &'static str = "REGISTRY_AUTH_FILE";
    /// Where podman keeps `containers/auth.json` by default.
    pub const XDG_RUNTIME_DIR: &'static str = "XDG_RUNTIME_DIR";
    /// The user's cache directory; registry blobs are cached in `$XDG_CACHE_HOME/cargo-oci`.
    pub const XDG_CACHE_HOME: &'static str = "XDG_CACHE_HOME";
    /// The blob cache directory, overriding `$XDG_CACHE_HOME/cargo-oci` and `~/.cache/cargo-oci`.
    pub const CARGO_OCI_CACHE: &'static str = "CARGO_OCI_CACHE";
    /// Push blobs in PATCH chunks of this many bytes (default: one request per blob).
    pub const CARGO_OCI_CHUNK_SIZE: &'static str = "CARGO_OCI_CHUNK_SIZE";
    /// A CA bundle to trust instead of the system's default file (as OpenSSL reads it).
    pub const SSL_CERT_FILE: &'static str = "SSL_CERT_FILE";
    /// A directory of CA certificates to trust (colon-separated list, as OpenSSL reads it).
    pub const SSL_CERT_DIR: &'static str = "SSL_CERT_DIR";
    /// The proxy for HTTPS requests (curl and Go read both cases; the lowercase one wins here).
    pub const HTTPS_PROXY: &'static str = "HTTPS_PROXY";
    pub const HTTPS_PROXY_LOWER: &'static str = "https_proxy";
    /// The proxy for plain-HTTP requests (`--insecure-registry` hosts).
    pub const HTTP_PROXY: &'static str = "HTTP_PROXY";
    pub const HTTP_PROXY_LOWER: &'static str = "http_proxy";
    /// The proxy for requests whose scheme has no variable of its own.
    pub const ALL_PROXY: &'static str = "ALL_PROXY";
    pub const ALL_PROXY_LOWER: &'static str = "all_proxy";
    /// Hosts, domains, IPs and CIDRs never reached through a proxy (`*`: none is).
    pub const NO_PROXY: &'static str = "NO_PROXY";
    pub const NO_PROXY_LOWER: &'static str = "no_proxy";
    /// The user's config directory: podman's `containers/auth.json` and `containers/certs.d`.
    pub const XDG_CONFIG_HOME: &'static str = "XDG_CONFIG_HOME";
    /// Where podman keeps per-user runtime files when `XDG_RUNTIME_DIR` is unset
    /// (`<dir>/<uid>/auth.json`; default `/run/containers`). Tests point it elsewhere.
    pub const CARGO_OCI_CONTAINERS_RUN_DIR: &'static str = "CARGO_OCI_CONTAINERS_RUN_DIR";
    /// A GitHub token: credentials for ghcr.io when nothing else is configured (as ko does).
    pub const GITHUB_TOKEN: &'static str = "GITHUB_TOKEN";
    /// Where git finds its repository when it is not a `.git` above the work tree.
    pub const GIT_DIR: &'static str = "GIT_DIR";
    /// The user name that goes with `GITHUB_TOKEN` (any name works on ghcr.io).
    pub const GITHUB_ACTOR: &'static str = "GITHUB_ACTOR";

    /// `--repository`: the prefix every image is pushed under (ko's `KO_DOCKER_REPO`).
    pub const CARGO_OCI_REPOSITORY: &'static str = "CARGO_OCI_REPOSITORY";
    /// Where the Docker Engine listens (`unix:///PATH`), for `--load=docker`; as docker's CLI reads it.
    pub const DOCKER_HOST: &'static str = "DOCKER_HOST";

    /// `CARGO_TARGET_<TRIPLE>_LINKER`: the user's linker for a target.
    pub fn target_linker(triple: &str) -> String {
        format!("CARGO_TARGET_{}_LINKER", triple_env(triple))
    }
    /// `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`: per-target rustflags.
    pub fn target_rustflags(triple: &str) -> String {
        format!("CARGO_TARGET_{}_RUSTFLAGS", triple_env(triple))
    }
}

/// `aarch64-unknown-linux-musl` → `AARCH64_UNKNOWN_LINUX_MUSL`, as cargo spells it in variables.
pub fn triple_env(triple: &str) -> String {
    triple.to_ascii_uppercase().replace(['-', '.'], "_")
}

/// A snapshot of the process environment (or a test's made-up one).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// The directory relative paths and cargo config discovery start from.
    pub cwd: PathBuf,
    /// The effective user id (podman's `/run/containers/<uid>/auth.json`); `None` in tests.
    pub uid: Option<u32>,
}

impl Env {
    pub fn capture() -> std::io::Result<Env> {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        // The owner of /proc/self is the effective uid: no libc call needed for one number.
        let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?);
        Ok(Env { vars, cwd: std::env::current_dir()?, uid: Some(uid) })
    }

    pub fn from_pairs<'a>(cwd: PathBuf, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), cwd, uid: None }
    }

    /// A variable's value; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The cargo to run: the one that invoked us, else `cargo` from PATH.
    pub fn cargo(&self) -> OsString {
        self.get(EnvVars::CARGO).unwrap_or("cargo").into()
    }

    pub fn rustc(&self) -> OsString {
        self.get(EnvVars::RUSTC).unwrap_or("rustc").into()
    }

    pub fn cargo_home(&self) -> Option<PathBuf> {
        self.get(EnvVars::CARGO_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(EnvVars::HOME).map(|h| PathBuf::from(h).join(".cargo")))
    }

    /// `$XDG_CACHE_HOME`, else `~/.cache`: where zig (and cargo-oci's own cache) live.
    pub fn cache_home(&self) -> Option<PathBuf> {
        self.get(EnvVars::XDG_CACHE_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(EnvVars::HOME).map(|h| PathBuf::from(h).join(".cache")))
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub fn config_home(&self) -> Option<PathBuf> {
        self.get(EnvVars::XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(EnvVars::HOME).map(|h| PathBuf::from(h).join(".config")))
    }

    pub fn rustup_home(&self) -> Option<PathBuf> {
        self.get(EnvVars::RUSTUP_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(EnvVars::HOME).map(|h| PathBuf::from(h).join(".rustup")))
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The file a program name runs: a path (relative to the working directory) as given, a bare
    /// name looked up on PATH.
    pub fn resolve(&self, program: &std::ffi::OsStr) -> Option<PathBuf> {
        if program.as_encoded_bytes().contains(&b'/') {
            return Some(self.cwd.join(program));
        }
        self.which(program.to_str()?)
    }

    /// cargo-oci's own cache: `CARGO_OCI_CACHE`, else `$XDG_CACHE_HOME/cargo-oci`, else
    /// `~/.cache/cargo-oci`.
    pub fn cargo_oci_cache(&self) -> Option<PathBuf> {
        self.get(EnvVars::CARGO_OCI_CACHE)
            .map(|d| self.cwd.join(d))
            .or_else(|| self.cache_home().map(|d| d.join("cargo-oci")))
    }

    /// Finds an executable on PATH (hand-written: it is five lines, not worth a dependency).
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.get(EnvVars::PATH)?;
        std::env::split_paths(path)
            .map(|d| d.join(name))
            .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triple_names() {
        assert_eq!(
            EnvVars::target_linker("aarch64-unknown-linux-musl"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
        assert_eq!(triple_env("x86_64-unknown-linux-gnu"), "X86_64_UNKNOWN_LINUX_GNU");
    }

    #[test]
    fn empty_is_unset() {
        let env = Env::from_pairs("/".into(), [("SOURCE_DATE_EPOCH", ""), ("HOME", "/h")]);
        assert_eq!(env.get("SOURCE_DATE_EPOCH"), None);
        assert_eq!(env.cargo_home(), Some(PathBuf::from("/h/.cargo")));
    }
}
