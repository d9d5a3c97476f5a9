//! Closed-path cost: acquire + success on our breaker vs `failsafe`.
fn main() {}
