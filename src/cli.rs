//! Command-line arguments, as cargo users expect to spell them. Parsing only, and turning them
//! into plain data at the edge ([`BuildArgs::to_request`]): meaning lives in `plan`, which never
//! sees clap's types. The value enums here are clap's spelling of the plan's own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::plan::{BackendRequest, RegistryRequest, Request, SbomFormat};
use crate::secret::Secret;
use crate::shell::ColorChoice;

/// Cargo runs `cargo-oci oci <args>`; the outer enum eats that `oci`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap_cargo_styles())]
pub enum CargoCli {
    /// Build multi-platform OCI images of Rust crates, without Docker or emulation.
    #[command(version, propagate_version = true)]
    Oci(OciCli),
}

#[derive(Debug, Args)]
pub struct OciCli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Print nothing but results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say what is decided and why (backends, bases, digests)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Coloring: auto, always, never
    #[arg(long, global = true, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the crate for each target and write a multi-platform OCI image
    Build(BuildCmd),
    /// Show what `build` would do (images, bins, targets, backends and why, bases, layers, config,
    /// outputs) without building anything
    Plan(PlanArgs),
    /// Show an image: platforms, digests, sizes, layers, entrypoint, cmd, user, env, annotations
    Inspect(InspectArgs),
    /// Combine images built elsewhere (one per architecture, say) into one multi-platform index,
    /// without changing their manifests or layers
    Merge(MergeArgs),
    /// Add a commented `[package.metadata.oci]` section to Cargo.toml
    Init(InitArgs),
    /// Name the first difference between two images (platform, config key, layer, file, header field)
    Diff(DiffArgs),
    /// Push an image from an OCI layout (or another registry) to a registry
    Push(PushArgs),
    /// Remove the blobs of an OCI layout that no tag or referrer in its index.json reaches
    Gc(GcArgs),
}

#[derive(Debug, Args, Clone)]
pub struct GcArgs {
    /// The OCI image layout directory
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct PushArgs {
    /// The image: `oci:DIR[:TAG]` (e.g. what `cargo oci build` wrote) or a registry reference
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where to: `REGISTRY/REPO[:TAG]`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// More tags to push (repeatable) [default: REF's tag, else the source's tag]
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// `human` (one `REF:TAG@DIGEST` line) or `json` (one JSON object per line)
    #[arg(long, value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The first image: `oci:DIR:TAG` (e.g. `oci:target/oci/app:1.0`) or `REGISTRY/REPO:TAG`
    pub a: String,
    /// The second image
    pub b: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct BuildCmd {
    #[command(flatten)]
    pub args: BuildArgs,
    /// How results go to stdout: `human` (one `oci:DIR:TAG@DIGEST` line per image) or `json`
    /// (one JSON object per line)
    #[arg(long, value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub args: BuildArgs,
    /// `human` or `json` (the plan as data)
    #[arg(long, visible_alias = "message-format", value_name = "FMT", value_enum, default_value = "human")]
    pub format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct InspectArgs {
    /// The image: `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG][@sha256:…]`
    pub image: String,
    /// `human` or `json`
    #[arg(long, value_name = "FMT", value_enum, default_value = "human")]
    pub format: MessageFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// The images to combine: `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG]`, each a single- or
    /// multi-platform image
    #[arg(required = true, value_name = "SRC")]
    pub sources: Vec<String>,
    /// OCI image layout directory to write
    #[arg(short, long, value_name = "DIR", required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Push the merged index to `REGISTRY/REPO[:TAG]` (also tagged with each `--tag`)
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Tag to write (repeatable; with `--push REF:TAG` it may be left out)
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// When two sources have the same platform, keep the later one instead of failing
    #[arg(long)]
    pub replace: bool,
    /// `human` or `json` (one JSON object per line)
    #[arg(long, value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package whose Cargo.toml gets the section
    #[arg(short, long, value_name = "NAME")]
    pub package: Option<String>,
}

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
    /// Also write an oci-archive (a tar of a one-tag layout) for `podman load`, `ctr images import`
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// Manifest media types: `oci`, or `docker` (v2 schema 2) for registries that reject OCI
    /// indexes [default: the base's]
    #[arg(long, value_name = "TYPES")]
    pub media_types: Option<MediaTypes>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl BuildArgs {
    /// The flags as plain data: the one place the command line enters planning.
    pub fn to_request(&self) -> Request {
        Request {
            manifest_path: self.manifest_path.clone(),
            packages: self.package.clone(),
            workspace: self.workspace,
            bins: self.bin.clone(),
            targets: self.target.clone(),
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
}

impl RegistryArgs {
    pub fn to_request(&self) -> RegistryRequest {
        RegistryRequest {
            creds: self.creds.as_deref().map(Secret::new),
            ca_certs: self.ca_cert.clone(),
            insecure: self.insecure_registry.clone(),
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

fn clap_cargo_styles() -> clap::builder::Styles {
    use anstyle::{AnsiColor, Effects};
    clap::builder::Styles::styled()
        .header(AnsiColor::Green.on_default().effects(Effects::BOLD))
        .usage(AnsiColor::Green.on_default().effects(Effects::BOLD))
        .literal(AnsiColor::Cyan.on_default().effects(Effects::BOLD))
        .placeholder(AnsiColor::Cyan.on_default())
}

/// Accepts `cargo oci …` (argv: `cargo-oci oci …`) and a direct `cargo-oci …`.
pub fn parse_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<OciCli, clap::Error> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let direct = args.get(1).is_none_or(|a| a != "oci");
    if direct {
        args.insert(1, "oci".into());
    }
    let CargoCli::Oci(cli) = CargoCli::try_parse_from(args)?;
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> OciCli {
        parse_from(s.split_whitespace().map(Into::into)).unwrap()
    }

    #[test]
    fn both_invocations() {
        let a = parse("cargo-oci oci build --target x86_64,aarch64 --target i686 -q");
        let b = parse("cargo-oci build --target x86_64,aarch64 --target i686 -q");
        let (Command::Build(a1), Command::Build(b1)) = (&a.command, &b.command) else { panic!("build expected") };
        assert_eq!(a1.args.target, ["x86_64,aarch64", "i686"]);
        assert_eq!(a1.args.target, b1.args.target);
        assert!(a.global.quiet && b.global.quiet);
        assert_eq!(a1.args.profile, "release");
        assert_eq!(a1.args.base, None);
        assert_eq!(a1.message_format, MessageFormat::Human);
        assert_eq!(a1.args.backend, None);
        assert!(!a1.args.no_elf_check && a1.args.glibc.is_none());
        let Command::Build(c) = parse("cargo-oci build --backend zigbuild --glibc 2.31 --no-elf-check").command else {
            panic!("build expected")
        };
        assert_eq!(
            (c.args.backend, c.args.glibc.as_deref(), c.args.no_elf_check),
            (Some(BackendArg::Zigbuild), Some("2.31"), true)
        );
    }

    #[test]
    fn container_flags() {
        let c = parse(
            "cargo-oci build --entrypoint /bin/api --entrypoint --serve --cmd -v --env A=1=2 --port 80 -p a -p b",
        );
        let Command::Build(b) = &c.command else { panic!("build expected") };
        assert_eq!(b.args.entrypoint, ["/bin/api", "--serve"]);
        assert_eq!(b.args.cmd, ["-v"]);
        assert_eq!(b.args.env, [("A".to_string(), "1=2".to_string())]);
        assert_eq!(b.args.package, ["a", "b"]);
        assert!(parse_from("cargo-oci build --env NOEQUALS".split_whitespace().map(Into::into)).is_err());
    }

    #[test]
    fn no_flags_is_the_default_request() {
        let Command::Build(b) = parse("cargo-oci build").command else { panic!("build expected") };
        assert_eq!(b.args.to_request(), Request::default());
        let Command::Build(b) =
            parse("cargo-oci build --creds u:p --sbom none --no-elf-check --provenance false").command
        else {
            panic!("build expected")
        };
        let r = b.args.to_request();
        assert_eq!((r.sbom, r.provenance, r.elf_check), (SbomFormat::None, false, false));
        assert_eq!(r.registry.creds.map(|c| c.expose().to_string()).as_deref(), Some("u:p"));
    }

    #[test]
    fn clap_is_consistent() {
        use clap::CommandFactory;
        CargoCli::command().debug_assert();
    }
}
