//! The supply-chain gate: `cargo deny check` (advisories, bans, licenses, sources).
//!
//! CI cannot reach github.com, where the RustSec advisory database lives, but it has a
//! snapshot of it in `../shared/advisory-db`. cargo-deny will only read a database that is a
//! git repository named after the hash of its URL, so the snapshot (read-only, no `.git`) is
//! copied once to `$CARGO_HOME/advisory-dbs/offline-snapshot/` and committed there, and
//! cargo-deny runs `--offline` against it. `deny.toml` reaches that directory through
//! `MULTIDB_ADVISORY_DB_SUBDIR`; without the snapshot, cargo-deny fetches the database as
//! usual into its default directory.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::Hasher;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run_in};

/// The variable `deny.toml` appends to `$CARGO_HOME/advisory-dbs` in `db-path`.
const SUBDIR_VAR: &str = "MULTIDB_ADVISORY_DB_SUBDIR";
/// Where the snapshot's copy lives, below `$CARGO_HOME/advisory-dbs`.
const SNAPSHOT_SUBDIR: &str = "offline-snapshot";
/// cargo-deny's directory name for the default database URL (a hash of
/// `https://github.com/RustSec/advisory-db`); it reads no other name.
const DB_DIR: &str = "advisory-db-3157b0e258782691";
/// Records which snapshot the copy was made from, so unchanged snapshots are not re-copied.
const STAMP: &str = "snapshot.stamp";
const INSTALL_HINT: &str = "run .ci/run or cargo install --locked cargo-deny";

/// Runs `cargo deny check` from `root` (it reads `deny.toml` and `Cargo.toml` from the
/// current directory) over the workspace, offline against
/// `<root>/../shared/advisory-db` when that snapshot exists.
pub(crate) fn deny(root: &Path) -> Result<(), String> {
    ensure_installed()?;
    let snapshot = root
        .parent()
        .map(|parent| parent.join("shared/advisory-db"));
    let Some(snapshot) = snapshot.filter(|dir| dir.is_dir()) else {
        eprintln!("xtask: [deny] advisory db: default fetch (no ../shared/advisory-db)");
        // An empty suffix leaves `db-path` at cargo-deny's default.
        return run_in(root, "deny", &["deny", "check"], &[(SUBDIR_VAR, "")]).map_err(|e| {
            format!("{e}; without ../shared/advisory-db the advisory db is fetched from github.com")
        });
    };
    let copy = cargo_home()?
        .join("advisory-dbs")
        .join(SNAPSHOT_SUBDIR)
        .join(DB_DIR);
    let origin = prepare_snapshot(&snapshot, &copy)?;
    eprintln!("xtask: [deny] advisory db: offline snapshot, {origin}");
    // `--offline` also stops cargo-deny from downloading crates, and `cargo metadata` fails
    // on any crate of the graph (every platform) not yet in the registry cache.
    run_in(root, "deny/fetch", &["fetch", "--quiet"], &[])?;
    let subdir = format!("/{SNAPSHOT_SUBDIR}");
    run_in(
        root,
        "deny",
        &["deny", "--offline", "check"],
        &[(SUBDIR_VAR, subdir.as_str())],
    )
}

fn ensure_installed() -> Result<(), String> {
    let missing = || format!("cargo-deny is not installed: {INSTALL_HINT}");
    let output = Command::new(cargo())
        .args(["deny", "--version"])
        .output()
        .map_err(|_| missing())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(missing())
    }
}

fn cargo_home() -> Result<PathBuf, String> {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cargo"))
        .ok_or_else(|| "[deny] neither CARGO_HOME nor HOME is set".to_owned())
}

/// Makes `copy` a one-commit git repository holding the files of `snapshot`, unless it
/// already holds this very snapshot. Returns the snapshot's origin line for the log.
fn prepare_snapshot(snapshot: &Path, copy: &Path) -> Result<String, String> {
    let io_err =
        |what: &str, path: &Path, e: &io::Error| format!("[deny] {what} `{}`: {e}", path.display());
    let origin = fs::read_to_string(snapshot.join("SOURCE"))
        .ok()
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{} (no SOURCE file)", snapshot.display()));
    let stamp = format!("{:016x} {origin}\n", fingerprint(snapshot)?);
    let Some(parent) = copy.parent() else {
        return Err(format!("[deny] `{}` has no parent", copy.display()));
    };
    let stamp_path = parent.join(STAMP);
    let current = fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp);
    // Check `.git` itself: `git -C` would otherwise find any repository above `copy`.
    let committed = copy.join(".git").is_dir()
        && git(copy, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_ok();
    if current && committed {
        return Ok(origin);
    }

    // Build beside the final place and swap it in, so an interrupted run leaves no half copy
    // that a later run would take for current (the stamp is written last).
    let staging = parent.join(format!("{DB_DIR}.staging-{}", std::process::id()));
    remove_dir_if_exists(&staging).map_err(|e| io_err("cannot remove", &staging, &e))?;
    copy_tree(snapshot, &staging).map_err(|e| io_err("cannot copy snapshot to", &staging, &e))?;
    git(&staging, &["init", "--quiet"])?;
    git(&staging, &["add", "--all"])?;
    let message = format!("offline snapshot: {origin}");
    git(
        &staging,
        &["commit", "--quiet", "--no-verify", "-m", &message],
    )?;
    remove_dir_if_exists(copy).map_err(|e| io_err("cannot remove", copy, &e))?;
    fs::rename(&staging, copy).map_err(|e| io_err("cannot move snapshot to", copy, &e))?;
    fs::write(&stamp_path, stamp).map_err(|e| io_err("cannot write", &stamp_path, &e))?;
    Ok(origin)
}

/// A hash of every file's relative path and contents (about 9 MB, a few milliseconds).
/// `DefaultHasher` may change between Rust releases; that only costs one extra copy.
fn fingerprint(root: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    list_files(root, root, &mut files)
        .map_err(|e| format!("[deny] cannot read `{}`: {e}", root.display()))?;
    files.sort();
    let mut hasher = DefaultHasher::new();
    for relative in &files {
        let path = root.join(relative);
        let bytes =
            fs::read(&path).map_err(|e| format!("[deny] cannot read `{}`: {e}", path.display()))?;
        hasher.write(relative.to_string_lossy().as_bytes());
        hasher.write_u8(0);
        hasher.write_usize(bytes.len());
        hasher.write(&bytes);
    }
    Ok(hasher.finish())
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(root, &path, out)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_path_buf());
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn remove_dir_if_exists(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Runs git in `repo` with a fixed identity and no signing or hooks from the user's config,
/// capturing its output; the output is shown only on failure.
fn git(repo: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=xtask",
            "-c",
            "user.email=xtask@localhost",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("[deny] could not start git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "[deny] `git {}` in `{}` failed ({}): {}",
            args.join(" "),
            repo.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory unique to this process and test, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = env::temp_dir().join(format!("xtask-deny-{}-{name}", std::process::id()));
            remove_dir_if_exists(&dir).expect("stale scratch dir is removable");
            fs::create_dir_all(dir.join("snapshot/crates/foo")).expect("scratch dir is creatable");
            fs::write(
                dir.join("snapshot/SOURCE"),
                "advisory-db at abc (2026-08-21)\nmore\n",
            )
            .expect("scratch file is writable");
            fs::write(dir.join("snapshot/crates/foo/RUSTSEC-0000-0001.md"), "v1")
                .expect("scratch file is writable");
            Self(dir)
        }

        fn snapshot(&self) -> PathBuf {
            self.0.join("snapshot")
        }

        fn copy(&self) -> PathBuf {
            self.0.join("dbs").join(DB_DIR)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn head_files(repo: &Path) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["ls-tree", "-r", "--name-only", "HEAD"])
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "HEAD is readable in {}",
            repo.display()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn copy_is_a_git_repository_whose_head_holds_every_snapshot_file() {
        let scratch = Scratch::new("commit");
        let origin = prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared");
        assert_eq!(origin, "advisory-db at abc (2026-08-21)");
        assert!(scratch.copy().join(".git").is_dir());
        assert_eq!(
            head_files(&scratch.copy()),
            "SOURCE\ncrates/foo/RUSTSEC-0000-0001.md\n"
        );
    }

    #[test]
    fn unchanged_snapshot_is_not_copied_again() {
        let scratch = Scratch::new("unchanged");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared");
        let marker = scratch.copy().join("marker");
        fs::write(&marker, "").expect("marker is writable");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared again");
        assert!(
            marker.exists(),
            "the copy was rebuilt although nothing changed"
        );
    }

    #[test]
    fn changed_snapshot_replaces_the_copy() {
        let scratch = Scratch::new("changed");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared");
        let marker = scratch.copy().join("marker");
        fs::write(&marker, "").expect("marker is writable");
        let advisory = "crates/foo/RUSTSEC-0000-0001.md";
        fs::write(scratch.snapshot().join(advisory), "v2").expect("snapshot is writable");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared again");
        assert!(
            !marker.exists(),
            "the copy was kept although the snapshot changed"
        );
        let copied = fs::read_to_string(scratch.copy().join(advisory)).expect("copied");
        assert_eq!(copied, "v2");
    }

    #[test]
    fn copy_without_a_commit_is_rebuilt_even_when_the_stamp_matches() {
        let scratch = Scratch::new("uncommitted");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared");
        fs::remove_dir_all(scratch.copy().join(".git")).expect("removable");
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared again");
        assert!(head_files(&scratch.copy()).contains("SOURCE"));
    }

    #[test]
    fn snapshot_git_directory_is_neither_copied_nor_fingerprinted() {
        let scratch = Scratch::new("dotgit");
        let before = fingerprint(&scratch.snapshot()).expect("fingerprinted");
        fs::create_dir_all(scratch.snapshot().join(".git")).expect("creatable");
        fs::write(scratch.snapshot().join(".git/HEAD"), "ref").expect("writable");
        assert_eq!(
            fingerprint(&scratch.snapshot()).expect("fingerprinted"),
            before
        );
        prepare_snapshot(&scratch.snapshot(), &scratch.copy()).expect("prepared");
        assert!(!head_files(&scratch.copy()).contains(".git"));
    }
}
