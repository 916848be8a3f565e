//! What cargo and rustc answered in an earlier run (`cargo metadata`, `rustc --print sysroot`,
//! `rustc -vV`, `cargo -V`), kept on disk with every file the answer was read from, so a
//! no-op build starts no process but its one `cargo build` (each answer is a process start
//! through rustup's proxy, 10–40 ms; together they were most of a no-op build's time).
//!
//! An answer is reused only when the question is the same (arguments, working directory, every
//! `CARGO*`/`RUST*` variable, PATH, HOME) and each file it depends on still hashes the same or
//! is still absent: the local packages' manifests and the directories cargo discovers targets
//! in, `Cargo.lock`, every `Cargo.toml` above a package (workspace discovery), every cargo config
//! file cargo would read, and the toolchain (the `cargo` and `rustc` that would run, and through
//! rustup's proxy, its settings, each installed toolchain's binaries and the `rust-toolchain`
//! files above the directory). Answers whose files changed while cargo read them are not kept.
//! Hand-written: cargo has no public cache of its own metadata to reuse.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::oci::Digest;

/// Bumped when what an entry holds, or how it is checked, changes.
const FORMAT: u32 = 1;

/// How long before a question a file must have last changed for its answer to be kept.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an entry no run has written stays.
const STALE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The on-disk memo of one command (nothing is kept without a cache directory).
#[derive(Debug)]
pub struct Memo {
    dir: Option<PathBuf>,
    env: Env,
    toolchain: OnceLock<Vec<Watched>>,
    /// What each path was when first checked in this run: the toolchain and the manifests are
    /// watched by every answer, and within one command an answer is asked once anyway.
    checked: std::sync::Mutex<BTreeMap<PathBuf, State>>,
}

/// One file or directory an answer depends on, and what it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    pub path: PathBuf,
    pub state: State,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Absent,
    /// A small text file, by content.
    File(String),
    /// An executable, by what replacing it changes (hashing 100 MB of toolchain would cost more
    /// than the process start this saves).
    Program {
        len: u64,
        mtime_ns: i128,
        ino: u64,
    },
    /// A directory, by its sorted entry names (and which are directories).
    Dir(String),
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    question: String,
    watched: Vec<Watched>,
    answer: String,
}

impl Memo {
    pub fn new(env: &Env) -> Memo {
        Memo {
            dir: env.cargo_oci_cache().map(|d| d.join("facts")),
            env: env.clone(),
            toolchain: OnceLock::new(),
            checked: Default::default(),
        }
    }

    /// The answer to `question` asked in `dir`: kept, or from `ask`, which gives it with the
    /// files it was read from; it is kept with those (plus the toolchain's). A failure is never
    /// kept.
    pub fn answer<E>(
        &self,
        question: &str,
        dir: &Path,
        ask: impl FnOnce() -> Result<(String, Vec<PathBuf>), E>,
    ) -> Result<String, E> {
        let question = self.question(question, dir);
        let file = self.dir.as_ref().map(|d| d.join(Digest::of(question.as_bytes()).hex()));
        if let Some(answer) = file.as_deref().and_then(|f| self.kept(f, &question)) {
            return Ok(answer);
        }
        let asked_at = SystemTime::now();
        let (answer, mut paths) = ask()?;
        if let Some(file) = file {
            paths.extend(toolchain_files(&self.env, dir));
            let mut watched: Vec<Watched> = Vec::new();
            for path in paths {
                if !watched.iter().any(|w| w.path == path) {
                    watched.push(Watched { state: state_of(&path), path });
                }
            }
            // Something that changed while cargo read it may not be what cargo answered for. File
            // times lag the clock (the kernel stamps them from a coarse clock; some file systems
            // round to 2 s), so anything changed shortly before asking counts as changed during.
            let since = asked_at - SETTLE;
            let settled = watched.iter().all(|w| modified(&w.path).is_none_or(|m| m < since));
            if settled {
                let watched = watched.into_iter().chain(self.toolchain().iter().cloned()).collect();
                keep(&file, &Entry { format: FORMAT, question, watched, answer: answer.clone() });
            }
        }
        Ok(answer)
    }

    /// The question with everything outside its files that can change cargo's answer.
    fn question(&self, question: &str, dir: &Path) -> String {
        let vars: BTreeMap<&str, &str> = self.env.vars().filter(|(k, _)| affects_cargo(k)).collect();
        let program = |p: std::ffi::OsString| self.env.resolve(&p).unwrap_or_else(|| p.into());
        let (cargo, rustc) = (program(self.env.cargo()), program(self.env.rustc()));
        let me = env!("CARGO_PKG_VERSION");
        format!(
            "cargo-oci {me}\n{question}\nin {dir:?}\ncwd {:?}\ncargo {cargo:?}\nrustc {rustc:?}\n{vars:?}",
            self.env.cwd
        )
    }

    fn kept(&self, file: &Path, question: &str) -> Option<String> {
        let entry: Entry = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
        let fresh = entry.format == FORMAT
            && entry.question == question
            && entry.watched.iter().all(|w| self.checked_state(&w.path) == w.state);
        fresh.then_some(entry.answer)
    }

    fn checked_state(&self, path: &Path) -> State {
        let mut checked = self.checked.lock().expect("memo lock");
        checked.entry(path.to_path_buf()).or_insert_with(|| state_of(path)).clone()
    }

    /// The programs a question runs, and what rustup's proxy would pick them by.
    fn toolchain(&self) -> &[Watched] {
        self.toolchain.get_or_init(|| {
            let mut paths: Vec<PathBuf> = Vec::new();
            for p in [self.env.cargo(), self.env.rustc()] {
                if let Some(found) = self.env.resolve(&p) {
                    paths.push(found.clone());
                    paths.extend(fs::canonicalize(&found).ok());
                }
            }
            if let Some(home) = self.env.rustup_home() {
                paths.extend([home.join("settings.toml"), home.join("toolchains")]);
                for tc in fs::read_dir(home.join("toolchains")).into_iter().flatten().flatten() {
                    paths.extend(["cargo", "rustc"].map(|b| tc.path().join("bin").join(b)));
                }
            }
            paths.into_iter().map(|path| Watched { state: state_of(&path), path }).collect()
        })
    }
}

/// Variables that change what cargo or rustc answer (ours, `CARGO_OCI_*`, do not).
fn affects_cargo(name: &str) -> bool {
    (name.starts_with("CARGO") && !name.starts_with("CARGO_OCI_"))
        || name.starts_with("RUST")
        || matches!(name, "PATH" | "HOME")
}

/// The `rust-toolchain` files rustup reads for a process started in `dir`.
fn toolchain_files(env: &Env, dir: &Path) -> Vec<PathBuf> {
    let dir = env.cwd.join(dir);
    dir.ancestors().flat_map(|d| ["rust-toolchain", "rust-toolchain.toml"].map(|f| d.join(f))).collect()
}

/// The files and directories whose change can change a local package's entry in cargo's
/// answer: its manifest, every `Cargo.toml` above it (workspace discovery), its `build.rs`, and
/// the directories cargo discovers its targets in (`src`, `src/bin`, `examples`, `tests`,
/// `benches` and their subdirectories).
pub fn package_files(manifest: &Path) -> Vec<PathBuf> {
    let Some(dir) = manifest.parent() else { return vec![manifest.to_path_buf()] };
    let mut paths = vec![manifest.to_path_buf(), dir.join("build.rs"), dir.join("src")];
    for sub in ["src/bin", "examples", "tests", "benches"] {
        let d = dir.join(sub);
        paths.extend(fs::read_dir(&d).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        paths.push(d);
    }
    paths.extend(dir.ancestors().skip(1).map(|d| d.join("Cargo.toml")));
    paths
}

fn state_of(path: &Path) -> State {
    let Ok(md) = fs::metadata(path) else { return State::Absent };
    if md.is_dir() {
        let mut names: Vec<String> = fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let slash = if e.file_type().is_ok_and(|t| t.is_dir()) { "/" } else { "" };
                format!("{}{slash}", e.file_name().to_string_lossy())
            })
            .collect();
        names.sort();
        return State::Dir(Digest::of(names.join("\n").as_bytes()).hex().to_string());
    }
    if md.mode() & 0o111 != 0 {
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        return State::Program { len: md.len(), mtime_ns, ino: md.ino() };
    }
    match fs::read(path) {
        Ok(bytes) => State::File(Digest::of(&bytes).hex().to_string()),
        Err(_) => State::Absent,
    }
}

/// Writes `bytes` to `file` through a temp file and a rename, with the modes `store::disk` gives
/// every file of ours (0644 and 0755 under the umask; `facts` sits below `store`).
fn write(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = file.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-oci-")
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Writes an entry through a temp file and a rename, with the modes every file of ours has; a
/// failure only means asking again next time. Entries not written for [`STALE`] go (those of
/// projects long gone): this runs only when cargo was asked anyway, so its cost is hidden.
fn keep(file: &Path, entry: &Entry) {
    if let Ok(bytes) = serde_json::to_vec(entry) {
        let _ = write(file, &bytes);
    }
    let Some(dir) = file.parent() else { return };
    let Some(cutoff) = SystemTime::now().checked_sub(STALE) else { return };
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < cutoff) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memo whose cache is outside `project` (its own entries would change the listing).
    fn memo(project: &Path, cache: &Path) -> Memo {
        Memo::new(&Env::from_pairs(project.to_path_buf(), [("CARGO_OCI_CACHE", cache.to_str().unwrap())]))
    }

    /// Makes `paths` look changed long ago, so answers that depend on them are kept.
    fn age(paths: &[&Path]) {
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        for p in paths {
            fs::File::open(p).unwrap().set_modified(old).unwrap();
        }
    }

    #[test]
    fn kept_until_a_watched_file_changes() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let manifest = dir.path().join("Cargo.toml");
        fs::write(&manifest, "[package]\nname = \"a\"\n").unwrap();
        age(&[&manifest, dir.path()]);
        let mut asked = 0;
        // A memo per ask, as each command has its own.
        let mut ask = |_: ()| {
            let m = &memo(dir.path(), cache.path());
            let ask = || {
                asked += 1;
                Ok::<_, ()>((format!("answer {asked}"), package_files(&manifest)))
            };
            m.answer("metadata", dir.path(), ask).unwrap()
        };
        assert_eq!(ask(()), "answer 1");
        assert_eq!(ask(()), "answer 1", "kept");
        // A new target file cargo would discover.
        let bins = dir.path().join("src/bin");
        fs::create_dir_all(&bins).unwrap();
        fs::write(bins.join("b.rs"), "fn main() {}").unwrap();
        assert_eq!(ask(()), "answer 2", "a new src/bin is asked again");
        age(&[dir.path(), &dir.path().join("src"), &bins]);
        assert_eq!(ask(()), "answer 3", "not kept while src/bin had just changed");
        assert_eq!(ask(()), "answer 3");
        fs::write(&manifest, "[package]\nname = \"b\"\n").unwrap();
        age(&[&manifest]);
        assert_eq!(ask(()), "answer 4", "a changed manifest is asked again");
        assert_eq!(ask(()), "answer 4");
        fs::remove_file(&manifest).unwrap();
        assert_eq!(ask(()), "answer 5", "a removed manifest is asked again");
    }

    #[test]
    fn a_damaged_entry_is_asked_again_and_replaced() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ask = |a: &str| {
            let answer = || Ok::<_, ()>((a.to_string(), Vec::new()));
            memo(dir.path(), cache.path()).answer("q", dir.path(), answer).unwrap()
        };
        assert_eq!(ask("1"), "1");
        let entries: Vec<_> = fs::read_dir(cache.path().join("facts")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(entries.len(), 1);
        let mut bytes = fs::read(&entries[0]).unwrap();
        bytes[0] ^= 0xff;
        fs::write(&entries[0], bytes).unwrap();
        assert_eq!(ask("2"), "2", "a damaged entry is never used");
        assert_eq!(ask("3"), "2", "and is replaced");
    }

    #[test]
    fn a_file_changed_while_asking_is_not_kept() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let manifest = dir.path().join("Cargo.toml");
        let m = memo(dir.path(), cache.path());
        let mut asked = 0;
        for _ in 0..2 {
            let ask = || {
                asked += 1;
                fs::write(&manifest, format!("{asked}")).unwrap();
                Ok::<_, ()>((String::new(), vec![manifest.clone()]))
            };
            m.answer("q", dir.path(), ask).unwrap();
        }
        assert_eq!(asked, 2);
    }

    #[test]
    fn the_environment_and_the_toolchain_are_part_of_the_question() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let rustc = dir.path().join("rustc");
        fs::write(&rustc, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&rustc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let env = |flags: &str| {
            let pairs = [
                ("CARGO_OCI_CACHE", cache.path().to_str().unwrap()),
                ("RUSTFLAGS", flags),
                ("RUSTC", rustc.to_str().unwrap()),
            ];
            Env::from_pairs(dir.path().into(), pairs)
        };
        let ask = |env: &Env, a: &str| {
            Memo::new(env).answer("q", dir.path(), || Ok::<_, ()>((a.to_string(), Vec::new()))).unwrap()
        };
        assert_eq!(ask(&env("-Ca"), "1"), "1");
        assert_eq!(ask(&env("-Ca"), "2"), "1");
        assert_eq!(ask(&env("-Cb"), "3"), "3");
        // Another rustc at the same path (a toolchain update).
        fs::write(&rustc, "#!/bin/sh\n# 2\n").unwrap();
        assert_eq!(ask(&env("-Cb"), "4"), "4");
    }

    #[test]
    fn states() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state_of(&dir.path().join("none")), State::Absent);
        let exe = dir.path().join("x");
        fs::write(&exe, "a").unwrap();
        assert!(matches!(state_of(&exe), State::File(_)));
        fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert!(matches!(state_of(&exe), State::Program { len: 1, .. }));
        assert!(matches!(state_of(dir.path()), State::Dir(_)));
    }
}
