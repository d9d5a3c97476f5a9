//! Launchers for real `redis-server` processes.
