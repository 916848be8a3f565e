//! The file list of a base image, read by streaming its layers (gunzip + tar headers, never
//! unpacked), with OCI whiteouts applied: what the ELF check asks ("is there a glibc loader?").

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::BaseImage;

/// What a path in the image is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    /// A symbolic link, with its target.
    Symlink(String),
    /// A hard link to another path of the image.
    Link(String),
}

/// Every path of the base's final file system (relative, `etc/passwd`), bottom layer first.
pub fn base_files(base: &BaseImage) -> io::Result<BTreeMap<String, FileKind>> {
    let mut files = BTreeMap::new();
    for layer in &base.layers {
        let raw = layer.blob.open()?;
        let t = layer.blob.media_type.as_str();
        let reader: Box<dyn Read + '_> = if t.ends_with("+gzip") || t.ends_with(".tar.gzip") {
            Box::new(flate2::read::GzDecoder::new(raw))
        } else if t.ends_with(".tar") || t.ends_with("rootfs.diff.tar") {
            raw
        } else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("layer {} is `{t}`: only tar and gzip'd tar layers can be listed", layer.blob.digest),
            ));
        };
        apply_layer(&mut files, reader)?;
    }
    Ok(files)
}

fn apply_layer(files: &mut BTreeMap<String, FileKind>, r: impl Read) -> io::Result<()> {
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
        let (dir, name) = path.rsplit_once('/').map_or(("", path.as_str()), |(d, n)| (d, n));
        let under = |p: &str| if dir.is_empty() { p.to_string() } else { format!("{dir}/{p}") };
        if name == ".wh..wh..opq" {
            // Opaque directory: everything below it from lower layers is hidden.
            let prefix = format!("{dir}/");
            files.retain(|k, _| !k.starts_with(&prefix));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let gone = under(hidden);
            let prefix = format!("{gone}/");
            files.retain(|k, _| *k != gone && !k.starts_with(&prefix));
            continue;
        }
        if path.is_empty() {
            continue;
        }
        let link = || entry.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => FileKind::Dir,
            tar::EntryType::Symlink => FileKind::Symlink(link()),
            tar::EntryType::Link => FileKind::Link(link().trim_start_matches("./").to_string()),
            _ => FileKind::File,
        };
        files.insert(path, kind);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Platform;
    use crate::store::BaseSource;

    #[test]
    fn the_static_base_lists_its_files() {
        let base = crate::store::builtin::Static.resolve(&Platform::new("linux", "arm64", None)).unwrap();
        let files = base_files(&base).unwrap();
        assert_eq!(files.get("etc/passwd"), Some(&FileKind::File));
        assert_eq!(files.get("etc"), Some(&FileKind::Dir));
        assert!(files.keys().any(|k| k.starts_with("etc/ssl/certs/")), "{files:?}");
    }

    #[test]
    fn whiteouts_hide_lower_files() {
        let layer = |entries: &[(&str, tar::EntryType)]| {
            let mut b = tar::Builder::new(Vec::new());
            for (p, t) in entries {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(*t);
                h.set_size(0);
                if *t == tar::EntryType::Symlink {
                    h.set_link_name("target").unwrap();
                }
                b.append_data(&mut h, p, io::empty()).unwrap();
            }
            b.into_inner().unwrap()
        };
        let mut files = BTreeMap::new();
        let reg = tar::EntryType::Regular;
        apply_layer(
            &mut files,
            &layer(&[("a/", tar::EntryType::Directory), ("a/x", reg), ("b/y", reg), ("c/z", reg)])[..],
        )
        .unwrap();
        apply_layer(
            &mut files,
            &layer(&[("a/.wh.x", reg), ("b/.wh..wh..opq", reg), ("b/new", reg), ("l", tar::EntryType::Symlink)])[..],
        )
        .unwrap();
        let keys: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b/new", "c/z", "l"]);
        assert_eq!(files["l"], FileKind::Symlink("target".into()));
    }
}
