//! Installs what the test suite needs on a fresh Debian machine: apt packages (as root), rustup
//! targets, PyPI tools (cargo-zigbuild with zig, SBOM validators), crates.io tools
//! (rust-audit-info). Idempotent: only what is missing is installed.

use std::process::Command;

/// Debian packages the tests call, and why.
const APT: &[&str] = &[
    "skopeo",            // inspect/copy layouts, registries
    "umoci",             // unpack images to check their rootfs
    "oci-image-tool",    // validate layouts against the spec
    "podman",            // run images
    "runc",              // podman's runtime here (crun fails on hybrid cgroups)
    "qemu-user-static",  // run arm64 binaries taken out of images
    "libc6-arm64-cross", // Debian's arm64 glibc: the files of the glibc base the gnu tests build
    "docker-registry",   // a real registry (CNCF distribution) on 127.0.0.1 for push/pull tests
    "apache2-utils",     // htpasswd -B: the registry's bcrypt credentials
    "openssl",           // a CA + leaf certificate for the TLS registry
    "containerd",        // `ctr images import` reads our oci-archives
    "docker.io",         // a real Docker Engine (classic image store) that `docker load`s our archives
    "buildah",           // builds the two-platform registry base independently of us
    "bsdutils",          // `script`: a pseudo-terminal for the progress-bar test
    "util-linux",        // setpriv (read outputs as another uid), unshare (a tiny tmpfs: a full disk)
    "jq",
    "tar",
    "git",
];

/// Rust targets the tests build for.
const TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"];

/// PyPI packages, each with how to tell it is there (a command that must succeed).
const PIP: &[(&str, &[&str])] = &[
    // Its wheel brings zig along (the `ziglang` package), found as `python3 -m ziglang`.
    ("cargo-zigbuild", &["sh", "-c", "cargo-zigbuild --help && python3 -m ziglang version"]),
    ("spdx-tools", &["pyspdxtools", "--help"]), // SPDX 2.3 validator
    ("cyclonedx-python-lib[json-validation]", &["python3", "-c", "import cyclonedx.validation.json"]), // CycloneDX schema
];

/// Tools from crates.io (`cargo install --locked`), each with the binary that tells it is there.
const CARGO_INSTALL: &[(&str, &str)] = &[
    // Reads the .dep-v0 dependency list of our binaries; pinned so every CI run reads with the same reader.
    ("rust-audit-info@0.5.4", "rust-audit-info"),
];

pub fn install() -> Result<(), String> {
    apt()?;
    rustup()?;
    pip()?;
    cargo_install()?;
    Ok(())
}

/// `cargo install --locked` of what is missing (about 10 s for rust-audit-info).
fn cargo_install() -> Result<(), String> {
    let on_path = |bin: &str| Command::new("sh").args(["-c", &format!("command -v {bin}")]).output();
    for (krate, bin) in CARGO_INSTALL {
        if !on_path(bin).is_ok_and(|o| o.status.success()) {
            run(Command::new("cargo").args(["install", "--locked", "--quiet", krate]))?;
        }
    }
    Ok(())
}

/// `python3 -m pip install` of what is missing.
fn pip() -> Result<(), String> {
    let works = |cmd: &[&str]| Command::new(cmd[0]).args(&cmd[1..]).output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = PIP.iter().filter(|(_, probe)| !works(probe)).map(|(pkg, _)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"];
    if run(Command::new("python3").args(install).args(&missing)).is_err() {
        // Debian's own python refuses to install into the system (PEP 668) unless told to.
        run(Command::new("python3").args(install).args(&missing).arg("--break-system-packages"))?;
    }
    if works(&["pyenv", "--version"]) {
        run(Command::new("pyenv").arg("rehash"))?; // makes the new `cargo-zigbuild` shim
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn apt() -> Result<(), String> {
    let missing: Vec<&str> = APT
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        eprintln!("xtask: not root; install these yourself: apt-get install {}", missing.join(" "));
        return Ok(());
    }
    run(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn rustup() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add targets: {e}"))?;
    let installed = String::from_utf8_lossy(&installed.stdout).to_string();
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !installed.lines().any(|l| l == *t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add"]).args(&missing))
}
