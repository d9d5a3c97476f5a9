//! Fault-injection testkit for Redis clients (being built: see the issue tracker).

mod fake;
mod launcher;
mod proxy;

pub use fake::*;
pub use launcher::*;
pub use proxy::*;
