//! Free loopback ports that stay ours across kill and restart.
//!
//! Ports are drawn at random *below* the kernel's ephemeral range and checked by binding.
//! A port from `bind(127.0.0.1:0)` lies inside that range, so after `kill()` the kernel may
//! hand it to any outgoing connection or any other `bind(0)` (the fakes of parallel tests)
//! before `restart()` takes it back. Ports below the range are only ever taken explicitly.
//! Within this process a lease also keeps two launchers from drawing the same port.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, PoisonError};

use super::LaunchError;

const LOWEST: u16 = 10_000;
const ATTEMPTS: u32 = 256;

static LEASED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port handed out to one server of this process until the lease is dropped.
#[derive(Debug)]
pub(crate) struct PortLease {
    port: u16,
}

impl PortLease {
    /// Leases a port that is free right now on 127.0.0.1.
    pub(crate) fn acquire() -> Result<Self, LaunchError> {
        let high = ephemeral_low().max(LOWEST + 1_000);
        for _ in 0..ATTEMPTS {
            let port = fastrand::u16(LOWEST..high);
            if !lease(port) {
                continue;
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(Self { port });
            }
            release(port);
        }
        Err(LaunchError::NoFreePort { attempts: ATTEMPTS })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        release(self.port);
    }
}

fn lease(port: u16) -> bool {
    let mut leased = LEASED.lock().unwrap_or_else(PoisonError::into_inner);
    leased.get_or_insert_with(HashSet::new).insert(port)
}

fn release(port: u16) {
    let mut leased = LEASED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(set) = leased.as_mut() {
        set.remove(&port);
    }
}

/// The lower bound of Linux' ephemeral port range (32768 where it cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_ports_are_distinct_bindable_and_below_ephemeral_range() {
        let leases: Vec<_> = (0..20)
            .map(|_| PortLease::acquire().expect("port"))
            .collect();
        let ports: HashSet<_> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports.len(), leases.len());
        for port in ports {
            assert!(port >= LOWEST && port < ephemeral_low().max(LOWEST + 1_000));
        }
    }

    #[test]
    fn dropping_a_lease_releases_it() {
        let lease = PortLease::acquire().expect("port");
        let port = lease.port();
        assert!(!super::lease(port), "leased port must not be leased twice");
        drop(lease);
        assert!(super::lease(port), "released port can be leased again");
        release(port);
    }
}
