//! Installs what the test suite needs on a fresh Debian machine: apt packages (as root), rustup
//! targets, PyPI tools (cargo-zigbuild and zig). Idempotent: only what is missing is installed.

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
    "jq",
    "tar",
    "git",
];

/// Rust targets the tests build for.
const TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"];

pub fn install() -> Result<(), String> {
    apt()?;
    rustup()?;
    pip()?;
    Ok(())
}

/// cargo-zigbuild from PyPI: its wheel brings zig along (the `ziglang` package), which
/// cargo-zigbuild finds as `python3 -m ziglang`.
fn pip() -> Result<(), String> {
    let works =
        |program: &str, args: &[&str]| Command::new(program).args(args).output().is_ok_and(|o| o.status.success());
    if works("cargo-zigbuild", &["--help"]) && works("python3", &["-m", "ziglang", "version"]) {
        return Ok(());
    }
    let install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "cargo-zigbuild"];
    if run(Command::new("python3").args(install)).is_err() {
        // Debian's own python refuses to install into the system (PEP 668) unless told to.
        run(Command::new("python3").args(install).arg("--break-system-packages"))?;
    }
    if works("pyenv", &["--version"]) {
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
