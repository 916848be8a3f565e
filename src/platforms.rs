//! `--platform all`: every platform of the base's index that has a Rust target, turned into an
//! explicit target list before planning (the plan itself reads nothing). Only `all` is
//! expanded: a platform named on the command line that the base lacks stays in the list and
//! fails when the bases are resolved, never silently dropped (ko#582).

use crate::env::Env;
use crate::facts::Facts;
use crate::oci::{ImageName, Platform};
use crate::plan::{self, target::Target, Request};
use crate::shell::Shell;
use crate::Error;

/// The word that asks for every platform of the base.
const ALL: &str = "all";

/// The platforms `all` means for a built-in base (`static`, `scratch`), which has no index:
/// the statically linked (musl) targets, which run on both.
const BUILTIN: &[&str] = &["linux/amd64", "linux/arm64", "linux/386", "linux/arm/v7"];

/// `request` with `all` replaced by the platforms every image's base has (the base of the first
/// target; per-target bases are not consulted), or `None` when `all` is not asked for.
pub fn expand_all(request: &Request, facts: &Facts, env: &Env, shell: &mut Shell) -> Result<Option<Request>, Error> {
    let typed: Vec<&str> = request.targets.iter().flat_map(|t| t.split(',')).map(str::trim).collect();
    if !typed.contains(&ALL) {
        return Ok(None);
    }
    // One target is enough to learn each image's base.
    let probe = plan::resolve(&Request { targets: vec!["x86_64".into()], ..request.clone() }, facts)?;
    let registries = crate::registries::settings(&probe.registry, env);
    let mut common: Option<Vec<String>> = None;
    for image in &probe.images {
        let Some(base) = image.targets.first().map(|t| &t.base) else { continue };
        let platforms: Vec<String> = match base {
            ImageName::Static | ImageName::Scratch => BUILTIN.iter().map(|p| p.to_string()).collect(),
            _ => with_targets(
                &crate::store::open(base, &registries)
                    .image()?
                    .platforms
                    .iter()
                    .map(|p| &p.platform)
                    .collect::<Vec<_>>(),
            ),
        };
        shell.verbose("Platforms", format!("{} has {} (`all`)", base, platforms.join(", ")));
        common = Some(match common {
            None => platforms,
            Some(c) => c.into_iter().filter(|p| platforms.contains(p)).collect(),
        });
    }
    let mut targets: Vec<String> =
        typed.iter().filter(|t| **t != ALL && !t.is_empty()).map(|t| t.to_string()).collect();
    targets.extend(common.unwrap_or_default());
    Ok(Some(Request { targets, ..request.clone() }))
}

/// The platforms (as `linux/arm64`) that a Rust target builds for; `unknown/unknown`
/// (attestation manifests), other operating systems and architectures without a target are left
/// out.
fn with_targets(platforms: &[&Platform]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in platforms {
        let name = p.to_string();
        if p.os == "linux" && Target::parse(&name).is_ok() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_platforms_with_a_rust_target() {
        let ps = [
            Platform::new("linux", "amd64", None),
            Platform::new("unknown", "unknown", None),
            Platform::new("linux", "arm64", Some("v8")),
            Platform::new("linux", "mips64le", None),
            Platform::new("windows", "amd64", None),
            Platform::new("linux", "arm", Some("v7")),
        ];
        assert_eq!(with_targets(&ps.iter().collect::<Vec<_>>()), ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    }
}
