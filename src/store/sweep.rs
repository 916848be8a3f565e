//! Removing what killed builds left behind: scratch directories and temp files named
//! `.cargo-oci-<pid>-…` whose process is gone or that are older than a day, and that no live
//! process holds locked. A live writer's files are never touched: its scratch directories are
//! locked while it runs, and its temp files sit in a directory whose lock the sweeper holds.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::disk::TEMP_PREFIX;
use super::lock::DirLock;

/// Anything older than this is a leftover whoever made it (a pid may have been reused).
const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Which names to consider besides our own `.cargo-oci-<pid>-…`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// Only our own names (a user's directory, e.g. beside an archive).
    No,
    /// Also what earlier cargo-oci versions named `.tmp…` and `.staging-…` (layouts, the cache and
    /// `<target-dir>/oci` are ours): removed once older than a day.
    Yes,
}

/// Removes the leftovers in `dir` (not recursively); returns how many bytes were freed.
/// Errors are ignored: a leftover that cannot be removed now is tried again next time.
pub fn sweep(dir: &Path, legacy: Legacy) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut freed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(owner) = owner(&name, legacy) else { continue };
        let Ok(md) = fs::symlink_metadata(e.path()) else { continue };
        let old =
            md.modified().ok().and_then(|t| SystemTime::now().duration_since(t).ok()).is_some_and(|a| a > MAX_AGE);
        let dead = match owner {
            Owner::Pid(pid) => !alive(pid),
            Owner::Unknown => false,
        };
        if !(dead || old) || held(&e.path()) {
            continue;
        }
        let removed = if md.is_dir() { size_of_tree(&e.path()) } else { md.len() };
        let ok = if md.is_dir() { fs::remove_dir_all(e.path()) } else { fs::remove_file(e.path()) };
        if ok.is_ok() {
            freed += removed;
        }
    }
    freed
}

enum Owner {
    Pid(u32),
    Unknown,
}

fn owner(name: &str, legacy: Legacy) -> Option<Owner> {
    if let Some(rest) = name.strip_prefix(TEMP_PREFIX) {
        let pid = rest.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok());
        return Some(pid.map_or(Owner::Unknown, Owner::Pid));
    }
    let old_style = name.strip_prefix(".tmp").is_some_and(|r| r.len() == 6) || name.starts_with(".staging-");
    (legacy == Legacy::Yes && old_style).then_some(Owner::Unknown)
}

/// Whether process `pid` runs (a zombie does not: it holds no files and writes nothing more).
/// Read from /proc (hand-written: a dependency for one `kill(pid, 0)` is not worth it); where
/// there is no /proc every process counts as alive and only the age rule applies.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: comm may hold spaces and parentheses, the state follows the last `)`.
        Ok(stat) => stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Someone holds a lock on it: a live build's scratch directory.
fn held(path: &Path) -> bool {
    match DirLock::try_exclusive(path) {
        Ok(lock) => lock.is_none(),
        Err(_) => false,
    }
}

fn size_of_tree(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of_tree(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that is not running: past the kernel's default pid_max of 2^22.
    const DEAD: u32 = 4_194_304 + 7;

    #[test]
    fn dead_and_old_leftovers_go_live_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::write(p.join(format!(".cargo-oci-{DEAD}-abc")), b"x").unwrap();
        fs::create_dir_all(p.join(format!(".cargo-oci-{DEAD}-staging-abc/sub"))).unwrap();
        fs::write(p.join(format!(".cargo-oci-{DEAD}-staging-abc/sub/f")), b"12345").unwrap();
        let mine = format!(".cargo-oci-{}-live", std::process::id());
        fs::write(p.join(&mine), b"x").unwrap();
        fs::write(p.join(".tmpAbC123"), b"x").unwrap(); // legacy, but fresh
        fs::write(p.join("index.json"), b"{}").unwrap();
        // A dead pid's directory that someone holds locked (a build in another pid namespace).
        let held_dir = p.join(format!(".cargo-oci-{DEAD}-held"));
        fs::create_dir(&held_dir).unwrap();
        let _lock = DirLock::try_exclusive(&held_dir).unwrap().unwrap();

        assert_eq!(sweep(p, Legacy::Yes), 6);
        let mut left: Vec<String> =
            fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut want = vec![".tmpAbC123".to_string(), format!(".cargo-oci-{DEAD}-held"), mine, "index.json".into()];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn legacy_names_only_where_asked() {
        assert!(owner(".tmpAbC123", Legacy::No).is_none());
        assert!(owner(".tmpAbC123", Legacy::Yes).is_some());
        assert!(owner("tmpAbC123", Legacy::Yes).is_none());
        assert!(matches!(owner(".cargo-oci-12-x", Legacy::No), Some(Owner::Pid(12))));
        assert!(matches!(owner(".cargo-oci-AbC123", Legacy::No), Some(Owner::Unknown)));
        assert!(alive(std::process::id()) && !alive(DEAD));
    }
}
