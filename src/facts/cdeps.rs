//! Does a package's dependency graph, as resolved for one target, compile C code? (And the
//! walk of that graph, which `signals` shares.)

use std::collections::{BTreeSet, HashMap};

use cargo_metadata::{DependencyKind, Metadata, Node, Package, PackageId, TargetKind};

/// Build-dependencies that mean "this crate compiles C/C++ for the target".
const C_BUILD_TOOLS: &[&str] = &["cc", "cmake", "pkg-config", "bindgen"];

/// The packages compiled *for the target* (normal dependencies, transitively, skipping
/// proc-macros and build-dependencies, which run on the host) that build C code, each with why:
/// `ring 0.17.14 (links = "ring_core_0_17_14_")` or `zstd-sys 2.0.1 (build-dependency on cc)`.
/// `metadata` must come from `cargo metadata --filter-platform <triple>`.
pub fn c_builds(metadata: &Metadata, root: &PackageId) -> Vec<String> {
    let packages: HashMap<&PackageId, &Package> = metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut found = Vec::new();
    for (node, pkg) in compiled_for_target(metadata, root) {
        let build_tool = node.deps.iter().find(|d| {
            d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Build)
                && packages.get(&d.pkg).is_some_and(|p| C_BUILD_TOOLS.contains(&p.name.as_str()))
        });
        if let Some(links) = &pkg.links {
            found.push(format!("{} {} (links = \"{links}\")", pkg.name, pkg.version));
        } else if let Some(dep) = build_tool {
            let tool = packages.get(&dep.pkg).map(|p| p.name.to_string()).unwrap_or_default();
            found.push(format!("{} {} (build-dependency on {tool})", pkg.name, pkg.version));
        }
    }
    found.sort();
    found
}

/// The packages compiled into `root`'s binaries for the target the metadata was resolved for:
/// its normal dependencies, transitively, without proc-macros (they run in the compiler on the
/// host) and build-dependencies (they run on the host too). With each one's resolved node.
pub fn compiled_for_target<'m>(metadata: &'m Metadata, root: &PackageId) -> Vec<(&'m Node, &'m Package)> {
    let Some(resolve) = &metadata.resolve else { return Vec::new() };
    let nodes: HashMap<&PackageId, &Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let packages: HashMap<&PackageId, &Package> = metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let (Some(node), Some(pkg)) = (nodes.get(id), packages.get(id)) else { continue };
        if pkg.targets.iter().any(|t| t.kind.contains(&TargetKind::ProcMacro)) {
            continue;
        }
        out.push((*node, *pkg));
        for d in &node.deps {
            if d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal) {
                stack.push(&d.pkg);
            }
        }
    }
    out
}
