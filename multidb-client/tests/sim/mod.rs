//! The deterministic simulation: the real client over simulated members and network, on
//! paused tokio time, under seeded schedules of faults and operations.

pub(crate) mod panics;
pub(crate) mod schedule;
pub(crate) mod world;
