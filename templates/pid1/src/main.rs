//! cargo-oci-init: the PID 1 of an image built with `init = true`. It starts the service named
//! by its arguments, passes it every signal it receives, reaps every process re-parented to it,
//! and exits with the service's status.
//!
//! Usage: `cargo-oci-init [--] PROGRAM [ARGS...]`. PROGRAM is looked up on PATH when it has no
//! `/`, as a shell does. The image's entrypoint is `["/…/cargo-oci-init", "--", "/…/app", …]`,
//! so arguments given to `docker run IMAGE ARGS` still reach the service.
//!
//! Why: Linux never applies a signal's default action to the init of a PID namespace, only the
//! handlers it installed (pid_namespaces(7), "The namespace init process"). A service that
//! installs no SIGTERM handler therefore ignores `docker stop` when it is PID 1, and is killed
//! after the grace period. Behind this init the service is an ordinary process again.
//!
//! Exit status (tini's convention, see the README of krallin/tini and `reap_zombies` in its
//! src/tini.c, which emulates sh/bash): the service's exit code; 128 + N when a signal N killed
//! it (143 for SIGTERM); 127 when PROGRAM cannot be found, 126 when it cannot be executed (the
//! shell's codes, POSIX "Command Search and Execution"); 2 for a missing PROGRAM; 1 when the
//! init itself fails (fork).
//!
//! Why no crates, and no std: cargo-oci compiles this file for every target at image-build
//! time, maybe offline, so it depends on nothing and declares the few C library functions it
//! calls. Without std the binary is about 5 KiB instead of 350 KiB (std brings its panic and
//! backtrace machinery even when nothing here can panic), and std's runtime setup never runs
//! (it would set SIGPIPE to ignored, and an ignored signal stays ignored across exec, in the
//! service). The C `main` receives argv as the kernel laid it out, NUL-terminated strings in a
//! NULL-terminated array, which execvp takes as is: nothing is allocated.
#![no_std]
#![no_main]

use core::ffi::{c_char, c_int, c_ulong, CStr};

type Pid = c_int;

// Signal, errno and flag numbers of Linux's generic ABI, which x86, arm, riscv, powerpc, s390x
// and loongarch share; mips, sparc, alpha and parisc number signals differently.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "powerpc64",
    target_arch = "powerpc",
    target_arch = "s390x",
    target_arch = "loongarch64"
)))]
compile_error!("cargo-oci-init: check the signal numbers of this architecture before adding it");

const SIGILL: c_int = 4;
const SIGTRAP: c_int = 5;
const SIGABRT: c_int = 6;
const SIGBUS: c_int = 7;
const SIGFPE: c_int = 8;
const SIGSEGV: c_int = 11;
const SIGPIPE: c_int = 13;
const SIGCHLD: c_int = 17;
const SIGTTIN: c_int = 21;
const SIGTTOU: c_int = 22;
const SIGSYS: c_int = 31;
const SIG_SETMASK: c_int = 2;
const SIG_DFL: usize = 0;
const WNOHANG: c_int = 1;
const ENOENT: c_int = 2;
const ENOTDIR: c_int = 20;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const STDIN: c_int = 0;
const STDERR: c_int = 2;

/// Signals raised by a fault of the init itself: left unblocked, so such a fault kills it
/// instead of being passed on to the service.
const FAULTS: [c_int; 7] = [SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS];

/// Signals the init receives but does not pass on: SIGPIPE comes from its own write to a closed
/// stderr, SIGTTIN/SIGTTOU from its own terminal access from the background.
const KEPT: [c_int; 3] = [SIGPIPE, SIGTTIN, SIGTTOU];

/// `sigset_t`: 1024 bits in glibc and in musl on every Linux target. Only libc's functions
/// read or write it, so its layout inside does not matter here.
#[repr(C, align(8))]
struct SigSet([u64; 16]);

// Static on musl (rustc links every library statically for a crt-static target), dynamic on gnu.
#[link(name = "c")]
extern "C" {
    fn fork() -> Pid;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn waitpid(pid: Pid, status: *mut c_int, options: c_int) -> Pid;
    fn kill(pid: Pid, sig: c_int) -> c_int;
    fn getpid() -> Pid;
    fn getpgrp() -> Pid;
    fn setpgid(pid: Pid, pgid: Pid) -> c_int;
    fn tcgetpgrp(fd: c_int) -> Pid;
    fn tcsetpgrp(fd: c_int, pgrp: Pid) -> c_int;
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigdelset(set: *mut SigSet, sig: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwait(set: *const SigSet, sig: *mut c_int) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn prctl(option: c_int, ...) -> c_int;
    fn __errno_location() -> *mut c_int;
    fn strerror(errnum: c_int) -> *const c_char;
    fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
    fn _exit(status: c_int) -> !;
}

/// # Safety
/// Called by the C runtime only: `argv` holds `argc` pointers to NUL-terminated strings,
/// followed by a NULL.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let args = core::slice::from_raw_parts(argv, argc.max(0) as usize);
    let skip = match args.get(1) {
        Some(&a) if CStr::from_ptr(a).to_bytes() == b"--" => 2,
        _ => 1,
    };
    let (Some(program), Some(&name)) = (args.get(skip..), args.get(skip)) else {
        say(&[b"usage: cargo-oci-init [--] PROGRAM [ARGS...]\n"]);
        return 2;
    };
    // Block every signal but faults: they wait, pending, for sigwait below. A blocked
    // signal is queued even when PID 1 has no handler for it, where an unblocked one
    // would be dropped.
    let mut blocked = SigSet([0; 16]);
    let mut original = SigSet([0; 16]);
    sigfillset(&mut blocked);
    for sig in FAULTS {
        sigdelset(&mut blocked, sig);
    }
    sigprocmask(SIG_SETMASK, &blocked, &mut original);
    // An inherited SIG_IGN for SIGCHLD would make the kernel reap children itself, and
    // the service's status would be lost.
    signal(SIGCHLD, SIG_DFL);
    // Outside a PID namespace (`docker run --init`, a test), orphans still come here.
    if getpid() != 1 {
        prctl(PR_SET_CHILD_SUBREAPER, 1 as c_ulong);
    }
    // Hand the terminal to the service only if this process holds it: a Ctrl-C then
    // reaches the service once, from the terminal, not a second time through here.
    let foreground = tcgetpgrp(STDIN) == getpgrp();

    let service = fork();
    if service < 0 {
        fail(b"cannot start a process", name, errno());
        return 1;
    }
    if service == 0 {
        setpgid(0, 0);
        if foreground {
            // SIGTTOU is still blocked here, so a background group may take the terminal.
            tcsetpgrp(STDIN, getpid());
        }
        sigprocmask(SIG_SETMASK, &original, core::ptr::null_mut());
        // `program` ends where argv does, so the array execvp reads is NULL-terminated.
        execvp(name, program.as_ptr());
        let err = errno();
        fail(b"cannot run", name, err);
        _exit(if err == ENOENT || err == ENOTDIR { 127 } else { 126 });
    }

    loop {
        let mut sig = 0;
        if sigwait(&blocked, &mut sig) != 0 {
            continue;
        }
        if sig == SIGCHLD {
            if let Some(status) = reap(service) {
                return status;
            }
        } else if !KEPT.contains(&sig) {
            // The service is never reaped before its exit is seen here, so its pid cannot
            // have been reused; a failure (it is a zombie already) needs nothing done.
            kill(service, sig);
        }
    }
}

/// Reaps every child that has ended (the service and any orphan); returns the service's exit
/// status once it is among them.
unsafe fn reap(service: Pid) -> Option<c_int> {
    let mut result = None;
    loop {
        let mut status: c_int = 0;
        let pid = waitpid(-1, &mut status, WNOHANG);
        if pid <= 0 {
            // 0: children remain, none has ended; -1: no child at all (ECHILD).
            return result;
        }
        if pid == service {
            result = Some(exit_status(status));
        }
    }
}

/// The wait status as a shell reports it: the exit code, or 128 + the signal that killed it.
fn exit_status(status: c_int) -> c_int {
    let signal = status & 0x7f;
    if signal == 0 {
        (status >> 8) & 0xff
    } else {
        128 + signal
    }
}

fn errno() -> c_int {
    // SAFETY: glibc and musl both return the calling thread's errno location.
    unsafe { *__errno_location() }
}

/// `cargo-oci-init: WHAT `PROGRAM`: REASON` on stderr.
unsafe fn fail(what: &[u8], program: *const c_char, err: c_int) {
    let reason = CStr::from_ptr(strerror(err)).to_bytes();
    say(&[b"cargo-oci-init: ", what, b" `", CStr::from_ptr(program).to_bytes(), b"`: ", reason, b"\n"]);
}

fn say(parts: &[&[u8]]) {
    for part in parts {
        // SAFETY: writes a byte slice we hold; a failed write to stderr has nowhere to go.
        unsafe { write(STDERR, part.as_ptr(), part.len()) };
    }
}

/// Nothing above indexes or unwraps, so this is unreachable; if it is reached, the init fails
/// as it does when fork fails.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    say(&[b"cargo-oci-init: internal error\n"]);
    // SAFETY: ends the process; nothing is buffered.
    unsafe { _exit(1) }
}

/// Never called: nothing unwinds with panic = "abort". The precompiled core still names it in
/// its unwind tables, and some linkers (zig's, for cargo-zigbuild's musl targets) want every
/// named symbol defined even in sections --gc-sections drops.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
