//! The compile jobs, derived from the images: one job per target triple for every package and
//! binary that needs it, split only where packages are built with different backends (the
//! compile stage runs jobs that agree in one cargo run).

use std::collections::BTreeMap;

use super::{BackendChoice, CompileJob, ImagePlan, Target, Unit};

/// One job per target triple for every package and binary that needs it (split
/// only where packages are built with different backends for the same triple).
pub fn jobs(images: &[ImagePlan]) -> Vec<CompileJob> {
    // (platform, triple) → the target and each package's unit with its backend.
    type Units = (Target, Vec<(Unit, BackendChoice, bool)>);
    let mut by_triple: BTreeMap<(String, String), Units> = BTreeMap::new();
    for image in images {
        for t in image.targets.iter() {
            let key = (t.target.platform.to_string(), t.target.triple.clone());
            let units = &mut by_triple.entry(key).or_insert_with(|| (t.target.clone(), Vec::new())).1;
            let init = image.init_path().is_some();
            match units.iter_mut().find(|(u, _, _)| u.package_id == image.package.id) {
                Some((u, _, wants_init)) => {
                    *wants_init |= init;
                    u.bins.extend(image.bins.iter().filter(|b| !u.bins.contains(b)).cloned().collect::<Vec<_>>());
                    u.bins.sort();
                }
                None => {
                    let mut bins = image.bins.clone();
                    bins.sort();
                    let unit = Unit { package: image.package.name.clone(), package_id: image.package.id.clone(), bins };
                    units.push((unit, t.backend.clone(), init));
                }
            }
        }
    }
    let mut jobs: Vec<CompileJob> = Vec::new();
    for (_, (target, units)) in by_triple {
        let mut groups: Vec<(BackendChoice, Vec<Unit>, bool)> = Vec::new();
        for (unit, choice, wants_init) in units {
            match groups.iter_mut().find(|(c, _, _)| *c == choice) {
                Some((_, us, init)) => {
                    us.push(unit);
                    *init |= wants_init;
                }
                None => groups.push((choice, vec![unit], wants_init)),
            }
        }
        // The init is built once per target, by the first job that needs it.
        let mut init_done = false;
        for (backend, units, wants_init) in groups {
            let init = wants_init && !init_done;
            init_done |= init;
            jobs.push(CompileJob { target: target.clone(), backend, units, init, system_libs: Vec::new() });
        }
    }
    jobs
}
