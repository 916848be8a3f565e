//! `[workspace.metadata.oci]` and `[package.metadata.oci]`: the loose, all-`Option` settings read
//! from a Cargo.toml, with errors that name the file, the key, its line and the nearest valid key.
//!
//! `cargo metadata` hands the tables over as JSON without positions, so the Cargo.toml itself is
//! read again with `toml`'s spanned parser: unknown keys are found by walking it (serde's error
//! would not say which key was meant), types are checked by serde and located by the error span.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::BackendRequest;
use crate::facts::Facts;

/// One layer of settings: every key optional. Tables (`env`, `labels`, `annotations`) merge key by
/// key across layers; every other key is replaced as a whole by the layer above.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OciConfig {
    pub base: Option<String>,
    pub targets: Option<Vec<String>>,
    pub backend: Option<BackendRequest>,
    pub tags: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub bin_dir: Option<String>,
    pub files: Option<Vec<FileSpec>>,
    pub bins: Option<Vec<String>>,
    /// `REGISTRY/PREFIX`: every image is pushed to `PREFIX/<image>` (ko's `KO_DOCKER_REPO`).
    pub repository: Option<String>,
    /// What cargo strips from the binaries (`true`, `false`, `"debuginfo"`).
    pub strip: Option<super::strip::Strip>,
    /// `compression = "zstd"`: how our layers are compressed (`gzip[:LEVEL]`, `zstd[:LEVEL]`).
    pub compression: Option<crate::layer::Compression>,
    /// `[….oci.target.<triple>]`: overrides of this layer's keys for one target.
    pub target: Option<BTreeMap<String, TargetConfig>>,
    /// Run the binary behind cargo-oci's init for PID 1 (`templates/pid1`).
    pub init: Option<bool>,
    /// The image config's StopSignal, e.g. `SIGINT`.
    pub stop_signal: Option<String>,
    /// The image config's Volumes: absolute paths.
    pub volumes: Option<Vec<String>>,
    /// Each binary carries cargo-auditable's `.dep-v0` dependency list (default true).
    pub auditable: Option<bool>,
}

/// One `files` entry: `src` (relative to the package directory) copied to `dest` in the image.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileSpec {
    pub src: String,
    pub dest: String,
    pub mode: Option<Mode>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// What a `[….oci.target.<triple>]` table may override.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetConfig {
    pub base: Option<String>,
    pub backend: Option<BackendRequest>,
}

/// A permission mode: `0o640` (a TOML octal integer) or `"0640"` (a string of octal digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0o{:o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file mode such as 0o644 or \"0644\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Mode, E> {
                u32::try_from(v).ok().filter(|m| *m <= 0o7777).map(Mode).ok_or_else(|| E::custom(too_big(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Mode, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mode, E> {
                let digits = v.strip_prefix("0o").unwrap_or(v);
                let m = u32::from_str_radix(digits, 8)
                    .map_err(|_| E::custom(format!("`{v}` is not an octal file mode such as \"0644\"")))?;
                self.visit_i64(m.into())
            }
        }
        d.deserialize_any(V)
    }
}

fn too_big(v: i64) -> String {
    format!("{v:#o} is not a file mode (at most 0o7777)")
}

/// An example of each key, for hints after a wrong type (and checked against the real parser).
pub const EXAMPLES: &[(&str, &str)] = &[
    ("base", r#"base = "static""#),
    ("targets", r#"targets = ["x86_64", "aarch64"]"#),
    ("backend", r#"backend = "cargo""#),
    ("tags", r#"tags = ["latest"]"#),
    ("entrypoint", r#"entrypoint = ["/usr/local/bin/api", "--serve"]"#),
    ("cmd", r#"cmd = ["--port", "8080"]"#),
    ("env", r#"env = { RUST_LOG = "info" }"#),
    ("workdir", r#"workdir = "/data""#),
    ("user", r#"user = "65532:65532""#),
    ("exposed-ports", r#"exposed-ports = ["8080/tcp"]"#),
    ("labels", r#"labels = { "org.example.team" = "payments" }"#),
    ("annotations", r#"annotations = { "org.opencontainers.image.vendor" = "Example" }"#),
    ("bin-dir", r#"bin-dir = "/usr/local/bin""#),
    ("files", r#"files = [{ src = "config/app.toml", dest = "/etc/app/app.toml", mode = 0o644 }]"#),
    ("bins", r#"bins = ["api", "worker"]"#),
    ("repository", r#"repository = "ghcr.io/org""#),
    ("strip", r#"strip = true"#),
    ("compression", r#"compression = "zstd:3""#),
    ("target", r#"target.aarch64-unknown-linux-musl = { base = "scratch" }"#),
    ("src", r#"src = "config/app.toml""#),
    ("dest", r#"dest = "/etc/app/app.toml""#),
    ("mode", "mode = 0o644"),
    ("uid", "uid = 65532"),
    ("gid", "gid = 65532"),
    ("init", "init = true"),
    ("stop-signal", r#"stop-signal = "SIGINT""#),
    ("volumes", r#"volumes = ["/data"]"#),
    ("auditable", "auditable = false"),
];

/// Which table of a Cargo.toml holds the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Workspace,
    Package,
}

impl Section {
    pub fn dotted(self) -> &'static str {
        match self {
            Section::Workspace => "workspace.metadata.oci",
            Section::Package => "package.metadata.oci",
        }
    }
}

/// A key inside the settings: `files[1].dest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Seg>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn key(k: &str) -> KeyPath {
        KeyPath(vec![Seg::Key(k.into())])
    }
    pub fn then(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }
    pub fn at(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    /// The first key: which setting (and so which command-line flag) this is about.
    pub fn head(&self) -> &str {
        match self.0.first() {
            Some(Seg::Key(k)) => k,
            _ => "",
        }
    }
    fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| if let Seg::Key(k) = s { Some(k.as_str()) } else { None })
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i > 0 => write!(f, ".{k}")?,
                Seg::Key(k) => f.write_str(k)?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where a layer of settings came from: a Cargo.toml section, or the command line.
#[derive(Clone, Debug)]
pub enum Origin {
    CommandLine,
    Manifest(Arc<ManifestSource>),
}

/// A Cargo.toml section, kept with its text so errors can point at lines.
#[derive(Debug)]
pub struct ManifestSource {
    pub file: PathBuf,
    pub section: Section,
    text: String,
}

impl Origin {
    /// The directory relative paths in this layer start from: the Cargo.toml's, or the cwd.
    pub fn dir<'a>(&'a self, cwd: &'a Path) -> &'a Path {
        match self {
            Origin::CommandLine => cwd,
            Origin::Manifest(m) => m.file.parent().unwrap_or(Path::new("/")),
        }
    }

    /// An error about the value of `key`, pointing at its line (or at the flag that set it).
    pub fn invalid(&self, key: &KeyPath, why: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let (why, hint) = (why.into(), hint.into());
        match self {
            Origin::CommandLine => ConfigError::Flag { flag: flag_of(key.head()).to_string(), why, hint },
            Origin::Manifest(m) => ConfigError::Invalid {
                file: m.file.clone(),
                key: format!("{}.{key}", m.section.dotted()),
                line: m.line_of(key),
                why,
                hint,
            },
        }
    }
}

/// The command-line flag that sets a key (for errors about values given on the command line).
pub fn flag_of(key: &str) -> &'static str {
    match key {
        "exposed-ports" => "--port",
        "env" => "--env",
        "labels" => "--label",
        "annotations" => "--annotation",
        "entrypoint" => "--entrypoint",
        "cmd" => "--cmd",
        "user" => "--user",
        "workdir" => "--workdir",
        "tags" => "--tag",
        "targets" => "--target",
        "bins" => "--bin",
        "stop-signal" => "--stop-signal",
        "volumes" => "--volume",
        "repository" => "--repository",
        "strip" => "--strip",
        _ => "--base",
    }
}

impl ManifestSource {
    /// The line of `key` inside this section (1-based), found by parsing the text again.
    pub fn line_of(&self, key: &KeyPath) -> Option<usize> {
        let root = DeTable::parse(&self.text).ok()?;
        let mut v = section_value(root.get_ref(), self.section)?;
        let mut span = v.span();
        for seg in &key.0 {
            let (s, next) = match (seg, v.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => {
                    let (ks, val) = t.iter().find(|(name, _)| name.get_ref() == k)?;
                    (ks.span(), val)
                }
                (Seg::Index(i), DeValue::Array(a)) => {
                    let item = a.get(*i)?;
                    (item.span(), item)
                }
                _ => return Some(line(&self.text, span.start)),
            };
            span = s;
            v = next;
        }
        Some(line(&self.text, span.start))
    }
}

fn line(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn section_value<'a, 'i>(root: &'a DeTable<'i>, section: Section) -> Option<&'a Spanned<DeValue<'i>>> {
    let mut table = root;
    let names = section.dotted().split('.').collect::<Vec<_>>();
    let (last, parents) = names.split_last()?;
    for name in parents {
        match table.iter().find(|(k, _)| k.get_ref() == name)?.1.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    table.iter().find(|(k, _)| k.get_ref() == last).map(|(_, v)| v)
}

/// Settings read from a Cargo.toml section (empty when the section is absent).
pub fn load(file: &Path, section: Section, facts: &Facts) -> Result<(OciConfig, Origin), ConfigError> {
    let text = facts.read_to_string(file).map_err(|source| ConfigError::Read { file: file.into(), source })?;
    let source = Arc::new(ManifestSource { file: file.into(), section, text });
    let config = parse(&source)?;
    Ok((config, Origin::Manifest(source)))
}

fn parse(m: &ManifestSource) -> Result<OciConfig, ConfigError> {
    let root = DeTable::parse(&m.text).map_err(|e| ConfigError::Syntax {
        file: m.file.clone(),
        line: e.span().map(|s| line(&m.text, s.start)),
        source: Box::new(e),
    })?;
    let Some(value) = section_value(root.get_ref(), m.section) else { return Ok(OciConfig::default()) };
    check_keys(value, m)?;
    let de = toml::de::ValueDeserializer::from(value.clone());
    OciConfig::deserialize(de).map_err(|e| {
        let span = e.span().unwrap_or(value.span());
        let key = key_at(value, &span).unwrap_or_default();
        let example = key.last_key().and_then(|k| EXAMPLES.iter().find(|(n, _)| *n == k)).map(|(_, x)| x.to_string());
        ConfigError::WrongType {
            file: m.file.clone(),
            key: format!("{}{}{key}", m.section.dotted(), if key.0.is_empty() { "" } else { "." }),
            line: line(&m.text, span.start),
            why: e.message().to_string(),
            example,
        }
    })
}

/// Unknown keys, at every level we know the shape of; and modes written in decimal.
fn check_keys(oci: &Spanned<DeValue<'_>>, m: &ManifestSource) -> Result<(), ConfigError> {
    let DeValue::Table(t) = oci.get_ref() else { return Ok(()) }; // serde reports the type
    check_table(t, &KeyPath::default(), fields_of::<OciConfig>(), m)?;
    for (k, v) in t.iter() {
        match (k.get_ref().as_ref(), v.get_ref()) {
            ("files", DeValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let DeValue::Table(ft) = item.get_ref() else { continue };
                    let at = KeyPath::key("files").at(i);
                    check_table(ft, &at, fields_of::<FileSpec>(), m)?;
                    if let Some((_, mode)) = ft.iter().find(|(k, _)| k.get_ref() == "mode") {
                        if let DeValue::Integer(n) = mode.get_ref() {
                            if n.radix() != 8 {
                                return Err(ConfigError::Invalid {
                                    file: m.file.clone(),
                                    key: format!("{}.{}", m.section.dotted(), at.then("mode")),
                                    line: Some(line(&m.text, mode.span().start)),
                                    why: format!("mode `{}` is written in decimal", n.as_str()),
                                    hint: format!(
                                        "write modes in octal: `mode = 0o{0}` or `mode = \"{0}\"`",
                                        n.as_str()
                                    ),
                                });
                            }
                        }
                    }
                }
            }
            ("target", DeValue::Table(targets)) => {
                for (name, v) in targets.iter() {
                    if let DeValue::Table(tt) = v.get_ref() {
                        check_table(tt, &KeyPath::key("target").then(name.get_ref()), fields_of::<TargetConfig>(), m)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_table(
    t: &DeTable<'_>,
    at: &KeyPath,
    valid: &'static [&'static str],
    m: &ManifestSource,
) -> Result<(), ConfigError> {
    for (k, _) in t.iter() {
        let name = k.get_ref().as_ref();
        if !valid.contains(&name) {
            let prefix =
                if at.0.is_empty() { m.section.dotted().to_string() } else { format!("{}.{at}", m.section.dotted()) };
            return Err(ConfigError::UnknownKey {
                file: m.file.clone(),
                key: format!("{prefix}.{name}"),
                line: line(&m.text, k.span().start),
                nearest: nearest(name, valid).map(String::from),
                valid: valid.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    Ok(())
}

/// The valid key closest to a mistyped one, if any is close enough to be what was meant.
pub fn nearest<'a>(typed: &str, valid: &[&'a str]) -> Option<&'a str> {
    let typed = typed.replace('_', "-").to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (strsim::jaro_winkler(&typed, v), *v))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// The deepest key whose key or value holds `span` (where serde said the wrong type is).
fn key_at(v: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<KeyPath> {
    let inside = |s: Range<usize>| s.start <= span.start && span.end <= s.end;
    let children: Vec<(Seg, Range<usize>, &Spanned<DeValue<'_>>)> = match v.get_ref() {
        DeValue::Table(t) => t.iter().map(|(k, val)| (Seg::Key(k.get_ref().to_string()), k.span(), val)).collect(),
        DeValue::Array(a) => a.iter().enumerate().map(|(i, val)| (Seg::Index(i), val.span(), val)).collect(),
        _ => return None,
    };
    for (seg, key_span, val) in children {
        if inside(key_span.clone()) || inside(val.span()) || key_at(val, span).is_some() {
            let mut path = KeyPath(vec![seg]);
            if let Some(rest) = key_at(val, span) {
                path.0.extend(rest.0);
            }
            return Some(path);
        }
    }
    None
}

/// The field names serde derives for `T` (its `deny_unknown_fields` list).
///
/// Hand-written: serde has no API for this, and a crate for it (serde-aux) would be a
/// dependency for twenty lines. The probe deserializer records the names `deserialize_struct`
/// is called with and stops there.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Turns `KEY=VALUE` (a `--env`, `--label`, `--annotation` value) into its parts.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Settings that could not be read, or keys and values that are not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read `{}`", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}{}` is not valid TOML", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        file: PathBuf,
        line: Option<usize>,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("unknown key `{key}` at {}:{line}", file.display())]
    UnknownKey { file: PathBuf, key: String, line: usize, nearest: Option<String>, valid: Vec<String> },
    #[error("`{key}` at {}:{line} has the wrong type: {why}", file.display())]
    WrongType { file: PathBuf, key: String, line: usize, why: String, example: Option<String> },
    #[error("`{key}` at {}{} is invalid: {why}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { file: PathBuf, key: String, line: Option<usize>, why: String, hint: String },
    #[error("`{flag}` is invalid: {why}")]
    Flag { flag: String, why: String, hint: String },
}

impl ConfigError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => Vec::new(),
            ConfigError::UnknownKey { nearest: Some(n), .. } => vec![format!("did you mean `{n}`?")],
            ConfigError::UnknownKey { valid, .. } => vec![format!("valid keys here: {}", valid.join(", "))],
            ConfigError::WrongType { example: Some(x), .. } => vec![format!("write it like this: `{x}`")],
            ConfigError::WrongType { .. } => Vec::new(),
            ConfigError::Invalid { hint, .. } | ConfigError::Flag { hint, .. } => vec![hint.clone()],
        }
    }
}

/// Parses a section's text (for tests and `init`): `text` is a whole Cargo.toml.
pub fn parse_text(file: &Path, section: Section, text: &str) -> Result<OciConfig, ConfigError> {
    parse(&ManifestSource { file: file.into(), section, text: text.into() })
}

#[cfg(test)]
mod tests;
