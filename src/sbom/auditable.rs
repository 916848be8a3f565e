//! The dependency list cargo-auditable embeds in a binary (its `.dep-v0` section): the packages
//! compiled into one package's binaries for one target, in cargo-auditable's own types
//! (`auditable-serde`), as zlib-compressed JSON. Read by rust-audit-info, Trivy, Grype, Syft
//! (microsoft/go-rustaudit) and Docker Scout.
//!
//! The walk and the order follow cargo-auditable 0.7.7's `encode_audit_data`
//! (src/auditable_from_metadata.rs), so the bytes are the same as `cargo auditable build` embeds
//! for the same graph: each package gets the strongest kind it is reached by (a normal edge is
//! `runtime`, a build edge `build`, never stronger than its parent's; a proc-macro is `build`),
//! dev-only packages are left out, the list is sorted by name then package id, and the JSON is
//! compressed by miniz_oxide at level 7. auditable-serde since 0.8 has no conversion from
//! cargo_metadata (its CHANGELOG: cargo_metadata breaks too often), so this is it.

use std::collections::{BTreeMap, VecDeque};

use auditable_serde::{DependencyKind, Package, Source, VersionInfo};
use cargo_metadata::{DependencyKind as Edge, Metadata, PackageId, TargetKind};

/// How a package is reached; dev-only is weakest, and is not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    Dev,
    Build,
    Runtime,
}

/// The `.dep-v0` data of `root`'s binaries for the target `metadata` was resolved for (`cargo
/// metadata --filter-platform`): zlib'd JSON, and how many packages it lists.
pub fn dep_v0(metadata: &Metadata, root: &PackageId) -> Result<(Vec<u8>, usize), serde_json::Error> {
    let info = version_info(metadata, root);
    Ok((encode(&info)?, info.packages.len()))
}

/// The section's bytes: the JSON, zlib'd at level 7 (cargo-auditable's `compress_to_vec_zlib(…, 7)`).
pub fn encode(info: &VersionInfo) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_string(info)?;
    Ok(miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 7))
}

/// The packages compiled into `root`'s binaries, with their kinds and dependency edges.
pub fn version_info(metadata: &Metadata, root: &PackageId) -> VersionInfo {
    let Some(resolve) = &metadata.resolve else { return VersionInfo { packages: Vec::new(), format: 1 } };
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let proc_macro = |id: &PackageId| {
        metadata
            .packages
            .iter()
            .find(|p| &p.id == id)
            .is_some_and(|p| matches!(p.targets.as_slice(), [t] if t.kind.as_slice() == [TargetKind::ProcMacro]))
    };
    let strongest = |kinds: &[cargo_metadata::DepKindInfo]| {
        kinds
            .iter()
            .map(|k| match k.kind {
                Edge::Normal => Reach::Runtime,
                Edge::Build => Reach::Build,
                _ => Reach::Dev,
            })
            .max()
            .unwrap_or(Reach::Runtime)
    };
    // Breadth first: a package is visited again when reached by a stronger kind.
    let mut reach: BTreeMap<&PackageId, Reach> = BTreeMap::from([(root, Reach::Runtime)]);
    let mut queue = VecDeque::from([root]);
    while let Some(id) = queue.pop_front() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let mut kind = strongest(&dep.dep_kinds).min(reach[id]);
            if proc_macro(&dep.pkg) {
                kind = kind.min(Reach::Build);
            }
            if reach.get(&dep.pkg).is_none_or(|old| kind > *old) {
                reach.insert(&dep.pkg, kind);
                queue.push_back(&dep.pkg);
            }
        }
    }
    let mut listed: Vec<&cargo_metadata::Package> =
        metadata.packages.iter().filter(|p| reach.get(&p.id).is_some_and(|k| *k != Reach::Dev)).collect();
    listed.sort_by(|a, b| (&a.name, &a.id.repr).cmp(&(&b.name, &b.id.repr)));
    let index: BTreeMap<&PackageId, usize> = listed.iter().enumerate().map(|(i, p)| (&p.id, i)).collect();
    let packages = listed
        .iter()
        .map(|p| {
            let mut dependencies: Vec<usize> = nodes
                .get(&p.id)
                .map(|n| n.deps.iter())
                .into_iter()
                .flatten()
                .filter(|d| strongest(&d.dep_kinds) != Reach::Dev)
                .filter_map(|d| index.get(&d.pkg).copied())
                .collect();
            dependencies.sort_unstable();
            Package {
                name: p.name.to_string(),
                version: p.version.clone(),
                source: p.source.as_ref().map_or(Source::Local, |s| match s.repr.as_str() {
                    "registry+https://github.com/rust-lang/crates.io-index" => Source::CratesIo,
                    other => Source::from(other.split('+').next().unwrap_or(other)),
                }),
                kind: if reach[&p.id] == Reach::Build { DependencyKind::Build } else { DependencyKind::Runtime },
                dependencies,
                root: &p.id == root,
            }
        })
        .collect();
    VersionInfo { packages, format: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes are in every digest: a new auditable-serde or miniz_oxide that changes them
    /// must be a visible change (both are pinned in Cargo.toml).
    #[test]
    fn golden_bytes() {
        let package =
            |name: &str, source: Source, kind: DependencyKind, dependencies: Vec<usize>, root: bool| Package {
                name: name.into(),
                version: cargo_metadata::semver::Version::new(1, 2, 3),
                source,
                kind,
                dependencies,
                root,
            };
        let info = VersionInfo {
            packages: vec![
                package("app", Source::Local, DependencyKind::Runtime, vec![1, 2], true),
                package("cc", Source::CratesIo, DependencyKind::Build, vec![], false),
                package("serde", Source::Registry, DependencyKind::Runtime, vec![], false),
            ],
            format: 1,
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(
            json,
            r#"{"packages":[{"name":"app","version":"1.2.3","source":"local","dependencies":[1,2],"root":true},{"name":"cc","version":"1.2.3","source":"crates.io","kind":"build"},{"name":"serde","version":"1.2.3","source":"registry"}],"format":1}"#
        );
        let bytes = encode(&info).unwrap();
        assert_eq!(
            crate::oci::Digest::of(&bytes).to_string(),
            "sha256:86386b25e9a45a7a17b6a0723f66ef4485e5635156a232362ccce941794dcc09"
        );
        assert_eq!(miniz_oxide::inflate::decompress_to_vec_zlib(&bytes).unwrap(), json.as_bytes());
    }
}
