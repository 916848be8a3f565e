//! What a binary needs from the system it runs on, read from its ELF headers (goblin), and what a
//! base's glibc provides.

use goblin::elf::{header, Elf};

use super::rootfs::RootFs;
use crate::plan::glibc::GlibcVersion;

/// The runtime needs of one executable.
#[derive(Debug, PartialEq, Eq)]
pub struct Needs {
    pub machine: u16,
    /// `PT_INTERP`: the dynamic loader; `None` for a static binary.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` libraries, in order.
    pub libraries: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` directories (searched before the usual ones).
    pub search_paths: Vec<String>,
    /// The newest `GLIBC_x.y` symbol version it requires, with that name.
    pub glibc: Option<(GlibcVersion, String)>,
}

pub fn needs(bytes: &[u8]) -> Result<Needs, goblin::error::Error> {
    let elf = Elf::parse(bytes)?;
    let mut glibc: Option<(GlibcVersion, String)> = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else { continue };
                // GLIBC_PRIVATE and markers such as GLIBC_ABI_DT_RELR carry no version number.
                let Some(v) = name.strip_prefix("GLIBC_").and_then(GlibcVersion::parse) else { continue };
                if glibc.as_ref().is_none_or(|(max, _)| v > *max) {
                    glibc = Some((v, name.to_string()));
                }
            }
        }
    }
    Ok(Needs {
        machine: elf.header.e_machine,
        interpreter: elf.interpreter.map(String::from),
        libraries: elf.libraries.iter().map(|l| l.to_string()).collect(),
        search_paths: elf.runpaths.iter().chain(&elf.rpaths).flat_map(|p| p.split(':')).map(String::from).collect(),
        glibc,
    })
}

/// OCI architecture ↔ ELF machine ↔ the name `file` prints for it.
const MACHINES: &[(&str, u16, &str)] = &[
    ("amd64", header::EM_X86_64, "x86-64"),
    ("arm64", header::EM_AARCH64, "ARM aarch64"),
    ("386", header::EM_386, "Intel 80386"),
    ("arm", header::EM_ARM, "ARM"),
    ("riscv64", header::EM_RISCV, "RISC-V"),
    ("s390x", header::EM_S390, "IBM S/390"),
    ("ppc64le", header::EM_PPC64, "64-bit PowerPC"),
    ("loong64", 258, "LoongArch"), // EM_LOONGARCH
];

/// The ELF machine of an OCI architecture.
pub fn machine_of(oci_arch: &str) -> Option<u16> {
    MACHINES.iter().find(|(a, _, _)| *a == oci_arch).map(|(_, m, _)| *m)
}

/// `x86-64 (amd64)`: a machine as `file` names it, with the platform it belongs to.
pub fn machine_name(machine: u16) -> String {
    match MACHINES.iter().find(|(_, m, _)| *m == machine) {
        Some((arch, _, name)) => format!("{name} ({arch})"),
        None => format!("ELF machine {machine}"),
    }
}

/// The library directories the loader searches by default, for the base's multiarch triple.
pub fn default_lib_dirs(oci_arch: &str) -> Vec<String> {
    let multiarch = match oci_arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "386" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        "loong64" => "loongarch64-linux-gnu",
        _ => "",
    };
    let mut dirs = Vec::new();
    for root in ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"] {
        if !multiarch.is_empty() {
            dirs.push(format!("{root}/{multiarch}"));
        }
        dirs.push(root.to_string());
    }
    dirs
}

/// Where a base's glibc version came from, for `-v`.
#[derive(Debug, PartialEq, Eq)]
pub struct BaseGlibc {
    pub version: GlibcVersion,
    pub from: String,
}

/// The base's glibc version: from a `libc-2.xx.so` file name, else the `libc6` entry of the dpkg
/// status (`/var/lib/dpkg/status` or distroless's `status.d/`), else from `libc.so.6` itself
/// (its banner `release version 2.xx`, else the newest `GLIBC_2.xx` it defines).
pub fn base_glibc(fs: &RootFs, lib_dirs: &[String]) -> Option<BaseGlibc> {
    for dir in lib_dirs {
        for name in fs.list(dir) {
            let v = name.strip_prefix("libc-").and_then(|r| r.strip_suffix(".so")).and_then(GlibcVersion::parse);
            if let Some(version) = v {
                return Some(BaseGlibc { version, from: format!("{dir}/{name}") });
            }
        }
    }
    let mut status_files = vec!["/var/lib/dpkg/status".to_string()];
    status_files.extend(fs.list("/var/lib/dpkg/status.d").into_iter().map(|n| format!("/var/lib/dpkg/status.d/{n}")));
    for file in status_files {
        let Some(text) = fs.content(&file) else { continue };
        if let Some(version) = dpkg_libc6(&String::from_utf8_lossy(text)) {
            return Some(BaseGlibc { version, from: format!("package libc6 in {file}") });
        }
    }
    for dir in lib_dirs {
        let path = format!("{dir}/libc.so.6");
        if let Some(version) = fs.content(&path).and_then(libc_so_version) {
            return Some(BaseGlibc { version, from: path });
        }
    }
    None
}

/// The version of an installed `libc6` package in a dpkg status file.
fn dpkg_libc6(status: &str) -> Option<GlibcVersion> {
    status.split("\n\n").find_map(|para| {
        let field = |k: &str| para.lines().find_map(|l| l.strip_prefix(k).map(str::trim));
        let installed = field("Status:").is_none_or(|s| s.ends_with("installed"));
        (field("Package:") == Some("libc6") && installed).then(|| field("Version:").and_then(GlibcVersion::parse))?
    })
}

fn libc_so_version(bytes: &[u8]) -> Option<GlibcVersion> {
    const BANNER: &[u8] = b"release version ";
    if let Some(at) = bytes.windows(BANNER.len()).position(|w| w == BANNER) {
        let rest = &bytes[at + BANNER.len()..];
        let end = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'.')).unwrap_or(rest.len()).min(16);
        if let Some(v) = GlibcVersion::parse(&String::from_utf8_lossy(&rest[..end])) {
            return Some(v);
        }
    }
    let elf = Elf::parse(bytes).ok()?;
    let verdef = elf.verdef.as_ref()?;
    verdef
        .iter()
        .flat_map(|d| d.iter().collect::<Vec<_>>())
        .filter_map(|aux| elf.dynstrtab.get_at(aux.vda_name)?.strip_prefix("GLIBC_").and_then(GlibcVersion::parse))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_a_dynamic_glibc_executable() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let n = needs(&me).unwrap();
        assert_eq!(n.machine, machine_of(if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" }).unwrap());
        assert!(n.interpreter.as_deref().is_some_and(|i| i.contains("ld-linux")), "{n:?}");
        assert!(n.libraries.iter().any(|l| l == "libc.so.6"), "{n:?}");
        let (v, name) = n.glibc.unwrap();
        assert!(v >= GlibcVersion(2, 2, 5) && name.starts_with("GLIBC_2."), "{name}");
        assert_eq!(machine_name(header::EM_X86_64), "x86-64 (amd64)");
        assert_eq!(machine_name(header::EM_AARCH64), "ARM aarch64 (arm64)");
        assert_eq!(machine_name(9999), "ELF machine 9999");
    }

    #[test]
    fn dpkg_status_paragraphs() {
        let status = "Package: libc-bin\nVersion: 9.9\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: arm64\nVersion: 2.31-13+deb11u5\n";
        assert_eq!(dpkg_libc6(status), Some(GlibcVersion(2, 31, 0)));
        assert_eq!(dpkg_libc6("Package: libc6\nStatus: deinstall ok config-files\nVersion: 2.31-1\n"), None);
        assert_eq!(
            libc_so_version(b"..GNU C Library (Debian GLIBC 2.36-8) stable release version 2.36.\n"),
            Some(GlibcVersion(2, 36, 0))
        );
    }
}
