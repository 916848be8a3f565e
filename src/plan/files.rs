//! The `files` setting, checked and normalised when planning: no `..` out of `/`, no `src`
//! outside the package (`package::files` expands it into layer entries).

use std::path::Path;

use super::config::{FileSpec, KeyPath, Origin};
use super::{FileCopy, PlanError};
use crate::facts::Facts;

/// Checks every entry: `src` is resolved from the directory of the Cargo.toml that lists it and
/// must stay inside it (after following symlinks); `dest` is absolute and normalised.
pub fn resolve(specs: &[FileSpec], origin: &Origin, cwd: &Path, facts: &Facts) -> Result<Vec<FileCopy>, PlanError> {
    let root = origin.dir(cwd);
    let canonical_root = facts.path(root).map(|f| f.real).unwrap_or_else(|_| root.to_path_buf());
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = KeyPath::key("files").at(i);
        let src = root.join(&spec.src);
        let found = facts.path(&src).map_err(|e| {
            let why = format!("`{}` cannot be read ({})", spec.src, e.kind());
            origin.invalid(&at.then("src"), why, format!("`src` is relative to {}", root.display()))
        })?;
        let real = found.real;
        if !real.starts_with(&canonical_root) {
            let why = format!("`{}` is outside {}", spec.src, root.display());
            let hint = "only files of the package go into its image: copy it into the package directory";
            return Err(origin.invalid(&at.then("src"), why, hint).into());
        }
        let dest_hint = "paths in the image start at `/`: e.g. `dest = \"/etc/app/app.toml\"`";
        if !spec.dest.starts_with('/') {
            let why = format!("`{}` is a relative path", spec.dest);
            let hint = format!("paths in the image start at `/`: `dest = \"/{}\"`", spec.dest.trim_start_matches("./"));
            return Err(origin.invalid(&at.then("dest"), why, hint).into());
        }
        let norm =
            crate::layer::normalize(&spec.dest).map_err(|why| origin.invalid(&at.then("dest"), why, dest_hint))?;
        let mut dest = format!("/{norm}");
        if !found.is_dir {
            if spec.dest.ends_with('/') || norm.is_empty() {
                // `dest = "/etc/app/"`: into that directory, under the file's own name.
                let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                dest = format!("{}/{name}", dest.trim_end_matches('/'));
            }
            if !found.is_file {
                let why = format!("`{}` is neither a file nor a directory", spec.src);
                return Err(origin.invalid(&at.then("src"), why, "list regular files or directories").into());
            }
        }
        out.push(FileCopy {
            src: real,
            dest,
            directory: found.is_dir,
            mode: spec.mode,
            uid: spec.uid.unwrap_or(0),
            gid: spec.gid.unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::layer::Kind;
    use crate::package::files::entries;
    use crate::plan::config::{ConfigError, Section};
    use crate::plan::Mode;

    fn project() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("pkg/conf/sub")).unwrap();
        fs::write(d.path().join("pkg/conf/a.toml"), "a").unwrap();
        fs::write(d.path().join("pkg/conf/sub/b.sh"), "b").unwrap();
        fs::set_permissions(d.path().join("pkg/conf/sub/b.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("pkg/conf/link")).unwrap();
        fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", d.path().join("pkg/escape")).unwrap();
        d
    }

    fn plan(d: &Path, files: &str) -> Result<Vec<FileCopy>, PlanError> {
        let file = d.join("pkg/Cargo.toml");
        let text = format!("[package]\nname = \"p\"\nversion = \"0.1.0\"\n[package.metadata.oci]\nfiles = {files}\n");
        fs::write(&file, &text).unwrap();
        let facts = Facts::new(&crate::env::Env::default());
        let (config, origin) = crate::plan::config::load(&file, Section::Package, &facts).unwrap();
        resolve(&config.files.unwrap(), &origin, Path::new("/"), &facts)
    }

    #[test]
    fn files_and_directories() {
        let d = project();
        let got = plan(
            d.path(),
            r#"[{ src = "conf/a.toml", dest = "/etc/app/" }, { src = "conf", dest = "/opt//conf/", uid = 7, mode = "0640" }]"#,
        )
        .unwrap();
        assert_eq!(got[0].dest, "/etc/app/a.toml");
        assert!(!got[0].directory && got[1].directory);
        assert_eq!((got[1].dest.as_str(), got[1].uid, got[1].mode), ("/opt/conf", 7, Some(Mode(0o640))));
        let e = entries(&got).unwrap();
        let summary: Vec<(String, u32, u64)> = e.iter().map(|e| (e.path.clone(), e.mode, e.uid)).collect();
        assert_eq!(
            summary,
            [
                ("/etc/app/a.toml".into(), 0o644, 0),
                ("/opt/conf".into(), 0o750, 7),
                ("/opt/conf/a.toml".into(), 0o640, 7),
                ("/opt/conf/link".into(), 0o777, 7),
                ("/opt/conf/sub".into(), 0o750, 7),
                ("/opt/conf/sub/b.sh".into(), 0o640, 7),
            ]
        );
        assert!(matches!(&e[3].kind, Kind::Symlink(t) if t == "/etc/passwd"));
        // Without a mode, the executable bit of the source decides.
        let got = plan(d.path(), r#"[{ src = "conf/sub/b.sh", dest = "/b" }]"#).unwrap();
        assert_eq!(entries(&got).unwrap()[0].mode, 0o755);
    }

    #[test]
    fn escapes_are_refused() {
        let d = project();
        let msg = |files: &str| match plan(d.path(), files).unwrap_err() {
            PlanError::Config(e) => match *e {
                ConfigError::Invalid { key, line, why, .. } => format!("{key}:{}: {why}", line.unwrap()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let root = d.path().join("pkg");
        assert_eq!(
            msg(r#"[{ src = "conf/a.toml", dest = "/etc/../../x" }]"#),
            "package.metadata.oci.files[0].dest:5: `/etc/../../x` leaves the image root through `..`"
        );
        // `..` is taken lexically: refused only when it climbs above `/`.
        assert_eq!(plan(d.path(), r#"[{ src = "conf/a.toml", dest = "/etc/../x" }]"#).unwrap()[0].dest, "/x");
        // Relative paths are refused, as everywhere else in the image's settings.
        assert_eq!(
            msg(r#"[{ src = "conf/a.toml", dest = "etc/x" }]"#),
            "package.metadata.oci.files[0].dest:5: `etc/x` is a relative path"
        );
        assert_eq!(
            msg(r#"[{ src = "../secret", dest = "/x" }]"#),
            format!("package.metadata.oci.files[0].src:5: `../secret` is outside {}", root.display())
        );
        assert_eq!(
            msg(r#"[{ src = "escape", dest = "/x" }]"#),
            format!("package.metadata.oci.files[0].src:5: `escape` is outside {}", root.display())
        );
        assert!(msg(r#"[{ src = "missing", dest = "/x" }]"#).contains("`missing` cannot be read (entity not found)"));
    }
}
