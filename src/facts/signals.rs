//! Does a package's dependency graph, as resolved for one target, handle signals? A Rust binary
//! that installs no SIGTERM handler ignores SIGTERM as PID 1 (the kernel drops signals PID 1 has
//! no handler for), so `docker stop` waits out its timeout and kills it (redlib-org/redlib#205,
//! NLnetLabs/routinator#277). A crate in the graph that handles signals is a good sign the
//! binary does; none at all is a sure sign it does not.

use cargo_metadata::{Metadata, PackageId};

use super::cdeps::walk_target_graph;

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
    let mut found: Vec<String> = Vec::new();
    walk_target_graph(metadata, root, |pkg, _, features| {
        let Some((_, feature)) = SIGNAL_CRATES.iter().find(|(name, _)| *name == pkg.name.as_str()) else { return };
        match feature {
            None => found.push(format!("{} {}", pkg.name, pkg.version)),
            Some(f) if features.iter().any(|n| n == f) => found.push(format!("{} {} ({f})", pkg.name, pkg.version)),
            Some(_) => {}
        }
    });
    found.sort();
    found
}
