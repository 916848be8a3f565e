//! Does a package's dependency graph, as resolved for one target, compile C code, and does it
//! link a system library that a cross C compiler (zig) cannot supply?

use std::collections::{BTreeSet, HashMap};

use cargo_metadata::{DependencyKind, Metadata, Package, PackageId, TargetKind};

/// Build-dependencies that mean "this crate compiles C/C++ for the target".
const C_BUILD_TOOLS: &[&str] = &["cc", "cmake", "pkg-config", "bindgen"];

/// The packages compiled *for the target* (normal dependencies, transitively, skipping
/// proc-macros and build-dependencies, which run on the host) that build C code, each with why:
/// `ring 0.17.14 (links = "ring_core_0_17_14_")` or `zstd-sys 2.0.1 (build-dependency on cc)`.
/// `metadata` must come from `cargo metadata --filter-platform <triple>`.
pub fn c_builds(metadata: &Metadata, root: &PackageId) -> Vec<String> {
    let mut found = Vec::new();
    walk_target_graph(metadata, root, |pkg, build_deps, _| {
        if let Some(links) = &pkg.links {
            found.push(format!("{} {} (links = \"{links}\")", pkg.name, pkg.version));
        } else if let Some(tool) = build_deps.iter().find(|d| C_BUILD_TOOLS.contains(d)) {
            found.push(format!("{} {} (build-dependency on {tool})", pkg.name, pkg.version));
        }
    });
    found.sort();
    found
}

/// Visits every package compiled for the target into `root` (normal dependencies, transitively;
/// not proc-macros or build-dependencies, which run on the host) with the names of its
/// build-dependencies and its resolved features.
pub fn walk_target_graph(metadata: &Metadata, root: &PackageId, mut visit: impl FnMut(&Package, &[&str], &[String])) {
    let Some(resolve) = &metadata.resolve else { return };
    let nodes: HashMap<&PackageId, &cargo_metadata::Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let packages: HashMap<&PackageId, &Package> = metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let (Some(node), Some(pkg)) = (nodes.get(id), packages.get(id)) else { continue };
        if pkg.targets.iter().any(|t| t.kind.contains(&TargetKind::ProcMacro)) {
            continue; // runs in the compiler on the host
        }
        let build_deps: Vec<&str> = node
            .deps
            .iter()
            .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Build))
            .filter_map(|d| packages.get(&d.pkg).map(|p| p.name.as_str()))
            .collect();
        let features: Vec<String> = node.features.iter().map(|f| f.to_string()).collect();
        visit(pkg, &build_deps, &features);
        for d in &node.deps {
            if d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal) {
                stack.push(&d.pkg);
            }
        }
    }
}

/// A package compiled for the target that links a library of the system it is built on: zig
/// brings a C compiler and libc for every target, not the target's OpenSSL or other libraries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SystemLib {
    /// `openssl-sys 0.9.104`.
    pub package: String,
    /// `openssl-sys` without its `vendored` feature (the two fixes are known exactly).
    pub openssl: bool,
}

impl std::fmt::Display for SystemLib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.openssl {
            write!(f, "{} (links the system's OpenSSL: no `vendored` feature)", self.package)
        } else {
            write!(f, "{} (finds a system library with pkg-config)", self.package)
        }
    }
}

/// The packages compiled for the target (as in [`c_builds`]) that link a system library:
/// `openssl-sys` without `vendored`, and `-sys` crates whose build script probes pkg-config
/// without a C build of their own to fall back on (no build-dependency on cc or cmake).
pub fn system_libs(metadata: &Metadata, root: &PackageId) -> Vec<SystemLib> {
    let mut found = Vec::new();
    walk_target_graph(metadata, root, |pkg, build_deps, features| {
        let package = format!("{} {}", pkg.name, pkg.version);
        if pkg.name.as_str() == "openssl-sys" {
            if !features.iter().any(|f| f == "vendored") {
                found.push(SystemLib { package, openssl: true });
            }
        } else if pkg.name.ends_with("-sys")
            && build_deps.contains(&"pkg-config")
            && !build_deps.iter().any(|d| ["cc", "cmake"].contains(d))
        {
            found.push(SystemLib { package, openssl: false });
        }
    });
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found
}
