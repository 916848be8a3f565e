//! Registry fixtures: Debian's `docker-registry` on 127.0.0.1:0 (plain, htpasswd, TLS with a CA
//! and a leaf certificate), a two-platform base built with buildah, containerd for `ctr`, and
//! (in `registry_proxy`) the loopback proxy that plays the registries of the field.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::registry_proxy::*;
use crate::support::*;

pub const USER: &str = "tester";
pub const PASS: &str = "s3cret-Pa55";

/// A running registry, stopped (killed by PID) when dropped.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The CA certificate of a TLS registry.
    pub ca: Option<PathBuf>,
    pub auth: bool,
}

pub enum Kind {
    Plain,
    Htpasswd,
    Tls,
}

impl Registry {
    /// `None` when docker-registry is not installed (a failure under CI=true, via `have`).
    pub fn start(kind: Kind) -> Option<Registry> {
        if !have("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
            d.join("data").display()
        );
        let auth = !matches!(kind, Kind::Plain);
        if auth {
            assert!(have("htpasswd"));
            let out = tool("htpasswd", &["-Bbn", USER, PASS]).stdout();
            std::fs::write(d.join("htpasswd"), out).unwrap();
        }
        let mut ca = None;
        if matches!(kind, Kind::Tls) {
            assert!(have("openssl"));
            ca = Some(make_certs(d));
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("leaf.crt").display(),
                d.join("leaf.key").display()
            ));
        }
        if auth {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                d.join("htpasswd").display()
            ));
        }
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .env("REGISTRY_HTTP_SECRET", "test-secret")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let port = loop {
            let text = std::fs::read_to_string(d.join("registry.log")).unwrap_or_default();
            if let Some(rest) = text.split("listening on 127.0.0.1:").nth(1) {
                break rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "registry did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Some(Registry { child: Some(child), port, dir, ca, auth })
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// skopeo/buildah flags to reach it.
    pub fn client_flags(&self, verb_prefix: &str) -> Vec<String> {
        let mut f = Vec::new();
        match &self.ca {
            Some(ca) => f.push(format!("--{verb_prefix}cert-dir={}", ca.parent().unwrap().join("certs.d").display())),
            None => f.push(format!("--{verb_prefix}tls-verify=false")),
        }
        if self.auth {
            f.push(format!("--{verb_prefix}creds={USER}:{PASS}"));
        }
        f
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A registry of `kind` and a work directory, when every tool in `tools` is installed.
pub fn registry_and(kind: Kind, tools: &[&str]) -> Option<(Registry, tempfile::TempDir)> {
    let reg = Registry::start(kind)?;
    tools.iter().all(|t| have(t)).then(|| (reg, tempfile::tempdir().unwrap()))
}

/// A CA, and a leaf certificate for 127.0.0.1 signed by it (rustls refuses a CA certificate
/// used as the server's). Returns the CA file; `certs.d/` holds it for skopeo.
fn make_certs(d: &Path) -> PathBuf {
    let ossl = |args: &[&str]| {
        let mut c = Command::new("openssl");
        c.current_dir(d).args(args);
        Run::of(c).success()
    };
    ossl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
    ]);
    ossl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        d.join("leaf.ext"),
        // `registry.invalid` (RFC 6761: never resolves) is the name tests reach it by through a
        // CONNECT proxy, which sends every tunnel to 127.0.0.1.
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:registry.invalid\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.crt",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    std::fs::create_dir_all(d.join("certs.d")).unwrap();
    std::fs::copy(d.join("ca.crt"), d.join("certs.d/ca.crt")).unwrap();
    d.join("ca.crt")
}

/// `buildah ARGS` with its storage (vfs) under `root`; its stdout, trimmed.
fn buildah(root: &Path, args: &[&str]) -> String {
    assert!(have("buildah"));
    let mut c = Command::new("buildah");
    c.args(["--storage-driver", "vfs", "--root"]).arg(root.join("root")).arg("--runroot").arg(root.join("run"));
    c.args(args);
    Run::of(c).success().stdout().trim().to_string()
}

/// A two-platform base (linux/amd64 + linux/arm64, one layer each holding `/etc/base-marker`
/// and a config with `User` and `Env`), built with buildah from scratch — no code of ours.
/// `dest` is any buildah destination (`docker://…`, `oci:DIR:TAG`); `format` is `oci` or `v2s2`.
pub fn buildah_base(work: &Path, dest: &str, format: &str, flags: &[String]) {
    buildah_base_marked(work, dest, format, flags, "base");
}

/// [`buildah_base`] whose marker file says `<marker> for <arch>` (two bases that differ). The
/// images are kept in `work`'s buildah storage: one marker per `work`.
pub fn buildah_base_marked(work: &Path, dest: &str, format: &str, flags: &[String], marker: &str) {
    let root = work.join("buildah");
    let b = |args: &[&str]| buildah(&root, args);
    let marker_text = marker;
    if !root.exists() {
        for arch in ["amd64", "arm64"] {
            let marker = work.join(format!("marker-{arch}"));
            std::fs::write(&marker, format!("{} for {arch}\n", marker_text)).unwrap();
            let c = b(&["from", "scratch"]);
            b(&["copy", &c, marker.to_str().unwrap(), "/etc/base-marker"]);
            b(&["config", "--arch", arch, "--os", "linux", "--env", "BASEVAR=from-base", "--user", "65532:65532", &c]);
            b(&["commit", "-q", &c, &format!("localhost/base:{arch}")]);
            b(&["rm", &c]);
        }
        b(&["manifest", "create", "localhost/base:multi"]);
        b(&["manifest", "add", "localhost/base:multi", "localhost/base:amd64"]);
        b(&["manifest", "add", "localhost/base:multi", "localhost/base:arm64"]);
    }
    let mut args = vec!["manifest", "push", "-q", "--all", "--format", format];
    args.extend(flags.iter().map(String::as_str));
    args.extend(["localhost/base:multi", dest]);
    b(&args);
}

/// A linux/amd64 base of `layers` layers, built with buildah from scratch (each layer a commit on
/// the one before, adding `/layer-N`; the first holds `big` bytes of noise, the others a line)
/// and pushed to `dest` (`docker://…`) as an OCI image. Returns the layer digests, bottom first.
pub fn buildah_layered_base(work: &Path, dest: &str, flags: &[String], layers: usize, big: usize) -> Vec<String> {
    let root = work.join("buildah-layered");
    let b = |args: &[&str]| buildah(&root, args);
    let mut from = "scratch".to_string();
    for n in 1..=layers {
        let file = work.join(format!("layer-{n}"));
        let bytes = if n == 1 { noise(big, 0x5eed) } else { format!("layer {n}\n").into_bytes() };
        std::fs::write(&file, bytes).unwrap();
        let c = b(&["from", &from]);
        b(&["copy", &c, file.to_str().unwrap(), &format!("/layer-{n}")]);
        b(&["config", "--arch", "amd64", "--os", "linux", &c]);
        from = format!("localhost/layered:{n}");
        b(&["commit", "-q", &c, &from]);
        b(&["rm", &c]);
    }
    let mut args = vec!["push", "-q", "--format", "oci"];
    args.extend(flags.iter().map(String::as_str));
    args.extend([from.as_str(), dest]);
    b(&args);
    let manifest = skopeo_raw(dest, flags);
    let digests: Vec<String> =
        manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect();
    assert_eq!(digests.len(), layers, "one layer per commit: {manifest}");
    digests
}

/// `skopeo inspect --raw` of a reference (`docker://…`, `oci:…`), parsed.
pub fn skopeo_raw(reference: &str, flags: &[String]) -> serde_json::Value {
    let mut args = vec!["inspect", "--raw"];
    args.extend(flags.iter().map(String::as_str));
    args.push(reference);
    serde_json::from_str(&tool("skopeo", &args).stdout()).unwrap()
}

/// `skopeo copy --all` of `reference` (on a plain-HTTP registry) into the layout `dest` as `tag`.
pub fn skopeo_pull(reference: &str, dest: &Path, tag: &str) {
    let to = format!("oci:{}:{tag}", dest.display());
    tool("skopeo", &["copy", "-q", "--all", "--src-tls-verify=false", &format!("docker://{reference}"), &to]);
}

/// A temp environment for cargo-oci: its own cache, docker config dir, and no podman auth file,
/// so a test never reads or writes the user's.
pub struct OciEnv {
    pub dir: tempfile::TempDir,
}

impl OciEnv {
    pub fn new() -> OciEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        OciEnv { dir }
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Writes `config.json` into the docker config dir.
    pub fn docker_config(&self, json: &serde_json::Value) {
        std::fs::write(self.dir.path().join("docker/config.json"), json.to_string()).unwrap();
    }

    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("CARGO_OCI_CACHE".into(), self.cache().display().to_string()),
            ("DOCKER_CONFIG".into(), self.dir.path().join("docker").display().to_string()),
            ("REGISTRY_AUTH_FILE".into(), self.dir.path().join("no-auth.json").display().to_string()),
            ("XDG_CONFIG_HOME".into(), self.dir.path().join("config").display().to_string()),
        ]
    }

    /// `cargo-oci oci <args>` outside any project (e.g. `push`).
    pub fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut c = cargo_oci();
        c.current_dir(self.dir.path()).args(args);
        c.envs(self.vars()).envs(extra.iter().copied());
        Run::of(c)
    }
}

/// `auths` for one registry with the test user's credentials (as `docker login` writes them).
pub fn auths_config(host: &str, user: &str, pass: &str) -> serde_json::Value {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    serde_json::json!({"auths": {host: {"auth": auth}}})
}

/// Starts containerd on a socket in `dir` (its own root, state and an empty config), for `ctr`.
pub struct Containerd {
    child: Child,
    pub socket: PathBuf,
}

impl Containerd {
    pub fn start(dir: &Path) -> Containerd {
        let socket = dir.join("containerd.sock");
        std::fs::write(dir.join("config.toml"), "version = 2\n").unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--address")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !socket.exists() {
            assert!(started.elapsed() < Duration::from_secs(30), "containerd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Containerd { child, socket }
    }

    pub fn ctr(&self, args: &[&str]) -> Run {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket).args(args);
        Run::of(c)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
