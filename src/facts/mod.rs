//! Facts: the outside world planning and the later stages read — `cargo metadata` (kept in an
//! owned cache: the SBOM stage asks, per image, what backend selection asked per target, and
//! `--verify-reproducible` asks again), git (commit time and revision), the cargo config
//! (configured linkers), which packages compile C, the toolchain's versions, and the files the
//! settings name. Gathered here, once, so `plan` itself does no I/O.

pub mod cargo;
pub mod cargo_config;
pub mod cdeps;
pub mod git;
pub mod memo;
pub mod signals;
pub mod toolchain;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cargo_metadata::{Metadata, PackageId};

pub use cargo::{feature_args, CargoFlags};

use crate::env::Env;
use crate::oci::Digest;

/// The facts of one command, with the answers it already got.
#[derive(Debug)]
pub struct Facts {
    env: Env,
    metadata: Mutex<BTreeMap<String, Metadata>>,
    /// `git rev-parse HEAD` per directory: the plan and the provenance both ask.
    revisions: Mutex<BTreeMap<PathBuf, Option<String>>>,
    /// `rustc --print sysroot`, once asked (see [`Facts::sysroot`]).
    sysroot: Mutex<Option<PathBuf>>,
    /// What cargo and rustc answered in earlier runs, while what they read is unchanged.
    memo: memo::Memo,
}

/// What a path in the settings is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFacts {
    /// The path with every symlink followed.
    pub real: PathBuf,
    pub is_dir: bool,
    pub is_file: bool,
}

impl Facts {
    pub fn new(env: &Env) -> Facts {
        Facts {
            env: env.clone(),
            metadata: Mutex::default(),
            revisions: Mutex::default(),
            sysroot: Mutex::default(),
            memo: memo::Memo::new(env),
        }
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// `cargo metadata` (see [`cargo::metadata`]); each question is asked of cargo once.
    pub fn metadata(
        &self,
        manifest: Option<&Path>,
        flags: &CargoFlags,
        platform: Option<&str>,
    ) -> Result<Metadata, FactsError> {
        let key = cargo::key(&self.env, manifest, flags, platform);
        if let Some(m) = self.metadata.lock().expect("metadata cache lock").get(&key) {
            return Ok(m.clone());
        }
        let meta = self.ask_metadata(manifest, flags, platform)?;
        self.metadata.lock().expect("metadata cache lock").insert(key, meta.clone());
        Ok(meta)
    }

    /// `cargo metadata`, or its answer kept from an earlier run (see [`memo`]).
    fn ask_metadata(
        &self,
        manifest: Option<&Path>,
        flags: &CargoFlags,
        platform: Option<&str>,
    ) -> Result<Metadata, FactsError> {
        let question = format!("cargo metadata {}", cargo::key(&self.env, manifest, flags, platform));
        let text = self.memo.answer(&question, &self.env.cwd, || {
            let meta = cargo::metadata(&self.env, manifest, flags, platform)?;
            let read = cargo::read_files(&self.env, manifest, flags, &meta);
            Ok((serde_json::to_string(&meta).expect("metadata serializes"), read))
        })?;
        // A kept answer this build cannot read (it was checked, so only a damaged entry) is
        // asked of cargo again rather than failing the build.
        serde_json::from_str(&text).or_else(|_| cargo::metadata(&self.env, manifest, flags, platform))
    }

    /// Asks `cargo metadata` for each of `platforms` at once (one thread each) and keeps the
    /// answers, so the questions [`Facts::c_builds`] and the SBOM ask one after another cost one
    /// cargo run's time, not one per target. Failures are not kept: the later question reports them.
    pub fn prefetch_metadata(&self, flags: &CargoFlags, platforms: &[&str]) {
        let manifest = Some(flags.manifest_path.as_path());
        let missing: Vec<&str> = {
            let cache = self.metadata.lock().expect("metadata cache lock");
            platforms
                .iter()
                .copied()
                .filter(|p| !cache.contains_key(&cargo::key(&self.env, manifest, flags, Some(p))))
                .collect()
        };
        if missing.len() < 2 {
            return; // nothing to overlap
        }
        std::thread::scope(|s| {
            for p in missing {
                s.spawn(move || {
                    if let Ok(meta) = self.ask_metadata(manifest, flags, Some(p)) {
                        let key = cargo::key(&self.env, manifest, flags, Some(p));
                        self.metadata.lock().expect("metadata cache lock").insert(key, meta);
                    }
                });
            }
        });
    }

    /// The packages compiled for `triple` into `package` that build C code (see
    /// [`cdeps::c_builds`]), from the dependency graph resolved for that target.
    pub fn c_builds(&self, flags: &CargoFlags, package: &str, triple: &str) -> Result<Vec<String>, FactsError> {
        let meta = self.metadata(Some(flags.manifest_path.as_path()), flags, Some(triple))?;
        Ok(cdeps::c_builds(&meta, &PackageId { repr: package.into() }))
    }

    /// The crates compiled into `package`'s binaries for `triple` that handle signals (see
    /// [`signals::signal_handlers`]), from the dependency graph resolved for that target.
    pub fn signal_handlers(&self, flags: &CargoFlags, package: &str, triple: &str) -> Result<Vec<String>, FactsError> {
        let meta = self.metadata(Some(flags.manifest_path.as_path()), flags, Some(triple))?;
        Ok(signals::signal_handlers(&meta, &PackageId { repr: package.into() }))
    }

    /// The packages compiled for `triple` into `package` that link a system library (see
    /// [`cdeps::system_libs`]).
    pub fn system_libs(
        &self,
        flags: &CargoFlags,
        package: &str,
        triple: &str,
    ) -> Result<Vec<cdeps::SystemLib>, FactsError> {
        let meta = self.metadata(Some(flags.manifest_path.as_path()), flags, Some(triple))?;
        Ok(cdeps::system_libs(&meta, &PackageId { repr: package.into() }))
    }

    /// `rustc --print sysroot`: where the installed targets' standard libraries are. Asked once
    /// (a process start through rustup's proxy); `build` asks it while planning runs, so the
    /// compile stage finds the answer ready. The lock is held while asking, so a second caller
    /// waits for the first's answer rather than asking again; a failure is not kept.
    pub fn sysroot(&self) -> Result<PathBuf, crate::process::ProcessError> {
        let mut kept = self.sysroot.lock().expect("sysroot lock");
        if let Some(s) = &*kept {
            return Ok(s.clone());
        }
        let cwd = &self.env.cwd;
        let out = self.memo.answer("rustc --print sysroot", cwd, || {
            let out = crate::process::Cmd::new(self.env.rustc()).args(["--print", "sysroot"]).cwd(cwd).output()?;
            Ok::<_, crate::process::ProcessError>((String::from_utf8_lossy(&out).trim().to_string(), Vec::new()))
        })?;
        Ok(kept.insert(PathBuf::from(out)).clone())
    }

    /// `rustc -vV`, verbatim, as run in `dir` (empty if it cannot be run).
    pub fn rustc_version(&self, dir: &Path) -> String {
        self.tool_version("rustc -vV", dir, toolchain::rustc)
    }

    /// `cargo -V`, as run in `dir` (empty if it cannot be run).
    pub fn cargo_version(&self, dir: &Path) -> String {
        self.tool_version("cargo -V", dir, toolchain::cargo)
    }

    /// A toolchain version (it depends on the toolchain alone), kept by the memo.
    fn tool_version(&self, question: &str, dir: &Path, ask: fn(&Env, &Path) -> Option<String>) -> String {
        let answer = || ask(&self.env, dir).map(|v| (v, Vec::new())).ok_or(());
        self.memo.answer(question, dir, answer).unwrap_or_default()
    }

    /// `zig version`: of the zig on PATH, else of `python3 -m ziglang` (where cargo-zigbuild
    /// finds it); `None` if neither runs. A zig start, after a python start (~170 ms together),
    /// asked on every build with the zig backend, by the preflight and for provenance: the answer
    /// is kept with the programs and the ziglang package it came from, and asked again when one
    /// changes (a failure is never kept). Asked in `/`: it depends on no project (and `python3 -m`
    /// would import a project's own `ziglang/` first).
    pub fn zig_version(&self) -> Option<String> {
        let root = Path::new("/");
        let text = |cmd: crate::process::Cmd| {
            cmd.cwd(root).output().ok().map(|o| String::from_utf8_lossy(&o).trim().to_string())
        };
        if let Some(zig) = self.env.which("zig") {
            let question = format!("{} version", zig.display());
            let ask = || text(crate::process::Cmd::new(&zig).arg("version")).map(|v| (v, vec![zig.clone()])).ok_or(());
            return self.memo.answer(&question, root, ask).ok();
        }
        let python = self.env.which("python3")?;
        let ask = || {
            let py = |args: &[&str]| text(crate::process::Cmd::new(&python).args(args)).ok_or(());
            let version = py(&["-m", "ziglang", "version"])?;
            let init = PathBuf::from(py(&["-c", "import ziglang; print(ziglang.__file__)"])?);
            let package = init.parent().ok_or(())?.to_path_buf();
            Ok::<_, ()>((version, vec![python.clone(), package.join("zig"), package]))
        };
        self.memo.answer("python3 -m ziglang version", root, ask).ok()
    }

    /// Where the user configured a linker for `triple`, if anywhere.
    pub fn linker(&self, triple: &str) -> Option<String> {
        cargo_config::configured_linker(triple, &self.env)
    }

    /// The last commit's time in `dir`'s git work tree.
    pub fn commit_time(&self, dir: &Path) -> Option<u64> {
        self.in_git(dir).then(|| git::commit_time(dir)).flatten()
    }

    /// Whether git could find a repository for `dir`: a `.git` (directory, or file for a
    /// worktree or submodule) above it, or `GIT_DIR`. Where there is none, git is not started:
    /// it would only fail.
    fn in_git(&self, dir: &Path) -> bool {
        self.env.get(crate::env::EnvVars::GIT_DIR).is_some()
            || self.env.cwd.join(dir).ancestors().any(|d| d.join(".git").exists())
    }

    /// The commit `dir` is checked out at.
    pub fn revision(&self, dir: &Path) -> Option<String> {
        if let Some(r) = self.revisions.lock().expect("revision cache lock").get(dir) {
            return r.clone();
        }
        let r = self.in_git(dir).then(|| git::revision(dir)).flatten();
        self.revisions.lock().expect("revision cache lock").insert(dir.to_path_buf(), r.clone());
        r
    }

    /// The text of a file the settings live in (a Cargo.toml).
    pub fn read_to_string(&self, file: &Path) -> io::Result<String> {
        std::fs::read_to_string(file)
    }

    /// What `path` is, symlinks followed.
    pub fn path(&self, path: &Path) -> io::Result<PathFacts> {
        let real = std::fs::canonicalize(path)?;
        let md = std::fs::metadata(&real)?;
        Ok(PathFacts { real, is_dir: md.is_dir(), is_file: md.is_file() })
    }

    /// The `Cargo.lock` cargo uses for `dir` (the nearest one above it), hashed.
    pub fn cargo_lock(&self, dir: &Path) -> Option<Digest> {
        let lock = dir.ancestors().map(|d| d.join("Cargo.lock")).find(|p| p.is_file())?;
        std::fs::read(lock).ok().map(|b| Digest::of(&b))
    }
}

/// A fact that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("could not read the cargo metadata of `{}`", manifest.display())]
    Metadata {
        manifest: PathBuf,
        #[source]
        source: cargo_metadata::Error,
    },
}

impl FactsError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            FactsError::Metadata { .. } => {
                vec!["check that --manifest-path points at a Cargo.toml and that `cargo metadata` works there".into()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A `python3` that logs each call and has a `ziglang` package of its own: the answer is
    /// kept until the package changes, and a failure is never kept.
    #[test]
    fn zig_version_is_kept_with_python_and_its_package() {
        let (bin, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let package = bin.path().join("site/ziglang");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("__init__.py"), "").unwrap();
        let (zig, python, log) = (package.join("zig"), bin.path().join("python3"), bin.path().join("log"));
        std::fs::write(&zig, "").unwrap();
        let script = format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\n[ -e '{}' ] || exit 1\n[ \"$1\" = -m ] && echo 0.13.0\n[ \"$1\" = -c ] && echo '{}'\nexit 0\n",
            log.display(),
            zig.display(),
            package.join("__init__.py").display()
        );
        std::fs::write(&python, script).unwrap();
        for p in [&python, &zig] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for p in [&python, &zig, &package] {
            std::fs::File::open(p).unwrap().set_modified(old).unwrap();
        }
        let pairs = [("PATH", bin.path().to_str().unwrap()), ("CARGO_OCI_CACHE", cache.path().to_str().unwrap())];
        let ask = || Facts::new(&Env::from_pairs(bin.path().into(), pairs)).zig_version().is_some();
        let calls = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();
        assert!(ask());
        assert_eq!(calls(), 2, "asked: `-m ziglang version`, then where the package is");
        let facts = Facts::new(&Env::from_pairs(bin.path().into(), pairs));
        assert_eq!(facts.zig_version().as_deref(), Some("0.13.0"), "the version, for provenance too");
        assert!(ask());
        assert_eq!(calls(), 2, "kept");
        std::fs::remove_file(&zig).unwrap();
        assert!(!ask(), "the package lost zig: asked again, and python3 fails");
        assert!(!ask());
        assert_eq!(calls(), 4, "a failure is not kept");
    }
}
