//! `SIGSTOP`/`SIGCONT` for a server process, without `unsafe`.
//!
//! `unsafe_code` is forbidden in this workspace, so there is no `libc::kill`; the shell's
//! `kill` builtin (`sh` is always there, unlike `/usr/bin/kill`) sends the signal.

use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::LaunchError;
use super::poll::poll_until;

/// How long a `SIGSTOP`/`SIGCONT` may take to show in the process state.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `signal` (name without `SIG`) to `pid`, then waits until the kernel shows the
/// process stopped (`stopped == true`) or not, so a command sent right after `pause` cannot
/// slip in before the stop takes effect.
pub(crate) fn send(pid: u32, signal: &'static str, stopped: bool) -> Result<(), LaunchError> {
    let error = |detail: String| LaunchError::Signal {
        signal,
        pid,
        detail,
    };
    let output = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\"",
            "sh",
            signal,
            &pid.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| error(e.to_string()))?;
    if !output.status.success() {
        return Err(error(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    // Without procfs (not Linux) there is nothing to wait on.
    poll_until(SIGNAL_TIMEOUT, Duration::from_millis(1), || {
        if is_stopped(pid).is_some_and(|s| s != stopped) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })
    .map_err(|_| error(format!("process state unchanged after {SIGNAL_TIMEOUT:?}")))
}

/// Whether `/proc` shows the process stopped by a signal; `None` where it cannot be read.
fn is_stopped(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may contain spaces.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_continue_show_in_process_state() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        send(pid, "STOP", true).expect("stop");
        assert_eq!(is_stopped(pid), Some(true));
        send(pid, "CONT", false).expect("continue");
        assert_eq!(is_stopped(pid), Some(false));
        child.kill().expect("kill");
        child.wait().expect("reap");
    }

    #[test]
    fn signal_to_missing_process_is_an_error() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("reap");
        assert!(matches!(
            send(pid, "CONT", false),
            Err(LaunchError::Signal { signal: "CONT", .. })
        ));
    }
}
