//! Test support: fixture projects, a runner for the built `cargo-oci`, wrappers around the
//! external checkers, and a validator for every layout we write.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The repository root (examples live there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when a missing tool must fail the test instead of skipping it.
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `tool` is on PATH. Under CI=true a missing tool panics: a check nobody ran is not a pass.
pub fn have(tool: &str) -> bool {
    let found = which(tool).is_some();
    if !found {
        if strict() {
            panic!("`{tool}` is required by this test (CI=true); run `cargo xtask test` to install it");
        }
        eprintln!("SKIPPED: `{tool}` not installed (set CI=true to make this a failure)");
    }
    found
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// A scratch project: a copy of an example or files written by the test, with its own target dir.
/// Its path is lowercase (podman turns `oci:` paths into image names, which must be).
pub struct Project {
    dir: PathBuf,
    /// Kept after the test (a cached example whose target dir stays warm).
    keep: bool,
}

impl Drop for Project {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Project {
    /// A copy of `examples/<name>` (without its target dir).
    pub fn example(name: &str) -> Project {
        let p = Project::empty();
        copy_tree(&repo().join("examples").join(name), p.path());
        p
    }

    /// A copy of `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> Project {
        let p = Project::empty();
        copy_tree(&repo().join("tests/fixtures").join(name), p.path());
        p
    }

    pub fn empty() -> Project {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Outside the repository: a fixture must not inherit its git commit time or revision.
        let dir = std::env::temp_dir().join("cargo-oci-it").join(format!("p{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Project { dir, keep: false }
    }

    /// A copy of `examples/<name>` at a fixed path under target/it-cache, copied once per test
    /// run and kept: its path is part of the rustflags (path remaps), so a slow build (zig, C
    /// code) in [`Project::cache_dir`] stays warm from one run to the next.
    pub fn cached_example(name: &str) -> Project {
        static COPIED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let p = Project::kept(name);
        let mut copied = COPIED.lock().unwrap();
        if !copied.iter().any(|n| n == name) {
            copy_tree(&repo().join("examples").join(name), p.path());
            copied.push(name.to_string());
        }
        p
    }

    /// An empty project at a fixed path under target/it-cache, kept after the test (see
    /// [`Project::cached_example`]); write its files with [`Project::file_if_changed`].
    pub fn kept(name: &str) -> Project {
        let dir = repo().join("target/it-cache").join(format!("{name}-src"));
        std::fs::create_dir_all(&dir).unwrap();
        Project { dir, keep: true }
    }

    /// [`Project::file`] that leaves an identical file alone (its mtime would make cargo rebuild).
    pub fn file_if_changed(self, rel: &str, contents: &[u8]) -> Project {
        let p = self.path().join(rel);
        if std::fs::read(&p).ok().as_deref() != Some(contents) {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, contents).unwrap();
        }
        self
    }

    /// The kept target dir of a [`Project::cached_example`].
    pub fn cache_dir(name: &str) -> PathBuf {
        repo().join("target/it-cache").join(name)
    }

    /// A std-only binary crate `name` printing `msg`.
    pub fn bin(name: &str, msg: &str) -> Project {
        Project::empty()
            .file(
                "Cargo.toml",
                &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"),
            )
            .file("src/main.rs", &format!("fn main() {{ println!(\"{msg} {{}}\", std::env::consts::ARCH); }}\n"))
    }

    /// [`Project::bin`] whose binary also carries `size` bytes of noise, so its layer is that large
    /// compressed too: over 1 MiB it is gzip of several members (one per 1 MiB of tar), the form
    /// every reader must read whole.
    pub fn noisy(name: &str, msg: &str, size: usize) -> Project {
        let p = Project::bin(name, msg).file(
            "src/main.rs",
            &format!(
                "static NOISE: &[u8] = include_bytes!(\"noise.bin\");\n\
                 fn main() {{ std::hint::black_box(NOISE); println!(\"{msg} {{}}\", std::env::consts::ARCH); }}\n"
            ),
        );
        std::fs::write(p.path().join("src/noise.bin"), noise(size, 0x9e37_79b9_7f4a_7c15)).unwrap();
        p
    }

    /// A binary crate `name` depending on `csys`, which declares `links` as crates that compile C
    /// do (its build script does nothing: only the plan looks at it).
    pub fn with_c_dependency(name: &str) -> Project {
        let manifest = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\ncsys = {{ path = \"csys\" }}\n[workspace]\n");
        Project::empty()
            .file("Cargo.toml", &manifest)
            .file("src/main.rs", "fn main() {}\n")
            .file(
                "csys/Cargo.toml",
                "[package]\nname = \"csys\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlinks = \"csys\"\n",
            )
            .file("csys/build.rs", "fn main() {}\n")
            .file("csys/src/lib.rs", "")
    }

    pub fn file(self, rel: &str, contents: &str) -> Project {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Snapshot settings for output that names this project: its path becomes `[PROJECT]`, and
    /// the git revision (the project sits inside this repository) becomes `[REVISION]`.
    pub fn insta(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&regex_escape(&self.path().display().to_string()), "[PROJECT]");
        s.add_filter(r"\b[0-9a-f]{40}\b", "[REVISION]");
        s.set_prepend_module_to_snapshot(false);
        s
    }

    /// `cargo-oci oci <args>` in this project, with its own target dir and no colour.
    pub fn oci(&self, args: &[&str]) -> Run {
        self.oci_with(&self.path().join("target"), args, &[])
    }

    /// [`Project::oci`] with extra environment variables.
    pub fn oci_env(&self, args: &[&str], vars: &[(String, String)]) -> Run {
        self.oci_with(&self.path().join("target"), args, vars)
    }

    /// Like [`Project::oci`], with a target dir that outlives the project: slow builds (zig, C
    /// code) are warm when the suite runs again.
    pub fn oci_in(&self, target_dir: &Path, args: &[&str]) -> Run {
        self.oci_with(target_dir, args, &[])
    }

    fn oci_with(&self, target_dir: &Path, args: &[&str], vars: &[(String, String)]) -> Run {
        let mut c = self.oci_command(target_dir, args);
        c.envs(vars.iter().map(|(k, v)| (k, v)));
        Run::of(c)
    }

    /// The command [`Project::oci_in`] runs, to spawn (and kill) it or run it under a umask.
    pub fn oci_command(&self, target_dir: &Path, args: &[&str]) -> Command {
        let mut c = cargo_oci();
        c.current_dir(self.path()).args(args);
        c.env("CARGO_TARGET_DIR", target_dir);
        // Keep git from finding an enclosing repository, so the output does not depend on which
        // commit the tests run at (no `revision` annotation, epoch 0).
        c.env("GIT_CEILING_DIRECTORIES", self.path().parent().unwrap());
        c
    }
}

/// The built binary, invoked as cargo invokes it (`cargo-oci oci …`).
pub fn cargo_oci() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-oci"));
    c.arg("oci");
    c.env("NO_COLOR", "1").env_remove("CARGO_TERM_COLOR").env_remove("SOURCE_DATE_EPOCH").env("RUST_BACKTRACE", "0");
    c
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '/' { c.to_string() } else { format!("\\{c}") }).collect()
}

pub fn copy_tree(from: &Path, to: &Path) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        if rel.starts_with("target") {
            continue;
        }
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dest).unwrap();
    }
}

/// Every file and directory under `dir`, at any depth (not `dir` itself).
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tree(&p));
        }
        out.push(p);
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A finished command with its output, and assertions that print everything on failure.
pub struct Run {
    pub cmd: String,
    pub out: Output,
}

impl Run {
    pub fn of(mut c: Command) -> Run {
        let cmd = format!("{c:?}");
        let out = c.output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
        Run { cmd, out }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn success(self) -> Run {
        assert!(
            self.out.status.success(),
            "{} failed\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd,
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn failure(self) -> Run {
        assert!(
            !self.out.status.success(),
            "{} should have failed\n--- stdout\n{}\n--- stderr\n{}",
            self.cmd,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The `error:` line and the `hint:` lines of a failure.
    pub fn error_and_hints(&self) -> (String, Vec<String>) {
        let err = self.stderr();
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "exactly one error: line expected\n{err}");
        let hints = err.lines().filter(|l| l.starts_with("hint:")).map(String::from).collect();
        (errors[0].to_string(), hints)
    }
}

/// Runs any external tool and requires success.
pub fn tool(program: &str, args: &[&str]) -> Run {
    let mut c = Command::new(program);
    c.args(args);
    Run::of(c).success()
}

/// The `oci:<dir>:<tag>@sha256:<hex>` line of a build, parsed.
pub struct BuiltRef {
    pub layout: PathBuf,
    pub tag: String,
    pub digest: String,
}

pub fn parse_built(line: &str) -> BuiltRef {
    let line = line.trim();
    let rest = line.strip_prefix("oci:").unwrap_or_else(|| panic!("not an oci: line: {line}"));
    let (left, digest) = rest.rsplit_once('@').unwrap();
    let (layout, tag) = left.rsplit_once(':').unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{line}");
    BuiltRef { layout: layout.into(), tag: tag.into(), digest: digest.into() }
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

pub fn blob_json(layout: &Path, digest: &str) -> Value {
    read_json(&blob_path(layout, digest))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One platform of an image, as read back from a layout.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub platform: String,
    pub digest: String,
    pub manifest: Value,
    pub config: Value,
    pub layers: Vec<String>,
}

/// Checks every invariant of a layout we wrote and returns the platforms of `tag`:
/// each descriptor's digest and size match the bytes, config diff_ids match the decompressed
/// layers, the index platform matches the config's.
pub fn validate_layout(layout: &Path, tag: &str) -> Vec<Manifest> {
    let layout_file = read_json(&layout.join("oci-layout"));
    assert_eq!(layout_file["imageLayoutVersion"], "1.0.0");
    let index_json = read_json(&layout.join("index.json"));
    let top: Vec<&Value> = index_json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .collect();
    assert_eq!(top.len(), 1, "one index.json entry for tag {tag}: {index_json}");
    let top = top[0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let index = check_blob(layout, top);
    // Referrers (SBOM, provenance) are untagged index.json entries whose subject is in the layout.
    for d in index_json["manifests"].as_array().unwrap().iter().filter(|d| d.get("artifactType").is_some()) {
        assert!(d["annotations"].get("org.opencontainers.image.ref.name").is_none(), "referrers are untagged: {d}");
        let m = check_blob(layout, d);
        assert_eq!(m["artifactType"], d["artifactType"]);
        check_blob_bytes(layout, &m["layers"][0]);
        check_blob_bytes(layout, &m["subject"]);
    }
    for d in index["manifests"].as_array().unwrap() {
        assert_ne!(d["platform"]["os"], "unknown", "no unknown/unknown entries in an image index: {index}");
    }
    let mut out = Vec::new();
    for d in index["manifests"].as_array().unwrap() {
        let manifest = check_blob(layout, d);
        let config = check_blob(layout, &manifest["config"]);
        let p = &d["platform"];
        assert_eq!(p["architecture"], config["architecture"], "index platform vs config");
        assert_eq!(p["os"], config["os"]);
        assert_eq!(p.get("variant"), config.get("variant"));
        let diff_ids: Vec<String> =
            config["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let layers: Vec<String> =
            manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect();
        assert_eq!(diff_ids.len(), layers.len());
        for (l, diff) in manifest["layers"].as_array().unwrap().iter().zip(&diff_ids) {
            check_blob_bytes(layout, l);
            // Decoded by the media type with libzstd / flate2, not through our own layer reader.
            let blob = std::fs::File::open(blob_path(layout, l["digest"].as_str().unwrap())).unwrap();
            let mut raw = Vec::new();
            match l["mediaType"].as_str().unwrap() {
                t if t.ends_with("zstd") => zstd::Decoder::new(blob).unwrap().read_to_end(&mut raw),
                t if t.ends_with("gzip") => flate2::read::MultiGzDecoder::new(blob).read_to_end(&mut raw),
                t => panic!("unexpected layer media type {t}"),
            }
            .unwrap();
            assert_eq!(&format!("sha256:{}", sha256_hex(&raw)), diff, "diff_id of {}", l["digest"]);
        }
        let mut platform = format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap());
        if let Some(v) = p.get("variant").and_then(Value::as_str) {
            platform.push('/');
            platform.push_str(v);
        }
        out.push(Manifest { platform, digest: d["digest"].as_str().unwrap().into(), manifest, config, layers });
    }
    out
}

/// A descriptor's blob, checked against its digest and size.
pub fn check_blob_bytes(layout: &Path, d: &Value) -> Vec<u8> {
    let digest = d["digest"].as_str().unwrap();
    let bytes = std::fs::read(blob_path(layout, digest)).unwrap_or_else(|e| panic!("blob {digest}: {e}"));
    assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap(), "size of {digest}");
    assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), digest, "digest of blob");
    bytes
}

fn check_blob(layout: &Path, d: &Value) -> Value {
    let bytes = check_blob_bytes(layout, d);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(t) = v.get("mediaType") {
        assert_eq!(t, &d["mediaType"], "mediaType in descriptor vs document");
    }
    v
}

/// A snapshot of every file under `dir` (path → sha256), to prove nothing changed.
pub fn tree_state(dir: &Path) -> BTreeMap<String, String> {
    if !dir.exists() {
        return BTreeMap::new();
    }
    walk(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), sha256_hex(&std::fs::read(&p).unwrap())))
        .collect()
}

/// `skopeo copy --override-arch ARCH oci:LAYOUT:TAG oci:DEST:DEST_TAG`: one platform of an index
/// as a single-manifest image.
pub fn copy_platform(layout: &Path, tag: &str, arch: &str, dest: &Path, dest_tag: &str) {
    let (from, to) = (format!("oci:{}:{tag}", layout.display()), format!("oci:{}:{dest_tag}", dest.display()));
    tool("skopeo", &["copy", "-q", "--override-arch", arch, &from, &to]);
}

/// `skopeo copy --override-arch A oci:L:T oci:tmp:x` then `umoci unpack`: the rootfs of one platform.
pub fn unpack_platform(layout: &Path, tag: &str, arch: &str, work: &Path) -> PathBuf {
    let sel = work.join(format!("sel-{arch}"));
    let bundle = work.join(format!("bundle-{arch}"));
    copy_platform(layout, tag, arch, &sel, "x");
    tool("umoci", &["unpack", "--image", &format!("{}:x", sel.display()), bundle.to_str().unwrap()]);
    bundle.join("rootfs")
}

/// podman with the settings this machine needs (runc, rlimits within the hard limits) and
/// private storage, so tests do not share state.
pub fn podman(storage: &Path, args: &[&str]) -> Run {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--storage-driver", "vfs", "--root"])
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("runroot"))
        .args(args);
    Run::of(c)
}

/// `size` bytes of xorshift noise from `seed`: content no compressor shrinks, cheap to make.
pub fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `podman run --rm IMAGE --once` (the hello example's answer-and-exit), with private storage in `work`.
pub fn podman_run_once(work: &Path, image: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend(PODMAN_ULIMITS);
    args.extend([image, "--once"]);
    podman(work, &args).success().stdout()
}

pub const PODMAN_ULIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/// A container started by [`podman_run_detached`], `podman rm -f`'d when dropped, however the
/// test ends.
pub struct Container<'a> {
    pub storage: &'a Path,
    pub name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = podman(self.storage, &["rm", "-f", &self.name]);
    }
}

/// `podman run -d` of `image` (an `oci:` reference), without network, then waits (at most two
/// minutes, a guard against a hang, never a measurement) until its output contains `ready`.
pub fn podman_run_detached<'a>(storage: &'a Path, image: &str, ready: &str) -> Container<'a> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("cargo-oci-it-{}-{n}", std::process::id());
    let container = Container { storage, name: name.clone() };
    let mut args = vec!["run", "-d", "--name", &name, "--network", "none"];
    args.extend(PODMAN_ULIMITS);
    args.push(image);
    podman(storage, &args).success();
    let mut logs = String::new();
    for _ in 0..2400 {
        let run = podman(storage, &["logs", &name]).success();
        logs = run.stdout() + &run.stderr();
        if logs.contains(ready) {
            return container;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the container never printed `{ready}`: {logs}");
}

/// Unpacks one platform of `layout:tag` into an OCI runtime bundle (config.json + rootfs).
pub fn unpack_bundle(layout: &Path, tag: &str, arch: &str, work: &Path) -> PathBuf {
    std::fs::create_dir_all(work).unwrap();
    let rootfs = unpack_platform(layout, tag, arch, work);
    let bundle = rootfs.parent().unwrap().to_path_buf();
    let cfg = bundle.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("\"terminal\": true", "\"terminal\": false");
    std::fs::write(&cfg, text).unwrap();
    bundle
}

/// Runs the bundle's process as the image says (args, env, cwd, user): with runc for the host's
/// architecture, and for arm64 under qemu-aarch64-static, whose `-L` prefix maps the image's
/// absolute paths into the rootfs (no binfmt, no kernel state).
pub fn run_bundle(bundle: &Path, arch: &str) -> String {
    let cfg = read_json(&bundle.join("config.json"));
    let process = &cfg["process"];
    if arch == "amd64" {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!("cargo-oci-it-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let state = bundle.join("runc-state");
        let root = format!("--root={}", state.display());
        return tool("runc", &[&root, "run", "-b", bundle.to_str().unwrap(), &id]).stdout();
    }
    let rootfs = bundle.join("rootfs");
    let args: Vec<&str> = process["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut c = Command::new(format!("qemu-{}-static", if arch == "arm64" { "aarch64" } else { arch }));
    c.arg("-L").arg(&rootfs).arg(rootfs.join(args[0].trim_start_matches('/'))).args(&args[1..]);
    c.env_clear();
    for e in process["env"].as_array().unwrap() {
        let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
        c.env(k, v);
    }
    c.current_dir(rootfs.join(process["cwd"].as_str().unwrap().trim_start_matches('/')));
    Run::of(c).success().stdout()
}

/// A small two-platform image written through the library (scratch base, one layer of fixed
/// bytes per platform): the same digests on every machine and toolchain, for snapshots.
pub fn fake_image(layout: &Path, tag: &str, archs: &[&str], message: &str) {
    fake_image_with(layout, tag, archs, "usr/local/bin/fake", &|platform| format!("{message} for {platform}"));
}

/// [`fake_image`] with another file (`path`, its text per platform) in the one layer.
pub fn fake_image_with(layout: &Path, tag: &str, archs: &[&str], path: &str, body: &dyn Fn(&str) -> String) {
    use cargo_oci::image::ImageInput;
    use cargo_oci::layer::{Entry, Source};
    use cargo_oci::oci::{Blob, ContainerConfig, Content, Image, Layer, MediaFamily};
    use cargo_oci::plan::Target;
    use cargo_oci::store::Source as _;

    let annotations: BTreeMap<String, String> =
        [("org.opencontainers.image.title".to_string(), "fake".to_string())].into();
    let config = ContainerConfig {
        entrypoint: vec!["/usr/local/bin/fake".into()],
        cmd: Some(vec!["--serve".into()]),
        env: vec![("RUST_LOG".into(), "info".into())],
        user: Some("65532:65532".into()),
        workdir: Some("/srv".into()),
        exposed_ports: vec!["8080/tcp".into()],
        labels: [("org.example.team".to_string(), "platform".to_string())].into(),
        bin_dir: "/usr/local/bin".into(),
        stop_signal: None,
        volumes: Vec::new(),
    };
    let mut images = Vec::new();
    for arch in archs {
        let platform = Target::parse(arch).unwrap().platform;
        let base = cargo_oci::store::builtin::Scratch.base(&platform).unwrap();
        let body = body(&platform.to_string()).into_bytes();
        let entries = vec![Entry::file(path, Source::Bytes(body), 0o755)];
        let (bytes, d) = cargo_oci::layer::write(entries, 0, Vec::new()).unwrap();
        let layer = Layer {
            blob: Blob {
                media_type: cargo_oci::layer::MEDIA_TYPE.into(),
                digest: d.digest,
                size: d.size,
                content: Content::Bytes(bytes.into()),
            },
            diff_id: d.diff_id,
            created_by: format!("fake binary for {platform}"),
        };
        let input = ImageInput {
            platform: &platform,
            base: &base,
            layers: vec![layer],
            config: &config,
            epoch: 0,
            annotations: &annotations,
        };
        images.push(cargo_oci::image::platform_image(input).unwrap());
    }
    let index = cargo_oci::image::index(&images, &annotations, MediaFamily::Oci).unwrap();
    cargo_oci::store::layout::write(layout, &Image::new(index, images), &[tag.to_string()]).unwrap();
}

/// The architectures an image index lists, in order.
pub fn index_archs(index: &serde_json::Value) -> Vec<&str> {
    index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect()
}

/// artifactType → (subject digest → document) for every referrer in the layout.
pub fn referrers(lay: &Path, artifact_type: &str) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let index = read_json(&lay.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"] == artifact_type)
        .map(|d| {
            let m = blob_json(lay, d["digest"].as_str().unwrap());
            let doc = blob_json(lay, m["layers"][0]["digest"].as_str().unwrap());
            (m["subject"]["digest"].as_str().unwrap().to_string(), m, doc)
        })
        .collect()
}
