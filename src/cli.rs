//! Command-line arguments, as cargo users expect to spell them. Parsing only; meaning lives in `plan`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Build(BuildArgs),
    /// Name the first difference between two images (platform, config key, layer, file, header field)
    Diff(DiffArgs),
    /// Push an image from an OCI layout (or another registry) to a registry
    Push(PushArgs),
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
    #[command(flatten)]
    pub registry: crate::store::registry::RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The first image: `oci:DIR:TAG` (e.g. `oci:target/oci/app:1.0`) or `REGISTRY/REPO:TAG`
    pub a: String,
    /// The second image
    pub b: String,
    #[command(flatten)]
    pub registry: crate::store::registry::RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to build (see `cargo help pkgid`)
    #[arg(short, long, value_name = "NAME")]
    pub package: Option<String>,
    /// Only this binary (repeatable); default: one image per binary of the package
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Targets, comma-separated or repeated: x86_64/amd64, aarch64/arm64, i686/386, linux/arm64,
    /// or full triples [default: x86_64,aarch64]
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
    /// Tag to write (repeatable) [default: the package version]
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Base image: `static` (built in: CA certificates, passwd, nonroot user), `scratch` (empty),
    /// `oci:DIR[:TAG]` (an image or multi-platform index in a local OCI layout), a registry
    /// reference `REGISTRY/REPO[:TAG][@sha256:…]`, or `distroless-static` / `distroless-cc`
    /// (gcr.io/distroless/{static,cc}-debian12:nonroot)
    #[arg(long, value_name = "BASE", default_value = "static")]
    pub base: String,
    /// SBOM attached to each platform manifest as an OCI referrer
    #[arg(long, value_name = "FORMAT", default_value = "spdx")]
    pub sbom: crate::sbom::SbomFormat,
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
    pub media_types: Option<crate::image::MediaFamily>,
    #[command(flatten)]
    pub registry: crate::store::registry::RegistryArgs,
}

impl Default for BuildArgs {
    /// What `cargo oci build` means with no flags, exactly as clap fills it in.
    fn default() -> Self {
        match parse_from(["cargo-oci", "build"].map(std::ffi::OsString::from)) {
            Ok(OciCli { command: Command::Build(args), .. }) => args,
            other => unreachable!("`cargo-oci build` always parses: {other:?}"),
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
        assert_eq!(a1.target, ["x86_64,aarch64", "i686"]);
        assert_eq!(a1.target, b1.target);
        assert!(a.global.quiet && b.global.quiet);
        assert_eq!(a1.profile, "release");
        assert_eq!(a1.base, "static");
    }

    #[test]
    fn clap_is_consistent() {
        use clap::CommandFactory;
        CargoCli::command().debug_assert();
    }
}
