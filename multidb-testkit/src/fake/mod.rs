//! In-process fake Redis servers.
