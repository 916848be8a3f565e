//! What cargo-oci is compared with, run on the same inputs: buildah packaging the same binaries,
//! `skopeo copy --all` pushing the same layout through the same slow link, plain cargo builds of
//! the same crates. Each returns seconds; the caller takes medians and ratios.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::proxy::SlowLink;

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `c`, failing with its stderr; seconds it took.
pub fn timed(c: &mut Command) -> Result<f64, String> {
    let start = Instant::now();
    let o = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!("{c:?} failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Runs `c` under GNU time: (seconds, peak RSS in KiB).
pub fn timed_rss(c: &Command) -> Result<(f64, u64), String> {
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "rss_kb=%M"]).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        t.current_dir(d);
    }
    let start = Instant::now();
    let o = t.output().map_err(|e| format!("/usr/bin/time {c:?}: {e}"))?;
    let wall = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(format!("{c:?} failed: {err}"));
    }
    let rss = err.lines().rev().find_map(|l| l.strip_prefix("rss_kb=")).and_then(|v| v.trim().parse().ok());
    Ok((wall, rss.unwrap_or(0)))
}

/// buildah's way to the same 2-platform layout: from scratch, copy, commit, per platform; then a
/// manifest list pushed with `--all` into an OCI layout (gzip layers). Its own storage (vfs) in
/// `work`, so nothing of the machine's is touched and every run starts empty.
pub fn buildah_package(bins: [&Path; 2], work: &Path) -> Result<f64, String> {
    let store = |c: &mut Command| {
        c.arg("--storage-driver=vfs").arg("--root").arg(work.join("root")).arg("--runroot").arg(work.join("runroot"));
    };
    let buildah = |args: &[&str]| -> Result<String, String> {
        let mut c = Command::new("buildah");
        store(&mut c);
        let o = c.args(args).output().map_err(|e| format!("buildah: {e}"))?;
        if !o.status.success() {
            return Err(format!("buildah {args:?} failed: {}", String::from_utf8_lossy(&o.stderr)));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let out = format!("oci:{}:bench", work.join("lay").display());
    let start = Instant::now();
    for (arch, bin) in ["amd64", "arm64"].into_iter().zip(bins) {
        let bin = bin.display().to_string();
        let c = buildah(&["from", "--name", &format!("bench-{arch}"), "scratch"])?;
        buildah(&["copy", &c, &bin, "/usr/local/bin/bench"])?;
        buildah(&["config", "--arch", arch, "--os", "linux", "--entrypoint", r#"["/usr/local/bin/bench"]"#, &c])?;
        buildah(&["commit", "-q", &c, &format!("localhost/bench:{arch}")])?;
        buildah(&["rm", &c])?;
    }
    buildah(&["manifest", "create", "localhost/bench:multi"])?;
    for arch in ["amd64", "arm64"] {
        buildah(&["manifest", "add", "localhost/bench:multi", &format!("localhost/bench:{arch}")])?;
    }
    buildah(&["manifest", "push", "-q", "--all", "localhost/bench:multi", &out])?;
    let wall = start.elapsed().as_secs_f64();
    // vfs keeps a full copy per layer: remove it now rather than fill the disk over the runs.
    let _ = std::fs::remove_dir_all(work.join("root"));
    Ok(wall)
}

/// A Debian `docker-registry` on a free loopback port, with its own empty storage; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Result<Registry, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
            d.join("data").display()
        );
        std::fs::write(d.join("config.yml"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(d.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .env("REGISTRY_HTTP_SECRET", "bench")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("docker-registry: {e}"))?;
        let started = Instant::now();
        let port = loop {
            let text = std::fs::read_to_string(d.join("log")).unwrap_or_default();
            if let Some(rest) = text.split("listening on 127.0.0.1:").nth(1) {
                break rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().map_err(|_| text)?;
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!("docker-registry did not start: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Registry { child, port, _dir: dir })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who pushes.
#[derive(Clone, Copy)]
pub enum Pusher<'a> {
    CargoOci(&'a Path),
    Skopeo,
}

/// Pushes tag `bench` of `layout` to a fresh registry through a [`SlowLink`] of `one_way` delay
/// and `rate` bytes/s per connection: (seconds, peak RSS KiB). A fresh registry each time, so no
/// blob is already there and no client can mount one from an earlier run.
pub fn push(who: Pusher<'_>, layout: &Path, one_way: Duration, rate: f64) -> Result<(f64, u64), String> {
    let registry = Registry::start()?;
    let link = SlowLink::start(([127, 0, 0, 1], registry.port).into(), one_way, rate).map_err(|e| e.to_string())?;
    let src = format!("oci:{}:bench", layout.display());
    let dest = format!("127.0.0.1:{}/bench:v1", link.port);
    let mut c = match who {
        Pusher::CargoOci(exe) => {
            let mut c = Command::new(exe);
            c.args(["oci", "push", "-q", &src, &dest]);
            c
        }
        Pusher::Skopeo => {
            let mut c = Command::new("skopeo");
            c.args(["copy", "-q", "--all", "--dest-tls-verify=false", &src, &format!("docker://{dest}")]);
            c
        }
    };
    c.stdout(Stdio::null());
    timed_rss(&c)
}

/// A `cargo oci build` of `dir` for both targets on the image of `layout` as its base, served by a
/// fresh registry through a [`SlowLink`], from an empty cache: every base layer comes through
/// the link, `jobs` at a time. Seconds (cargo itself is up to date: the pull is what differs).
pub fn build_on_far_base(
    exe: &Path,
    dir: &Path,
    layout: &Path,
    jobs: &str,
    one_way: Duration,
    rate: f64,
) -> Result<f64, String> {
    let registry = Registry::start()?;
    // The base goes up at full speed, untimed.
    let src = format!("oci:{}:bench", layout.display());
    let direct = format!("127.0.0.1:{}/base:v1", registry.port);
    timed(Command::new(exe).args(["oci", "push", "-q", &src, &direct]).stdout(Stdio::null()))?;
    let link = SlowLink::start(([127, 0, 0, 1], registry.port).into(), one_way, rate).map_err(|e| e.to_string())?;
    let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut c = cargo_oci_build(exe, dir, &["x86_64", "aarch64"]);
    c.args(["--base", &format!("127.0.0.1:{}/base:v1", link.port), "-j", jobs]);
    timed(c.env("CARGO_OCI_CACHE", cache.path()))
}

/// A copy of example `name` in `work` with no target dir: a cold build of it compiles everything
/// (the registry's sources are already downloaded, as on a developer's machine).
pub fn fresh_example(repo: &Path, name: &str, work: &Path) -> Result<PathBuf, String> {
    let dest = work.join(name);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(dest.join("src")).map_err(|e| e.to_string())?;
    for f in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(repo.join("examples").join(name).join(f), dest.join(f)).map_err(|e| e.to_string())?;
    }
    for e in std::fs::read_dir(repo.join("examples").join(name).join("src")).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        std::fs::copy(e.path(), dest.join("src").join(e.file_name())).map_err(|e| e.to_string())?;
    }
    // As a project nobody edited in the last seconds: cargo-oci keeps no cargo answer read from
    // a file changed that recently (it may have changed while cargo read it), so a copy made
    // just now would make every no-op run within two seconds ask cargo again.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for p in [dest.join("Cargo.toml"), dest.join("Cargo.lock"), dest.join("src"), dest.clone()] {
        std::fs::File::open(&p).and_then(|f| f.set_modified(old)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    for e in std::fs::read_dir(dest.join("src")).map_err(|e| e.to_string())?.flatten() {
        std::fs::File::open(e.path()).and_then(|f| f.set_modified(old)).map_err(|e| e.to_string())?;
    }
    Ok(dest)
}

/// `cargo oci build` of the crate in `dir` for the two targets into layout `lay`.
pub fn cargo_oci_build(exe: &Path, dir: &Path, targets: &[&str]) -> Command {
    let mut c = Command::new(exe);
    c.current_dir(dir).args(["oci", "build", "-q", "-o", "lay", "--target", &targets.join(",")]).stdout(Stdio::null());
    // `cargo xtask` sets CARGO to the toolchain's cargo, which cargo-oci would run directly while
    // the plain `cargo build` it is compared with goes through rustup's proxy (~6 ms): both go
    // through PATH here, as when the binary is run by hand.
    c.env_remove("CARGO");
    c
}

/// [`cargo_oci_build`] as a user types it, `cargo oci build`: cargo finds `cargo-oci` on PATH
/// (rustup's proxy and cargo's own start come first; cargo then sets CARGO, so cargo-oci runs
/// the toolchain's cargo without the proxy).
pub fn cargo_oci_via_cargo(exe: &Path, dir: &Path, targets: &[&str]) -> Command {
    let bin = exe.parent().unwrap_or(Path::new("."));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("cargo");
    c.current_dir(dir).args(["oci", "build", "-q", "-o", "lay", "--target", &targets.join(",")]).stdout(Stdio::null());
    c.env("PATH", path).env_remove("CARGO");
    c
}

/// The plain cargo command a user would run for `triples` (release, as cargo-oci builds): `cargo
/// build` with rust-lld for crates without C, `cargo zigbuild` (what cargo-oci picks) for crates
/// with C.
pub fn cargo_build(dir: &Path, triples: &[&str], zig: bool, target_dir: &str) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(dir).args([if zig { "zigbuild" } else { "build" }, "--release", "-q", "--target-dir", target_dir]);
    for t in triples {
        c.args(["--target", t]);
        if !zig {
            c.env(format!("CARGO_TARGET_{}_LINKER", t.to_uppercase().replace('-', "_")), "rust-lld");
        }
    }
    c.stdout(Stdio::null());
    c
}
