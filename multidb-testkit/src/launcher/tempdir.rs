//! A private temporary directory per server, removed on drop.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::LaunchError;

/// A directory under [`std::env::temp_dir`] with a name unique to this process and call,
/// readable only by its owner (it holds keys and passwords). Removed with its content on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn create() -> Result<Self, LaunchError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let mut last = None;
        for _ in 0..16 {
            let name = format!(
                "multidb-redis-{}-{}-{:08x}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                fastrand::u32(..)
            );
            let path = base.join(name);
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some((path, e)),
                Err(source) => return Err(LaunchError::Filesystem { path, source }),
            }
        }
        let (path, source) = last.unwrap_or_else(|| {
            (
                base,
                std::io::Error::other("no unique temporary directory name"),
            )
        });
        Err(LaunchError::Filesystem { path, source })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove redis temp dir");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_unique_and_removed_on_drop() {
        let a = TempDir::create().expect("create a");
        let b = TempDir::create().expect("create b");
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("file"), b"x").expect("write");
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
