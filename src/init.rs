//! `cargo oci init`: appends the commented `[package.metadata.oci]` section of
//! `templates/init.toml` to a Cargo.toml. Nothing else in the file changes, byte for byte.
//!
//! The section is appended as text rather than inserted through toml_edit's document model:
//! commented-out keys under an empty table have no place in that model (they would become the
//! next table's decor). toml_edit checks the file before (is there a package, is the section
//! already there, is `metadata` an inline table that cannot take a new sub-table?) and after.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use crate::cli::InitArgs;
use crate::env::Env;
use crate::shell::Shell;

pub const TEMPLATE: &str = include_str!("../templates/init.toml");

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("could not read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid TOML", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml_edit::TomlError,
    },
    #[error("`{}` has no [package] section", path.display())]
    NoPackage { path: PathBuf },
    #[error("`{}` already has a [package.metadata.oci] section", path.display())]
    Exists { path: PathBuf },
    #[error("`{}` defines `package.metadata` as an inline table, which cannot take a new section", path.display())]
    InlineMetadata { path: PathBuf },
    #[error("could not write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `-p NAME`: finding the member's Cargo.toml failed.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
}

impl InitError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            InitError::NoPackage { .. } => {
                vec!["run it for a member: `cargo oci init -p NAME` (or `--manifest-path member/Cargo.toml`)".into()]
            }
            InitError::Exists { .. } => vec!["edit it directly; `cargo oci plan` shows what it resolves to".into()],
            InitError::InlineMetadata { .. } => {
                vec![
                    "write `package.metadata` as a `[package.metadata]` table, or add `oci = { … }` inside it yourself"
                        .into(),
                ]
            }
            InitError::Plan(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

pub fn init(args: &InitArgs, env: &Env, shell: &mut Shell) -> Result<(), InitError> {
    let path = match &args.package {
        Some(p) => crate::plan::package_manifest(args.manifest_path.as_deref(), p, &crate::facts::Facts::new(env))?,
        None => env.cwd.join(args.manifest_path.as_deref().unwrap_or(Path::new("Cargo.toml"))),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| InitError::Read { path: path.clone(), source })?;
    let updated = with_section(&path, &text)?;
    write_replacing(&path, updated.as_bytes()).map_err(|source| InitError::Write { path: path.clone(), source })?;
    shell.status("Added", format!("[package.metadata.oci] to {}", path.display()));
    Ok(())
}

/// The manifest text with the section appended, after checking both versions.
pub fn with_section(path: &Path, text: &str) -> Result<String, InitError> {
    let parse = |t: &str| t.parse::<DocumentMut>().map_err(|source| InitError::Parse { path: path.into(), source });
    let doc = parse(text)?;
    let Some(package) = doc.get("package").and_then(Item::as_table_like) else {
        return Err(InitError::NoPackage { path: path.into() });
    };
    match package.get("metadata") {
        Some(Item::Value(_)) => return Err(InitError::InlineMetadata { path: path.into() }),
        Some(m) if m.as_table_like().is_some_and(|m| m.contains_key("oci")) => {
            return Err(InitError::Exists { path: path.into() })
        }
        _ => {}
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(TEMPLATE);
    parse(&out)?;
    Ok(out)
}

/// Replaces the file through a sibling temp file, keeping its permissions.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().set_permissions(std::fs::metadata(path)?.permissions())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::config::{parse_text, OciConfig, Section};

    const CARGO: &str = "[package]\nname = \"p\" # the name\nversion = \"0.1.0\"\n\n[dependencies]\nx = \"1\"";

    #[test]
    fn appends_without_touching_the_rest() {
        let out = with_section(Path::new("Cargo.toml"), CARGO).unwrap();
        assert!(out.starts_with(&format!("{CARGO}\n")));
        assert!(out.ends_with(TEMPLATE));
        // All keys are commented out: the section parses and is empty.
        assert_eq!(parse_text(Path::new("Cargo.toml"), Section::Package, &out).unwrap(), OciConfig::default());
        assert!(matches!(with_section(Path::new("C"), &out), Err(InitError::Exists { .. })));
    }

    #[test]
    fn every_commented_key_of_the_template_is_valid() {
        let uncommented: String = TEMPLATE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{CARGO}\n{uncommented}");
        let cfg = parse_text(Path::new("Cargo.toml"), Section::Package, &text).unwrap();
        assert!(cfg.files.is_some() && cfg.target.is_some() && cfg.annotations.is_some(), "{cfg:?}");
        let all = crate::plan::config::fields_of::<OciConfig>();
        for k in all.iter().filter(|k| **k != "target") {
            assert!(TEMPLATE.contains(&format!("# {k} = ")), "template lacks `{k}`");
        }
    }

    #[test]
    fn refusals() {
        let p = Path::new("Cargo.toml");
        assert!(matches!(with_section(p, "[workspace]\n"), Err(InitError::NoPackage { .. })));
        let inline = "[package]\nname = \"p\"\nmetadata = { docs = 1 }\n";
        assert!(matches!(with_section(p, inline), Err(InitError::InlineMetadata { .. })));
        assert!(matches!(with_section(p, "[package\n"), Err(InitError::Parse { .. })));
        let other = "[package]\nname = \"p\"\n[package.metadata.docs]\nx = 1\n";
        assert!(with_section(p, other).unwrap().starts_with(other));
    }
}
