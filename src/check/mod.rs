//! The ELF check, between compile and package: each binary against the file tree of its
//! platform's base (architecture, loader, libraries, glibc version), so an image that cannot
//! start is never written. Also reads each base's glibc version for the automatic floor.

pub mod elf;
pub mod rootfs;
pub mod strip;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use elf::{BaseGlibc, Needs};
use rootfs::RootFs;

use crate::compile::Artifacts;
use crate::oci::Digest;
use crate::oci::{BaseImage, Platform};
use crate::plan::glibc::GlibcVersion;
use crate::plan::{BackendKind, ImagePlan, Libc, Plan, Target};
use crate::shell::Shell;
use crate::store::StoreError;

/// What the check knows of one base for one platform.
#[derive(Debug)]
pub struct BaseFacts {
    /// How the user named the base.
    pub name: String,
    pub files: RootFs,
    pub glibc: Option<BaseGlibc>,
}

/// The facts of every (image, target triple)'s base; `None` where it could not be read and the
/// check is off. Bases with the same layers are read once.
#[derive(Debug, Default)]
pub struct Inspected(BTreeMap<(String, String), Option<Arc<BaseFacts>>>);

impl Inspected {
    pub fn get(&self, image: &ImagePlan, target: &Target) -> Option<&BaseFacts> {
        self.0.get(&(image.name.clone(), target.triple.clone()))?.as_deref()
    }

    pub fn glibc(&self, image: &ImagePlan, target: &Target) -> Option<GlibcVersion> {
        self.get(image, target)?.glibc.as_ref().map(|g| g.version)
    }
}

/// Reads the file tree of each image's base for each of its targets (`bases[i][j]`: image i,
/// target j), streaming the layers: for the check (`for_check`: every base), or for a target's
/// automatic glibc floor. A base that cannot be read fails only if it is read for the check.
/// The layers of all the bases read are fetched first, together (`jobs` at a time).
pub fn inspect(
    plan: &Plan,
    bases: &[Vec<BaseImage>],
    for_check: bool,
    jobs: usize,
    shell: &mut Shell,
) -> Result<Inspected, CheckError> {
    let wants_floor = |t: &Target| {
        t.libc == Libc::Gnu
            && t.glibc.is_none()
            && plan.jobs.iter().any(|j| j.target.triple == t.triple && j.backend.kind == BackendKind::Zigbuild)
    };
    let read = |t: &Target| for_check || wants_floor(t);
    let layers = plan.images.iter().zip(bases).flat_map(|(image, bases)| {
        let read_here = image.targets.iter().zip(bases).filter(|(it, _)| read(&it.target));
        read_here.flat_map(|(_, base)| base.layers.iter().map(|l| &l.blob))
    });
    // A blob that could not be pulled fails the first base that has it, as reading it would.
    let mut failed = crate::store::fetch::fetch(layers, jobs, shell).err();
    let mut by_layers: BTreeMap<Vec<Digest>, Arc<BaseFacts>> = BTreeMap::new();
    let mut out = Inspected::default();
    for (image, bases) in plan.images.iter().zip(bases) {
        for (it, base) in image.targets.iter().zip(bases) {
            let (target, base_name) = (&it.target, &it.base);
            if !read(target) {
                continue; // nothing would use it: `--no-elf-check` also saves reading the base
            }
            let key: Vec<Digest> = base.layers.iter().map(|l| l.blob.digest.clone()).collect();
            let not_pulled =
                |e: &mut StoreError| matches!(e, StoreError::PullBlob { digest, .. } if key.contains(digest));
            let not_pulled = match failed.take_if(not_pulled) {
                Some(e) if for_check => return Err(CheckError::Pull(e)),
                other => other.map(std::io::Error::other),
            };
            let facts = match by_layers.get(&key) {
                Some(f) => Some(f.clone()),
                None => match not_pulled.map_or_else(|| RootFs::from_layers(&base.layers), Err) {
                    Ok(files) => {
                        let glibc = elf::base_glibc(&files, &elf::default_lib_dirs(&target.platform.architecture));
                        match &glibc {
                            Some(g) => shell.verbose(
                                "Base glibc",
                                format!("{} for {} (from {})", g.version, target.platform, g.from),
                            ),
                            None if target.libc == Libc::Gnu => shell.verbose(
                                "Base glibc",
                                format!("none found in `{}` for {}", base_name, target.platform),
                            ),
                            None => {}
                        }
                        let f = Arc::new(BaseFacts { name: base_name.to_string(), files, glibc });
                        by_layers.insert(key, f.clone());
                        Some(f)
                    }
                    Err(source) if for_check => {
                        return Err(CheckError::ReadBase {
                            base: base_name.to_string(),
                            platform: target.platform.to_string(),
                            source,
                        })
                    }
                    Err(e) => {
                        shell.verbose(
                            "Base",
                            format!(
                                "cannot read `{}` for {} ({e}): no automatic glibc floor",
                                base_name, target.platform
                            ),
                        );
                        None
                    }
                },
            };
            out.0.insert((image.name.clone(), target.triple.clone()), facts);
        }
    }
    Ok(out)
}

/// Checks every binary built for `target` (`artifacts`) against the base of each image that has
/// the target, image by image; the first problem is the error.
pub fn check_target(
    plan: &Plan,
    inspected: &Inspected,
    target: &Target,
    artifacts: &Artifacts,
    shell: &mut Shell,
) -> Result<(), CheckError> {
    for image in &plan.images {
        if !image.targets.iter().any(|t| t.target.triple == target.triple) {
            continue;
        }
        let Some(base) = inspected.get(image, target) else { continue };
        for bin in &image.bins {
            let Some(path) = artifacts.get(&image.package.id, bin, &target.triple) else { continue };
            let at = format!("{}/{bin}", image.config.bin_dir);
            check_file(path, &Binary { bin, in_image: &at, target }, base, shell)?;
        }
        // The init runs first: a gnu target's init needs the base's glibc as much as the service.
        let init = crate::compile::init::NAME;
        if let (Some(at), Some(path)) = (image.init_path(), artifacts.get(init, init, &target.triple)) {
            check_file(path, &Binary { bin: init, in_image: at, target }, base, shell)?;
        }
    }
    Ok(())
}

/// One built file against its base.
fn check_file(path: &Path, what: &Binary<'_>, base: &BaseFacts, shell: &mut Shell) -> Result<(), CheckError> {
    let read = |source| CheckError::ReadBinary { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(read)?;
    // SAFETY: the binary was just written by cargo under our target dir and nothing
    // writes it while we read; a concurrent truncation would stop this process (SIGBUS), never corrupt output.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(read)?;
    let needs = elf::needs(&bytes).map_err(|source| CheckError::NotElf {
        bin: what.bin.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    let summary = check_binary(what, &needs, base)?;
    shell.verbose("Checked", format!("{} for {}: {summary}", what.bin, what.target.platform));
    Ok(())
}

/// One binary, as the messages name it.
pub struct Binary<'a> {
    pub bin: &'a str,
    /// Its path in the image (for `$ORIGIN` in run paths).
    pub in_image: &'a str,
    pub target: &'a Target,
}

/// The checks, in order: machine, loader, libraries, glibc version. Returns what was found, for `-v`.
pub fn check_binary(b: &Binary<'_>, needs: &Needs, base: &BaseFacts) -> Result<String, CheckError> {
    let platform: &Platform = &b.target.platform;
    let fail = |kind: Problem| CheckError::Unfit {
        bin: b.bin.into(),
        platform: platform.to_string(),
        base: base.name.clone(),
        triple: b.target.triple.clone(),
        kind: Box::new(kind),
    };
    if let Some(want) = elf::machine_of(&platform.architecture) {
        if needs.machine != want {
            return Err(fail(Problem::Machine { found: elf::machine_name(needs.machine) }));
        }
    }
    if needs.interpreter.is_none() && needs.libraries.is_empty() {
        return Ok("static, runs on any base".into());
    }
    if let Some(loader) = &needs.interpreter {
        if !base.files.is_file(loader) {
            return Err(fail(Problem::Loader { loader: loader.clone() }));
        }
    }
    let origin = b.in_image.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
    let mut dirs: Vec<String> = needs.search_paths.iter().map(|p| p.replace("$ORIGIN", origin)).collect();
    dirs.extend(elf::default_lib_dirs(&platform.architecture));
    let missing: Vec<String> = needs
        .libraries
        .iter()
        .filter(|lib| match lib.contains('/') {
            true => !base.files.is_file(lib),
            false => !dirs.iter().any(|d| base.files.is_file(&format!("{d}/{lib}"))),
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(fail(Problem::Libraries { missing, dirs }));
    }
    let mut summary = format!(
        "loader {}, libraries {} found",
        needs.interpreter.as_deref().unwrap_or("(none)"),
        needs.libraries.join(", ")
    );
    match (&needs.glibc, &base.glibc) {
        (Some((need, symbol)), Some(has)) if *need > has.version => {
            return Err(fail(Problem::Glibc { needs: *need, symbol: symbol.clone(), has: has.version }));
        }
        (Some((need, _)), Some(has)) => {
            summary.push_str(&format!("; needs glibc {need}, the base has {}", has.version))
        }
        (Some((need, _)), None) => summary.push_str(&format!(
            "; needs glibc {need}, but the base's glibc version is unknown: that item is not checked"
        )),
        (None, _) => {}
    }
    Ok(summary)
}

/// Why a binary cannot run on its base.
#[derive(Debug)]
pub enum Problem {
    Machine { found: String },
    Loader { loader: String },
    Libraries { missing: Vec<String>, dirs: Vec<String> },
    Glibc { needs: GlibcVersion, symbol: String, has: GlibcVersion },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Machine { found } => write!(f, "it is an {found} binary"),
            Problem::Loader { loader } => {
                write!(f, "it needs the dynamic loader `{loader}`, which the base does not have")
            }
            Problem::Libraries { missing, dirs } => write!(
                f,
                "it needs {}, which the base does not have (looked in {})",
                missing.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "),
                dirs.join(", ")
            ),
            Problem::Glibc { needs, symbol, has } => {
                write!(f, "it needs glibc {needs} (symbol version {symbol}), but the base has glibc {has}")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("`{bin}` cannot run in the image for {platform} on base `{base}`: {kind}")]
    Unfit { bin: String, platform: String, base: String, triple: String, kind: Box<Problem> },
    #[error("could not read the layers of base `{base}` for {platform} to check the binaries against it")]
    ReadBase {
        base: String,
        platform: String,
        #[source]
        source: std::io::Error,
    },
    /// A base's layer could not be pulled: said as it is, the same error as a sink's pull.
    #[error(transparent)]
    Pull(StoreError),
    #[error("could not read the built binary `{}`", path.display())]
    ReadBinary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{bin}` (`{}`) is not an ELF executable", path.display())]
    NotElf {
        bin: String,
        path: PathBuf,
        #[source]
        source: goblin::error::Error,
    },
}

impl CheckError {
    pub fn hints(&self) -> Vec<String> {
        let skip = "or skip this check with `--no-elf-check` (the image may not start)".to_string();
        match self {
            CheckError::Unfit { kind, triple, .. } => match kind.as_ref() {
                Problem::Machine { .. } => vec![
                    format!(
                        "the toolchain built for another architecture: check the linker configured for `{triple}` (CARGO_TARGET_{}_LINKER, .cargo/config.toml), or build with zig: `--backend zigbuild`",
                        crate::env::triple_env(triple)
                    ),
                    skip,
                ],
                Problem::Glibc { has, needs, .. } => vec![
                    format!("build against the base's glibc: `--target {triple}.{has}` (or `--glibc {has}`)"),
                    format!("or use a base with glibc {needs} or newer"),
                    musl_hint(triple),
                ],
                Problem::Loader { .. } | Problem::Libraries { .. } => vec![
                    "use a base that ships glibc for this platform, e.g. `--base distroless-cc` or a Debian image".into(),
                    musl_hint(triple),
                ],
            },
            CheckError::ReadBase { .. } => vec![skip],
            CheckError::Pull(e) => e.hints(),
            CheckError::ReadBinary { .. } | CheckError::NotElf { .. } => Vec::new(),
        }
    }
}

fn musl_hint(triple: &str) -> String {
    let musl = triple.replace("-gnueabihf", "-musleabihf").replace("-gnu", "-musl");
    format!("or build a static musl binary, which runs on any base: `--target {musl}`")
}

#[cfg(test)]
mod tests {
    use super::rootfs::tests::tar;
    use super::*;

    fn base(entries: &[(&str, &str)], glibc: Option<&str>) -> BaseFacts {
        let mut files = RootFs::default();
        files.add_layer("application/vnd.oci.image.layer.v1.tar", &tar(entries)[..]).unwrap();
        let glibc = glibc.map(|v| BaseGlibc { version: GlibcVersion::parse(v).unwrap(), from: "test".into() });
        BaseFacts { name: "oci:/b:t".into(), files, glibc }
    }

    fn run(triple: &str, needs: &Needs, base: &BaseFacts) -> Result<String, String> {
        let target = Target::parse(triple).unwrap();
        let b = Binary { bin: "app", in_image: "/usr/local/bin/app", target: &target };
        check_binary(&b, needs, base).map_err(|e| format!("{e} | {}", e.hints().join(" | ")))
    }

    fn gnu_needs(glibc: &str) -> Needs {
        Needs {
            machine: elf::machine_of("arm64").unwrap(),
            interpreter: Some("/lib/ld-linux-aarch64.so.1".into()),
            libraries: vec!["libgcc_s.so.1".into(), "libc.so.6".into()],
            search_paths: vec!["$ORIGIN/../lib".into()],
            glibc: Some((GlibcVersion::parse(glibc).unwrap(), format!("GLIBC_{glibc}"))),
        }
    }

    const DEBIAN: &[(&str, &str)] = &[
        ("lib", "sym:usr/lib"),
        ("usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", "file:ld"),
        ("usr/lib/ld-linux-aarch64.so.1", "sym:/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"),
        ("usr/lib/aarch64-linux-gnu/libc.so.6", "file:c"),
        ("usr/local/lib/libgcc_s.so.1", "file:gcc"),
    ];

    #[test]
    fn a_fitting_gnu_binary_passes_and_says_what_it_found() {
        let ok = run("aarch64-unknown-linux-gnu", &gnu_needs("2.34"), &base(DEBIAN, Some("2.36"))).unwrap();
        assert_eq!(ok, "loader /lib/ld-linux-aarch64.so.1, libraries libgcc_s.so.1, libc.so.6 found; needs glibc 2.34, the base has 2.36");
        let unknown = run("aarch64-unknown-linux-gnu", &gnu_needs("2.34"), &base(DEBIAN, None)).unwrap();
        assert!(unknown.ends_with("the base's glibc version is unknown: that item is not checked"), "{unknown}");
    }

    #[test]
    fn refusals_name_the_file_or_version_and_the_fix() {
        let gnu = "aarch64-unknown-linux-gnu";
        let err = run(gnu, &gnu_needs("2.34"), &base(DEBIAN, Some("2.31"))).unwrap_err();
        assert_eq!(err, "`app` cannot run in the image for linux/arm64 on base `oci:/b:t`: it needs glibc 2.34 (symbol version GLIBC_2.34), but the base has glibc 2.31 | build against the base's glibc: `--target aarch64-unknown-linux-gnu.2.31` (or `--glibc 2.31`) | or use a base with glibc 2.34 or newer | or build a static musl binary, which runs on any base: `--target aarch64-unknown-linux-musl`");

        let err = run(gnu, &gnu_needs("2.17"), &base(&[("etc/passwd", "file:x")], None)).unwrap_err();
        assert!(err.starts_with("`app` cannot run in the image for linux/arm64 on base `oci:/b:t`: it needs the dynamic loader `/lib/ld-linux-aarch64.so.1`, which the base does not have | use a base that ships glibc"), "{err}");

        let no_gcc = &DEBIAN[..4];
        let err = run(gnu, &gnu_needs("2.17"), &base(no_gcc, Some("2.36"))).unwrap_err();
        assert!(err.contains(": it needs `libgcc_s.so.1`, which the base does not have (looked in /usr/local/bin/../lib, /lib/aarch64-linux-gnu, /lib, "), "{err}");

        let mut x86 = gnu_needs("2.17");
        x86.machine = elf::machine_of("amd64").unwrap();
        let err = run("aarch64", &x86, &base(DEBIAN, None)).unwrap_err();
        assert!(err.starts_with("`app` cannot run in the image for linux/arm64 on base `oci:/b:t`: it is an x86-64 (amd64) binary | the toolchain built for another architecture: check the linker configured for `aarch64-unknown-linux-musl` (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"), "{err}");
    }

    #[test]
    fn static_binaries_fit_any_base() {
        let s = Needs {
            machine: elf::machine_of("arm64").unwrap(),
            interpreter: None,
            libraries: vec![],
            search_paths: vec![],
            glibc: None,
        };
        assert_eq!(run("aarch64", &s, &base(&[], None)).unwrap(), "static, runs on any base");
    }
}
