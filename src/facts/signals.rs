//! Does a package's dependency graph, as resolved for one target, handle signals? A Rust binary
//! that installs no SIGTERM handler ignores SIGTERM as PID 1 (the kernel drops signals PID 1 has
//! no handler for), so `docker stop` waits out its timeout and kills it (redlib-org/redlib#205,
//! NLnetLabs/routinator#277). A crate in the graph that handles signals is a good sign the
//! binary does; none at all is a sure sign it does not.

use cargo_metadata::{Metadata, PackageId};

use super::cdeps::compiled_for_target;

/// Crates that install signal handlers, and the feature that does it (`None`: the crate itself).
pub const SIGNAL_CRATES: &[(&str, Option<&str>)] = &[
    ("tokio", Some("signal")),
    ("signal-hook", None),
    ("signal-hook-registry", None),
    ("ctrlc", None),
    ("nix", Some("signal")),
    ("async-signal", None),
];

/// The signal-handling crates compiled into `root`'s binaries (`tokio 1.47.1 (signal)`), sorted;
/// empty when there is none. `metadata` must come from `cargo metadata --filter-platform`.
pub fn signal_handlers(metadata: &Metadata, root: &PackageId) -> Vec<String> {
    let mut found: Vec<String> = compiled_for_target(metadata, root)
        .into_iter()
        .filter_map(|(node, pkg)| {
            let (_, feature) = SIGNAL_CRATES.iter().find(|(name, _)| *name == pkg.name.as_str())?;
            match feature {
                None => Some(format!("{} {}", pkg.name, pkg.version)),
                Some(f) if node.features.iter().any(|n| n.as_str() == *f) => {
                    Some(format!("{} {} ({f})", pkg.name, pkg.version))
                }
                Some(_) => None,
            }
        })
        .collect();
    found.sort();
    found
}
