//! Command-line arguments, as cargo users expect to spell them. Parsing only, and turning them
//! into plain data at the edge ([`BuildArgs::to_request`]): meaning lives in `plan`, which never
//! sees clap's types. The value enums here are clap's spelling of the plan's own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod build;
pub use build::{BackendArg, BuildArgs, MediaTypes, MessageFormat, RegistryArgs, SbomArg};

use crate::shell::ColorChoice;

/// Cargo runs `cargo-oci oci <args>`; the outer enum eats that `oci`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap_cargo_styles())]
enum CargoCli {
    /// Build multi-platform OCI images of Rust crates, without Docker or emulation.
    ///
    /// Without a command, the flags are `build`'s (as `cargo fmt` is `cargo fmt`):
    /// `cargo oci --target x86_64,aarch64` is `cargo oci build --target x86_64,aarch64`.
    #[command(
        version,
        propagate_version = true,
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        override_usage = "cargo oci [BUILD OPTIONS]\n       cargo oci <COMMAND> [OPTIONS]"
    )]
    Oci(OciArgs),
}

/// The command line as clap reads it: a subcommand, or `build`'s flags without one.
#[derive(Debug, Args)]
struct OciArgs {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    build: BuildCmd,
    #[command(flatten)]
    global: GlobalArgs,
}

/// The parsed command line: always a command (`build` when none was named).
#[derive(Debug)]
pub struct OciCli {
    pub command: Command,
    pub global: GlobalArgs,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Print nothing but results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say what is decided and why (backends, bases, digests); `-vv` also makes cargo verbose
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
    /// Resolve every registry base of the workspace to its digests and write `oci.lock` next to
    /// Cargo.lock; builds then use the locked digests even when a tag moves
    Lock(LockArgs),
    /// Put an image's own layers (same digests) on another base, checking that its binaries
    /// still fit the new base; nothing is compiled
    Rebase(RebaseArgs),
}

#[derive(Debug, Args, Clone)]
pub struct RebaseArgs {
    /// The image: `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG]`, built by `cargo oci build`
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The new base, as `--base` of `build` takes it
    #[arg(long, value_name = "BASE")]
    pub base: String,
    #[command(flatten)]
    pub to: WriteArgs,
    /// `human` or `json` (one JSON object per line)
    #[arg(long, value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct LockArgs {
    #[command(flatten)]
    pub args: BuildArgs,
    /// Resolve locked bases again: every one, or only BASE (as written in Cargo.toml, e.g.
    /// `ghcr.io/org/base:1`)
    #[arg(long, value_name = "BASE", num_args = 0..=1, default_missing_value = "")]
    pub update: Option<String>,
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
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
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
    /// `human` (one line) or `json` (`{"identical": …, "difference": …}`)
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct BuildCmd {
    #[command(flatten)]
    pub args: BuildArgs,
    /// How results go to stdout: `human` (one `oci:DIR:TAG@DIGEST` line per image) or `json`
    /// (one JSON object per line)
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub args: BuildArgs,
    /// `human` or `json` (the plan as data)
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

#[derive(Debug, Args, Clone)]
pub struct InspectArgs {
    /// The image: `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG][@sha256:…]`
    pub image: String,
    /// `human` or `json`
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// The images to combine: `oci:DIR[:TAG]` or `REGISTRY/REPO[:TAG]`, each a single- or
    /// multi-platform image
    #[arg(required = true, value_name = "SRC")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub to: WriteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// When two sources have the same platform, keep the later one instead of failing
    #[arg(long)]
    pub replace: bool,
    /// `human` or `json` (one JSON object per line)
    #[arg(long, alias = "format", value_name = "FMT", value_enum, default_value = "human")]
    pub message_format: MessageFormat,
}

/// Where `merge` and `rebase` write the one image they make.
#[derive(Debug, Args, Clone)]
pub struct WriteArgs {
    /// OCI image layout directory to write
    #[arg(short, long, value_name = "DIR", required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Push the image to `REGISTRY/REPO[:TAG]` (also tagged with each `--tag`)
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Tag to write (repeatable; with `--push REF:TAG` it may be left out)
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,
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

fn clap_cargo_styles() -> clap::builder::Styles {
    use anstyle::{AnsiColor, Effects};
    clap::builder::Styles::styled()
        .header(AnsiColor::BrightGreen.on_default().effects(Effects::BOLD))
        .usage(AnsiColor::BrightGreen.on_default().effects(Effects::BOLD))
        .literal(AnsiColor::BrightCyan.on_default().effects(Effects::BOLD))
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
    Ok(OciCli { command: cli.command.unwrap_or(Command::Build(cli.build)), global: cli.global })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Request, SbomFormat};

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
