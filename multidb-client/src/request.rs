//! One request as the command paths see it — a command or a pipeline — and what each
//! kind says about itself: how it is sent, when its reply rejects it unrun, and how
//! hazardous a replay would be.

use std::future::Future;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::category::{self, Blocking, CommandCategory};
use crate::replay;
use crate::scripts::ScriptCommand;

/// One request as the retry loop (and a pinned connection) sees it: a command or a pipeline.
pub(crate) trait Request: Sync {
    type Output: Send;
    /// Sends it on a URL member's multiplexed connection (the hot path: not boxed).
    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Self::Output>> + Send + 'a;
    /// Sends it on any connection.
    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Self::Output>;
    /// Whether the reply rejects the request before it ran (`LOADING`, `READONLY`…).
    fn rejected(&self, output: &Self::Output) -> bool;
    /// The code of an error reply in `output` (the first, for a pipeline), for metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn error_code(output: &Self::Output) -> Option<&str>;
    /// What replaying it after it may have run would do.
    fn category(&self) -> CommandCategory;
    /// Its name for a trace span (`GET`, `PIPELINE`): only asked when one is recorded.
    fn operation_name(&self) -> String;
}

/// A command the client does more for than send it.
pub(crate) enum Special<'a> {
    /// It blocks on the server: a connection of its own.
    Blocking(Blocking),
    /// `SCRIPT LOAD` or `EVALSHA`: the script cache.
    Script(ScriptCommand<'a>),
    /// `PUBLISH` or `SPUBLISH`: after the client's subscribers caught up with a switch.
    Publish,
}

/// Whether `cmd` is [`Special`]. One test of its first two letters for all other
/// commands (`SET`, `GET`… never leave it): it runs before every command.
#[inline]
pub(crate) fn special(cmd: &Cmd) -> Option<Special<'_>> {
    let head = match cmd.args_iter().next()? {
        redis::Arg::Simple([a, b, ..]) => [a.to_ascii_uppercase(), b.to_ascii_uppercase()],
        _ => return None,
    };
    // BL…/BR…/BZ… pops and moves, XR… reads, WA… waits, EV… scripts, SC… SCRIPT LOAD,
    // PU…/SP… (S)PUBLISH.
    if matches!(
        &head,
        b"BL" | b"BR" | b"BZ" | b"XR" | b"WA" | b"EV" | b"SC" | b"PU" | b"SP"
    ) {
        special_slow(cmd)
    } else {
        None
    }
}

#[cold]
fn special_slow(cmd: &Cmd) -> Option<Special<'_>> {
    if is_publish(cmd) {
        return Some(Special::Publish);
    }
    if let Some(blocking) = category::blocking(cmd) {
        return Some(Special::Blocking(blocking));
    }
    crate::scripts::script_command(cmd).map(Special::Script)
}

/// Whether `cmd` is `PUBLISH` or `SPUBLISH`.
pub(crate) fn is_publish(cmd: &Cmd) -> bool {
    matches!(
        cmd.args_iter().next(),
        Some(redis::Arg::Simple(name))
            if name.eq_ignore_ascii_case(b"PUBLISH") || name.eq_ignore_ascii_case(b"SPUBLISH")
    )
}

/// A command, as the retry loop sees it.
pub(crate) struct CmdRequest<'c>(pub(crate) &'c Cmd);

impl Request for CmdRequest<'_> {
    type Output = Value;

    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
        con.send_packed_command(self.0)
    }

    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Value> {
        con.req_packed_command(self.0)
    }

    #[inline]
    fn rejected(&self, output: &Value) -> bool {
        replay::value_rejects(output)
    }

    #[inline]
    fn error_code(output: &Value) -> Option<&str> {
        match output {
            Value::ServerError(e) => Some(e.code()),
            _ => None,
        }
    }

    fn category(&self) -> CommandCategory {
        category::command_category(self.0)
    }

    fn operation_name(&self) -> String {
        match self.0.args_iter().next() {
            Some(redis::Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
            _ => String::new(),
        }
    }
}

pub(crate) struct PipelineRequest<'p> {
    pub(crate) pipeline: &'p Pipeline,
    pub(crate) offset: usize,
    pub(crate) count: usize,
}

impl Request for PipelineRequest<'_> {
    type Output = Vec<Value>;

    fn send_multiplexed<'a>(
        &'a self,
        con: &'a mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send + 'a {
        con.send_packed_commands(self.pipeline, self.offset, self.count)
    }

    fn send<'a, C: ConnectionLike>(&'a self, con: &'a mut C) -> RedisFuture<'a, Vec<Value>> {
        con.req_packed_commands(self.pipeline, self.offset, self.count)
    }

    fn rejected(&self, output: &Vec<Value>) -> bool {
        // A transaction's EXEC answered as a whole; a plain pipeline is rejected if every
        // reply is (a partly served pipeline was served).
        !output.is_empty() && output.iter().all(replay::value_rejects)
    }

    fn error_code(output: &Vec<Value>) -> Option<&str> {
        output.iter().find_map(CmdRequest::error_code)
    }

    fn category(&self) -> CommandCategory {
        category::pipeline_category(self.pipeline)
    }

    fn operation_name(&self) -> String {
        "PIPELINE".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefilter_lets_every_blocking_and_script_command_through_and_no_common_one() {
        for name in [
            "BLPOP",
            "brpop",
            "BLMOVE",
            "BRPOPLPUSH",
            "BZPOPMIN",
            "BZPOPMAX",
            "BLMPOP",
            "BZMPOP",
            "WAIT",
            "WAITAOF",
        ] {
            let mut cmd = redis::cmd(name);
            cmd.arg("1").arg("0");
            assert!(
                matches!(special(&cmd), Some(Special::Blocking(_))),
                "{name}"
            );
        }
        for cmd in [
            redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(0)
                .arg("STREAMS")
                .arg("s")
                .arg("$")
                .clone(),
            redis::cmd("xreadgroup")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("BLOCK")
                .arg(1)
                .arg("STREAMS")
                .arg("s")
                .arg(">")
                .clone(),
        ] {
            assert!(
                matches!(special(&cmd), Some(Special::Blocking(_))),
                "{cmd:?}"
            );
        }
        for cmd in [
            redis::cmd("EVALSHA").arg("abc").arg(0).clone(),
            redis::cmd("evalsha_ro").arg("abc").arg(0).clone(),
            redis::cmd("SCRIPT").arg("LOAD").arg("return 1").clone(),
        ] {
            assert!(matches!(special(&cmd), Some(Special::Script(_))), "{cmd:?}");
        }
        for name in ["SET", "GET", "SADD", "BITCOUNT", "XADD", "EVAL", "S", ""] {
            assert!(special(&redis::cmd(name)).is_none(), "{name}");
        }
    }
}
