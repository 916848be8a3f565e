//! How registries are reached: the plan's registry decisions (which registry `--creds` is for,
//! `--ca-cert`, `--insecure-registry`, the chunk size) with what the environment says (credential
//! files, CAs, proxies, the cache), as the store's settings. The one adapter between the two.

use std::sync::Arc;

use crate::env::Env;
use crate::plan::{PlanError, RegistryPlan, RegistryRequest};
use crate::store::registry::{Credentials, Settings};

/// How registries are reached: what the plan decided, with what the environment says (the one
/// place a plan's registry settings become the store's).
pub fn settings(plan: &RegistryPlan, env: &Env) -> Arc<Settings> {
    let explicit = plan.creds.as_ref().map(|c| {
        let creds = Credentials::Basic { username: c.username.clone(), password: c.password.clone() };
        (c.registry.clone(), creds)
    });
    Arc::new(Settings::new(env, explicit, plan.ca_certs.clone(), plan.insecure.clone(), plan.chunk_size))
}

/// [`settings`] for a command that reads or pushes images without a build plan: `--creds` go
/// to `creds_for`.
pub fn for_command(request: &RegistryRequest, env: &Env, creds_for: Option<&str>) -> Result<Arc<Settings>, PlanError> {
    Ok(settings(&crate::plan::registry::resolve(request, env, creds_for)?, env))
}
