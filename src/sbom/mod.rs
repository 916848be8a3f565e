//! Per-target software bills of materials: exactly the packages compiled into a target's binary
//! (from `cargo metadata --filter-platform`), written as SPDX 2.3 or CycloneDX 1.5 JSON.

pub mod auditable;
mod cyclonedx;
mod spdx;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use cargo_metadata::{DependencyKind, Metadata, PackageId, TargetKind};

pub use cyclonedx::cyclonedx;
pub use spdx::spdx;

/// One package compiled into the binary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    pub name: String,
    pub version: String,
    /// `pkg:cargo/name@version`
    pub purl: String,
    /// The SPDX license expression, if Cargo.toml has a usable one.
    pub license: Option<String>,
    /// The sha256 Cargo.lock records for registry packages.
    pub checksum: Option<String>,
    /// Where it came from: `registry+https://…`, `git+…`, or `None` for local paths.
    pub source: Option<String>,
    /// Indices into `Inventory::components` of its normal dependencies.
    pub depends_on: Vec<usize>,
}

/// What a binary for one target is made of; `components[root]` is the binary's own package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    pub root: usize,
    pub components: Vec<Component>,
}

/// The packages reachable from `root` through normal dependencies for the target `metadata` was
/// filtered for. Build-dependencies and proc-macros run on the host and are not in the binary.
pub fn inventory(metadata: &Metadata, root: &PackageId, checksums: &BTreeMap<(String, String), String>) -> Inventory {
    let nodes: HashMap<&PackageId, &cargo_metadata::Node> =
        metadata.resolve.iter().flat_map(|r| r.nodes.iter()).map(|n| (&n.id, n)).collect();
    let packages: HashMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut reached: BTreeSet<&PackageId> = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !reached.insert(id) {
            continue;
        }
        for d in nodes.get(id).map(|n| n.deps.as_slice()).unwrap_or_default() {
            let normal = d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal);
            let proc_macro =
                packages.get(&d.pkg).is_some_and(|p| p.targets.iter().any(|t| t.kind.contains(&TargetKind::ProcMacro)));
            if normal && !proc_macro {
                stack.push(&d.pkg);
            }
        }
    }
    // Sorted by (name, version, source): the document does not depend on hash or graph order.
    let mut ids: Vec<&PackageId> = reached.into_iter().filter(|id| packages.contains_key(id)).collect();
    ids.sort_by_key(|id| {
        let p = packages[id];
        (p.name.to_string(), p.version.to_string(), p.source.as_ref().map(|s| s.repr.clone()))
    });
    let index: HashMap<&PackageId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let components = ids
        .iter()
        .map(|id| {
            let p = packages[id];
            let mut depends_on: Vec<usize> = nodes
                .get(id)
                .map(|n| n.deps.iter().filter_map(|d| index.get(&d.pkg).copied()).collect())
                .unwrap_or_default();
            depends_on.sort();
            depends_on.dedup();
            Component {
                name: p.name.to_string(),
                version: p.version.to_string(),
                purl: format!("pkg:cargo/{}@{}", p.name, p.version),
                license: p.license.as_deref().and_then(spdx_expression),
                checksum: checksums.get(&(p.name.to_string(), p.version.to_string())).cloned(),
                source: p.source.as_ref().map(|s| s.repr.clone()),
                depends_on,
            }
        })
        .collect();
    Inventory { root: index[root], components }
}

/// `name, version → checksum` from a Cargo.lock (registry packages have one).
pub fn lock_checksums(lockfile: &Path) -> BTreeMap<(String, String), String> {
    let Ok(text) = std::fs::read_to_string(lockfile) else { return BTreeMap::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for p in doc.get("package").and_then(|p| p.as_array()).into_iter().flatten() {
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).map(String::from);
        if let (Some(n), Some(v), Some(c)) = (field("name"), field("version"), field("checksum")) {
            out.insert((n, v), c);
        }
    }
    out
}

/// Cargo's `license` as an SPDX expression: the old `MIT/Apache-2.0` form becomes `MIT OR
/// Apache-2.0`; anything that is not an expression of license ids gives `None` (NOASSERTION).
pub fn spdx_expression(license: &str) -> Option<String> {
    let expr = license.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ");
    // License ids and operators must alternate (`A OR B WITH C`), ending on an id.
    let mut want_id = true;
    let mut ok = true;
    for t in expr.split(|c: char| c.is_whitespace() || c == '(' || c == ')').filter(|t| !t.is_empty()) {
        let is_op = matches!(t, "AND" | "OR" | "WITH");
        let is_id = !is_op && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
        ok &= if want_id { is_id } else { is_op };
        want_id = is_op;
    }
    ok &= !want_id;
    (ok && !expr.trim().is_empty()).then_some(expr)
}

/// A stable identifier for a document from its content (SPDX namespaces and CycloneDX serial
/// numbers must be unique; random ones would break reproducibility).
fn content_id(inv: &Inventory, subject: &str) -> String {
    let mut text = subject.to_string();
    for c in &inv.components {
        text.push_str(&format!("\n{} {} {:?} {:?}", c.name, c.version, c.source, c.checksum));
    }
    crate::oci::Digest::of(text.as_bytes()).hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_expressions() {
        assert_eq!(spdx_expression("MIT/Apache-2.0").as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(spdx_expression("MIT OR Apache-2.0").as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(
            spdx_expression("(MIT OR Apache-2.0) AND BSD-3-Clause").as_deref(),
            Some("(MIT OR Apache-2.0) AND BSD-3-Clause")
        );
        assert_eq!(
            spdx_expression("Apache-2.0 WITH LLVM-exception").as_deref(),
            Some("Apache-2.0 WITH LLVM-exception")
        );
        assert_eq!(spdx_expression("see LICENSE file"), None);
        assert_eq!(spdx_expression(""), None);
    }
}
