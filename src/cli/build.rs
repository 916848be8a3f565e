//! The build command's flags (`cargo oci build`, `plan`, `merge` share them) and their conversion
//! to the plain [`Request`] that planning reads; clap's spelling of the plan's value enums.

use std::path::PathBuf;

use clap::Args;

use crate::plan::{BackendRequest, RegistryRequest, Request, SbomFormat};
use crate::secret::Secret;

/// `--media-types`: the manifest family, as clap spells it (the value type, `oci::MediaFamily`,
/// knows nothing of clap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MediaTypes {
    Oci,
    Docker,
}

impl From<MediaTypes> for crate::oci::MediaFamily {
    fn from(m: MediaTypes) -> Self {
        match m {
            MediaTypes::Oci => crate::oci::MediaFamily::Oci,
            MediaTypes::Docker => crate::oci::MediaFamily::Docker,
        }
    }
}

/// What goes to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to build (repeatable)
    #[arg(short, long, value_name = "NAME")]
    pub package: Vec<String>,
    /// Build every member of the workspace that has a binary (the default in a virtual manifest)
    #[arg(long)]
    pub workspace: bool,
    /// Only the image holding this binary (repeatable); default: one image per binary
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Targets, comma-separated or repeated: x86_64/amd64, aarch64/arm64, i686/386, linux/arm64,
    /// or full triples [default: `targets` from Cargo.toml, else x86_64,aarch64]
    #[arg(long, value_name = "LIST")]
    pub target: Vec<String>,
    /// Cargo profile to build with
    #[arg(long, value_name = "NAME", default_value = "release")]
    pub profile: String,
    /// Build with the release profile: the default already (accepted as cargo spells it)
    #[arg(long, conflicts_with = "profile")]
    pub release: bool,
    /// Space or comma separated list of features to activate
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all available features
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature
    #[arg(long)]
    pub no_default_features: bool,
    /// Assert that `Cargo.lock` will remain unchanged
    #[arg(long)]
    pub locked: bool,
    /// Equivalent to specifying both --locked and --offline
    #[arg(long)]
    pub frozen: bool,
    /// Run without accessing the network
    #[arg(long)]
    pub offline: bool,
    /// OCI image layout directory to write [default: <target-dir>/oci/<image>]
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Tag to write (repeatable) [default: `tags` from Cargo.toml, else the package version]
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// After writing, remove the layout's blobs that no tag or referrer reaches any more (as
    /// `cargo oci gc DIR`); only where no other tool writes into the layout at the same time
    #[arg(long)]
    pub gc: bool,
    /// Base image: `static` (built in: CA certificates, passwd, nonroot user), `scratch` (empty),
    /// `oci:DIR[:TAG]` (an image or multi-platform index in a local OCI layout), a registry
    /// reference `REGISTRY/REPO[:TAG][@sha256:…]`, or `distroless-static` / `distroless-cc`
    /// (gcr.io/distroless/{static,cc}-debian13:nonroot) / `chainguard-static`
    /// (cgr.dev/chainguard/static) [default: static]
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Program run by the container, one argument per flag (repeatable)
    /// [default: the image's first binary]
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub entrypoint: Vec<String>,
    /// Arguments after the entrypoint, one per flag (repeatable)
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,
    /// Environment variable of the container (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::plan::config::key_value)]
    pub env: Vec<(String, String)>,
    /// User (and group) the container runs as, e.g. `65532:65532`
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory of the container (absolute)
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Label in the image config (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::plan::config::key_value)]
    pub label: Vec<(String, String)>,
    /// Annotation on the index and manifests (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::plan::config::key_value)]
    pub annotation: Vec<(String, String)>,
    /// Exposed port, e.g. `8080/tcp` (repeatable)
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub port: Vec<String>,
    /// How to compile: `auto` decides per target (cargo + rust-lld for pure-Rust musl builds, zig
    /// for C code and glibc; `-v` says why), or `cargo`, `zigbuild`, `cross`
    /// [default: auto, or `backend` from Cargo.toml]
    #[arg(long, value_name = "BACKEND", value_enum)]
    pub backend: Option<BackendArg>,
    /// glibc floor for every gnu target without a `.2.xx` suffix, e.g. `2.31`
    /// [default: the base's glibc version, when it is known]
    #[arg(long, value_name = "VERSION")]
    pub glibc: Option<String>,
    /// Do not check the binaries against the base (architecture, loader, libraries, glibc
    /// version) before writing: an image that cannot start may be written
    #[arg(long)]
    pub no_elf_check: bool,
    /// SBOM attached to each platform manifest as an OCI referrer
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "spdx")]
    pub sbom: SbomArg,
    /// Build a second time in a fresh target dir and fail, explaining the first difference, unless
    /// both give the same digests
    #[arg(long)]
    pub verify_reproducible: bool,
    /// Attach SLSA provenance (an in-toto statement) to each platform manifest
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub provenance: bool,
    /// Push the image to a registry: `REGISTRY/REPO[:TAG]` (tagged also with each `--tag`);
    /// no layout is written unless `--output` is given
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Write an archive that `docker load` (both image stores), `podman load`, `ctr images import`
    /// and skopeo (`oci-archive:FILE`) load under the image's name (the `--push` reference, else
    /// `<image>:<tag>`); no layout is written unless `--output` is given
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// Manifest media types: `oci`, or `docker` (v2 schema 2) for registries that reject OCI
    /// indexes [default: the base's]
    #[arg(long, value_name = "TYPES")]
    pub media_types: Option<MediaTypes>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Run the binary behind a tiny init as PID 1 that forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT
    /// and reaps zombies (built from cargo-oci's own source for each target, no download)
    /// [default: `init` from Cargo.toml, else off]
    #[arg(long)]
    pub init: bool,
    /// Signal that stops the container (the config's StopSignal), e.g. `SIGINT`
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// A volume of the image (the config's Volumes), an absolute path (repeatable)
    #[arg(long, value_name = "PATH")]
    pub volume: Vec<String>,
    /// Do not add the dependency list (cargo-auditable's `.dep-v0` section, read by Trivy,
    /// Grype, Syft, rust-audit-info) to the binaries [default: `auditable` from Cargo.toml, else on]
    #[arg(long)]
    pub no_auditable: bool,
    /// Load the image into the local engine: `docker` (its API on `DOCKER_HOST`, else
    /// /var/run/docker.sock), `podman`, `containerd` (`ctr images import`); alone: the first that
    /// answers. No layout is written unless `--output` is given
    #[arg(long, value_name = "ENGINE", num_args = 0..=1, default_missing_value = "auto")]
    pub load: Option<String>,
    /// Platforms, as docker buildx and ko spell them: `linux/amd64,linux/arm64`, `linux/arm/v7`
    /// (musl targets; the same list as `--target`), or `all`: every platform of the base's index
    /// that has a Rust target
    #[arg(long, value_name = "LIST")]
    pub platform: Vec<String>,
    /// Push every image of the run to `REGISTRY/PREFIX/<image>`, tagged with each tag (ko's
    /// `KO_DOCKER_REPO`) [default: `CARGO_OCI_REPOSITORY`, else `repository` from Cargo.toml]
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    pub repository: Option<String>,
    /// Directory for all generated artifacts, as cargo's `--target-dir`
    /// [default: cargo's target directory]
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Override a cargo configuration value, as cargo's `--config KEY=VALUE` (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Strip the binaries (passed to cargo as the profile's `strip`): alone or `true` leaves out
    /// debug info and symbols, `debuginfo` only debug info, `false` nothing
    /// [default: `strip` from Cargo.toml, else the profile's]
    #[arg(long, value_name = "WHAT", num_args = 0..=1, default_missing_value = "true", value_parser = strip_value)]
    pub strip: Option<crate::plan::strip::Strip>,
    /// Layer compression: `gzip[:1-12]` (read everywhere) or `zstd[:LEVEL]` (smaller and faster;
    /// containerd ≥ 1.5, Docker ≥ 23 with the containerd store, podman, CRI-O)
    /// [default: `compression` from Cargo.toml, else gzip:6]
    #[arg(long, value_name = "ALGO[:LEVEL]", value_parser = clap::value_parser!(crate::layer::Compression))]
    pub compression: Option<crate::layer::Compression>,
}

fn strip_value(s: &str) -> Result<crate::plan::strip::Strip, String> {
    crate::plan::strip::Strip::parse(s).ok_or_else(|| "expected true, false, debuginfo or symbols".to_string())
}

impl BuildArgs {
    /// The flags as plain data: the one place the command line enters planning.
    pub fn to_request(&self) -> Request {
        Request {
            manifest_path: self.manifest_path.clone(),
            packages: self.package.clone(),
            workspace: self.workspace,
            bins: self.bin.clone(),
            targets: self.target.iter().chain(&self.platform).cloned().collect(),
            profile: self.profile.clone(),
            features: self.features.clone(),
            all_features: self.all_features,
            no_default_features: self.no_default_features,
            locked: self.locked,
            frozen: self.frozen,
            offline: self.offline,
            output: self.output.clone(),
            tags: self.tag.clone(),
            gc: self.gc,
            base: self.base.clone(),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            env: self.env.clone(),
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            labels: self.label.clone(),
            annotations: self.annotation.clone(),
            ports: self.port.clone(),
            backend: self.backend.map(Into::into),
            glibc: self.glibc.clone(),
            elf_check: !self.no_elf_check,
            sbom: self.sbom.into(),
            provenance: self.provenance,
            verify_reproducible: self.verify_reproducible,
            push: self.push.clone(),
            tar: self.tar.clone(),
            media_types: self.media_types.map(Into::into),
            registry: self.registry.to_request(),
            init: self.init.then_some(true),
            stop_signal: self.stop_signal.clone(),
            volumes: self.volume.clone(),
            auditable: self.no_auditable.then_some(false),
            oci_lock: true,
            load: self.load.clone(),
            repository: self.repository.clone(),
            target_dir: self.target_dir.clone(),
            cargo_config: self.config.clone(),
            strip: self.strip,
            compression: self.compression,
        }
    }
}

/// Flags shared by every command that talks to registries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Credentials `USER:PASSWORD` for the registry pushed to (or the base's registry when not
    /// pushing); otherwise credentials come from docker/podman config files
    #[arg(long, value_name = "USER:PASSWORD")]
    pub creds: Option<String>,
    /// A PEM file of extra CA certificates to trust (repeatable), e.g. a private registry's CA
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Allow plain HTTP (and skip nothing else) for this registry host[:port] (repeatable);
    /// loopback hosts are always allowed
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Jobs at once: blobs pushed or pulled and manifests pushed in parallel (default 4), and for
    /// a build also cargo's `-j N`
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
}

impl RegistryArgs {
    pub fn to_request(&self) -> RegistryRequest {
        RegistryRequest {
            creds: self.creds.as_deref().map(Secret::new),
            ca_certs: self.ca_cert.clone(),
            insecure: self.insecure_registry.clone(),
            jobs: self.jobs,
        }
    }
}

/// `--backend`: clap's spelling of [`BackendRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// Decide per target: cargo + rust-lld when nothing needs a C toolchain, else zig
    Auto,
    /// Plain `cargo build` (rust-lld for musl unless a linker is configured)
    Cargo,
    /// `cargo zigbuild`: zig as C compiler and linker, glibc floors
    Zigbuild,
    /// `cross build`, in a container (needs docker or podman)
    Cross,
}

impl From<BackendArg> for BackendRequest {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendRequest::Auto,
            BackendArg::Cargo => BackendRequest::Cargo,
            BackendArg::Zigbuild => BackendRequest::Zigbuild,
            BackendArg::Cross => BackendRequest::Cross,
        }
    }
}

/// `--sbom`: clap's spelling of [`SbomFormat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomArg {
    Spdx,
    Cyclonedx,
    None,
}

impl From<SbomArg> for SbomFormat {
    fn from(s: SbomArg) -> Self {
        match s {
            SbomArg::Spdx => SbomFormat::Spdx,
            SbomArg::Cyclonedx => SbomFormat::Cyclonedx,
            SbomArg::None => SbomFormat::None,
        }
    }
}
