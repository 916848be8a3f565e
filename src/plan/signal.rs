//! `stop-signal`: the names and numbers Docker and podman accept for a config's StopSignal
//! (`SIGINT`, `INT`, `2`, `SIGRTMIN+3`), checked here and written in one form (`SIGINT`), so a
//! typo fails the build instead of the container's `docker stop`.

/// Linux's signal names (x86/arm numbering; the init refuses other architectures anyway).
const NAMES: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",
    "PWR", "SYS",
];

/// `SIGNAME` for a name (any case, with or without `SIG`) or a number 1–64 (kept as a number:
/// moby's `signal.ParseSignal` takes both). Real-time signals as `SIGRTMIN+N` / `SIGRTMAX-N`.
pub fn stop_signal(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not a signal");
    if let Ok(n) = s.parse::<u32>() {
        return if (1..=64).contains(&n) { Ok(n.to_string()) } else { Err(bad()) };
    }
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, sign: char| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty() || rest.strip_prefix(sign).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n <= 30)
        })
    };
    if NAMES.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-') {
        Ok(format!("SIG{name}"))
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for (given, want) in [("SIGINT", "SIGINT"), ("term", "SIGTERM"), ("sigQuit", "SIGQUIT"), ("15", "15")] {
            assert_eq!(stop_signal(given).unwrap(), want, "{given}");
        }
        assert_eq!(stop_signal("SIGRTMIN+3").unwrap(), "SIGRTMIN+3");
        for bad in ["", "SIG", "SIGFOO", "0", "65", "RTMIN+99", "-1"] {
            assert!(stop_signal(bad).is_err(), "{bad}");
        }
    }
}
