//! Compile, and layer each target while cargo builds the others. One cargo run builds several
//! targets and the first is often linked well before the last (and a later run, or an init,
//! builds after it), so each target, as soon as cargo has built all its binaries (`compile` says
//! when), goes through the stages after compile on a thread of its own: the strip note, the ELF
//! check, `.dep-v0` (auditable), its own layers, and its image's `files` layer if no other target
//! made it yet. The configs, manifests and indexes
//! are put together after cargo ends, in plan order, from those layers: the same bytes as when
//! the stages ran one after the other.
//!
//! While cargo runs, nothing of this shows: each target's lines are kept and written after cargo's,
//! in plan order, and progress bars are drawn from when cargo ends (its own bar is on the same
//! terminal until then). The last target starts when it is ready too: cargo still has work after
//! its last artifact (a no-op run reports its fresh ones early, then checks and writes its
//! fingerprints), and that is a no-op build's time to save. If cargo fails, the work already started stops at its next step and is dropped
//! with the staging directory (the layer cache only ever holds whole entries), and the error is
//! cargo's. Otherwise, of the targets' errors, a refused binary (the check) is reported first,
//! then any other, each in plan order (not in the order the threads met them).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{Scope, ScopedJoinHandle};

use crate::check::Inspected;
use crate::compile::Artifacts;
use crate::facts::Facts;
use crate::package::{ImageLayers, Inputs, Staged};
use crate::plan::{CompileJob, Plan};
use crate::progress::Progress;
use crate::shell::Shell;
use crate::store::staging::Staging;
use crate::Error;

/// What the stages after compile need besides the plan.
pub struct Stages<'a> {
    pub plan: &'a Plan,
    pub facts: &'a Facts,
    /// The bases' files, for the ELF check; `None`: no check.
    pub elf_check: Option<&'a Inspected>,
    /// Whether to tell what stripping would save (not when the reproducibility check builds again).
    pub notes: bool,
    /// Makes the staging directory: once, for the first target that passed its check, so a
    /// refused binary alone leaves nothing under `target/oci`.
    pub staging: &'a (dyn Fn() -> Result<Staging, Error> + Sync),
}

/// Everything compiled and layered.
pub struct Layered {
    /// Holds the layers' blobs until the sinks have them.
    pub staging: Staging,
    /// Each image's layers, in plan order.
    pub layers: Vec<ImageLayers>,
}

/// Compiles every job of the plan, and layers each target as soon as cargo has built it.
pub fn compile_and_layer(stages: &Stages<'_>, shell: &mut Shell) -> Result<Layered, Error> {
    let plan = stages.plan;
    let shared = Shared {
        stages,
        staging: OnceLock::new(),
        files: plan.images.iter().map(|_| OnceLock::new()).collect(),
        stop: AtomicBool::new(false),
        progress: shell.progress(),
    };
    shared.progress.pause();
    let recording = shell.recording();
    let (compiled, mut done) = std::thread::scope(|s| {
        let mut running = Vec::new();
        let compiled = crate::compile::compile(plan, stages.facts, shell, &mut |job, artifacts| {
            running.push(shared.start(s, job, artifacts, recording.recording()));
        });
        match &compiled {
            Err(_) => shared.stop.store(true, Ordering::Relaxed),
            Ok(_) => shared.progress.resume(),
        }
        let done: Vec<Done<'_>> =
            running.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
        (compiled, done)
    });
    compiled?;
    done.sort_by_key(|d| plan.jobs.iter().position(|j| std::ptr::eq(j, d.job)));
    shared.collect(done, shell)
}

/// A layer that should be there and is not: its stage failed without saying so (a bug).
fn not_layered(image: &crate::plan::ImagePlan, platform: &str) -> Error {
    Error::Package {
        image: image.name.clone(),
        platform: platform.into(),
        source: std::io::Error::other("its layers were never made"),
    }
}

/// What the targets' threads share.
struct Shared<'a> {
    stages: &'a Stages<'a>,
    staging: OnceLock<Result<Staging, Error>>,
    /// Each image's `files` layer, made by the first of its targets to get there.
    files: Vec<OnceLock<Result<Staged, Failure>>>,
    /// Set when cargo or a target failed: the others stop at their next step.
    stop: AtomicBool,
    progress: Progress,
}

/// One target's stages, done.
struct Done<'a> {
    job: &'a CompileJob,
    /// Its lines, to be written after cargo's.
    shell: Shell,
    /// Its own layers, by image (index in the plan).
    result: Result<Vec<(usize, Staged)>, Failure>,
}

enum Failure {
    /// The ELF check refused a binary.
    Refused(Box<Error>),
    Failed(Box<Error>),
    /// A step the targets share failed (the staging directory, a `files` layer): its error is
    /// kept there.
    Elsewhere,
    /// Stopped because something else failed.
    Stopped,
}

impl<'a> Shared<'a> {
    /// The targets' work, `done` in plan order: their lines written, and each image's layers, or
    /// the error to report.
    fn collect(self, done: Vec<Done<'_>>, shell: &mut Shell) -> Result<Layered, Error> {
        let plan = self.stages.plan;
        let (mut refused, mut failed) = (None, None);
        let mut layers = BTreeMap::new();
        for d in done {
            shell.replay(d.shell);
            match d.result {
                Ok(staged) => layers.extend(staged.into_iter().map(|(image, s)| ((image, &d.job.target.triple), s))),
                Err(Failure::Refused(e)) => drop(refused.get_or_insert(*e)),
                Err(Failure::Failed(e)) => drop(failed.get_or_insert(*e)),
                Err(Failure::Elsewhere | Failure::Stopped) => {}
            }
        }
        if let Some(e) = refused.or(failed) {
            return Err(e);
        }
        let staging = self.staging.into_inner().unwrap_or_else(self.stages.staging)?;
        // A `files` layer that failed: the targets that met it stopped without their layers.
        let mut files = Vec::new();
        for cell in self.files {
            files.push(match cell.into_inner() {
                Some(Ok(staged)) => Some(staged),
                Some(Err(Failure::Failed(e))) => return Err(*e),
                Some(Err(_)) | None => None,
            });
        }
        let mut out = Vec::new();
        for ((i, image), files) in plan.images.iter().enumerate().zip(files) {
            // Made by the first of the image's targets to get there.
            let files = files.ok_or_else(|| not_layered(image, "every platform"))?;
            let mut targets = Vec::new();
            for t in image.targets.iter() {
                let own = layers.remove(&(i, &t.target.triple));
                targets.push(own.ok_or_else(|| not_layered(image, &t.target.platform.to_string()))?);
            }
            out.push(ImageLayers { files, targets });
        }
        Ok(Layered { staging, layers: out })
    }

    /// Starts `job`'s stages on a thread of `s`.
    fn start<'s>(
        &'s self,
        s: &'s Scope<'s, '_>,
        job: &'a CompileJob,
        artifacts: Artifacts,
        mut shell: Shell,
    ) -> ScopedJoinHandle<'s, Done<'a>> {
        s.spawn(move || {
            let result = self.target(job, artifacts, &mut shell);
            if result.is_err() {
                self.stop.store(true, Ordering::Relaxed);
            }
            Done { job, shell, result }
        })
    }

    /// `job`'s stages after compile, for every image that has its target.
    fn target(
        &self,
        job: &CompileJob,
        mut artifacts: Artifacts,
        shell: &mut Shell,
    ) -> Result<Vec<(usize, Staged)>, Failure> {
        let Stages { plan, facts, .. } = *self.stages;
        if self.stages.notes {
            crate::check::strip::say_after_build(plan, job, &artifacts, shell);
        }
        if let Some(inspected) = self.stages.elf_check {
            crate::check::check_target(plan, inspected, &job.target, &artifacts, shell)
                .map_err(|e| Failure::Refused(Box::new(e.into())))?;
        }
        self.go_on()?;
        let staging = self.staging.get_or_init(self.stages.staging).as_ref().map_err(|_| Failure::Elsewhere)?;
        crate::auditable::embed(plan, facts, job, &mut artifacts, shell).map_err(|e| self.failed(e.into()))?;
        let mut out = Vec::new();
        for (i, image) in plan.images.iter().enumerate() {
            let Some(t) = image.targets.iter().find(|t| t.target.triple == job.target.triple) else { continue };
            let inputs = Inputs {
                artifacts: &artifacts,
                staging,
                epoch: plan.epoch,
                profile: &plan.profile,
                progress: &self.progress,
                compression: image.compression,
                stop: &self.stop,
            };
            self.go_on()?;
            out.push((i, crate::package::target_layers(image, &t.target, &inputs).map_err(|e| self.failed(e))?));
            self.go_on()?;
            let files =
                self.files[i].get_or_init(|| crate::package::files_layer(image, &inputs).map_err(|e| self.failed(e)));
            files.as_ref().map_err(|_| Failure::Elsewhere)?;
        }
        Ok(out)
    }

    /// A failure of this target's own, unless it was stopped (see `Inputs::stop`).
    fn failed(&self, e: Error) -> Failure {
        match self.stop.load(Ordering::Relaxed) {
            true => Failure::Stopped,
            false => Failure::Failed(Box::new(e)),
        }
    }

    /// `Err` once something failed elsewhere: there is no use going on.
    fn go_on(&self) -> Result<(), Failure> {
        match self.stop.load(Ordering::Relaxed) {
            true => Err(Failure::Stopped),
            false => Ok(()),
        }
    }
}
