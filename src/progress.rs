//! Progress bars for long steps (compressing large layers, blobs pushed and pulled), drawn on a
//! terminal only: in CI logs and pipes there are no bars at all, just the status lines.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::oci::Digest;

/// Below this many bytes a layer compresses in well under a second: no bar.
pub const MIN_BYTES: u64 = 16 << 20;
/// Below this many bytes a transfer is over before a bar would tell anything.
pub const MIN_TRANSFER_BYTES: u64 = 1 << 20;

/// Hands out bars; a hidden one whenever bars are off. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    /// While paused: the bars that ended meanwhile, drawn once when drawing resumes.
    held: std::sync::Arc<std::sync::Mutex<Option<Vec<ProgressBar>>>>,
}

impl Progress {
    /// Bars on stderr, if `on` (stderr is a terminal and the shell is not quiet).
    pub fn new(on: bool) -> Progress {
        Progress {
            multi: on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            held: Default::default(),
        }
    }

    pub fn hidden() -> Progress {
        Progress { multi: None, held: Default::default() }
    }

    /// Draws nothing until [`Progress::resume`]; bars added meanwhile keep counting. For work that
    /// starts while cargo draws its own progress bar on the same terminal.
    pub fn pause(&self) {
        if let Some(multi) = &self.multi {
            multi.set_draw_target(ProgressDrawTarget::hidden());
            *self.held.lock().expect("progress lock") = Some(Vec::new());
        }
    }

    /// Draws again, the bars added while paused too: those that ended meanwhile are drawn once
    /// (complete) and cleared, so a step never goes unshown because it ended before cargo did.
    pub fn resume(&self) {
        if let Some(multi) = &self.multi {
            multi.set_draw_target(ProgressDrawTarget::stderr());
            for bar in self.held.lock().expect("progress lock").take().unwrap_or_default() {
                bar.finish(); // drawn now, whatever the redraw rate
                bar.finish_and_clear();
            }
        }
    }

    /// Ends `bar` and clears it; while paused, it is held until [`Progress::resume`].
    pub fn finish(&self, bar: ProgressBar) {
        match self.held.lock().expect("progress lock").as_mut() {
            Some(held) => held.push(bar),
            _ => bar.finish_and_clear(),
        }
    }

    /// A bar for a step over `total` bytes, labelled like a status line (`Compressing api …`).
    pub fn bytes(&self, verb: &str, what: String, total: u64) -> ProgressBar {
        self.bar(verb, what, total, MIN_BYTES)
    }

    /// A bar for one blob going over the network (`Uploading sha256:0123456789ab…`), sizes in
    /// KiB/MiB; drawn at once, as on a fast link the transfer may end before the first redraw.
    pub fn transfer(&self, verb: &str, digest: &Digest, total: u64) -> ProgressBar {
        let short = digest.as_str().get(..19).unwrap_or(digest.as_str());
        let bar = self.bar(verb, format!("{short}…"), total, MIN_TRANSFER_BYTES);
        bar.tick();
        bar
    }

    fn bar(&self, verb: &str, what: String, total: u64, min: u64) -> ProgressBar {
        let Some(multi) = self.multi.as_ref().filter(|_| total >= min) else {
            return ProgressBar::hidden();
        };
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
        multi.add(ProgressBar::new(total).with_style(style).with_prefix(verb.to_string()).with_message(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_when_on_and_large() {
        assert!(Progress::hidden().bytes("Compressing", "x".into(), u64::MAX).is_hidden());
        assert!(Progress::new(true).bytes("Compressing", "x".into(), MIN_BYTES - 1).is_hidden());
        let d = Digest::of(b"x");
        assert!(Progress::new(true).transfer("Uploading", &d, MIN_TRANSFER_BYTES - 1).is_hidden());
        assert!(Progress::hidden().transfer("Uploading", &d, u64::MAX).is_hidden());
    }
}
