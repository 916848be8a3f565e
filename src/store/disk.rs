//! How cargo-oci puts files on disk, decided in one place for layouts, archives, the cache and
//! staging: modes as `cp`, skopeo and buildah leave them (files 0644, directories 0755, both
//! under the process umask), temp names that say which process owns them (so a later build can
//! tell a dead one's leftovers, see [`super::sweep`]), and fsync.

use std::fs::{self, DirBuilder, File, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::lock::DirLock;

/// Regular files we write (blobs, index.json, oci-layout, archives, cache entries), before the
/// umask: readable by every user, as any other tool's output.
pub const FILE_MODE: u32 = 0o644;
/// Directories we create, before the umask.
pub const DIR_MODE: u32 = 0o755;
/// Every temp file and scratch directory we make is named `.cargo-oci-<pid>-…`.
pub const TEMP_PREFIX: &str = ".cargo-oci-";

/// This process's temp name prefix, `.cargo-oci-<pid>-` (plus `label-` if given).
pub fn temp_prefix(label: &str) -> String {
    let label = if label.is_empty() { String::new() } else { format!("{label}-") };
    format!("{TEMP_PREFIX}{}-{label}", std::process::id())
}

/// A temp file in `dir`, created with [`FILE_MODE`] under the umask (tempfile's default is a
/// private 0600, which would stay on the file after its rename into place).
pub fn temp_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(&temp_prefix("")).permissions(Permissions::from_mode(FILE_MODE)).tempfile_in(dir)
}

/// Writes `bytes` to `path` through a sibling temp file and a rename: a concurrent reader sees
/// the old file or the new one, never half of one (the work files of the init and of auditable
/// binaries, `oci.lock`). [`FILE_MODE`] under the umask, plus `x` where `r` is if `executable`.
/// A file that already has these bytes and mode is left alone (a rebuild that changed nothing
/// reads a binary rather than writing it again).
pub fn replace_file(path: &Path, bytes: &[u8], executable: bool) -> io::Result<()> {
    let mode = file_mode().unwrap_or(FILE_MODE);
    let mode = if executable { mode | ((mode & 0o444) >> 2) } else { mode };
    let same = |m: fs::Metadata| m.len() == bytes.len() as u64 && m.permissions().mode() & 0o7777 == mode;
    if fs::metadata(path).is_ok_and(same) && fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir_all(dir)?;
    let mut tmp = temp_file(dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().set_permissions(Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The permission bits our new files get: [`FILE_MODE`] under this process's umask (read from
/// /proc; `None` where there is none). A file with other bits is copied, never hard-linked, into a
/// layout, so every blob has the mode this process would give it.
pub fn file_mode() -> Option<u32> {
    static MODE: OnceLock<Option<u32>> = OnceLock::new();
    *MODE.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let umask = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        Some(FILE_MODE & !u32::from_str_radix(umask.trim(), 8).ok()?)
    })
}

/// `path` with `suffix` appended to its file name (`app` → `app.stamp`): a file kept beside it.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// `mkdir -p` with [`DIR_MODE`] under the umask.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// A private scratch directory (`.cargo-oci-<pid>-<label>-…`) removed when dropped, and locked
/// while it lives, so a sweep by another build never takes it for a dead one's leftovers.
pub struct Scratch {
    // Field order: the lock is released after the directory is gone.
    dir: tempfile::TempDir,
    _lock: DirLock,
}

impl Scratch {
    pub fn new(parent: &Path, label: &str) -> io::Result<Scratch> {
        create_dir_all(parent)?;
        let dir = tempfile::Builder::new().prefix(&temp_prefix(label)).tempdir_in(parent)?;
        let lock = DirLock::try_exclusive(dir.path())?.ok_or_else(|| io::Error::other("a new directory is locked"))?;
        Ok(Scratch { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Off only in `cargo xtask bench`, to measure what durability costs.
static SYNC: AtomicBool = AtomicBool::new(true);

/// For the benchmark only: skip every fsync (a crash may then lose a layout's last write).
#[doc(hidden)]
pub fn set_sync(on: bool) {
    SYNC.store(on, Ordering::Relaxed);
}

/// Flushes a file's data to the disk.
pub fn sync_file(f: &File) -> io::Result<()> {
    if SYNC.load(Ordering::Relaxed) {
        f.sync_all()?;
    }
    Ok(())
}

/// Flushes a file we did not just write (a hard-linked staged blob, a reused one).
pub fn sync_path(path: &Path) -> io::Result<()> {
    if SYNC.load(Ordering::Relaxed) {
        File::open(path)?.sync_all()?;
    }
    Ok(())
}

/// Flushes a directory's entries: the renames into it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    sync_path(dir)
}

/// Whether `e` (or the error it wraps) says the disk is full, so the hint can say so.
pub fn is_disk_full(e: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    if e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
    {
        return true;
    }
    e.get_ref().and_then(|inner| inner.downcast_ref::<io::Error>()).is_some_and(is_disk_full)
}

/// The `hint:` for an I/O error whose cause we can name.
pub fn io_hints(e: &io::Error) -> Vec<String> {
    if is_disk_full(e) {
        vec!["free some disk space and run again".into()]
    } else {
        Vec::new()
    }
}

/// Removes a file if it is there.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised_through_wrapping() {
        let full = io::Error::from_raw_os_error(28);
        assert!(is_disk_full(&full));
        assert!(is_disk_full(&io::Error::other(io::Error::from_raw_os_error(28))));
        assert!(!is_disk_full(&io::Error::from_raw_os_error(2)));
        assert_eq!(io_hints(&full), ["free some disk space and run again"]);
    }

    #[test]
    fn temp_names_carry_the_pid() {
        let d = tempfile::tempdir().unwrap();
        let f = temp_file(d.path()).unwrap();
        let name = f.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!(".cargo-oci-{}-", std::process::id())), "{name}");
        let s = Scratch::new(d.path(), "staging").unwrap();
        assert!(s.path().file_name().unwrap().to_string_lossy().contains("-staging-"));
    }
}
