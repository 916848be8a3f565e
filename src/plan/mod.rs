//! The plan: everything a build will do, decided up front as plain data (printable by `cargo oci
//! plan`, snapshot-tested): which images, bins and targets, each target's base and backend, the
//! compile jobs, each image's destinations, the attestations, the registry settings, the checks.
//! `resolve` makes it from a [`Request`] and the `facts` (no I/O of its own);
//! `glibc::apply_base_floors` is its second, pure step once the bases are read. Imports `oci`,
//! `facts`, `layer` and the utilities; never `cli` or `store`.

mod backend;
mod base;
pub use base::{known_libc, parse_base};
pub mod config;
pub mod files;
pub mod glibc;
mod jobs;
pub mod lockfile;
pub mod outputs;
mod pid1;
pub mod registry;
pub mod request;
mod resolve;
mod settings;
pub mod show;
mod signal;
pub mod strip;
pub mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::oci::{ContainerConfig, Destination, ImageName, MediaFamily, Reference};

pub use crate::facts::CargoFlags;
pub use backend::{choose_backend, BackendRequest};
pub use config::{ConfigError, Mode};
pub use jobs::jobs;
pub use outputs::{Outputs, PushPlan};
pub use registry::{RegistryPlan, RegistryRequest};
pub use request::Request;
pub use resolve::{check_tag, package_manifest, resolve};
pub use settings::{DEFAULT_BIN_DIR, DEFAULT_TARGETS};
pub use target::{Libc, Target};

/// The whole build, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub profile: String,
    pub cargo: CargoFlags,
    /// `SOURCE_DATE_EPOCH`: every timestamp in every image.
    pub epoch: u64,
    /// One job per target triple, for all images at once; `compile::runs` puts the jobs that
    /// share a backend, packages and rustflags in one cargo run.
    pub jobs: Vec<CompileJob>,
    pub images: Vec<ImagePlan>,
    /// Check each binary against its base before writing (`--no-elf-check` turns it off).
    pub elf_check: bool,
    /// `--verify-reproducible`: build everything a second time and compare digests.
    pub verify_reproducible: bool,
    /// What is attached to every platform manifest.
    pub attestations: Attestations,
    /// How registries (bases, `--push`) are reached.
    pub registry: RegistryPlan,
    /// What the plan does that may not be what was meant (printed by `build` and `plan`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PlanWarning>,
}

/// A decision worth a second look, with the exact change that addresses it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlanWarning {
    pub message: String,
    pub hint: String,
}

/// The referrers attached to each platform manifest (`--sbom`, `--provenance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Attestations {
    pub sbom: SbomFormat,
    pub provenance: bool,
}

/// `--sbom`: which document to attach to each platform manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    Spdx,
    Cyclonedx,
    None,
}

impl SbomFormat {
    /// The referrer's `artifactType` and the document's media type.
    pub fn media_type(self) -> Option<&'static str> {
        match self {
            SbomFormat::Spdx => Some("application/spdx+json"),
            SbomFormat::Cyclonedx => Some("application/vnd.cyclonedx+json"),
            SbomFormat::None => None,
        }
    }
}

/// One `cargo build --target T`.
#[derive(Clone, Debug, Serialize)]
pub struct CompileJob {
    pub target: Target,
    pub backend: BackendChoice,
    /// The packages and their binaries this job builds.
    pub units: Vec<Unit>,
    /// It also builds cargo-oci's init for PID 1 (`templates/pid1`) for this target, with the
    /// same backend: once per target, for every image with `init = true`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// What it links from the system it is built on, which a cross build cannot find (openssl-sys
    /// without `vendored`, pkg-config probes): named in `plan`, warned of, and the fixes hinted
    /// when the build fails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system_libs: Vec<crate::facts::cdeps::SystemLib>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Unit {
    pub package: String,
    #[serde(skip)]
    pub package_id: String,
    pub bins: Vec<String>,
}

/// Which way of building a target, and why (shown by `-v` and `plan`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BackendChoice {
    pub kind: BackendKind,
    pub reason: String,
    /// A linker we set for the target (`rust-lld` for musl when the user configured none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linker: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Cargo,
    Zigbuild,
    Cross,
}

/// One multi-platform image.
#[derive(Clone, Debug, Serialize)]
pub struct ImagePlan {
    /// The image name: the binary's name (the package's, for a `bins = [...]` image).
    pub name: String,
    pub package: PackageInfo,
    pub bins: Vec<String>,
    /// Each target with its base and backend (`[….oci.target.<triple>]` can set both).
    #[serde(flatten)]
    pub targets: Targets,
    pub tags: Vec<String>,
    /// The OCI layout directory (written when `destinations` has a layout).
    pub output: PathBuf,
    pub config: ContainerConfig,
    /// Annotations on the index and on every manifest (sorted: they go into digests).
    pub annotations: BTreeMap<String, String>,
    /// Where the image goes, in the order it is written: layout, oci-archive, registry.
    pub destinations: Vec<Destination>,
    /// `--media-types`; none keeps the base's family (a Docker-typed base gives Docker types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_types: Option<MediaFamily>,
    /// Our layers on top of the base's, bottom first.
    pub layers: Vec<LayerPlan>,
    /// How our layers are compressed (`--compression`, `compression`; base layers keep theirs).
    pub compression: crate::layer::Compression,
    /// Its binaries carry cargo-auditable's `.dep-v0` dependency list (`--no-auditable`: not).
    pub auditable: bool,
}

/// One platform of an image: the target, the base it goes on and the backend that builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageTarget {
    pub target: Target,
    pub base: ImageName,
    pub backend: BackendChoice,
    /// The base is pinned by `oci.lock` (its reference carries the locked digest).
    pub locked: bool,
}

impl ImageTarget {
    /// A target whose binaries are built elsewhere (the benchmark packages a given file): the
    /// backend is named, never run.
    pub fn prebuilt(target: Target, base: ImageName) -> ImageTarget {
        let backend = BackendChoice { kind: BackendKind::Cargo, reason: "built elsewhere".into(), linker: None };
        ImageTarget { target, base, backend, locked: false }
    }
}

/// An image's targets, in platform order. In the plan's JSON: `targets` (the targets) and `base`
/// (each target's base, by triple); the backends are in `jobs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets(pub Vec<ImageTarget>);

impl std::ops::Deref for Targets {
    type Target = [ImageTarget];
    fn deref(&self) -> &[ImageTarget] {
        &self.0
    }
}

impl std::ops::DerefMut for Targets {
    fn deref_mut(&mut self) -> &mut [ImageTarget] {
        &mut self.0
    }
}

impl Serialize for Targets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("targets", &self.iter().map(|t| &t.target).collect::<Vec<_>>())?;
        m.serialize_entry("base", &self.iter().map(|t| (&t.target.triple, &t.base)).collect::<BTreeMap<_, _>>())?;
        // Which bases `oci.lock` pinned (only when it pinned any: plans without a lock are unchanged).
        let locked: BTreeMap<_, _> = self.iter().filter(|t| t.locked).map(|t| (&t.target.triple, true)).collect();
        if !locked.is_empty() {
            m.serialize_entry("locked", &locked)?;
        }
        m.end()
    }
}

impl ImagePlan {
    /// Where its init for PID 1 is, when it has one.
    pub fn init_path(&self) -> Option<&str> {
        self.layers.iter().find_map(|l| match l {
            LayerPlan::Init { path } => Some(path.as_str()),
            _ => None,
        })
    }

    /// The first registry base of the image, by triple (its blobs can be mounted on a push to
    /// the same registry; `--creds` goes to it when nothing is pushed).
    pub fn registry_base(&self) -> Option<&Reference> {
        let mut bases: Vec<&ImageTarget> = self.targets.iter().collect();
        bases.sort_by(|a, b| a.target.triple.cmp(&b.target.triple));
        bases.iter().find_map(|t| match &t.base {
            ImageName::Registry { reference } => Some(reference),
            _ => None,
        })
    }
}

/// One layer we add, in plan form.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LayerPlan {
    /// The `files` setting: one layer, byte-identical for every platform.
    Files { files: Vec<FileCopy> },
    /// The binaries, compiled per platform, placed in `dir`.
    Binaries { dir: String, bins: Vec<String> },
    /// `init = true`: cargo-oci's init for PID 1 at `path`, the entrypoint's first word. The
    /// same bytes for every image of a target, so one blob; the bottom of our layers.
    Init { path: String },
}

/// Where the init for PID 1 is put: one path, so one layer per target whatever `bin-dir` is.
pub const INIT_PATH: &str = "/usr/local/bin/cargo-oci-init";

/// One `files` entry, checked: `src` exists inside the package, `dest` is normalised.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FileCopy {
    pub src: PathBuf,
    /// Absolute path in the image; a directory `src` is copied into it recursively.
    pub dest: String,
    pub directory: bool,
    /// For every file copied; `None`: 0755 if the source is executable, else 0644.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    #[serde(skip)]
    pub id: String,
    pub manifest_dir: PathBuf,
}

impl From<ConfigError> for PlanError {
    fn from(e: ConfigError) -> PlanError {
        PlanError::Config(Box::new(e))
    }
}

/// Errors found while planning: nothing has been built or written yet.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Facts(#[from] crate::facts::FactsError),
    #[error("package `{name}` is not in this workspace")]
    NoSuchPackage { name: String, members: Vec<String> },
    #[error("package `{package}` has no binary named `{bin}`")]
    NoSuchBin { package: String, bin: String, bins: Vec<String> },
    #[error("package `{package}` has no binary target: there is nothing to put into an image")]
    NoBinary { package: String },
    #[error(transparent)]
    UnknownTarget(#[from] target::UnknownTarget),
    #[error("`--target` names no target: an image with no platform is not written")]
    NoTargets,
    #[error("target `{triple}` links against glibc, but the base `{base}` has no glibc")]
    GlibcTargetOnBase { triple: String, short: Option<String>, base: String },
    #[error("`{package}` needs a C compiler for `{triple}`: {why}")]
    NeedsCCompiler { package: String, triple: String, why: String },
    #[error("a glibc floor ({glibc} for `{triple}`) needs the zigbuild backend, not {backend}")]
    FloorNeedsZig { triple: String, glibc: String, backend: String },
    #[error("`{value}` is not a glibc version (like 2.31)")]
    BadGlibc { value: String },
    #[error("`{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)")]
    InvalidTag { tag: String },
    #[error("unknown base `{base}`")]
    UnknownBase { base: String },
    #[error("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds")]
    BadEpoch { value: String },
    #[error(transparent)]
    Reference(#[from] crate::oci::ReferenceError),
    #[error(transparent)]
    Outputs(#[from] outputs::OutputsError),
    /// Boxed: the config errors carry file, key, line and hint, and planning errors travel far.
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("`{}` has no member with a binary target: there is nothing to put into an image", manifest.display())]
    NoBinaryInWorkspace { manifest: PathBuf },
    #[error("no image to build holds a binary named `{bin}`")]
    NoImageWithBin { bin: String, bins: Vec<String> },
    #[error("`--creds` must be `USER:PASSWORD`")]
    BadCreds,
    #[error("CARGO_OCI_CHUNK_SIZE=`{value}` is not a number of bytes (at least 1024)")]
    BadChunkSize { value: String },
    #[error("two images would be named `{name}`: from `{first}` and `{second}`")]
    DuplicateImage { name: String, first: String, second: String },
    #[error("`{}` is not a valid oci.lock: {why}", path.display())]
    BadLock { path: PathBuf, why: String },
    #[error("{}: base `{base}` for {platform} is not locked, and `--locked` was given", if *missing { format!("`{}` does not exist", path.display()) } else { format!("`{}` is stale", path.display()) })]
    NotLocked { base: String, platform: String, path: PathBuf, missing: bool },
    #[error("packages `{first}` and `{second}` set different `strip` values, and cargo builds them in one run")]
    StripDiffers { first: String, second: String },
    #[error("`{image}` cannot have {compression} layers in Docker manifests (`--media-types docker`): Docker's media types have no zstd layer")]
    ZstdInDocker { image: String, compression: String },
}

impl PlanError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            PlanError::Facts(e) => e.hints(),
            PlanError::NoSuchPackage { members, .. } => {
                vec![format!("pick one with -p: {}", members.iter().map(|m| format!("`-p {m}`")).collect::<Vec<_>>().join(", "))]
            }
            PlanError::NoSuchBin { bins, .. } => vec![format!("binaries in this package: {}", bins.join(", "))],
            PlanError::NoBinary { package } => vec![format!("add `src/main.rs` or a `[[bin]]` section to {package}'s Cargo.toml, or pick another package with -p")],
            PlanError::NoTargets => vec![format!(
                "name at least one: {} (e.g. `--target x86_64,aarch64`), or leave `--target` out for the default",
                target::UnknownTarget::known_names()
            )],
            PlanError::UnknownTarget(_) => vec![format!(
                "use one of {}, or a full triple such as aarch64-unknown-linux-musl",
                target::UnknownTarget::known_names()
            )],
            PlanError::GlibcTargetOnBase { short, .. } => {
                let mut h = Vec::new();
                if let Some(s) = short {
                    h.push(format!("build a static musl binary instead: `--target {s}`"));
                }
                h.push("or use a base that ships glibc, e.g. `--base distroless-cc` (Debian 13, glibc 2.41)".into());
                h
            }
            PlanError::NeedsCCompiler { triple, .. } => vec![format!(
                "build it with zig as the C cross compiler: `pip install cargo-zigbuild`, then `--backend zigbuild` (or `--backend auto`, the default) (or set CARGO_TARGET_{}_LINKER and CC_{} to a cross toolchain)",
                crate::env::triple_env(triple),
                triple.replace('-', "_")
            )],
            PlanError::FloorNeedsZig { triple, glibc, .. } => vec![format!(
                "use `--backend zigbuild` (or `auto`) to build against glibc {glibc}, or drop the floor: `--target {triple}`"
            )],
            PlanError::BadGlibc { .. } => vec!["e.g. `--glibc 2.31`, or a suffix on the target: `--target aarch64-unknown-linux-gnu.2.31`".into()],
            PlanError::InvalidTag { .. } => vec!["e.g. `--tag 1.2.3` or `--tag latest`".into()],
            PlanError::UnknownBase { .. } => {
                vec!["use `--base static` (the built-in default), `--base scratch`, `--base distroless-static`, `--base distroless-cc`, `--base chainguard-static`, `--base oci:DIR[:TAG]` or `--base REGISTRY/REPO:TAG`".into()]
            }
            PlanError::BadEpoch { .. } => vec!["set it to Unix seconds, e.g. `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`".into()],
            PlanError::Reference(e) => e.hints(),
            PlanError::Outputs(e) => e.hints(),
            PlanError::Config(e) => e.hints(),
            PlanError::NoBinaryInWorkspace { .. } => {
                vec!["add a binary to a member (`src/main.rs` or a `[[bin]]` section)".into()]
            }
            PlanError::NoImageWithBin { bins, .. } => {
                vec![format!("binaries that go into images: {} (`bins = [...]` decides which do)", bins.join(", "))]
            }
            PlanError::BadCreds => vec!["e.g. `--creds ci-bot:$TOKEN`".into()],
            PlanError::BadChunkSize { .. } => {
                vec!["unset it (uploads are monolithic), or set bytes, e.g. `CARGO_OCI_CHUNK_SIZE=8388608`".into()]
            }
            PlanError::BadLock { .. } => vec!["write it again from the bases: `cargo oci lock --update`".into()],
            PlanError::NotLocked { .. } => {
                vec!["lock the bases (and commit oci.lock): `cargo oci lock`, then build with `--locked` again".into()]
            }
            PlanError::DuplicateImage { second, .. } => vec![format!(
                "build them separately (`-p {second}`), or put the binaries of one package into one image with `bins = [...]` in its [package.metadata.oci]"
            )],
            PlanError::StripDiffers { .. } => {
                vec!["set `strip` once, in [workspace.metadata.oci], or build them separately with `-p`".into()]
            }
            PlanError::ZstdInDocker { .. } => vec![
                "use `--compression gzip` with `--media-types docker`, or drop `--media-types docker` (OCI manifests carry zstd layers)".into(),
            ],
        }
    }
}
