//! Which backend builds each target, and why.

use cargo_metadata::Package;

use super::platform::Target;
use super::{cargo_config, cdeps, resolve::metadata, BackendChoice, BackendKind, CargoFlags, PlanError};
use crate::env::Env;

/// Plain cargo, linking musl targets with the toolchain's own `rust-lld` unless the user
/// configured a linker. A graph that compiles C needs a C cross compiler, which plain cargo
/// does not bring.
pub fn choose_backend(
    target: &Target,
    package: &Package,
    flags: &CargoFlags,
    env: &Env,
) -> Result<BackendChoice, PlanError> {
    if let Some(where_) = cargo_config::configured_linker(&target.triple, env) {
        return Ok(BackendChoice {
            kind: BackendKind::Cargo,
            reason: format!("linker configured by the user ({where_})"),
            linker: None,
        });
    }
    let meta = metadata(Some(flags.manifest_path.as_path()), flags, Some(&target.triple), env)?;
    let c = cdeps::c_builds(&meta, &package.id);
    if let Some(first) = c.first() {
        return Err(PlanError::NeedsCCompiler {
            package: package.name.to_string(),
            triple: target.triple.clone(),
            why: format!(
                "{first} compiles C code{}",
                if c.len() > 1 { format!(" (and {} more)", c.len() - 1) } else { String::new() }
            ),
        });
    }
    Ok(BackendChoice {
        kind: BackendKind::Cargo,
        reason: "pure Rust for this target: linked by the toolchain's rust-lld, no C toolchain needed".into(),
        linker: Some("rust-lld".into()),
    })
}
