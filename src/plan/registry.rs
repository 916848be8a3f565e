//! How registries are reached, decided once from the flags and the environment: which registry
//! `--creds` is for (never more than one), extra CAs, hosts allowed plain HTTP, the upload chunk
//! size. `cargo oci plan` prints it (without the credentials themselves).

use std::path::PathBuf;

use serde::Serialize;

use super::PlanError;
use crate::env::{Env, EnvVars};
use crate::secret::Secret;

/// The registry flags as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryRequest {
    /// `--creds USER:PASSWORD`.
    pub creds: Option<Secret>,
    /// `--ca-cert FILE` (relative to the cwd).
    pub ca_certs: Vec<PathBuf>,
    /// `--insecure-registry HOST[:PORT]`.
    pub insecure: Vec<String>,
}

/// The registry settings a command runs with.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RegistryPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds: Option<Creds>,
    pub ca_certs: Vec<PathBuf>,
    /// Hosts spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// `CARGO_OCI_CHUNK_SIZE`: upload in PATCH chunks of this size. `None`: one request per blob,
    /// chunked only when the registry refuses a large body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
}

/// `--creds`, and the one registry it goes to (printed: the registry only).
#[derive(Clone, Debug, Serialize)]
pub struct Creds {
    pub registry: String,
    #[serde(skip)]
    pub username: String,
    #[serde(skip)]
    pub password: Secret,
}

/// `creds_for` is the registry `--creds` applies to: the push destination, else the base's (or
/// the source's, for commands that read one).
pub fn resolve(request: &RegistryRequest, env: &Env, creds_for: Option<&str>) -> Result<RegistryPlan, PlanError> {
    let mut creds = None;
    if let Some(c) = &request.creds {
        let (username, password) =
            c.expose().split_once(':').filter(|(u, _)| !u.is_empty()).ok_or(PlanError::BadCreds)?;
        creds = creds_for.map(|r| Creds {
            registry: r.to_string(),
            username: username.into(),
            password: Secret::new(password),
        });
    }
    let chunk_size = match env.get(EnvVars::CARGO_OCI_CHUNK_SIZE) {
        Some(v) => Some(
            v.parse::<u64>().ok().filter(|n| *n >= 1024).ok_or_else(|| PlanError::BadChunkSize { value: v.into() })?,
        ),
        None => None,
    };
    Ok(RegistryPlan {
        creds,
        ca_certs: request.ca_certs.iter().map(|p| env.cwd.join(p)).collect(),
        insecure: request.insecure.clone(),
        chunk_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_go_only_to_their_registry_and_never_print() {
        let env = Env::from_pairs("/".into(), []);
        let request = RegistryRequest { creds: Some(Secret::new("bot:pa55word")), ..Default::default() };
        let plan = resolve(&request, &env, Some("ghcr.io")).unwrap();
        let creds = plan.creds.as_ref().unwrap();
        assert_eq!((creds.registry.as_str(), creds.username.as_str()), ("ghcr.io", "bot"));
        assert!(!format!("{plan:?}").contains("pa55word"));
        assert_eq!(serde_json::to_value(&plan).unwrap()["creds"], serde_json::json!({"registry": "ghcr.io"}));
        assert!(resolve(&request, &env, None).unwrap().creds.is_none(), "no registry to send them to");
        let bad = RegistryRequest { creds: Some(Secret::new("nocolon")), ..Default::default() };
        assert!(matches!(resolve(&bad, &env, None), Err(PlanError::BadCreds)));
    }

    #[test]
    fn chunk_size_from_the_environment() {
        let chunk = |v: &'static str| {
            resolve(&Default::default(), &Env::from_pairs("/".into(), [("CARGO_OCI_CHUNK_SIZE", v)]), None)
        };
        assert_eq!(chunk("65536").unwrap().chunk_size, Some(65536));
        assert!(matches!(chunk("12"), Err(PlanError::BadChunkSize { .. })));
    }
}
