//! Hash, list and set commands.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{int_arg, tri, wrong_arity};
use crate::fake::keyspace::{Value, typed};
use crate::fake::reply::Reply;
use crate::fake::state::Ctx;

/// Gets the value at `key` for writing, creating it with `make`; `WRONGTYPE` otherwise.
macro_rules! writable {
    ($cx:expr, $key:expr, $make:expr, $pattern:pat => $out:expr) => {
        match $cx.st.keyspace.value_mut($cx.s.db, $key, || Some($make)) {
            Some($pattern) => $out,
            _ => return Reply::wrong_type(),
        }
    };
}

/// Like `writable!`, but a missing key stays missing (for removals).
macro_rules! existing {
    ($cx:expr, $key:expr, $pattern:pat => $out:expr) => {
        match $cx.st.keyspace.value_mut($cx.s.db, $key, || None) {
            None => None,
            Some($pattern) => Some($out),
            Some(_) => return Reply::wrong_type(),
        }
    };
}

pub(super) fn hset(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return wrong_arity("hset");
    }
    let map = writable!(cx, &args[1], Value::Hash(BTreeMap::new()), Value::Hash(m) => m);
    let added = args[2..]
        .chunks_exact(2)
        .filter(|pair| map.insert(pair[0].clone(), pair[1].clone()).is_none())
        .count();
    Reply::count(added)
}

/// `HMSET`: the old form of `HSET`, answering `OK`.
pub(super) fn hmset(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return wrong_arity("hmset");
    }
    match hset(cx, args) {
        Reply::Int(_) => Reply::Ok,
        other => other,
    }
}

pub(super) fn hget(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let value =
        typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m.get(&args[2]).cloned());
    Reply::bulk_or_nil(value.flatten())
}

pub(super) fn hmget(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let map = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m);
    let values = args[2..]
        .iter()
        .map(|field| Reply::bulk_or_nil(map.and_then(|m| m.get(field).cloned())));
    Reply::Array(values.collect())
}

pub(super) fn hgetall(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let map = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m);
    let pairs = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (Reply::Bulk(k.clone()), Reply::Bulk(v.clone())));
    Reply::Map(pairs.collect())
}

pub(super) fn hdel(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let removed = existing!(cx, &args[1], Value::Hash(m) => args[2..].iter().filter(|f| m.remove(*f).is_some()).count());
    cx.st.keyspace.drop_if_empty(cx.s.db, &args[1]);
    Reply::count(removed.unwrap_or(0))
}

pub(super) fn hexists(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let found =
        typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m.contains_key(&args[2]));
    Reply::Int(i64::from(found.unwrap_or(false)))
}

pub(super) fn hlen(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let len = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m.len());
    Reply::count(len.unwrap_or(0))
}

pub(super) fn hincrby(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let by = tri!(int_arg(&args[3]));
    let current =
        typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Hash(m) => m.get(&args[2]).cloned());
    let current = match current.flatten() {
        None => 0,
        Some(raw) => {
            tri!(int_arg(&raw).map_err(|_| Reply::err("ERR hash value is not an integer")))
        }
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    let map = writable!(cx, &args[1], Value::Hash(BTreeMap::new()), Value::Hash(m) => m);
    map.insert(args[2].clone(), next.to_string().into_bytes());
    Reply::Int(next)
}

pub(super) fn lpush(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    push(cx, args, true)
}

pub(super) fn rpush(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    push(cx, args, false)
}

fn push(cx: &mut Ctx<'_>, args: &[Vec<u8>], front: bool) -> Reply {
    let list = writable!(cx, &args[1], Value::List(VecDeque::new()), Value::List(l) => l);
    for item in &args[2..] {
        if front {
            list.push_front(item.clone());
        } else {
            list.push_back(item.clone());
        }
    }
    Reply::count(list.len())
}

pub(super) fn lpop(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    pop(cx, args, true)
}

pub(super) fn rpop(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    pop(cx, args, false)
}

pub(super) fn blpop(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    blocking_pop(cx, args, true)
}

pub(super) fn brpop(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    blocking_pop(cx, args, false)
}

/// `BLPOP key [key …] timeout`: the first element of the first non-empty list, as
/// `[key, element]`; else the connection blocks (see [`Reply::Block`]) for `timeout`
/// seconds (0: forever) — inside a transaction, a nil array at once, as in Redis (`EXEC`
/// turns the block into one).
fn blocking_pop(cx: &mut Ctx<'_>, args: &[Vec<u8>], front: bool) -> Reply {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let seconds = match std::str::from_utf8(&timeout[0])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
    {
        Some(s) if s.is_finite() && s >= 0.0 => s,
        Some(_) => return Reply::err("ERR timeout is negative"),
        None => return Reply::err("ERR timeout is not a float or out of range"),
    };
    for key in keys {
        let popped =
            existing!(cx, key, Value::List(l) => if front { l.pop_front() } else { l.pop_back() });
        cx.st.keyspace.drop_if_empty(cx.s.db, key);
        if let Some(Some(element)) = popped {
            return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(element)]);
        }
    }
    let deadline = (seconds > 0.0)
        .then(|| {
            tokio::time::Instant::now()
                .checked_add(std::time::Duration::try_from_secs_f64(seconds).ok()?)
        })
        .flatten();
    Reply::Block(deadline)
}

/// `LPOP key [count]`: a bulk without count, an array with it.
fn pop(cx: &mut Ctx<'_>, args: &[Vec<u8>], front: bool) -> Reply {
    if args.len() > 3 {
        return wrong_arity(if front { "lpop" } else { "rpop" });
    }
    let count = match args.get(2) {
        None => None,
        Some(raw) => match usize::try_from(tri!(int_arg(raw))) {
            Ok(count) => Some(count),
            Err(_) => return Reply::err("ERR value is out of range, must be positive"),
        },
    };
    let popped = existing!(cx, &args[1], Value::List(l) => {
        let take = count.unwrap_or(1).min(l.len());
        (0..take).filter_map(|_| if front { l.pop_front() } else { l.pop_back() }).collect::<Vec<_>>()
    });
    cx.st.keyspace.drop_if_empty(cx.s.db, &args[1]);
    match (popped, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::NilArray,
        (Some(items), None) => Reply::bulk_or_nil(items.into_iter().next()),
        (Some(items), Some(_)) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
    }
}

pub(super) fn lrange(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let start = tri!(int_arg(&args[2]));
    let stop = tri!(int_arg(&args[3]));
    let list = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::List(l) => l);
    let Some(list) = list else {
        return Reply::Array(Vec::new());
    };
    let len = i64::try_from(list.len()).unwrap_or(i64::MAX);
    let start = if start < 0 {
        start.saturating_add(len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop.saturating_add(len)
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return Reply::Array(Vec::new());
    }
    // 0 <= start <= stop < len here, so both fit in usize.
    let items = list
        .range(start as usize..=stop as usize)
        .cloned()
        .map(Reply::Bulk);
    Reply::Array(items.collect())
}

pub(super) fn llen(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let len = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::List(l) => l.len());
    Reply::count(len.unwrap_or(0))
}

pub(super) fn sadd(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let set = writable!(cx, &args[1], Value::Set(BTreeSet::new()), Value::Set(s) => s);
    let added = args[2..]
        .iter()
        .filter(|member| set.insert((*member).clone()))
        .count();
    Reply::count(added)
}

pub(super) fn srem(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let removed =
        existing!(cx, &args[1], Value::Set(s) => args[2..].iter().filter(|m| s.remove(*m)).count());
    cx.st.keyspace.drop_if_empty(cx.s.db, &args[1]);
    Reply::count(removed.unwrap_or(0))
}

pub(super) fn smembers(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let set = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Set(s) => s);
    Reply::Set(
        set.into_iter()
            .flatten()
            .cloned()
            .map(Reply::Bulk)
            .collect(),
    )
}

pub(super) fn sismember(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let found =
        typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Set(s) => s.contains(&args[2]));
    Reply::Int(i64::from(found.unwrap_or(false)))
}

pub(super) fn scard(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let len = typed!(cx.st.keyspace.value(cx.s.db, &args[1]), Value::Set(s) => s.len());
    Reply::count(len.unwrap_or(0))
}
