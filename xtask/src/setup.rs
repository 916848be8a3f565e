//! Installs what the test suite needs on a fresh Debian machine: apt packages (as root), rustup
//! targets, PyPI tools. Idempotent: only what is missing is installed.

use std::process::Command;

/// Debian packages the tests call, and why.
const APT: &[&str] = &[
    "skopeo",           // inspect/copy layouts, registries
    "umoci",            // unpack images to check their rootfs
    "oci-image-tool",   // validate layouts against the spec
    "podman",           // run images
    "runc",             // podman's runtime here (crun fails on hybrid cgroups)
    "qemu-user-static", // run arm64 binaries taken out of images
    "docker-registry",  // a real registry (CNCF distribution) on 127.0.0.1 for push/pull tests
    "apache2-utils",    // htpasswd -B: the registry's bcrypt credentials
    "openssl",          // a CA + leaf certificate for the TLS registry
    "containerd",       // `ctr images import` reads our oci-archives
    "buildah",          // builds the two-platform registry base independently of us
    "jq",
    "tar",
    "git",
];

/// PyPI packages: independent validators of the SBOMs we write.
const PIP: &[(&str, &str)] = &[
    ("spdx-tools", "pyspdxtools"),                          // SPDX 2.3 validator
    ("cyclonedx-python-lib[json-validation]", "cyclonedx"), // CycloneDX 1.5 JSON schema
];

/// Rust targets the tests build for.
const TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

pub fn install() -> Result<(), String> {
    apt()?;
    rustup()?;
    pip()?;
    Ok(())
}

/// `python3 -m pip install` of what is missing (checked by import or command name).
fn pip() -> Result<(), String> {
    let present = |probe: &str| {
        Command::new("python3").args(["-c", &format!("import {probe}")]).output().is_ok_and(|o| o.status.success())
            || Command::new("sh")
                .args(["-c", &format!("command -v {probe}")])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = PIP.iter().filter(|(_, probe)| !present(probe)).map(|(pkg, _)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("python3").args(["-m", "pip", "install", "-q"]).args(&missing))
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
