//! The compile jobs, derived from the images: one job per target triple for every package and
//! binary that needs it, split only where packages are built with different backends (the
//! compile stage runs jobs that agree in one cargo run).

use std::collections::BTreeMap;

use super::{BackendChoice, CompileJob, ImagePlan, Target, Unit};

/// One job per target triple for every package and binary that needs it (split
/// only where packages are built with different backends for the same triple).
pub fn jobs(images: &[ImagePlan]) -> Vec<CompileJob> {
    // (platform, triple) → the target and each package's unit with its backend.
    type Units = (Target, Vec<(Unit, BackendChoice)>);
    let mut by_triple: BTreeMap<(String, String), Units> = BTreeMap::new();
    for image in images {
        for t in image.targets.iter() {
            let key = (t.target.platform.to_string(), t.target.triple.clone());
            let units = &mut by_triple.entry(key).or_insert_with(|| (t.target.clone(), Vec::new())).1;
            match units.iter_mut().find(|(u, _)| u.package_id == image.package.id) {
                Some((u, _)) => {
                    u.bins.extend(image.bins.iter().filter(|b| !u.bins.contains(b)).cloned().collect::<Vec<_>>());
                    u.bins.sort();
                }
                None => {
                    let mut bins = image.bins.clone();
                    bins.sort();
                    let unit = Unit { package: image.package.name.clone(), package_id: image.package.id.clone(), bins };
                    units.push((unit, t.backend.clone()));
                }
            }
        }
    }
    let mut jobs: Vec<CompileJob> = Vec::new();
    for (_, (target, units)) in by_triple {
        let mut groups: Vec<(BackendChoice, Vec<Unit>)> = Vec::new();
        for (unit, choice) in units {
            match groups.iter_mut().find(|(c, _)| *c == choice) {
                Some((_, us)) => us.push(unit),
                None => groups.push((choice, vec![unit])),
            }
        }
        for (backend, units) in groups {
            jobs.push(CompileJob { target: target.clone(), backend, units, system_libs: Vec::new() });
        }
    }
    jobs
}
