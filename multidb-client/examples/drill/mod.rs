//! The failover drill's modules, shared by the `drill` example and `tests/drill.rs`.

pub(crate) mod args;
pub(crate) mod cli;
pub(crate) mod load;
pub(crate) mod members;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod scenario;
pub(crate) mod svg;
