//! (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH.
//!
//! Confirmations are one frame per channel: pushes on RESP3, arrays on RESP2.

use std::collections::BTreeSet;

use crate::fake::pubsub::Kind;
use crate::fake::reply::Reply;
use crate::fake::state::{Ctx, Session};

pub(super) fn subscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Channel, true)
}

pub(super) fn psubscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Pattern, true)
}

pub(super) fn ssubscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Shard, true)
}

pub(super) fn unsubscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Channel, false)
}

pub(super) fn punsubscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Pattern, false)
}

pub(super) fn sunsubscribe(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    change(cx, &args[1..], Kind::Shard, false)
}

pub(super) fn publish(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    Reply::count(
        cx.st
            .pubsub
            .publish(&cx.st.clients, &args[1], &args[2], false),
    )
}

pub(super) fn spublish(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    Reply::count(
        cx.st
            .pubsub
            .publish(&cx.st.clients, &args[1], &args[2], true),
    )
}

fn names(s: &mut Session, kind: Kind) -> &mut BTreeSet<Vec<u8>> {
    match kind {
        Kind::Channel => &mut s.channels,
        Kind::Pattern => &mut s.patterns,
        Kind::Shard => &mut s.shard_channels,
    }
}

/// The count Redis reports: channels plus patterns, or shard channels alone.
fn count(s: &Session, kind: Kind) -> i64 {
    let n = match kind {
        Kind::Shard => s.shard_channels.len(),
        _ => s.channels.len() + s.patterns.len(),
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn change(cx: &mut Ctx<'_>, given: &[Vec<u8>], kind: Kind, add: bool) -> Reply {
    let verb = match (kind, add) {
        (Kind::Channel, true) => "subscribe",
        (Kind::Pattern, true) => "psubscribe",
        (Kind::Shard, true) => "ssubscribe",
        (Kind::Channel, false) => "unsubscribe",
        (Kind::Pattern, false) => "punsubscribe",
        (Kind::Shard, false) => "sunsubscribe",
    };
    // Unsubscribing with no names means from all of them.
    let targets: Vec<Vec<u8>> = if given.is_empty() {
        names(cx.s, kind).iter().cloned().collect()
    } else {
        given.to_vec()
    };
    let id = cx.s.id;
    let mut frames = Vec::new();
    for name in &targets {
        if add {
            names(cx.s, kind).insert(name.clone());
            cx.st.pubsub.add(kind, name, id);
        } else {
            names(cx.s, kind).remove(name);
            cx.st.pubsub.remove(kind, name, id);
        }
        frames.push(Reply::Push(vec![
            Reply::bulk(verb),
            Reply::Bulk(name.clone()),
            Reply::Int(count(cx.s, kind)),
        ]));
    }
    if frames.is_empty() {
        frames.push(Reply::Push(vec![
            Reply::bulk(verb),
            Reply::Nil,
            Reply::Int(count(cx.s, kind)),
        ]));
    }
    let subscriptions = cx.s.subscriptions();
    if let Some(client) = cx.st.clients.get_mut(&id) {
        client.subscriptions = subscriptions;
    }
    Reply::Multi(frames)
}
