//! What the user asked `build` (and `plan`) for, as plain data: built once at the edge from the
//! command line (`cli::BuildArgs::to_request`), or directly by a test or another front end.
//! Planning reads nothing else of the command line.

use std::path::PathBuf;

use super::backend::BackendRequest;
use super::registry::RegistryRequest;
use super::SbomFormat;
use crate::oci::MediaFamily;

/// Every flag of `cargo oci build`, as values. `Request::default()` is `cargo oci build` with no
/// flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub manifest_path: Option<PathBuf>,
    /// `-p`: packages to build (empty: the current one, or every member with a binary).
    pub packages: Vec<String>,
    pub workspace: bool,
    /// `--bin`: only the images holding these binaries.
    pub bins: Vec<String>,
    /// `--target` values as typed (each may be a comma-separated list).
    pub targets: Vec<String>,
    pub profile: String,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    /// `--output`: the layout directory (relative to the cwd).
    pub output: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--gc`: remove what the layout no longer reaches after writing it.
    pub gc: bool,
    pub base: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub ports: Vec<String>,
    pub backend: Option<BackendRequest>,
    /// `--glibc`: the floor of every gnu target without its own.
    pub glibc: Option<String>,
    /// `--no-elf-check` turns it off.
    pub elf_check: bool,
    pub sbom: SbomFormat,
    pub provenance: bool,
    pub verify_reproducible: bool,
    /// `--push REF`.
    pub push: Option<String>,
    /// `--tar FILE` (relative to the cwd).
    pub tar: Option<PathBuf>,
    pub media_types: Option<MediaFamily>,
    pub registry: RegistryRequest,
    /// `--init`: run the binary behind cargo-oci's init for PID 1 (`None`: as Cargo.toml says).
    pub init: Option<bool>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--volume` (repeatable).
    pub volumes: Vec<String>,
    /// `--no-auditable` (`Some(false)`); `None`: as Cargo.toml says (default on).
    pub auditable: Option<bool>,
    /// Pin bases to `oci.lock` when it exists (`cargo oci lock` plans without it).
    pub oci_lock: bool,
    /// `--load[=ENGINE]` as typed (`auto` when bare): `docker`, `podman`, `containerd`, `auto`.
    pub load: Option<String>,
    /// `--repository REGISTRY/PREFIX`: every image pushed to `PREFIX/<image>`.
    pub repository: Option<String>,
    /// `--target-dir DIR` (relative to the cwd): cargo's, and where layouts go by default.
    pub target_dir: Option<PathBuf>,
    /// `--config KEY=VALUE`, passed to every cargo run.
    pub cargo_config: Vec<String>,
    /// `--strip[=VALUE]`.
    pub strip: Option<super::strip::Strip>,
    /// `--compression gzip|zstd[:LEVEL]`.
    pub compression: Option<crate::layer::Compression>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            manifest_path: None,
            packages: Vec::new(),
            workspace: false,
            bins: Vec::new(),
            targets: Vec::new(),
            profile: "release".into(),
            features: Vec::new(),
            all_features: false,
            no_default_features: false,
            locked: false,
            frozen: false,
            offline: false,
            output: None,
            tags: Vec::new(),
            gc: false,
            base: None,
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            user: None,
            workdir: None,
            labels: Vec::new(),
            annotations: Vec::new(),
            ports: Vec::new(),
            backend: None,
            glibc: None,
            elf_check: true,
            sbom: SbomFormat::Spdx,
            provenance: true,
            verify_reproducible: false,
            push: None,
            tar: None,
            media_types: None,
            registry: RegistryRequest::default(),
            init: None,
            stop_signal: None,
            volumes: Vec::new(),
            auditable: None,
            oci_lock: true,
            load: None,
            repository: None,
            target_dir: None,
            cargo_config: Vec::new(),
            strip: None,
            compression: None,
        }
    }
}
