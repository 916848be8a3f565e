//! Which binaries cargo has built, read from its JSON messages as they come: each executable
//! recorded, and each target of a run announced once every binary it was asked for is there, so
//! the later stages can take that target while cargo builds the others.

use cargo_metadata::{Message, TargetKind};

use super::Artifacts;
use crate::plan::CompileJob;

/// The jobs of one cargo run, and which of them were already announced.
pub(super) struct Built<'p, 'r> {
    run: &'r [&'p CompileJob],
    triples: Vec<&'p str>,
    announced: Vec<bool>,
}

impl<'p, 'r> Built<'p, 'r> {
    pub(super) fn new(run: &'r [&'p CompileJob]) -> Self {
        Built {
            run,
            triples: run.iter().map(|j| j.target.triple.as_str()).collect(),
            announced: vec![false; run.len()],
        }
    }

    /// Records what one line of cargo's output built; the job it completed, if it completed one.
    /// A job with an init is not complete before its init is built, after the run.
    pub(super) fn line(&mut self, artifacts: &mut Artifacts, line: &str) -> Option<&'p CompileJob> {
        let triple = record(artifacts, line, &self.triples)?;
        let i = self.run.iter().position(|j| j.target.triple == triple)?;
        self.announce(i, artifacts)
    }

    /// After the run: the job, unless it was announced already (or lacks a binary).
    pub(super) fn finish(&mut self, job: &CompileJob, artifacts: &Artifacts) -> Option<&'p CompileJob> {
        let i = self.run.iter().position(|j| std::ptr::eq(*j, job))?;
        self.announce(i, artifacts)
    }

    fn announce(&mut self, i: usize, artifacts: &Artifacts) -> Option<&'p CompileJob> {
        let job = self.run[i];
        let triple = &job.target.triple;
        let complete =
            job.units.iter().all(|u| u.bins.iter().all(|b| artifacts.get(&u.package_id, b, triple).is_some()))
                && (!job.init || artifacts.get(super::init::NAME, super::init::NAME, triple).is_some());
        if self.announced[i] || !complete {
            return None;
        }
        self.announced[i] = true;
        Some(job)
    }
}

/// Records an executable from one line of cargo's JSON output (other lines are ignored) and
/// returns its target. Cargo writes what it builds for a target under `<target-dir>/<triple>/`
/// (zig too: the unsuffixed triple), so the path says which of the run's `triples` an executable
/// is for; a run of one target needs no such look (cross reports the paths inside its container).
/// Cargo sends the message once the executable is in place (linked, then hard-linked to its
/// final name).
fn record<'t>(artifacts: &mut Artifacts, line: &str, triples: &[&'t str]) -> Option<&'t str> {
    let Ok(Message::CompilerArtifact(a)) = serde_json::from_str::<Message>(line) else { return None };
    let (Some(exe), true) = (&a.executable, a.target.kind.contains(&TargetKind::Bin)) else { return None };
    let triple = match triples {
        [only] => Some(*only),
        _ => exe.components().rev().find_map(|c| triples.iter().copied().find(|t| c.as_str() == *t)),
    }?;
    artifacts.insert(&a.package_id.repr, &a.target.name, triple, exe.clone().into());
    Some(triple)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BackendChoice, BackendKind, Target, Unit};

    fn artifact_line(bin: &str, exe: &str) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": "path+file:///w#app@0.1.0",
            "manifest_path": "/w/Cargo.toml",
            "target": {"kind": ["bin"], "crate_types": ["bin"], "name": bin, "src_path": "/w/src/main.rs",
                       "edition": "2021", "doctest": false, "test": true},
            "profile": {"opt_level": "3", "debuginfo": 0, "debug_assertions": false, "overflow_checks": false, "test": false},
            "features": [], "filenames": [exe], "executable": exe, "fresh": true,
        })
        .to_string()
    }

    fn job(triple: &str, bins: &[&str], init: bool) -> CompileJob {
        CompileJob {
            target: Target::parse(triple).unwrap(),
            backend: BackendChoice { kind: BackendKind::Cargo, reason: String::new(), linker: None },
            units: vec![Unit {
                package: "app".into(),
                package_id: "path+file:///w#app@0.1.0".into(),
                bins: bins.iter().map(|b| b.to_string()).collect(),
            }],
            init,
            system_libs: Vec::new(),
        }
    }

    #[test]
    fn a_run_of_two_targets_tells_their_binaries_apart_by_path() {
        let triples = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
        let mut artifacts = Artifacts::default();
        for t in triples.iter().rev() {
            assert_eq!(
                record(&mut artifacts, &artifact_line("app", &format!("/w/target/{t}/release/app")), &triples),
                Some(*t)
            );
        }
        // A path under neither triple is no one's.
        assert_eq!(record(&mut artifacts, &artifact_line("app", "/w/target/release/app"), &triples), None);
        for t in triples {
            let got = artifacts.get("path+file:///w#app@0.1.0", "app", t).map(|p| p.display().to_string());
            assert_eq!(got, Some(format!("/w/target/{t}/release/app")));
        }
        assert_eq!(artifacts.0.len(), 2);
    }

    /// The stream of a run for two targets, as cargo interleaves it: each target is announced at
    /// its last binary, once, while the other is still being built.
    #[test]
    fn a_target_is_announced_at_its_last_binary_while_cargo_builds_the_other() {
        let (x86, arm) = (job("x86_64", &["app", "tool"], false), job("aarch64", &["app", "tool"], false));
        let run = [&x86, &arm];
        let mut built = Built::new(&run);
        let mut artifacts = Artifacts::default();
        let exe =
            |t: &CompileJob, bin: &str| artifact_line(bin, &format!("/w/target/{}/release/{bin}", t.target.triple));
        let stream = [
            "{\"reason\":\"build-script-executed\"}".to_string(),
            exe(&x86, "app"),
            exe(&arm, "app"),
            exe(&x86, "tool"),
            exe(&x86, "tool"), // a message seen twice announces nothing twice
            "not json".into(),
            exe(&arm, "tool"),
        ];
        let announced: Vec<(usize, String)> = stream
            .iter()
            .enumerate()
            .filter_map(|(at, line)| built.line(&mut artifacts, line).map(|j| (at, j.target.triple.clone())))
            .collect();
        assert_eq!(
            announced,
            [(3, "x86_64-unknown-linux-musl".to_string()), (6, "aarch64-unknown-linux-musl".to_string())]
        );
        assert!(built.finish(&x86, &artifacts).is_none() && built.finish(&arm, &artifacts).is_none());
    }

    #[test]
    fn a_target_with_an_init_waits_for_it_and_one_without_a_binary_is_never_announced() {
        let (x86, arm) = (job("x86_64", &["app"], true), job("aarch64", &["app", "tool"], false));
        let run = [&x86, &arm];
        let mut built = Built::new(&run);
        let mut artifacts = Artifacts::default();
        let line = artifact_line("app", "/w/target/x86_64-unknown-linux-musl/release/app");
        assert!(built.line(&mut artifacts, &line).is_none(), "its init is not built yet");
        assert!(built.finish(&x86, &artifacts).is_none(), "nor after the run");
        artifacts.insert(super::super::init::NAME, super::super::init::NAME, "x86_64-unknown-linux-musl", "/i".into());
        assert_eq!(built.finish(&x86, &artifacts).map(|j| j.target.triple.as_str()), Some("x86_64-unknown-linux-musl"));
        let line = artifact_line("app", "/w/target/aarch64-unknown-linux-musl/release/app");
        assert!(built.line(&mut artifacts, &line).is_none() && built.finish(&arm, &artifacts).is_none(), "no `tool`");
    }
}
