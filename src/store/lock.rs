//! Advisory locks on directories: `flock(2)` on the directory itself, so a lock adds no file to
//! an OCI layout (the layout spec has no lock convention; any extra file would be ours to explain).
//! The kernel drops a lock when its holder dies, so a killed build never leaves one behind.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a writer waits quietly before it says it is waiting.
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: Option<File>,
}

impl DirLock {
    /// Takes `dir`'s exclusive lock, waiting for it; after a second of waiting `waiting(dir)` is
    /// called once (for a status line), then it blocks until the holder is done.
    pub fn exclusive(dir: &Path, waiting: &mut dyn FnMut(&Path)) -> io::Result<DirLock> {
        let file = File::open(dir)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { _file: Some(file) }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) if unsupported(&e) => return Ok(DirLock { _file: None }),
                Err(TryLockError::Error(e)) => return Err(e),
            }
            if started.elapsed() >= QUIET_WAIT {
                waiting(dir);
                file.lock()?;
                return Ok(DirLock { _file: Some(file) });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes `dir`'s shared lock (many holders at once, none while someone holds it exclusively).
    pub fn shared(dir: &Path) -> io::Result<DirLock> {
        let file = File::open(dir)?;
        match file.lock_shared() {
            Err(e) if unsupported(&e) => Ok(DirLock { _file: None }),
            other => other.map(|()| DirLock { _file: Some(file) }),
        }
    }

    /// The exclusive lock if nobody holds any lock on `dir`, else `None`.
    pub fn try_exclusive(dir: &Path) -> io::Result<Option<DirLock>> {
        let file = File::open(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock { _file: Some(file) })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) if unsupported(&e) => Ok(Some(DirLock { _file: None })),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// File systems without `flock` (some network mounts): go on unlocked, as cargo does for its own
/// build-directory lock (cargo's `util/flock.rs` ignores ENOTSUP and ENOLCK).
fn unsupported(e: &io::Error) -> bool {
    const ENOLCK: i32 = 37;
    const ENOTSUP: i32 = 95;
    e.kind() == io::ErrorKind::Unsupported || matches!(e.raw_os_error(), Some(ENOLCK | ENOTSUP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_is_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let held = DirLock::exclusive(d.path(), &mut |_| panic!("nobody holds it")).unwrap();
        assert!(DirLock::try_exclusive(d.path()).unwrap().is_none());
        drop(held);
        let shared = DirLock::shared(d.path()).unwrap();
        assert!(DirLock::try_exclusive(d.path()).unwrap().is_none(), "a shared holder blocks an exclusive one");
        let _second = DirLock::shared(d.path()).unwrap();
        drop(shared);
    }

    #[test]
    fn a_waiting_writer_says_so_and_gets_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let held = DirLock::exclusive(d.path(), &mut |_| {}).unwrap();
        let path = d.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut said = false;
            let lock = DirLock::exclusive(&path, &mut |_| {
                said = true;
                tx.send(()).unwrap();
            });
            (lock.is_ok(), said)
        });
        rx.recv().unwrap();
        drop(held);
        assert_eq!(waiter.join().unwrap(), (true, true));
    }
}
