//! MULTI/EXEC/DISCARD/WATCH/UNWATCH. `WATCH` is honoured: a write to a watched key by any
//! connection (or a flush) makes the next `EXEC` return a null array.

use super::dispatch;
use crate::fake::reply::Reply;
use crate::fake::state::Ctx;

pub(super) fn multi(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    if cx.s.multi.is_some() {
        return Reply::err("ERR MULTI calls can not be nested");
    }
    cx.s.multi = Some(Vec::new());
    cx.s.multi_failed = false;
    Reply::Ok
}

pub(super) fn exec(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    let Some(queued) = cx.s.multi.take() else {
        return Reply::err("ERR EXEC without MULTI");
    };
    let dirty = cx.st.keyspace.unwatch(cx.s.id);
    if std::mem::take(&mut cx.s.multi_failed) {
        return Reply::err("EXECABORT Transaction discarded because of previous errors.");
    }
    if dirty {
        return Reply::NilArray;
    }
    // The caller holds the state lock for this whole call, so the block runs atomically.
    // A blocking command inside a transaction does not block: nil, as in Redis.
    Reply::Array(
        queued
            .iter()
            .map(|args| match dispatch(cx, args) {
                Reply::Block(_) => Reply::NilArray,
                reply => reply,
            })
            .collect(),
    )
}

pub(super) fn discard(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    if cx.s.multi.take().is_none() {
        return Reply::err("ERR DISCARD without MULTI");
    }
    cx.s.multi_failed = false;
    cx.st.keyspace.unwatch(cx.s.id);
    Reply::Ok
}

pub(super) fn watch(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if cx.s.multi.is_some() {
        return Reply::err("ERR WATCH inside MULTI is not allowed");
    }
    for key in &args[1..] {
        cx.st.keyspace.watch(cx.s.id, cx.s.db, key);
    }
    Reply::Ok
}

pub(super) fn unwatch(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    cx.st.keyspace.unwatch(cx.s.id);
    Reply::Ok
}
