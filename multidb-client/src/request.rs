//! One request as the command paths see it — a command or a pipeline — and what each
//! kind says about itself: how it is sent, when its reply is a busy rejection, and whether
//! it may be replayed.

use std::future::Future;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::replay;

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
    /// Whether the reply is a busy error that counts as a failure (never sent).
    fn busy(&self, output: &Self::Output, busy_errors_are_failures: bool) -> bool;
    /// Whether it may be replayed after it may have been applied.
    fn replayable(&self, non_idempotent: bool) -> bool;
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

    fn busy(&self, output: &Value, busy: bool) -> bool {
        replay::value_failure(output, busy).is_some()
    }

    fn replayable(&self, non_idempotent: bool) -> bool {
        non_idempotent || replay::is_idempotent(self.0)
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

    fn busy(&self, output: &Vec<Value>, busy: bool) -> bool {
        // A transaction's EXEC answered as a whole; a plain pipeline is busy if every reply
        // is (a partly served pipeline was served).
        !output.is_empty()
            && output
                .iter()
                .all(|v| replay::value_failure(v, busy).is_some())
    }

    fn replayable(&self, non_idempotent: bool) -> bool {
        // Never replay a transaction that may have been applied.
        !self.pipeline.is_transaction()
            && (non_idempotent || self.pipeline.cmd_iter().all(replay::is_idempotent))
    }
}
