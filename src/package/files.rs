//! The `files` layer's entries: what the plan's `files` name, walked in a stable order with
//! the modes and owners the settings give.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::layer::{Entry, Kind, Source};
use crate::plan::FileCopy;

/// The layer entries of `files`, in a stable order (the layer writer sorts them anyway).
/// Directories are walked recursively; symlinks inside them are kept as symlinks, never followed,
/// so nothing outside the package can enter the image through one.
pub fn entries(files: &[FileCopy]) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for f in files {
        if f.directory {
            if f.dest != "/" {
                out.push(Entry::dir(&f.dest, dir_mode(f), f.uid.into(), f.gid.into()));
            }
            walk(&f.src, &f.dest, f, &mut out)?;
        } else {
            out.push(file_entry(&f.src, &f.dest, f)?);
        }
    }
    Ok(out)
}

/// Directories copied from a `src` directory: 0755, or with `mode` that mode plus `x` wherever it
/// has `r` (chmod's `X`), so `mode = 0o600` gives a private 0700 tree.
fn dir_mode(f: &FileCopy) -> u32 {
    match f.mode {
        Some(m) => m.0 | ((m.0 & 0o444) >> 2),
        None => 0o755,
    }
}

fn file_entry(src: &Path, dest: &str, f: &FileCopy) -> io::Result<Entry> {
    let mode = match f.mode {
        Some(m) => m.0,
        None if fs::metadata(src)?.permissions().mode() & 0o100 != 0 => 0o755,
        None => 0o644,
    };
    Ok(Entry {
        path: dest.into(),
        kind: Kind::File(Source::Path(src.into())),
        mode,
        uid: f.uid.into(),
        gid: f.gid.into(),
    })
}

fn walk(dir: &Path, dest: &str, f: &FileCopy, out: &mut Vec<Entry>) -> io::Result<()> {
    let mut children: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = child.path();
        let to = format!("{}/{name}", dest.trim_end_matches('/'));
        let t = child.file_type()?;
        if t.is_symlink() {
            let target = fs::read_link(&path)?.to_string_lossy().into_owned();
            out.push(Entry {
                path: to,
                kind: Kind::Symlink(target),
                mode: 0o777,
                uid: f.uid.into(),
                gid: f.gid.into(),
            });
        } else if t.is_dir() {
            out.push(Entry::dir(&to, dir_mode(f), f.uid.into(), f.gid.into()));
            walk(&path, &to, f, out)?;
        } else if t.is_file() {
            out.push(file_entry(&path, &to, f)?);
        } else {
            return Err(io::Error::other(format!("{} is neither a file, a directory nor a symlink", path.display())));
        }
    }
    Ok(())
}
