//! The one way we run subprocesses: errors show the exact command line and the tail of stderr.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// How many trailing stderr lines an error keeps.
const TAIL_LINES: usize = 20;

/// A command line to run, printable exactly as it will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    /// Variables set for the child (shown in the command line, so a failure is reproducible).
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

/// A subprocess that could not be run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not run `{cmd}`")]
    Spawn {
        cmd: String,
        #[source]
        source: io::Error,
    },
    #[error("`{cmd}` failed ({status}){}", tail_suffix(.stderr_tail))]
    Failed { cmd: String, status: ExitStatus, stderr_tail: String },
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- stderr (last lines) ---\n{}", tail.trim_end())
    }
}

impl ProcessError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcessError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd { program: program.as_ref().to_owned(), args: Vec::new(), envs: Vec::new(), cwd: None }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.envs.push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }

    /// Runs to completion capturing stdout and stderr; fails on a non-zero exit.
    pub fn output(&self) -> Result<Vec<u8>, ProcessError> {
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .map_err(|source| ProcessError::Spawn { cmd: self.to_string(), source })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(out.status, &String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Like [`Cmd::output`], with `input` on the child's stdin (how credential helpers take the
    /// server they are asked about; secrets travel on pipes, never in arguments).
    pub fn output_with_stdin(&self, input: &[u8]) -> Result<Vec<u8>, ProcessError> {
        let spawn_err = |source| ProcessError::Spawn { cmd: self.to_string(), source };
        let mut child = self.spawn_piped(Stdio::piped())?;
        let mut stdin = child.stdin.take().expect("piped");
        // A child that exits without reading its input is not an error of ours.
        let _ = stdin.write_all(input);
        drop(stdin);
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(out.status, &String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Runs with stderr passed through to ours (the user sees cargo's own progress) while keeping
    /// its tail for the error; each stdout line goes to `on_line`.
    pub fn stream(&self, mut on_line: impl FnMut(&str), quiet_stderr: bool) -> Result<(), ProcessError> {
        let mut child = self.spawn_piped(Stdio::null())?;
        let stderr = child.stderr.take().expect("piped");
        let tee = std::thread::spawn(move || tee_tail(stderr, quiet_stderr));
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        for line in stdout.lines() {
            match line {
                Ok(l) => on_line(&l),
                Err(_) => break,
            }
        }
        let status = child.wait().map_err(|source| ProcessError::Spawn { cmd: self.to_string(), source })?;
        let tail = tee.join().unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(self.failed(status, &tail))
        }
    }

    /// Runs with all output passed through (e.g. `rustup target add`).
    pub fn run(&self, quiet: bool) -> Result<(), ProcessError> {
        self.stream(
            |l| {
                if !quiet {
                    eprintln!("{l}")
                }
            },
            quiet,
        )
    }

    /// Spawns with stdout and stderr piped to us.
    fn spawn_piped(&self, stdin: Stdio) -> Result<std::process::Child, ProcessError> {
        self.command()
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProcessError::Spawn { cmd: self.to_string(), source })
    }

    fn failed(&self, status: ExitStatus, stderr: &str) -> ProcessError {
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        ProcessError::Failed { cmd: self.to_string(), status, stderr_tail: tail }
    }
}

/// How many bytes of a child's stderr are kept to find its last lines in.
const TAIL_BYTES: usize = 64 * 1024;

/// Copies a child's stderr to ours as it comes (unless quiet), so cargo's progress bar, redrawn
/// with `\r` and never ended by a newline, shows as it is drawn; returns its last lines as text.
fn tee_tail(mut r: impl Read, quiet: bool) -> String {
    let mut kept: VecDeque<u8> = VecDeque::with_capacity(TAIL_BYTES);
    let mut err = io::stderr();
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !quiet {
            let _ = err.write_all(&buf[..n]);
            let _ = err.flush();
        }
        kept.extend(&buf[..n]);
        let excess = kept.len().saturating_sub(TAIL_BYTES);
        kept.drain(..excess);
    }
    let text = String::from_utf8_lossy(kept.make_contiguous()).into_owned();
    let lines: Vec<String> = text.lines().map(plain_line).filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// A line as it was left on the terminal, as text: what follows its last `\r` (a progress bar
/// redraws over itself), without colour codes (`ESC [ … letter`).
fn plain_line(line: &str) -> String {
    let shown = line.rsplit('\r').find(|s| !s.trim().is_empty()).unwrap_or("");
    let mut out = String::with_capacity(shown.len());
    let mut chars = shown.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for Cmd {
    /// Shell-like: `VAR=value program 'arg with space'`. Values here are never secrets: we pass
    /// credentials to subprocesses only through stdin.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut word = |f: &mut fmt::Formatter<'_>, s: &str| -> fmt::Result {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b)) {
                f.write_str(s)
            } else if s.chars().any(char::is_control) {
                // bash's $'…' quoting keeps e.g. CARGO_ENCODED_RUSTFLAGS' 0x1f separators visible
                // and the line copy-pasteable.
                let escaped: String = s
                    .chars()
                    .map(|c| match c {
                        '\\' | '\'' => format!("\\{c}"),
                        c if c.is_control() => format!("\\x{:02x}", c as u32),
                        c => c.to_string(),
                    })
                    .collect();
                write!(f, "$'{escaped}'")
            } else {
                write!(f, "'{}'", s.replace('\'', r"'\''"))
            }
        };
        for (k, v) in &self.envs {
            word(f, &format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))?;
        }
        word(f, &self.program.to_string_lossy())?;
        for a in &self.args {
            word(f, &a.to_string_lossy())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_when_needed() {
        let c = Cmd::new("cargo").arg("build").arg("--features").arg("a b").env("X_LINKER", "rust-lld");
        assert_eq!(c.to_string(), "X_LINKER=rust-lld cargo build --features 'a b'");
    }

    #[test]
    fn control_characters_use_ansi_c_quoting() {
        let c = Cmd::new("cargo").env("CARGO_ENCODED_RUSTFLAGS", "-Ca\x1f-Cb'c");
        assert_eq!(c.to_string(), r"$'CARGO_ENCODED_RUSTFLAGS=-Ca\x1f-Cb\'c' cargo");
    }

    #[test]
    fn failure_names_command_and_tail() {
        let e = Cmd::new("sh").arg("-c").arg("echo one >&2; echo two >&2; exit 3").output().unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("`sh -c 'echo one >&2; echo two >&2; exit 3'` failed (exit status: 3)"), "{msg}");
        assert!(msg.ends_with("one\ntwo"), "{msg}");
    }

    #[test]
    fn the_tail_is_text_without_progress_bars_or_colours() {
        let err = "\x1b[1m\x1b[32m   Compiling\x1b[0m a\n    Building [=> ] 1/2\r\x1b[K\x1b[31merror\x1b[0m: boom\n";
        assert_eq!(tee_tail(err.as_bytes(), true), "   Compiling a\nerror: boom");
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tee_tail(long.as_bytes(), true).lines().count(), TAIL_LINES);
    }

    #[test]
    fn missing_program_is_not_found() {
        assert!(Cmd::new("/nonexistent/prog").output().unwrap_err().is_not_found());
    }
}
