//! The init for PID 1 (`templates/pid1`): it builds with no dependency for musl (rust-lld) and
//! glibc (the host's cc, cargo-zigbuild), small and the same bytes twice; it passes signals on,
//! reaps orphans and exits with the service's status, checked as a plain process, as PID 1 of a
//! PID namespace (unshare), under qemu for aarch64, on a terminal (script), and in a real
//! container stopped by podman. Every wait is bounded by a watchdog that only guards against a
//! hang; no test measures time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::support::*;

const X86_64_MUSL: &str = "x86_64-unknown-linux-musl";
const AARCH64_MUSL: &str = "aarch64-unknown-linux-musl";

/// A service that tells each signal it gets, and exits 42 on SIGTERM. `wait` returns at once
/// when a trapped signal arrives; the short sleeps it leaves behind are orphans the init reaps.
const TRAPS: &str = r#"for s in HUP INT QUIT USR1 USR2 WINCH; do trap "echo got $s" $s; done
trap 'echo got TERM; exit 42' TERM
echo ready
while :; do sleep 1 & wait $!; done"#;

/// Makes an orphan (its parent shell exits at once), checks it was re-parented to the init (our
/// parent), kills it and waits until it has left /proc: reaped, not a zombie. Exits 7.
const ORPHAN: &str = r#"o=$(sh -c 'sleep 1000 >/dev/null 2>&1 & echo $!')
ppid=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$o/status)
[ "$ppid" = "$PPID" ] || { echo "orphan $o has parent $ppid, not the init $PPID"; exit 1; }
kill $o
while [ -e /proc/$o ]; do sleep 0.05; done
echo "reaped, parent $ppid"
exit 7"#;

/// The init's crate written out as cargo-oci does (`Cargo.toml.in` becomes `Cargo.toml`: under
/// its real name `cargo package` would leave the directory out), once per test run, kept warm.
fn crate_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| write_crate(Project::kept("pid1")).path().to_path_buf())
}

fn write_crate(p: Project) -> Project {
    let template = repo().join("templates/pid1");
    p.file_if_changed("Cargo.toml", &std::fs::read(template.join("Cargo.toml.in")).unwrap())
        .file_if_changed("src/main.rs", &std::fs::read(template.join("src/main.rs")).unwrap())
}

/// `cargo build --release` of the crate at `dir` for `target`, as cargo-oci's cargo backend
/// does it: musl targets linked by rust-lld, the host's gnu target by the host's cc.
fn cargo_build(dir: &Path, target_dir: &Path, target: &str) -> PathBuf {
    let mut c = Command::new("cargo");
    c.args(["build", "--release", "--quiet", "--target", target]).current_dir(dir);
    c.env("CARGO_TARGET_DIR", target_dir);
    if target.ends_with("-musl") {
        c.env(format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace('-', "_")), "rust-lld");
    }
    Run::of(c).success();
    target_dir.join(target).join("release/cargo-oci-init")
}

/// The init built for `target` in the kept target dir.
fn init_for(target: &str) -> PathBuf {
    cargo_build(crate_dir(), &Project::cache_dir("pid1"), target)
}

/// Kills `pid` and every process under it unless dropped within two minutes: a guard that turns
/// a hang (a signal not passed on, an orphan never reaped) into a failure. It never decides a
/// pass. The whole tree: a service outliving a killed init would hold our end of its stdout.
struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn new(pid: u32) -> Watchdog {
        let (done, rx) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(120)) {
                let tree = [vec![pid], descendants(pid)].concat();
                eprintln!("watchdog: process {pid} still running after 120 s, killing {tree:?}");
                for p in tree {
                    let _ = Command::new("sh").args(["-c", &format!("kill -KILL {p}")]).status();
                }
            }
        });
        Watchdog { done: Some(done), thread: Some(thread) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running command with its stdout read line by line, under a [`Watchdog`].
struct Running {
    child: Child,
    out: BufReader<ChildStdout>,
    _dog: Watchdog,
}

impl Running {
    fn start(mut c: Command) -> Running {
        let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let dog = Watchdog::new(child.id());
        Running { child, out, _dog: dog }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l
    }

    /// The first child of `pid`, once it has one (the init has then blocked its signals).
    fn child_of(&mut self, pid: u32) -> u32 {
        loop {
            if let Some(c) = children(pid).first() {
                return *c;
            }
            assert!(self.child.try_wait().unwrap().is_none(), "{pid} ended before it started a child");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait(mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// All of stdout, then the exit code.
    fn finish(mut self) -> (String, Option<i32>) {
        let mut all = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut all).unwrap();
        (all, self.wait().code())
    }
}

fn descendants(pid: u32) -> Vec<u32> {
    children(pid).into_iter().flat_map(|c| [vec![c], descendants(c)].concat()).collect()
}

fn children(pid: u32) -> Vec<u32> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace().map(|p| p.parse().unwrap()).collect()
}

/// `kill -SIG PID`, the shell's builtin (procps' kill may not be installed).
fn signal(pid: u32, sig: &str) {
    tool("sh", &["-c", &format!("kill -{sig} {pid}")]);
}

fn init_command(init: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(init);
    c.args(args);
    c
}

/// `unshare --pid --fork --mount-proc --kill-child CMD…`: CMD is PID 1 of a new PID namespace
/// (root only); killing unshare kills it too.
fn in_pid_namespace(cmd: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).args(cmd);
    c
}

#[test]
fn builds_with_no_dependency_small_static_and_the_same_bytes_twice() {
    for (target, machine) in
        [(X86_64_MUSL, goblin::elf::header::EM_X86_64), (AARCH64_MUSL, goblin::elf::header::EM_AARCH64)]
    {
        let bin = init_for(target);
        let bytes = std::fs::read(&bin).unwrap();
        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        assert_eq!(elf.header.e_machine, machine, "{target}");
        assert_eq!(elf.interpreter, None, "{target}: the musl init must be static (it runs on scratch)");
        assert!(elf.libraries.is_empty(), "{target}: needs {:?}", elf.libraries);
        // no_std keeps it near 15 KiB; with std it would be about 350 KiB. This catches a change
        // that brings std (or a panic path into its machinery) back.
        assert!(bytes.len() < 64 * 1024, "{target}: {} bytes", bytes.len());

        // Elsewhere, from scratch: the same bytes (no path, time or host in the binary).
        let again = write_crate(Project::empty());
        let other = cargo_build(again.path(), &again.path().join("target"), target);
        assert!(bytes == std::fs::read(&other).unwrap(), "{target}: two builds differ");
    }
    // The host's gnu target, linked by the host's cc against glibc: dynamic, and it runs.
    let host = cargo_build(crate_dir(), &Project::cache_dir("pid1"), "x86_64-unknown-linux-gnu");
    let bytes = std::fs::read(&host).unwrap();
    assert!(goblin::elf::Elf::parse(&bytes).unwrap().libraries.iter().any(|l| l.starts_with("libc.so")));
    let status = init_command(&host, &["sh", "-c", "exit 3"]).status().unwrap();
    assert_eq!(status.code(), Some(3));
}

#[test]
fn builds_with_cargo_zigbuild_for_musl_and_an_old_glibc() {
    if !(have("cargo-zigbuild") && have("qemu-aarch64-static")) {
        return;
    }
    let target_dir = Project::cache_dir("pid1-zig");
    for target in [X86_64_MUSL, "aarch64-unknown-linux-gnu.2.17"] {
        let mut c = Command::new("cargo");
        c.args(["zigbuild", "--release", "--quiet", "--target", target]).current_dir(crate_dir());
        c.env("CARGO_TARGET_DIR", &target_dir);
        Run::of(c).success();
    }
    let musl = target_dir.join(X86_64_MUSL).join("release/cargo-oci-init");
    assert_eq!(init_command(&musl, &["sh", "-c", "exit 4"]).status().unwrap().code(), Some(4));

    let gnu = target_dir.join("aarch64-unknown-linux-gnu/release/cargo-oci-init");
    let elf_bytes = std::fs::read(&gnu).unwrap();
    let elf = goblin::elf::Elf::parse(&elf_bytes).unwrap();
    assert_eq!(elf.interpreter, Some("/lib/ld-linux-aarch64.so.1"));
    // Debian's arm64 glibc (libc6-arm64-cross) as qemu's prefix; the service is a host binary.
    let mut c = Command::new("qemu-aarch64-static");
    c.args(["-L", "/usr/aarch64-linux-gnu"]).arg(&gnu).args(["sh", "-c", "exit 6"]);
    assert_eq!(c.status().unwrap().code(), Some(6));
}

#[test]
fn exits_with_the_services_code_or_128_plus_the_signal_that_killed_it() {
    let init = init_for(X86_64_MUSL);
    let code = |args: &[&str]| Run::of(init_command(&init, args));
    assert_eq!(code(&["--", "sh", "-c", "exit 3"]).out.status.code(), Some(3));
    assert_eq!(code(&["sh", "-c", "exit 0"]).out.status.code(), Some(0), "the `--` is optional");
    assert_eq!(code(&["sh", "-c", "kill -KILL $$"]).out.status.code(), Some(128 + 9));
    assert_eq!(code(&["sh", "-c", "kill -SEGV $$"]).out.status.code(), Some(128 + 11));

    // Arguments reach the service untouched, a leading `--` of its own included.
    let args = code(&["--", "sh", "-c", r#"printf '%s|' "$@""#, "sh", "--", "a b", ""]).success();
    assert_eq!(args.stdout(), "--|a b||");

    // The shell's codes when the program cannot run, with the reason.
    let missing = code(&["--", "/nonexistent/app"]);
    assert_eq!(missing.out.status.code(), Some(127));
    assert_eq!(missing.stderr(), "cargo-oci-init: cannot run `/nonexistent/app`: No such file or directory\n");
    let not_executable = code(&["--", init_source().to_str().unwrap()]);
    assert_eq!(not_executable.out.status.code(), Some(126), "{}", not_executable.stderr());
    assert!(not_executable.stderr().ends_with("Permission denied\n"), "{}", not_executable.stderr());

    let usage = code(&["--"]);
    assert_eq!(usage.out.status.code(), Some(2));
    assert_eq!(usage.stderr(), "usage: cargo-oci-init [--] PROGRAM [ARGS...]\n");
    assert_eq!(code(&[]).out.status.code(), Some(2));
}

/// A file that exists and is not executable.
fn init_source() -> PathBuf {
    repo().join("templates/pid1/src/main.rs")
}

#[test]
fn passes_every_signal_on_and_exits_as_the_service_does() {
    let init = init_for(X86_64_MUSL);
    let mut run = Running::start(init_command(&init, &["--", "sh", "-c", TRAPS]));
    assert_eq!(run.line(), "ready\n");
    for sig in ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH"] {
        signal(run.pid(), sig);
        assert_eq!(run.line(), format!("got {sig}\n"));
    }
    signal(run.pid(), "TERM");
    assert_eq!(run.line(), "got TERM\n");
    assert_eq!(run.wait().code(), Some(42), "the service's own exit code");
}

#[test]
fn a_service_with_no_handler_dies_of_the_signal_and_the_init_reports_it() {
    let init = init_for(X86_64_MUSL);
    for (sig, number) in [("TERM", 15), ("INT", 2), ("QUIT", 3), ("HUP", 1)] {
        let mut run = Running::start(init_command(&init, &["--", "sleep", "1000"]));
        let pid = run.pid();
        run.child_of(pid);
        signal(pid, sig);
        assert_eq!(run.wait().code(), Some(128 + number), "SIG{sig}");
    }
}

#[test]
fn as_pid_1_of_a_namespace_it_passes_sigterm_on_and_reaps_orphans() {
    if !have("unshare") {
        return;
    }
    let init = init_for(X86_64_MUSL);
    let init = init.to_str().unwrap();
    // As PID 1 the kernel drops SIGTERM for a process with no handler (pid_namespaces(7));
    // `sleep` alone here would ignore it. Through the init, it dies of it.
    let mut run = Running::start(in_pid_namespace(&[init, "--", "sleep", "1000"]));
    let unshare = run.pid();
    let pid1 = run.child_of(unshare);
    run.child_of(pid1);
    signal(pid1, "TERM");
    assert_eq!(run.wait().code(), Some(143));

    let reaped = Running::start(in_pid_namespace(&[init, "--", "sh", "-c", ORPHAN])).finish();
    assert_eq!(reaped, ("reaped, parent 1\n".to_string(), Some(7)));
}

#[test]
fn outside_a_namespace_it_reaps_orphans_as_a_subreaper() {
    let init = init_for(X86_64_MUSL);
    let mut run = Running::start(init_command(&init, &["--", "sh", "-c", ORPHAN]));
    let pid = run.pid();
    assert_eq!(run.line(), format!("reaped, parent {pid}\n"));
    assert_eq!(run.wait().code(), Some(7));
}

#[test]
fn on_a_terminal_the_service_gets_the_foreground_and_the_init_does_not() {
    if !have("script") {
        return;
    }
    let init = init_for(X86_64_MUSL);
    // Fields 5 and 8 of /proc/PID/stat: the process group and the terminal's foreground group.
    let report = r#"echo $$ $(cut -d" " -f5,8 /proc/$$/stat) $(cut -d" " -f5 /proc/$PPID/stat)"#;
    let cmd = format!("{} -- sh -c '{report}'", init.display());
    // `script` runs the command on a new pseudo-terminal, as `docker run -t` does.
    let out = tool("script", &["-q", "-e", "-c", &cmd, "/dev/null"]).stdout();
    let ids: Vec<&str> = out.split_whitespace().collect();
    let [service, group, foreground, init_group] = ids[..] else { panic!("{out:?}") };
    assert_eq!(group, service, "the service leads its own process group: {out:?}");
    assert_eq!(foreground, group, "the service's group holds the terminal: {out:?}");
    assert_ne!(init_group, group, "a Ctrl-C reaches the service once, not through the init: {out:?}");
}

#[test]
fn the_aarch64_build_works_under_qemu() {
    if !(have("qemu-aarch64-static") && have("unshare")) {
        return;
    }
    let init = init_for(AARCH64_MUSL);
    let init = init.to_str().unwrap();
    let qemu = |args: &[&str]| {
        let mut c = Command::new("qemu-aarch64-static");
        c.arg(init).args(args);
        c
    };
    assert_eq!(qemu(&["--", "sh", "-c", "exit 5"]).status().unwrap().code(), Some(5));

    let mut run = Running::start(qemu(&["--", "sleep", "1000"]));
    let pid = run.pid();
    run.child_of(pid);
    signal(pid, "TERM");
    assert_eq!(run.wait().code(), Some(143));

    // qemu-user does not pass prctl(PR_SET_CHILD_SUBREAPER) on, so reaping is checked where it
    // matters, as PID 1 of a namespace.
    let reaped = Running::start(in_pid_namespace(&["qemu-aarch64-static", init, "--", "sh", "-c", ORPHAN])).finish();
    assert_eq!(reaped, ("reaped, parent 1\n".to_string(), Some(7)));
}

#[test]
fn in_a_container_podman_stop_ends_a_service_with_no_handler_with_143() {
    if !(have("podman") && have("runc") && have("umoci") && have("tar")) {
        return;
    }
    // examples/hello installs no SIGTERM handler: as PID 1 it waits out `podman stop`'s timeout
    // and is killed (137, about 8 s with -t 8, checked by hand).
    let hello = Project::cached_example("hello");
    let service = cargo_build(hello.path(), &Project::cache_dir("pid1-hello"), X86_64_MUSL);
    let service = service.with_file_name("hello");
    let work = Project::empty();
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::copy(&service, rootfs.join("hello")).unwrap();
    std::fs::copy(init_for(X86_64_MUSL), rootfs.join("cargo-oci-init")).unwrap();
    let layer = work.path().join("layer.tar");
    let tar_args = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C"];
    tool("tar", &[&tar_args[..], &[rootfs.to_str().unwrap(), "-cf", layer.to_str().unwrap(), "."]].concat());
    let layout = work.path().join("lay");
    let image = format!("{}:init", layout.display());
    tool("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    tool("umoci", &["new", "--image", &image]);
    tool("umoci", &["raw", "add-layer", "--image", &image, layer.to_str().unwrap()]);
    let entrypoint =
        ["--config.entrypoint", "/cargo-oci-init", "--config.entrypoint", "--", "--config.entrypoint", "/hello"];
    tool(
        "umoci",
        &[&["config", "--image", &image, "--architecture", "amd64", "--os", "linux"][..], &entrypoint].concat(),
    );

    let storage = work.path().join("podman");
    // Stop only once the service runs behind the init (it logs where it listens).
    let container = podman_run_detached(&storage, &format!("oci:{image}"), "listening on 0.0.0.0:8080");
    let name = container.name.clone();
    let top = podman(&storage, &["top", &name, "pid", "args"]).success().stdout();
    assert!(
        top.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "/cargo-oci-init", "--", "/hello"]),
        "{top}"
    );

    podman(&storage, &["stop", "-t", "8", &name]).success();
    // 143: SIGTERM, passed on by the init, ended the service. Had it not, podman would have
    // killed it after 8 s and the status would be 137.
    let status = podman(&storage, &["inspect", "--format", "{{.State.ExitCode}}", &name]).success().stdout();
    assert_eq!(status.trim(), "143");
    drop(container);
}
