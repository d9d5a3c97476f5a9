//! String and generic key commands.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{int_arg, is, tri, wrong_arity};
use crate::fake::keyspace::{Value, typed};
use crate::fake::pubsub::glob_match;
use crate::fake::reply::Reply;
use crate::fake::state::Ctx;

pub(super) fn get(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let value = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Str(v) => v.clone());
    Reply::bulk_or_nil(value)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub(super) fn set(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
    let mut expires_at: Option<Instant> = None;
    let mut i = 3;
    while i < args.len() {
        let option = &args[i];
        if is(option, "NX") {
            nx = true;
        } else if is(option, "XX") {
            xx = true;
        } else if is(option, "GET") {
            get = true;
        } else if is(option, "KEEPTTL") {
            keep_ttl = true;
        } else if ["EX", "PX", "EXAT", "PXAT"].iter().any(|o| is(option, o)) && expires_at.is_none()
        {
            let Some(raw) = args.get(i + 1) else {
                return Reply::syntax();
            };
            let amount = tri!(int_arg(raw));
            let unit = String::from_utf8_lossy(option).to_ascii_uppercase();
            expires_at = Some(tri!(
                deadline(&unit, amount).ok_or_else(|| invalid_expire("set"))
            ));
            i += 1;
        } else {
            return Reply::syntax();
        }
        i += 1;
    }
    if (nx && xx) || (keep_ttl && expires_at.is_some()) {
        return Reply::syntax();
    }
    let db = cx.s.db;
    let key = &args[1];
    let (exists, old, old_expiry) = match cx.st.keyspace.get(db, key) {
        None => (false, None, None),
        Some(entry) => match &entry.value {
            Value::Str(v) => (true, Some(v.clone()), entry.expires_at),
            _ if get => return Reply::wrong_type(),
            _ => (true, None, entry.expires_at),
        },
    };
    if (nx && exists) || (xx && !exists) {
        return if get {
            Reply::bulk_or_nil(old)
        } else {
            Reply::Nil
        };
    }
    let expires_at = if keep_ttl { old_expiry } else { expires_at };
    cx.st
        .keyspace
        .set(db, key, Value::Str(args[2].clone()), expires_at);
    if get {
        Reply::bulk_or_nil(old)
    } else {
        Reply::Ok
    }
}

/// Turns `EX`/`PX`/`EXAT`/`PXAT` amounts into a tokio deadline; `None` if invalid.
fn deadline(unit: &str, amount: i64) -> Option<Instant> {
    let amount = u64::try_from(amount).ok().filter(|&a| a > 0)?;
    let now = Instant::now();
    match unit {
        "EX" => now.checked_add(Duration::from_secs(amount)),
        "PX" => now.checked_add(Duration::from_millis(amount)),
        "EXAT" | "PXAT" => {
            let at = if unit == "EXAT" {
                Duration::from_secs(amount)
            } else {
                Duration::from_millis(amount)
            };
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
            // A time in the past expires at once, as in Redis.
            Some(now.checked_add(at.saturating_sub(since_epoch))?)
        }
        _ => None,
    }
}

fn invalid_expire(command: &str) -> Reply {
    Reply::err(format!("ERR invalid expire time in '{command}' command"))
}

pub(super) fn setnx(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if cx.st.keyspace.get(cx.s.db, &args[1]).is_some() {
        return Reply::Int(0);
    }
    cx.st
        .keyspace
        .set(cx.s.db, &args[1], Value::Str(args[2].clone()), None);
    Reply::Int(1)
}

pub(super) fn getdel(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let value = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Str(v) => v.clone());
    if value.is_some() {
        cx.st.keyspace.remove(cx.s.db, &args[1]);
    }
    Reply::bulk_or_nil(value)
}

pub(super) fn append(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let value = cx
        .st
        .keyspace
        .value_mut(cx.s.db, &args[1], || Some(Value::Str(Vec::new())));
    match value {
        Some(Value::Str(v)) => {
            v.extend_from_slice(&args[2]);
            Reply::count(v.len())
        }
        _ => Reply::wrong_type(),
    }
}

pub(super) fn strlen(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let len = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Str(v) => v.len());
    Reply::count(len.unwrap_or(0))
}

pub(super) fn del(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let removed = args[1..]
        .iter()
        .filter(|key| cx.st.keyspace.remove(cx.s.db, key).is_some())
        .count();
    Reply::count(removed)
}

pub(super) fn exists(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let found = args[1..]
        .iter()
        .filter(|key| cx.st.keyspace.get(cx.s.db, key).is_some())
        .count();
    Reply::count(found)
}

pub(super) fn key_type(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let name = cx
        .st
        .keyspace
        .value(cx.s.db, &args[1])
        .map_or("none", Value::type_name);
    Reply::Simple(name)
}

pub(super) fn keys(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let db = cx.s.db;
    cx.st.keyspace.len(db);
    let mut found = cx
        .st
        .keyspace
        .keys(db)
        .filter(|key| glob_match(&args[1], key))
        .cloned()
        .collect::<Vec<_>>();
    found.sort();
    Reply::Array(found.into_iter().map(Reply::Bulk).collect())
}

pub(super) fn incr(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    add(cx, &args[1], 1)
}

pub(super) fn decr(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    add(cx, &args[1], -1)
}

pub(super) fn incrby(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let by = tri!(int_arg(&args[2]));
    add(cx, &args[1], by)
}

pub(super) fn decrby(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let by = tri!(int_arg(&args[2]));
    match by.checked_neg() {
        Some(by) => add(cx, &args[1], by),
        None => Reply::err("ERR decrement would overflow"),
    }
}

fn add(cx: &mut Ctx<'_>, key: &[u8], by: i64) -> Reply {
    let current = typed!(cx.st.keyspace.value(cx.s.db, key), Value::Str(v) => v.clone());
    let current = match current {
        None => 0,
        Some(raw) => tri!(int_arg(&raw)),
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    match cx
        .st
        .keyspace
        .value_mut(cx.s.db, key, || Some(Value::Str(Vec::new())))
    {
        Some(Value::Str(v)) => *v = next.to_string().into_bytes(),
        _ => return Reply::wrong_type(),
    }
    Reply::Int(next)
}

pub(super) fn mget(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let values = args[1..]
        .iter()
        .map(|key| match cx.st.keyspace.value(cx.s.db, key) {
            Some(Value::Str(v)) => Reply::Bulk(v.clone()),
            _ => Reply::Nil,
        });
    Reply::Array(values.collect())
}

pub(super) fn mset(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity("mset");
    }
    for pair in args[1..].chunks_exact(2) {
        cx.st
            .keyspace
            .set(cx.s.db, &pair[0], Value::Str(pair[1].clone()), None);
    }
    Reply::Ok
}

pub(super) fn expire(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    expire_in(cx, args, "expire", Duration::from_secs)
}

pub(super) fn pexpire(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    expire_in(cx, args, "pexpire", Duration::from_millis)
}

/// `EXPIRE key amount [NX|XX|GT|LT]`; a non-positive amount deletes the key, as in Redis.
fn expire_in(
    cx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    command: &str,
    unit: fn(u64) -> Duration,
) -> Reply {
    let amount = tri!(int_arg(&args[2]));
    let condition = match args.get(3) {
        None => None,
        Some(c) if args.len() == 4 && ["NX", "XX", "GT", "LT"].iter().any(|o| is(c, o)) => {
            Some(String::from_utf8_lossy(c).to_ascii_uppercase())
        }
        Some(_) => return Reply::syntax(),
    };
    let db = cx.s.db;
    let Some(entry) = cx.st.keyspace.get(db, &args[1]) else {
        return Reply::Int(0);
    };
    let current = entry.expires_at;
    let new_at = match u64::try_from(amount) {
        Ok(positive) if positive > 0 => match Instant::now().checked_add(unit(positive)) {
            Some(at) => Some(at),
            None => return invalid_expire(command),
        },
        _ => None,
    };
    // A missing TTL counts as infinite for GT/LT, as in Redis.
    let allowed = match condition.as_deref() {
        Some("NX") => current.is_none(),
        Some("XX") => current.is_some(),
        Some("GT") => matches!((current, new_at), (Some(c), Some(n)) if n > c),
        Some("LT") => match (current, new_at) {
            (None, _) | (_, None) => true,
            (Some(c), Some(n)) => n < c,
        },
        _ => true,
    };
    if !allowed {
        return Reply::Int(0);
    }
    match new_at {
        Some(at) => cx.st.keyspace.set_expiry(db, &args[1], Some(at)),
        None => cx.st.keyspace.remove(db, &args[1]).is_some(),
    };
    Reply::Int(1)
}

pub(super) fn persist(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let has_ttl = cx
        .st
        .keyspace
        .get(cx.s.db, &args[1])
        .is_some_and(|e| e.expires_at.is_some());
    if has_ttl {
        cx.st.keyspace.set_expiry(cx.s.db, &args[1], None);
    }
    Reply::Int(i64::from(has_ttl))
}

pub(super) fn ttl(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    time_to_live(cx, &args[1], |left| {
        i64::try_from(left.as_millis().saturating_add(500) / 1000).unwrap_or(i64::MAX)
    })
}

pub(super) fn pttl(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    time_to_live(cx, &args[1], |left| {
        i64::try_from(left.as_millis()).unwrap_or(i64::MAX)
    })
}

fn time_to_live(cx: &mut Ctx<'_>, key: &[u8], scale: fn(Duration) -> i64) -> Reply {
    match cx.st.keyspace.get(cx.s.db, key) {
        None => Reply::Int(-2),
        Some(entry) => match entry.expires_at {
            None => Reply::Int(-1),
            Some(at) => Reply::Int(scale(at.saturating_duration_since(Instant::now()))),
        },
    }
}
