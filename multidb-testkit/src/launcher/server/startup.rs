//! Spawning a server process and waiting until it answers `PING`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::RedisServer;
use crate::launcher::LaunchError;
use crate::launcher::poll::poll_until;

/// How long a server may take to answer `PING` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between readiness polls of the external process.
const POLL: Duration = Duration::from_millis(10);
const LOG_TAIL_LINES: usize = 20;

impl RedisServer {
    /// Spawns the process and waits until it answers `PING`; kills it on failure.
    pub(super) fn spawn_ready(&self) -> Result<Child, LaunchError> {
        let (log_start, log, log_err) =
            crate::launcher::builder::open_log(&self.dir.path().join("redis.log"))?;
        let mut child = Command::new(&self.binary)
            .arg(self.dir.path().join("redis.conf"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => LaunchError::NotInstalled {
                    binary: self.binary.clone(),
                },
                _ => LaunchError::Spawn {
                    binary: self.binary.clone(),
                    source,
                },
            })?;
        let result = self.wait_ready(&mut child, log_start);
        if result.is_err() {
            // Best effort: the process may already be gone.
            let _ = child.kill();
            let _ = child.wait();
        }
        result.map(|()| child)
    }

    fn wait_ready(&self, child: &mut Child, log_start: u64) -> Result<(), LaunchError> {
        poll_until(READY_TIMEOUT, POLL, || {
            if let Ok(Some(status)) = child.try_wait() {
                let log_tail = self.log_tail(log_start);
                if log_tail.contains("Address already in use") {
                    return ControlFlow::Break(Err(LaunchError::PortInUse { port: self.port }));
                }
                return ControlFlow::Break(Err(LaunchError::Exited {
                    port: self.port,
                    status: status.to_string(),
                    log_tail,
                }));
            }
            if self.ping().is_ok() {
                ControlFlow::Break(Ok(()))
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_or_else(|waited| {
            Err(LaunchError::NotReady {
                port: self.port,
                waited,
                log_tail: self.log_tail(log_start),
            })
        })
    }

    /// The last lines the server logged since `offset`, without passwords.
    fn log_tail(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.dir.path().join("redis.log")) {
            let _ = file.seek(SeekFrom::Start(offset));
            let _ = file.take(1 << 20).read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        self.settings.credentials.redact(&tail)
    }
}
