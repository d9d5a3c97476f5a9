//! Raw `EVALSHA` across a switch: the scripts the client saw loaded, loaded again where
//! they are missing.
//!
//! A script loaded with `SCRIPT LOAD` lives in one server's script cache; after a failover
//! the new active database may not have it, and `EVALSHA` answers `NOSCRIPT`. `NOSCRIPT`
//! proves the script did not run, so when the client saw the script loaded (through
//! `SCRIPT LOAD` on this client) it loads it on the database that answered and sends the
//! `EVALSHA` again. `redis::Script` does the same by itself; this serves applications that
//! send `EVALSHA` by hand. The memory is bounded: the oldest scripts are forgotten first.
//! `EVALSHA` inside a pipeline is not covered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use redis::{Cmd, RedisResult, Value};

/// At most this many scripts are remembered…
const MAX_SCRIPTS: usize = 1024;
/// …holding at most this many bytes of source in all.
const MAX_BYTES: usize = 8 << 20;

/// The scripts seen loaded, by SHA1 (lowercase hex).
#[derive(Default)]
pub(crate) struct ScriptCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_sha: HashMap<String, Arc<[u8]>>,
    order: VecDeque<String>,
    bytes: usize,
}

/// What a command is, for the cache.
pub(crate) enum ScriptCommand<'a> {
    /// `SCRIPT LOAD <source>`.
    Load(&'a [u8]),
    /// `EVALSHA`/`EVALSHA_RO <sha> …`.
    EvalSha(&'a [u8]),
}

/// Whether `cmd` is one the cache serves.
pub(crate) fn script_command(cmd: &Cmd) -> Option<ScriptCommand<'_>> {
    let mut args = cmd.args_iter().map(|a| match a {
        redis::Arg::Simple(bytes) => bytes,
        _ => &b""[..],
    });
    let name = args.next()?;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVALSHA_RO") {
        return args.next().map(ScriptCommand::EvalSha);
    }
    if name.eq_ignore_ascii_case(b"SCRIPT") && args.next()?.eq_ignore_ascii_case(b"LOAD") {
        return args.next().map(ScriptCommand::Load);
    }
    None
}

impl ScriptCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change is a few plain operations: a panic leaves it whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `source` under the SHA1 the server answered `SCRIPT LOAD` with.
    pub(crate) fn loaded(&self, source: &[u8], reply: &Value) {
        let sha = match reply {
            Value::BulkString(b) => String::from_utf8_lossy(b).to_ascii_lowercase(),
            Value::SimpleString(s) => s.to_ascii_lowercase(),
            _ => return,
        };
        if source.len() > MAX_BYTES {
            return;
        }
        let mut inner = self.lock();
        if inner.by_sha.contains_key(&sha) {
            return;
        }
        while inner.by_sha.len() >= MAX_SCRIPTS || inner.bytes + source.len() > MAX_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.by_sha.remove(&oldest) {
                inner.bytes -= gone.len();
            }
        }
        inner.bytes += source.len();
        inner.order.push_back(sha.clone());
        inner.by_sha.insert(sha, source.into());
    }

    /// The source of the script `sha`, if seen loaded.
    pub(crate) fn source(&self, sha: &[u8]) -> Option<Arc<[u8]>> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.lock().by_sha.get(&sha).cloned()
    }
}

/// Whether a result is the `NOSCRIPT` answer (the script did not run).
pub(crate) fn is_noscript(result: &RedisResult<Value>) -> bool {
    match result {
        Ok(Value::ServerError(e)) => e.code() == "NOSCRIPT",
        Ok(_) => false,
        Err(e) => e.code() == Some("NOSCRIPT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(i: usize) -> Value {
        Value::BulkString(format!("{i:040x}").into_bytes())
    }

    #[test]
    fn recognises_script_load_and_evalsha_only() {
        let load = redis::cmd("script").arg("load").arg("return 1").clone();
        assert!(matches!(
            script_command(&load),
            Some(ScriptCommand::Load(b"return 1"))
        ));
        let eval = redis::cmd("EVALSHA").arg("abc").arg(0).clone();
        assert!(matches!(
            script_command(&eval),
            Some(ScriptCommand::EvalSha(b"abc"))
        ));
        for other in [
            redis::cmd("SET").arg("k").arg("v").clone(),
            redis::cmd("SCRIPT").arg("FLUSH").clone(),
            redis::cmd("EVAL").arg("return 1").arg(0).clone(),
            redis::cmd("SCRIPT").clone(),
        ] {
            assert!(script_command(&other).is_none());
        }
    }

    #[test]
    fn remembers_by_sha_case_blind_and_forgets_the_oldest_past_its_bounds() {
        let cache = ScriptCache::default();
        cache.loaded(b"return 1", &Value::BulkString(b"ABC".to_vec()));
        assert_eq!(cache.source(b"abc").as_deref(), Some(&b"return 1"[..]));
        assert!(cache.source(b"abd").is_none());
        for i in 0..MAX_SCRIPTS + 5 {
            cache.loaded(format!("return {i}").as_bytes(), &sha(i));
        }
        let inner = cache.lock();
        assert_eq!(inner.by_sha.len(), MAX_SCRIPTS);
        assert!(!inner.by_sha.contains_key("abc"));
        assert!(!inner.by_sha.contains_key(&format!("{:040x}", 4)));
        assert!(
            inner
                .by_sha
                .contains_key(&format!("{:040x}", MAX_SCRIPTS + 4))
        );
        drop(inner);
        // A source larger than the whole budget is not kept, and evicts nothing.
        cache.loaded(&vec![b' '; MAX_BYTES + 1], &sha(9999));
        assert!(cache.source(format!("{:040x}", 9999).as_bytes()).is_none());
        assert_eq!(cache.lock().by_sha.len(), MAX_SCRIPTS);
    }
}
