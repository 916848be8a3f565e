//! What git says about the work tree a build comes from: the last commit's time and revision,
//! and whether tracked files changed since. Nothing when it is not a git work tree.

use std::path::Path;

use crate::process::Cmd;

fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    Cmd::new("git").arg("-C").arg(dir).args(args).output().ok()
}

/// The last commit's time (Unix seconds).
pub fn commit_time(dir: &Path) -> Option<u64> {
    String::from_utf8(git(dir, &["log", "-1", "--format=%ct"])?).ok()?.trim().parse().ok()
}

/// The commit checked out (`HEAD`), if there is one.
pub fn revision(dir: &Path) -> Option<String> {
    let rev = String::from_utf8(git(dir, &["rev-parse", "--verify", "-q", "HEAD"])?).ok()?.trim().to_string();
    (rev.len() >= 40).then_some(rev)
}

/// Whether tracked files differ from the checked-out commit (ask only where there is one).
pub fn dirty(dir: &Path) -> Option<bool> {
    git(dir, &["status", "--porcelain", "--untracked-files=no"]).map(|o| !o.is_empty())
}
