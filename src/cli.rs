//! Command-line arguments, as cargo users expect to spell them. Parsing only; meaning lives in `plan`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::plan::BackendRequest;
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the crate for each target and write a multi-platform OCI image
    Build(BuildArgs),
}

#[derive(Debug, Args, Clone, Default)]
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
    /// Base image: `static` (built in: CA certificates, passwd, nonroot user), `scratch` (empty), or
    /// `oci:DIR[:TAG]` (an image or multi-platform index in a local OCI layout)
    #[arg(long, value_name = "BASE", default_value = "static")]
    pub base: String,
    /// How to compile: `auto` decides per target (cargo + rust-lld for pure-Rust musl builds, zig
    /// for C code and glibc; `-v` says why), or `cargo`, `zigbuild`, `cross`
    #[arg(long, value_name = "BACKEND", value_enum, default_value_t)]
    pub backend: BackendRequest,
    /// glibc floor for every gnu target without a `.2.xx` suffix, e.g. `2.31`
    /// [default: the base's glibc version, when it is known]
    #[arg(long, value_name = "VERSION")]
    pub glibc: Option<String>,
    /// Do not check the binaries against the base (architecture, loader, libraries, glibc
    /// version) before writing: an image that cannot start may be written
    #[arg(long)]
    pub no_elf_check: bool,
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
        let (Command::Build(a1), Command::Build(b1)) = (&a.command, &b.command);
        assert_eq!(a1.target, ["x86_64,aarch64", "i686"]);
        assert_eq!(a1.target, b1.target);
        assert!(a.global.quiet && b.global.quiet);
        assert_eq!(a1.profile, "release");
        assert_eq!(a1.base, "static");
        assert_eq!(a1.backend, BackendRequest::Auto);
        assert!(!a1.no_elf_check && a1.glibc.is_none());
        let Command::Build(c) = parse("cargo-oci build --backend zigbuild --glibc 2.31 --no-elf-check").command;
        assert_eq!((c.backend, c.glibc.as_deref(), c.no_elf_check), (BackendRequest::Zigbuild, Some("2.31"), true));
    }

    #[test]
    fn clap_is_consistent() {
        use clap::CommandFactory;
        CargoCli::command().debug_assert();
    }
}
