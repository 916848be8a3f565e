//! Named archives (`--tar`) and `--load` into real engines: a Docker Engine with the classic
//! image store (Debian's docker.io on a private socket), podman, containerd. podman's Docker API
//! is no stand-in for dockerd: it loads OCI archives that Docker's classic store refuses
//! (docker/buildx#59, bazel-contrib/rules_oci#651).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry_support::Containerd;
use crate::support::*;

/// A Docker Engine of its own: data root, exec root and socket in `dir`, no iptables, no bridge
/// (the recipe in env-notes: it runs here without systemd).
struct Dockerd {
    child: Child,
    socket: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let socket = dir.join("docker.sock");
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--iptables=false", "--bridge=none"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Dockerd { child, socket };
        let started = Instant::now();
        while !d.docker(&["version"]).out.status.success() {
            let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
            assert!(started.elapsed() < Duration::from_secs(60), "dockerd did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn docker(&self, args: &[&str]) -> Run {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host()).args(args);
        Run::of(c)
    }
}

impl Drop for Dockerd {
    /// SIGTERM, so dockerd unmounts its layers and stops its containerd before the directory goes.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The archive loads into Docker's classic store under its name and runs; `--load` gets it there
/// through the API; a dead socket fails before anything is built.
#[test]
fn docker_classic_store_loads_and_runs_the_image() {
    if !(have("dockerd") && have("docker")) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Dockerd::start(work.path());
    let info = d.docker(&["info", "--format", "{{.Driver}} {{.DriverStatus}}"]).success().stdout();
    assert!(!info.contains("io.containerd.snapshotter"), "the classic image store is under test: {info}");
    // Layers of several gzip members: Go's gzip reader in the daemon must read every one.
    let p = Project::noisy("dockered", "dockered", 3 << 20);
    let vars = [("DOCKER_HOST".to_string(), d.host())];

    p.oci_env(&["--target", "x86_64,aarch64", "--tar", "img.tar", "-q"], &vars).success();
    let loaded = d.docker(&["load", "-i", p.path().join("img.tar").to_str().unwrap()]).success().stdout();
    assert_eq!(loaded.trim(), "Loaded image: dockered:0.1.0");
    let ran = d.docker(&["run", "--rm", "--network", "none", "dockered:0.1.0"]).success().stdout();
    assert_eq!(ran.trim(), "dockered x86_64");

    let run = p.oci_env(&["--target", "x86_64,aarch64", "--load", "--tag", "viaapi"], &vars).success();
    assert!(run.stdout().starts_with("docker-daemon:dockered:viaapi@sha256:"), "{}", run.stdout());
    assert!(run.stderr().contains("Loading dockered into docker as dockered:viaapi"), "{}", run.stderr());
    assert!(!p.path().join("target/oci/dockered").exists(), "--load alone writes no layout");
    let ran = d.docker(&["run", "--rm", "--network", "none", "dockered:viaapi"]).success().stdout();
    assert_eq!(ran.trim(), "dockered x86_64");

    let gone = [("DOCKER_HOST".to_string(), format!("unix://{}", work.path().join("nobody.sock").display()))];
    let run = p.oci_env(&["--load=docker", "--tag", "never"], &gone).failure();
    let (err, hints) = run.error_and_hints();
    assert!(err.starts_with("error: `--load=docker`: no Docker Engine answers at"), "{err}");
    assert!(hints[0].contains("DOCKER_HOST=unix://"), "{hints:?}");
    assert!(!run.stderr().contains("Compiling"), "refused before building: {}", run.stderr());
}

/// A private podman store, as podman reads it from `CONTAINERS_STORAGE_CONF` (our `--load`
/// runs plain `podman load`), matching what `support::podman` passes as flags.
fn podman_storage(dir: &Path) -> (String, String) {
    let conf = dir.join("storage.conf");
    let (root, runroot) = (dir.join("root"), dir.join("runroot"));
    let text = format!(
        "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
        root.display(),
        runroot.display()
    );
    std::fs::write(&conf, text).unwrap();
    ("CONTAINERS_STORAGE_CONF".into(), conf.display().to_string())
}

/// podman and containerd name the archive's image from its annotations, and `--load` puts it
/// into each under the same name.
#[test]
fn podman_and_containerd_name_the_image() {
    if !(have("podman") && have("containerd") && have("ctr")) {
        return;
    }
    let p = Project::noisy("named", "named", 3 << 20);
    p.oci(&["--tar", "img.tar", "-q"]).success();
    let tar = p.path().join("img.tar");

    let storage = tempfile::tempdir().unwrap();
    let loaded = podman(storage.path(), &["load", "-i", tar.to_str().unwrap()]).success().stdout();
    assert!(loaded.contains("Loaded image: docker.io/library/named:0.1.0"), "{loaded}");
    let mut vars = vec![podman_storage(storage.path())];
    let run = p.oci_env(&["--load=podman", "--tag", "pl"], &vars).success();
    assert!(run.stdout().starts_with("containers-storage:docker.io/library/named:pl@sha256:"), "{}", run.stdout());
    let mut args = vec!["run", "--rm"];
    args.extend(PODMAN_ULIMITS);
    args.push("docker.io/library/named:pl");
    assert_eq!(podman(storage.path(), &args).success().stdout().trim(), "named x86_64");

    let ctrd = tempfile::tempdir().unwrap();
    let c = Containerd::start(ctrd.path());
    c.ctr(&["images", "import", "--all-platforms", tar.to_str().unwrap()]).success();
    vars.push(("CONTAINERD_ADDRESS".into(), c.socket.display().to_string()));
    p.oci_env(&["--load=containerd", "--tag", "cl"], &vars).success();
    let listed = c.ctr(&["images", "ls", "-q"]).success().stdout();
    let names: Vec<&str> = listed.lines().collect();
    assert_eq!(names, ["docker.io/library/named:0.1.0", "docker.io/library/named:cl"]);
}
