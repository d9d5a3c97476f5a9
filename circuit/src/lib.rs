//! Placeholder: this crate is being built (see the issue tracker).
