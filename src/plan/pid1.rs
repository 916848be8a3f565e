//! The PID 1 decision: an image without `init = true` whose binary handles no signal gets a
//! warning, because as PID 1 it ignores SIGTERM (the kernel delivers PID 1 only the signals it
//! has a handler for) and `docker stop` or a pod's termination waits out the grace period.

use super::{CargoFlags, ImagePlan, PlanWarning};
use crate::facts::Facts;

/// The warning for `image`, when it has no init and some target's dependency graph has no
/// signal-handling crate. A graph that cannot be resolved (offline, say) gives no warning: a
/// guess must never fail the build.
pub fn warning(image: &ImagePlan, flags: &CargoFlags, facts: &Facts) -> Option<PlanWarning> {
    if image.init_path().is_some() {
        return None;
    }
    let mut deaf: Vec<String> = Vec::new();
    for t in image.targets.iter() {
        let handlers = facts.signal_handlers(flags, &image.package.id, &t.target.triple).ok()?;
        if handlers.is_empty() && !deaf.contains(&t.target.platform.to_string()) {
            deaf.push(t.target.platform.to_string());
        }
    }
    if deaf.is_empty() {
        return None;
    }
    let known: Vec<String> = crate::facts::signals::SIGNAL_CRATES
        .iter()
        .map(|(name, feature)| feature.map(|f| format!("{name} with `{f}`")).unwrap_or_else(|| name.to_string()))
        .collect();
    Some(PlanWarning {
        message: format!(
            "image `{}` ({}): no crate in the binary's dependency graph handles signals ({}), so as PID 1 it \
             will ignore SIGTERM and `docker stop` / pod termination will kill it after the grace period",
            image.name,
            deaf.join(", "),
            known.join(", ")
        ),
        hint: "add `init = true` to [package.metadata.oci] (or build with `--init`): a small init forwards \
               SIGTERM to the binary and exits with its status"
            .into(),
    })
}
