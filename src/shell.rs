//! Cargo-style status lines on stderr (`   Packaging …`), honouring quiet/verbose and colour.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use crate::env::{Env, EnvVars};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    /// `-v`: our "why" lines (backends, bases, digests, the commands we run).
    Verbose,
    /// `-vv`: also cargo's own `--verbose` (every rustc command line).
    VeryVerbose,
}

/// `--color` values, as cargo spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Shell {
    verbosity: Verbosity,
    err: anstream::AutoStream<std::io::Stderr>,
    /// Progress bars: only when stderr is a terminal (never in CI logs or pipes) and not quiet.
    bars: bool,
    /// A [`Shell::recording`] keeps its lines here instead of writing them.
    kept: Option<Vec<Line>>,
}

/// One line of output; a recording shell keeps them for [`Shell::replay`].
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Status(String, String),
    Verbose(String, String),
    Warn(String),
}

// cargo's own palette (cargo's `util::style`), so our lines and cargo's look alike.
const HEADER: Style = AnsiColor::BrightGreen.on_default().bold();
const WARN: Style = AnsiColor::BrightYellow.on_default().bold();
const NOTE: Style = AnsiColor::BrightCyan.on_default().bold();

impl Shell {
    /// `--color` wins, then `CARGO_TERM_COLOR`, then `NO_COLOR`, then "is stderr a terminal".
    pub fn new(verbosity: Verbosity, color: Option<ColorChoice>, env: &Env) -> Shell {
        let from_env = match env.get(EnvVars::CARGO_TERM_COLOR) {
            Some("always") => Some(ColorChoice::Always),
            Some("never") => Some(ColorChoice::Never),
            _ => None,
        };
        let choice = match color.or(from_env) {
            Some(ColorChoice::Always) => anstream::ColorChoice::Always,
            Some(ColorChoice::Never) => anstream::ColorChoice::Never,
            _ if env.get(EnvVars::NO_COLOR).is_some() => anstream::ColorChoice::Never,
            _ => anstream::ColorChoice::Auto,
        };
        let bars = verbosity != Verbosity::Quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Shell { verbosity, err: anstream::AutoStream::new(std::io::stderr(), choice), bars, kept: None }
    }

    /// A shell for work on another thread whose output must not land in the middle of someone
    /// else's (cargo's, while it runs): it keeps its lines, in order, for [`Shell::replay`]. Same
    /// verbosity and colour; no progress bars of its own.
    pub fn recording(&self) -> Shell {
        let err = anstream::AutoStream::new(std::io::stderr(), self.err.current_choice());
        Shell { verbosity: self.verbosity, err, bars: false, kept: Some(Vec::new()) }
    }

    /// Writes the lines `recorded` kept (see [`Shell::recording`]), as it would have.
    pub fn replay(&mut self, recorded: Shell) {
        for line in recorded.kept.into_iter().flatten() {
            self.emit(line);
        }
    }

    /// Where long steps draw their progress bars (nowhere unless stderr is a terminal).
    pub fn progress(&self) -> crate::progress::Progress {
        crate::progress::Progress::new(self.bars)
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    /// Whether our stderr shows colour: then cargo's does too (`--color always`), since it
    /// writes into our pipe, not to the terminal.
    pub fn is_colored(&self) -> bool {
        self.err.current_choice() != anstream::ColorChoice::Never
    }

    /// The width of the terminal our stderr is, when cargo should draw its progress bar there
    /// (not under `-q`, never into a log or pipe).
    pub fn terminal_width(&self) -> Option<u16> {
        if !self.bars {
            return None;
        }
        terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| w.0).or(Some(80))
    }

    /// `   Packaging whoami 0.3.1 for linux/amd64` — the verb right-aligned in 12 columns.
    pub fn status(&mut self, verb: &str, msg: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(Line::Status(verb.into(), msg.to_string()));
        }
    }

    /// A status line shown only with `-v`.
    pub fn verbose(&mut self, verb: &str, msg: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Verbose {
            self.emit(Line::Verbose(verb.into(), msg.to_string()));
        }
    }

    pub fn warn(&mut self, msg: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(Line::Warn(msg.to_string()));
        }
    }

    /// Writes `line`, or keeps it when recording.
    fn emit(&mut self, line: Line) {
        if let Some(kept) = &mut self.kept {
            kept.push(line);
            return;
        }
        let _ = match line {
            Line::Status(verb, msg) => writeln!(self.err, "{HEADER}{verb:>12}{HEADER:#} {msg}"),
            Line::Verbose(verb, msg) => writeln!(self.err, "{NOTE}{verb:>12}{NOTE:#} {msg}"),
            Line::Warn(msg) => writeln!(self.err, "{WARN}warning{WARN:#}: {msg}"),
        };
    }

    /// Errors always print, also under `-q`.
    pub fn error(&mut self, err: &(dyn std::error::Error + 'static), hints: &[String]) {
        let red = AnsiColor::BrightRed.on_default().bold();
        let _ = writeln!(self.err, "{red}error{red:#}: {err}");
        let mut source = err.source();
        if source.is_some() {
            let _ = writeln!(self.err, "\nCaused by:");
        }
        while let Some(s) = source {
            for (i, line) in s.to_string().lines().enumerate() {
                let lead = if i == 0 { "  " } else { "    " };
                let _ = writeln!(self.err, "{lead}{line}");
            }
            source = s.source();
        }
        for h in hints {
            let _ = writeln!(self.err, "{NOTE}hint{NOTE:#}: {h}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(verbosity: Verbosity) -> Shell {
        Shell::new(verbosity, Some(ColorChoice::Never), &Env::from_pairs("/".into(), []))
    }

    fn status(verb: &str, msg: &str) -> Line {
        Line::Status(verb.into(), msg.into())
    }

    #[test]
    fn a_recording_keeps_what_its_verbosity_shows_in_order_and_replays_it() {
        let record = |verbosity| {
            let mut r = shell(verbosity).recording();
            r.verbose("Checked", "app");
            r.status("Note", "debug info");
            r.warn("careful");
            r.kept.unwrap()
        };
        let (checked, warned) = (Line::Verbose("Checked".into(), "app".into()), Line::Warn("careful".into()));
        assert_eq!(record(Verbosity::Verbose), [checked, status("Note", "debug info"), warned]);
        assert_eq!(record(Verbosity::Normal), [status("Note", "debug info"), Line::Warn("careful".into())]);
        assert_eq!(record(Verbosity::Quiet), []);

        // Replayed into another recording: the same lines, after what it had.
        let mut r = shell(Verbosity::Normal).recording();
        r.status("Note", "one");
        let mut into = shell(Verbosity::Normal).recording();
        into.status("Note", "zero");
        into.replay(r);
        assert_eq!(into.kept.unwrap(), [status("Note", "zero"), status("Note", "one")]);
    }
}
