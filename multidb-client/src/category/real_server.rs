//! The category table, command by command, against a real `redis-server`.
//!
//! [`SAMPLES`] holds an invocation (with the setup that creates the keys it needs) for every
//! entry of [`FIXED`] and [`SUBCOMMANDS`] and for the flag variants of the argument-aware
//! commands. The tests check that
//!
//! - every table entry has a sample, and the table gives each sample its category;
//! - replaying each sample does what its category says: setup, snapshot, run, snapshot, run
//!   again, snapshot; then compare the data after one run with the data after two, and the
//!   first reply with the second (Admin and Never samples: only that the server knows them);
//! - the server's own `COMMAND` flags agree: nothing it flags `write` is read-only, nothing it
//!   flags `blocking` is replayable (argument-aware commands excepted).
//!
//! Commands newer than the server are skipped when `COMMAND INFO` (or `COMMAND DOCS`, for a
//! flag) shows the server lacks them; an unmarked sample the server does not know fails.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use multidb_testkit::RedisServer;
use redis::{Cmd, Connection, RedisResult, Value};

use super::CommandCategory::{
    self, Accumulating, Admin, Checked, LastWins, Never, ReadOnly, ReplyDiffers,
};
use super::{FIXED, SUBCOMMANDS, by_arguments, classify, command_category};

/// A guard against a hung server, not a wait: every reply arrives in microseconds.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// In a sample's command, the reply of its last setup command (a `DUMP` payload, a sha).
const LAST: &str = "{last}";

/// Setup commands, run in order on a flushed server.
type Setup = &'static [&'static [&'static str]];

/// One invocation of a command and what the table should say about it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    cmd: &'static [&'static str],
    setup: Setup,
    /// The category the table must give `cmd`.
    category: CommandCategory,
    /// What replaying it on a quiet server shows, where the category is deliberately more
    /// careful (`SET … XX` answers `OK` again — unless someone deleted the key meanwhile).
    behaves: Option<CommandCategory>,
    /// The reply depends on time, chance or server state: only the data is compared.
    reply_varies: bool,
    /// Newer than redis-server 7.0: skipped when the server lacks it.
    needs: Option<Needs>,
}

#[derive(Clone, Copy, Debug)]
enum Needs {
    /// A command, or `container|subcommand`, as `COMMAND INFO` names it.
    Command(&'static str),
    /// An argument token of a command (`SET … IFEQ`), as `COMMAND DOCS` lists it.
    Token(&'static str, &'static str),
}

const fn s(category: CommandCategory, cmd: &'static [&'static str], setup: Setup) -> Sample {
    Sample {
        cmd,
        setup,
        category,
        behaves: None,
        reply_varies: false,
        needs: None,
    }
}

/// An Admin or Never sample: only checked to be known to the server, never run.
const fn known(category: CommandCategory, cmd: &'static [&'static str]) -> Sample {
    s(category, cmd, &[])
}

impl Sample {
    const fn behaves(self, category: CommandCategory) -> Sample {
        Sample {
            behaves: Some(category),
            ..self
        }
    }

    const fn varies(self) -> Sample {
        Sample {
            reply_varies: true,
            ..self
        }
    }

    const fn needs(self, command: &'static str) -> Sample {
        Sample {
            needs: Some(Needs::Command(command)),
            ..self
        }
    }

    const fn needs_token(self, command: &'static str, token: &'static str) -> Sample {
        Sample {
            needs: Some(Needs::Token(command, token)),
            ..self
        }
    }

    /// The behaviour the replay test expects.
    fn expected_behaviour(&self) -> CommandCategory {
        self.behaves.unwrap_or(self.category)
    }

    fn is_run(&self) -> bool {
        !matches!(self.category, Admin | Never)
    }

    fn name(&self) -> String {
        self.cmd.join(" ").escape_debug().to_string()
    }
}

const STRING: Setup = &[&["SET", "k", "v"]];
const STRING_TTL: Setup = &[&["SET", "k", "v", "EX", "100"]];
const STRINGS: Setup = &[&["SET", "k", "ohmytext"], &["SET", "k2", "mynewtext"]];
const BITS: Setup = &[&["SET", "b", "abc"], &["SET", "b2", "aBc"]];
const HLL: Setup = &[&["PFADD", "p", "a", "b", "c"], &["PFADD", "p2", "c", "d"]];
const LIST: Setup = &[&["RPUSH", "l", "a", "b", "c"]];
const LIST_DUPS: Setup = &[&["RPUSH", "l", "a", "b", "a", "c"]];
const SETS: Setup = &[
    &["SADD", "s", "a", "b", "c"],
    &["SADD", "s2", "b", "c", "d"],
];
const HASH: Setup = &[&["HSET", "h", "f", "v", "f2", "v2"]];
const HASH_TTL: Setup = &[
    &["HSET", "h", "f", "v", "f2", "v2"],
    &["HEXPIRE", "h", "100", "FIELDS", "1", "f"],
];
const ZSETS: Setup = &[
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "z2", "2", "b", "4", "d"],
];
const LEX: Setup = &[&["ZADD", "zl", "0", "a", "0", "b", "0", "c"]];
const STREAM: Setup = &[
    &["XADD", "x", "1-0", "f", "v"],
    &["XADD", "x", "2-0", "f", "w"],
    &["XGROUP", "CREATE", "x", "g", "0"],
];
/// Both entries delivered to consumer `c` of group `g`, unacknowledged.
const PENDING: Setup = &[
    &["XADD", "x", "1-0", "f", "v"],
    &["XADD", "x", "2-0", "f", "w"],
    &["XGROUP", "CREATE", "x", "g", "0"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"],
];
const GEO: Setup = &[&[
    "GEOADD",
    "g",
    "13.361389",
    "38.115556",
    "Palermo",
    "15.087269",
    "37.502669",
    "Catania",
]];
const LIB: &str = "#!lua name=lib\nredis.register_function{function_name='ro', \
    callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
const GET_SCRIPT: &str = "return redis.call('GET', KEYS[1])";
/// 2100-01-01: an absolute expiry in the future, in seconds and in milliseconds.
const FUTURE: &str = "4102444800";
const FUTURE_MS: &str = "4102444800000";

/// One sample per table entry and flag variant; see the module docs.
const SAMPLES: &[Sample] = &[
    // Strings.
    s(ReadOnly, &["GET", "k"], STRING),
    s(ReadOnly, &["MGET", "k", "k2"], STRING),
    s(ReadOnly, &["STRLEN", "k"], STRING),
    s(ReadOnly, &["GETRANGE", "k", "0", "1"], STRINGS),
    s(ReadOnly, &["SUBSTR", "k", "0", "1"], STRINGS),
    s(ReadOnly, &["LCS", "k", "k2"], STRINGS),
    s(ReadOnly, &["DIGEST", "k"], STRING).needs("digest"),
    s(LastWins, &["MSET", "k", "1", "k2", "2"], STRING),
    s(LastWins, &["SETEX", "k", "100", "v"], &[]),
    s(LastWins, &["PSETEX", "k", "100000", "v"], &[]),
    s(LastWins, &["SETRANGE", "k", "1", "XY"], STRINGS),
    s(Checked, &["SETNX", "k", "v"], &[]),
    s(Checked, &["MSETNX", "k", "1", "k2", "2"], &[]),
    s(ReplyDiffers, &["GETSET", "k", "new"], STRING),
    s(ReplyDiffers, &["GETDEL", "k"], STRING),
    s(Accumulating, &["INCR", "n"], &[]),
    s(Accumulating, &["INCRBY", "n", "2"], &[]),
    s(Accumulating, &["INCRBYFLOAT", "n", "1.5"], &[]),
    s(Accumulating, &["DECR", "n"], &[]),
    s(Accumulating, &["DECRBY", "n", "2"], &[]),
    s(Accumulating, &["APPEND", "k", "x"], STRING),
    // SET and its flags.
    s(LastWins, &["SET", "k", "new"], STRING),
    s(LastWins, &["SET", "k", "v", "EX", "100"], &[]),
    s(LastWins, &["SET", "k", "v", "PX", "100000"], &[]),
    s(LastWins, &["SET", "k", "v", "EXAT", FUTURE], &[]),
    s(LastWins, &["SET", "k", "new", "KEEPTTL"], STRING_TTL),
    s(Checked, &["SET", "k", "v", "NX"], &[]),
    // XX: the key still exists, so the replay sets it again and answers OK.
    s(Checked, &["SET", "k", "new", "XX"], STRING).behaves(LastWins),
    s(ReplyDiffers, &["SET", "k", "new", "GET"], STRING),
    // With GET the reply is a value: on replay, the one the first run wrote.
    s(ReplyDiffers, &["SET", "k", "v", "NX", "GET"], &[]),
    s(ReplyDiffers, &["SET", "k", "new", "XX", "GET"], STRING),
    s(Checked, &["SET", "k", "new", "IFEQ", "v"], STRING).needs_token("SET", "IFEQ"),
    // IFNE: the value still differs from the operand, so the replay sets it again.
    s(Checked, &["SET", "k", "new", "IFNE", "other"], STRING)
        .needs_token("SET", "IFNE")
        .behaves(LastWins),
    s(
        Checked,
        &["SET", "k", "new", "IFDEQ", LAST],
        &[&["SET", "k", "v"], &["DIGEST", "k"]],
    )
    .needs_token("SET", "IFDEQ"),
    s(
        Checked,
        &["SET", "k", "new", "IFDNE", "0000000000000000"],
        STRING,
    )
    .needs_token("SET", "IFDNE")
    .behaves(LastWins),
    // GETEX and the expiry commands.
    s(LastWins, &["GETEX", "k", "EX", "100"], STRING),
    s(LastWins, &["GETEX", "k", "PX", "100000"], STRING),
    s(LastWins, &["GETEX", "k", "PERSIST"], STRING_TTL),
    // Without options GETEX is a read.
    s(LastWins, &["GETEX", "k"], STRING).behaves(ReadOnly),
    // A future time is set again; a past one deletes the key, and the replay finds none.
    s(ReplyDiffers, &["GETEX", "k", "EXAT", FUTURE], STRING).behaves(LastWins),
    s(ReplyDiffers, &["GETEX", "k", "EXAT", "1"], STRING),
    s(ReplyDiffers, &["GETEX", "k", "PXAT", "1000"], STRING),
    s(LastWins, &["EXPIRE", "k", "100"], STRING),
    s(LastWins, &["PEXPIRE", "k", "100000"], STRING),
    s(ReplyDiffers, &["EXPIRE", "k", "0"], STRING),
    s(ReplyDiffers, &["EXPIRE", "k", "-1"], STRING),
    s(ReplyDiffers, &["PEXPIRE", "k", "0"], STRING),
    s(Checked, &["EXPIRE", "k", "100", "NX"], STRING),
    s(Checked, &["PEXPIRE", "k", "100000", "NX"], STRING),
    // XX: the key has an expiry after the first run too, so the replay sets it again.
    s(Checked, &["EXPIRE", "k", "200", "XX"], STRING_TTL).behaves(LastWins),
    // GT: a replay in a later millisecond sets an expiry greater again (1), one in the same
    // millisecond does not (0); the data is the same either way.
    s(Checked, &["EXPIRE", "k", "200", "GT"], STRING_TTL)
        .behaves(LastWins)
        .varies(),
    s(Checked, &["EXPIRE", "k", "50", "LT"], STRING_TTL),
    s(ReplyDiffers, &["EXPIREAT", "k", "1"], STRING),
    s(ReplyDiffers, &["PEXPIREAT", "k", "1000"], STRING),
    // A future absolute time: set again, same reply; the table cannot know the server's clock.
    s(ReplyDiffers, &["EXPIREAT", "k", FUTURE], STRING).behaves(LastWins),
    s(Checked, &["EXPIREAT", "k", FUTURE, "NX"], STRING),
    s(Checked, &["PEXPIREAT", "k", "1000", "NX"], STRING),
    // Bitmaps and HyperLogLog.
    s(ReadOnly, &["GETBIT", "b", "1"], BITS),
    s(ReadOnly, &["BITCOUNT", "b"], BITS),
    s(ReadOnly, &["BITPOS", "b", "1"], BITS),
    s(ReadOnly, &["BITFIELD_RO", "b", "GET", "u8", "0"], BITS),
    s(ReadOnly, &["BITFIELD", "b", "GET", "u8", "0"], BITS),
    s(
        ReplyDiffers,
        &["BITFIELD", "b", "SET", "u8", "0", "200"],
        BITS,
    ),
    s(
        Accumulating,
        &["BITFIELD", "b", "INCRBY", "u8", "0", "1"],
        BITS,
    ),
    s(LastWins, &["BITOP", "AND", "d", "b", "b2"], BITS),
    // The destination among the sources: NOT and XOR undo themselves on a replay.
    s(Accumulating, &["BITOP", "NOT", "b", "b"], BITS),
    s(Accumulating, &["BITOP", "XOR", "b", "b", "b2"], BITS),
    s(ReplyDiffers, &["SETBIT", "b", "7", "1"], &[]),
    s(ReadOnly, &["PFCOUNT", "p"], HLL),
    s(ReadOnly, &["PFCOUNT", "p", "p2"], HLL),
    s(ReplyDiffers, &["PFADD", "p", "x"], HLL),
    s(LastWins, &["PFMERGE", "d", "p", "p2"], HLL),
    s(LastWins, &["PFMERGE", "p", "p", "p2"], HLL),
    // Keys.
    s(ReadOnly, &["EXISTS", "k"], STRING),
    s(ReadOnly, &["TYPE", "k"], STRING),
    s(ReadOnly, &["TTL", "k"], STRING_TTL),
    // PTTL counts down between the runs.
    s(ReadOnly, &["PTTL", "k"], STRING_TTL).varies(),
    s(
        ReadOnly,
        &["EXPIRETIME", "k"],
        &[&["SET", "k", "v", "EXAT", FUTURE]],
    ),
    s(
        ReadOnly,
        &["PEXPIRETIME", "k"],
        &[&["SET", "k", "v", "EXAT", FUTURE]],
    ),
    s(ReadOnly, &["DUMP", "k"], STRING),
    s(ReadOnly, &["TOUCH", "k"], STRING),
    s(ReadOnly, &["KEYS", "*"], SETS),
    // A small database: one SCAN call returns every key and cursor 0.
    s(ReadOnly, &["SCAN", "0"], SETS),
    // A single key: RANDOMKEY has no choice.
    s(ReadOnly, &["RANDOMKEY"], STRING),
    s(ReadOnly, &["DBSIZE"], SETS),
    s(ReadOnly, &["OBJECT", "ENCODING", "k"], STRING),
    s(ReplyDiffers, &["DEL", "k"], STRING),
    s(ReplyDiffers, &["UNLINK", "k"], STRING),
    s(ReplyDiffers, &["PERSIST", "k"], STRING_TTL),
    s(ReplyDiffers, &["RENAME", "k", "k2"], STRING),
    s(Checked, &["RENAMENX", "k", "k2"], STRING),
    s(Checked, &["MOVE", "k", "1"], STRING),
    s(Checked, &["COPY", "k", "k2"], STRING),
    s(LastWins, &["COPY", "k", "k2", "REPLACE"], STRING),
    s(
        Checked,
        &["RESTORE", "k2", "0", LAST],
        &[&["SET", "k", "v"], &["DUMP", "k"]],
    ),
    s(
        LastWins,
        &["RESTORE", "k2", "0", LAST, "REPLACE"],
        &[&["SET", "k", "v"], &["DUMP", "k"]],
    ),
    // Hashes.
    s(ReadOnly, &["HGET", "h", "f"], HASH),
    s(ReadOnly, &["HMGET", "h", "f", "f2"], HASH),
    s(ReadOnly, &["HGETALL", "h"], HASH),
    s(ReadOnly, &["HKEYS", "h"], HASH),
    s(ReadOnly, &["HVALS", "h"], HASH),
    s(ReadOnly, &["HLEN", "h"], HASH),
    s(ReadOnly, &["HEXISTS", "h", "f"], HASH),
    s(ReadOnly, &["HSTRLEN", "h", "f"], HASH),
    // A single field: HRANDFIELD has no choice.
    s(ReadOnly, &["HRANDFIELD", "h"], &[&["HSET", "h", "f", "v"]]),
    s(ReadOnly, &["HSCAN", "h", "0"], HASH),
    s(ReadOnly, &["HTTL", "h", "FIELDS", "1", "f"], HASH_TTL).needs("httl"),
    s(ReadOnly, &["HPTTL", "h", "FIELDS", "1", "f"], HASH_TTL)
        .needs("hpttl")
        .varies(),
    s(
        ReadOnly,
        &["HEXPIRETIME", "h", "FIELDS", "1", "f"],
        HASH_TTL,
    )
    .needs("hexpiretime"),
    s(
        ReadOnly,
        &["HPEXPIRETIME", "h", "FIELDS", "1", "f"],
        HASH_TTL,
    )
    .needs("hpexpiretime"),
    s(LastWins, &["HMSET", "h", "f", "new"], HASH),
    s(Checked, &["HSETNX", "h", "n", "v"], HASH),
    s(ReplyDiffers, &["HSET", "h", "n", "v"], HASH),
    s(ReplyDiffers, &["HDEL", "h", "f"], HASH),
    s(
        ReplyDiffers,
        &["HPERSIST", "h", "FIELDS", "1", "f"],
        HASH_TTL,
    )
    .needs("hpersist"),
    s(ReplyDiffers, &["HGETDEL", "h", "FIELDS", "1", "f"], HASH).needs("hgetdel"),
    s(Accumulating, &["HINCRBY", "h", "n", "1"], HASH),
    s(Accumulating, &["HINCRBYFLOAT", "h", "n", "1.5"], HASH),
    // HEXPIRE key time [NX|XX|GT|LT] FIELDS n field…: a future time is set again (the
    // reply says 1 again); a past one deletes the field.
    s(
        ReplyDiffers,
        &["HEXPIRE", "h", "100", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hexpire")
    .behaves(LastWins),
    s(
        ReplyDiffers,
        &["HPEXPIRE", "h", "100000", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hpexpire")
    .behaves(LastWins),
    s(
        ReplyDiffers,
        &["HEXPIREAT", "h", "1", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hexpireat"),
    s(
        ReplyDiffers,
        &["HPEXPIREAT", "h", "1000", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hpexpireat"),
    s(
        Checked,
        &["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hexpire"),
    s(
        Checked,
        &["HPEXPIREAT", "h", FUTURE_MS, "NX", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hpexpireat"),
    s(LastWins, &["HSETEX", "h", "FIELDS", "1", "f", "new"], HASH).needs("hsetex"),
    s(
        LastWins,
        &["HSETEX", "h", "EX", "100", "FIELDS", "1", "f", "new"],
        HASH,
    )
    .needs("hsetex"),
    s(
        Checked,
        &["HSETEX", "h", "FNX", "FIELDS", "1", "n", "v"],
        HASH,
    )
    .needs("hsetex"),
    // FXX: the field still exists, so the replay sets it again.
    s(
        Checked,
        &["HSETEX", "h", "FXX", "FIELDS", "1", "f", "new"],
        HASH,
    )
    .needs("hsetex")
    .behaves(LastWins),
    s(
        ReplyDiffers,
        &["HGETEX", "h", "EX", "100", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hgetex")
    .behaves(LastWins),
    s(
        ReplyDiffers,
        &["HGETEX", "h", "EXAT", "1", "FIELDS", "1", "f"],
        HASH,
    )
    .needs("hgetex"),
    // Strings again: the commands of Redis 8.
    s(
        LastWins,
        &["MSETEX", "2", "k", "1", "k2", "2", "EX", "100"],
        &[],
    )
    .needs("msetex"),
    s(Checked, &["MSETEX", "1", "k", "1", "NX"], &[]).needs("msetex"),
    s(Checked, &["DELEX", "k", "IFEQ", "v"], STRING).needs("delex"),
    // Lists.
    s(ReadOnly, &["LRANGE", "l", "0", "-1"], LIST),
    s(ReadOnly, &["LLEN", "l"], LIST),
    s(ReadOnly, &["LINDEX", "l", "0"], LIST),
    s(ReadOnly, &["LPOS", "l", "b"], LIST),
    s(LastWins, &["LSET", "l", "0", "x"], LIST),
    s(LastWins, &["LTRIM", "l", "0", "1"], LIST),
    s(LastWins, &["LTRIM", "l", "-2", "-1"], LIST),
    // A range that does not start at the head (or end at the tail) trims again on a replay.
    s(Accumulating, &["LTRIM", "l", "1", "-1"], LIST),
    s(Accumulating, &["LTRIM", "l", "0", "-2"], LIST),
    s(Accumulating, &["LPUSH", "l", "x"], LIST),
    s(Accumulating, &["RPUSH", "l", "x"], LIST),
    s(Accumulating, &["LPUSHX", "l", "x"], LIST),
    s(Accumulating, &["RPUSHX", "l", "x"], LIST),
    s(Accumulating, &["LINSERT", "l", "BEFORE", "b", "x"], LIST),
    s(Accumulating, &["LPOP", "l"], LIST),
    s(Accumulating, &["RPOP", "l"], LIST),
    s(Accumulating, &["LMPOP", "1", "l", "LEFT"], LIST),
    s(Accumulating, &["LMOVE", "l", "l2", "LEFT", "RIGHT"], LIST),
    s(Accumulating, &["RPOPLPUSH", "l", "l2"], LIST),
    s(ReplyDiffers, &["LREM", "l", "0", "a"], LIST_DUPS),
    s(Accumulating, &["LREM", "l", "1", "a"], LIST_DUPS),
    s(Accumulating, &["LREM", "l", "-1", "a"], LIST_DUPS),
    s(ReadOnly, &["SORT", "l", "ALPHA"], LIST),
    s(ReadOnly, &["SORT_RO", "l", "ALPHA"], LIST),
    s(LastWins, &["SORT", "l", "ALPHA", "STORE", "d"], LIST),
    // Storing into its own key: sorting a sorted list again changes nothing, but with GET
    // patterns or LIMIT a replay works on its own result; the table does not tell them apart.
    s(
        Accumulating,
        &["SORT", "l", "ALPHA", "STORE", "l"],
        &[&["RPUSH", "l", "c", "a", "b"]],
    )
    .behaves(LastWins),
    // Storing a window of itself: the replay takes the window of the window.
    s(
        Accumulating,
        &["SORT", "l", "ALPHA", "LIMIT", "1", "10", "STORE", "l"],
        LIST,
    ),
    // Sets.
    s(ReadOnly, &["SMEMBERS", "s"], SETS),
    s(ReadOnly, &["SISMEMBER", "s", "a"], SETS),
    s(ReadOnly, &["SMISMEMBER", "s", "a", "x"], SETS),
    s(ReadOnly, &["SCARD", "s"], SETS),
    s(ReadOnly, &["SINTER", "s", "s2"], SETS),
    s(ReadOnly, &["SINTERCARD", "2", "s", "s2"], SETS),
    s(ReadOnly, &["SUNION", "s", "s2"], SETS),
    s(ReadOnly, &["SDIFF", "s", "s2"], SETS),
    // A single member: SRANDMEMBER has no choice.
    s(ReadOnly, &["SRANDMEMBER", "s"], &[&["SADD", "s", "a"]]),
    s(ReadOnly, &["SSCAN", "s", "0"], SETS),
    s(LastWins, &["SINTERSTORE", "d", "s", "s2"], SETS),
    s(LastWins, &["SUNIONSTORE", "d", "s", "s2"], SETS),
    s(LastWins, &["SDIFFSTORE", "d", "s", "s2"], SETS),
    s(LastWins, &["SUNIONSTORE", "s", "s", "s2"], SETS),
    s(LastWins, &["SDIFFSTORE", "s", "s", "s2"], SETS),
    s(ReplyDiffers, &["SADD", "s", "x"], SETS),
    s(ReplyDiffers, &["SREM", "s", "a"], SETS),
    s(ReplyDiffers, &["SMOVE", "s", "s2", "a"], SETS),
    // Random members, but two pops always leave a smaller set than one.
    s(Accumulating, &["SPOP", "s"], SETS),
    // Sorted sets.
    s(ReadOnly, &["ZRANGE", "z", "0", "-1", "WITHSCORES"], ZSETS),
    s(ReadOnly, &["ZRANGEBYSCORE", "z", "1", "2"], ZSETS),
    s(ReadOnly, &["ZRANGEBYLEX", "zl", "-", "+"], LEX),
    s(ReadOnly, &["ZREVRANGE", "z", "0", "-1"], ZSETS),
    s(ReadOnly, &["ZREVRANGEBYSCORE", "z", "3", "1"], ZSETS),
    s(ReadOnly, &["ZREVRANGEBYLEX", "zl", "+", "-"], LEX),
    s(ReadOnly, &["ZSCORE", "z", "a"], ZSETS),
    s(ReadOnly, &["ZMSCORE", "z", "a", "x"], ZSETS),
    s(ReadOnly, &["ZCARD", "z"], ZSETS),
    s(ReadOnly, &["ZCOUNT", "z", "1", "2"], ZSETS),
    s(ReadOnly, &["ZLEXCOUNT", "zl", "-", "+"], LEX),
    s(ReadOnly, &["ZRANK", "z", "b"], ZSETS),
    s(ReadOnly, &["ZREVRANK", "z", "b"], ZSETS),
    // A single member: ZRANDMEMBER has no choice.
    s(ReadOnly, &["ZRANDMEMBER", "z"], &[&["ZADD", "z", "1", "a"]]),
    s(ReadOnly, &["ZSCAN", "z", "0"], ZSETS),
    s(ReadOnly, &["ZDIFF", "2", "z", "z2"], ZSETS),
    s(ReadOnly, &["ZINTER", "2", "z", "z2", "WITHSCORES"], ZSETS),
    s(ReadOnly, &["ZINTERCARD", "2", "z", "z2"], ZSETS),
    s(ReadOnly, &["ZUNION", "2", "z", "z2", "WITHSCORES"], ZSETS),
    s(LastWins, &["ZRANGESTORE", "d", "z", "0", "1"], ZSETS),
    s(LastWins, &["ZDIFFSTORE", "d", "2", "z", "z2"], ZSETS),
    s(LastWins, &["ZINTERSTORE", "d", "2", "z", "z2"], ZSETS),
    s(LastWins, &["ZUNIONSTORE", "d", "2", "z", "z2"], ZSETS),
    s(LastWins, &["ZDIFFSTORE", "z", "2", "z", "z2"], ZSETS),
    // The destination among the sources: the replay adds the scores (or windows) again.
    s(Accumulating, &["ZUNIONSTORE", "z", "2", "z", "z2"], ZSETS),
    s(Accumulating, &["ZINTERSTORE", "z", "2", "z", "z2"], ZSETS),
    s(Accumulating, &["ZRANGESTORE", "z", "z", "1", "-1"], ZSETS),
    s(ReplyDiffers, &["ZREM", "z", "a"], ZSETS),
    s(ReplyDiffers, &["ZREMRANGEBYLEX", "zl", "-", "[a"], LEX),
    s(Accumulating, &["ZREMRANGEBYRANK", "z", "0", "0"], ZSETS),
    s(ReplyDiffers, &["ZREMRANGEBYSCORE", "z", "1", "1"], ZSETS),
    s(Accumulating, &["ZINCRBY", "z", "1", "a"], ZSETS),
    s(Accumulating, &["ZPOPMIN", "z"], ZSETS),
    s(Accumulating, &["ZPOPMAX", "z"], ZSETS),
    s(Accumulating, &["ZMPOP", "1", "z", "MIN"], ZSETS),
    // ZADD and its flags.
    s(ReplyDiffers, &["ZADD", "z", "1", "m"], ZSETS),
    s(ReplyDiffers, &["ZADD", "z", "CH", "5", "a"], ZSETS),
    s(Checked, &["ZADD", "z", "NX", "1", "m"], ZSETS),
    s(Checked, &["ZADD", "z", "XX", "CH", "5", "a"], ZSETS),
    s(Checked, &["ZADD", "z", "GT", "CH", "5", "a"], ZSETS),
    s(Checked, &["ZADD", "z", "LT", "CH", "0", "a"], ZSETS),
    s(Checked, &["ZADD", "z", "NX", "INCR", "1", "m"], ZSETS),
    // Without CH the reply counts new members only: 0 both times.
    s(Checked, &["ZADD", "z", "XX", "5", "a"], ZSETS).behaves(LastWins),
    s(Checked, &["ZADD", "z", "GT", "5", "a"], ZSETS).behaves(LastWins),
    s(Accumulating, &["ZADD", "z", "INCR", "1", "a"], ZSETS),
    s(Accumulating, &["ZADD", "z", "XX", "INCR", "1", "a"], ZSETS),
    // Streams.
    s(ReadOnly, &["XRANGE", "x", "-", "+"], STREAM),
    s(ReadOnly, &["XREVRANGE", "x", "+", "-"], STREAM),
    s(ReadOnly, &["XLEN", "x"], STREAM),
    s(ReadOnly, &["XPENDING", "x", "g"], PENDING),
    s(ReadOnly, &["XINFO", "STREAM", "x"], PENDING),
    s(ReadOnly, &["XINFO", "GROUPS", "x"], PENDING),
    s(ReadOnly, &["XREAD", "STREAMS", "x", "0"], STREAM),
    s(
        ReadOnly,
        &["XREAD", "COUNT", "1", "STREAMS", "x", "0"],
        STREAM,
    ),
    s(
        Never,
        &["XREAD", "BLOCK", "10", "STREAMS", "x", "$"],
        STREAM,
    ),
    s(
        Accumulating,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "x",
            ">",
        ],
        STREAM,
    ),
    s(
        Accumulating,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "NOACK",
            "COUNT",
            "1",
            "STREAMS",
            "x",
            ">",
        ],
        STREAM,
    ),
    // Reading the pending history counts another delivery.
    s(
        Accumulating,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", "0"],
        PENDING,
    ),
    s(
        Never,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "10",
            "STREAMS",
            "x",
            ">",
        ],
        STREAM,
    ),
    s(LastWins, &["XSETID", "x", "5-0"], STREAM),
    s(ReplyDiffers, &["XDEL", "x", "1-0"], STREAM),
    s(ReplyDiffers, &["XACK", "x", "g", "1-0"], PENDING),
    s(ReplyDiffers, &["XTRIM", "x", "MAXLEN", "1"], STREAM),
    s(Accumulating, &["XADD", "x", "*", "f", "v"], STREAM),
    // An explicit id: the replay is refused (the id is not greater than the last).
    s(Accumulating, &["XADD", "x", "5-0", "f", "v"], STREAM).behaves(Checked),
    // Every claim counts another delivery.
    s(
        Accumulating,
        &["XCLAIM", "x", "g", "c2", "0", "1-0"],
        PENDING,
    ),
    s(
        Accumulating,
        &["XAUTOCLAIM", "x", "g", "c2", "0", "0-0"],
        PENDING,
    ),
    s(Checked, &["XGROUP", "CREATE", "x", "g2", "0"], STREAM),
    s(LastWins, &["XGROUP", "SETID", "x", "g", "$"], STREAM),
    s(ReplyDiffers, &["XGROUP", "DESTROY", "x", "g"], STREAM),
    s(
        ReplyDiffers,
        &["XGROUP", "CREATECONSUMER", "x", "g", "c2"],
        STREAM,
    ),
    s(
        ReplyDiffers,
        &["XGROUP", "DELCONSUMER", "x", "g", "c"],
        PENDING,
    ),
    // Geo.
    s(ReadOnly, &["GEOPOS", "g", "Palermo"], GEO),
    s(ReadOnly, &["GEODIST", "g", "Palermo", "Catania"], GEO),
    s(ReadOnly, &["GEOHASH", "g", "Palermo"], GEO),
    s(
        ReadOnly,
        &[
            "GEOSEARCH",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
            "ASC",
        ],
        GEO,
    ),
    s(
        ReadOnly,
        &["GEORADIUS_RO", "g", "15", "37", "200", "km", "ASC"],
        GEO,
    ),
    s(
        ReadOnly,
        &["GEORADIUSBYMEMBER_RO", "g", "Palermo", "200", "km", "ASC"],
        GEO,
    ),
    s(
        ReadOnly,
        &["GEORADIUS", "g", "15", "37", "200", "km", "ASC"],
        GEO,
    ),
    s(
        ReadOnly,
        &["GEORADIUSBYMEMBER", "g", "Palermo", "200", "km", "ASC"],
        GEO,
    ),
    s(
        LastWins,
        &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d"],
        GEO,
    ),
    s(
        LastWins,
        &["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d"],
        GEO,
    ),
    s(
        LastWins,
        &[
            "GEORADIUSBYMEMBER",
            "g",
            "Palermo",
            "200",
            "km",
            "STORE",
            "d",
        ],
        GEO,
    ),
    s(
        LastWins,
        &[
            "GEOSEARCHSTORE",
            "d",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
        ],
        GEO,
    ),
    s(ReplyDiffers, &["GEOADD", "g", "12.5", "41.9", "Rome"], GEO),
    s(
        ReplyDiffers,
        &["GEOADD", "g", "CH", "13.4", "38.1", "Palermo"],
        GEO,
    ),
    s(Checked, &["GEOADD", "g", "NX", "12.5", "41.9", "Rome"], GEO),
    s(
        Checked,
        &["GEOADD", "g", "XX", "CH", "13.4", "38.1", "Palermo"],
        GEO,
    ),
    // Without CH the reply counts new members only: 0 both times.
    s(
        Checked,
        &["GEOADD", "g", "XX", "13.4", "38.1", "Palermo"],
        GEO,
    )
    .behaves(LastWins),
    // Scripts that cannot write, and server information.
    // EVAL caches the script, which is no data: cached beforehand.
    s(
        ReadOnly,
        &["EVAL_RO", GET_SCRIPT, "1", "k"],
        &[&["SET", "k", "v"], &["SCRIPT", "LOAD", GET_SCRIPT]],
    ),
    s(
        ReadOnly,
        &["EVALSHA_RO", LAST, "1", "k"],
        &[&["SET", "k", "v"], &["SCRIPT", "LOAD", GET_SCRIPT]],
    ),
    s(
        ReadOnly,
        &["FCALL_RO", "ro", "1", "k"],
        &[&["SET", "k", "v"], &["FUNCTION", "LOAD", LIB]],
    ),
    s(ReadOnly, &["PING"], &[]),
    s(ReadOnly, &["ECHO", "hi"], &[]),
    s(ReadOnly, &["TIME"], &[]).varies(),
    s(ReadOnly, &["INFO", "server"], &[]).varies(),
    s(ReadOnly, &["LOLWUT"], &[]).varies(),
    s(ReadOnly, &["LASTSAVE"], &[]).varies(),
    s(ReadOnly, &["ROLE"], &[]).varies(),
    s(ReadOnly, &["COMMAND", "COUNT"], &[]),
    s(ReadOnly, &["PUBSUB", "CHANNELS"], &[]),
    s(ReadOnly, &["PUBSUB", "NUMSUB", "ch"], &[]),
    // Pub/Sub delivery: a subscriber receives the message twice.
    s(Accumulating, &["PUBLISH", "ch", "m"], &[]),
    s(Accumulating, &["SPUBLISH", "sch", "m"], &[]),
    // Subcommands.
    s(ReadOnly, &["CONFIG", "GET", "maxmemory"], &[]),
    known(Admin, &["CONFIG", "SET", "maxmemory", "0"]),
    known(Admin, &["CONFIG", "RESETSTAT"]),
    s(
        ReadOnly,
        &["SCRIPT", "EXISTS", LAST],
        &[&["SCRIPT", "LOAD", "return 1"]],
    ),
    s(LastWins, &["SCRIPT", "LOAD", "return 1"], &[]),
    known(Never, &["SCRIPT", "DEBUG", "NO"]),
    known(Admin, &["SCRIPT", "FLUSH"]),
    s(
        ReadOnly,
        &["FUNCTION", "LIST"],
        &[&["FUNCTION", "LOAD", LIB]],
    ),
    s(
        ReadOnly,
        &["FUNCTION", "DUMP"],
        &[&["FUNCTION", "LOAD", LIB]],
    ),
    s(
        ReadOnly,
        &["FUNCTION", "STATS"],
        &[&["FUNCTION", "LOAD", LIB]],
    ),
    s(Checked, &["FUNCTION", "LOAD", LIB], &[]),
    s(LastWins, &["FUNCTION", "LOAD", "REPLACE", LIB], &[]),
    known(Admin, &["FUNCTION", "FLUSH"]),
    known(Admin, &["FUNCTION", "DELETE", "lib"]),
    // The connection's own list entry and info change (idle, age, last command).
    s(ReadOnly, &["CLIENT", "LIST"], &[]).varies(),
    s(ReadOnly, &["CLIENT", "INFO"], &[]).varies(),
    s(ReadOnly, &["CLIENT", "ID"], &[]),
    s(ReadOnly, &["CLIENT", "GETNAME"], &[]),
    s(ReadOnly, &["CLIENT", "GETREDIR"], &[]),
    s(ReadOnly, &["CLIENT", "TRACKINGINFO"], &[]),
    known(Never, &["CLIENT", "SETNAME", "x"]),
    known(Never, &["CLIENT", "SETINFO", "LIB-NAME", "x"]).needs("client|setinfo"),
    known(Never, &["CLIENT", "REPLY", "ON"]),
    known(Never, &["CLIENT", "TRACKING", "ON"]),
    known(Never, &["CLIENT", "CACHING", "YES"]),
    known(Admin, &["CLIENT", "KILL", "ID", "999999"]),
    known(Admin, &["CLIENT", "PAUSE", "10"]),
    // Allocator-dependent.
    s(ReadOnly, &["MEMORY", "USAGE", "k"], STRING).varies(),
    known(Admin, &["MEMORY", "PURGE"]),
    // The logs record whatever was slow meanwhile.
    s(ReadOnly, &["SLOWLOG", "GET"], &[]).varies(),
    known(Admin, &["SLOWLOG", "RESET"]),
    s(ReadOnly, &["LATENCY", "LATEST"], &[]).varies(),
    known(Admin, &["LATENCY", "RESET"]),
    s(ReadOnly, &["ACL", "WHOAMI"], &[]),
    s(ReadOnly, &["ACL", "LIST"], &[]),
    s(ReadOnly, &["ACL", "USERS"], &[]),
    s(ReadOnly, &["ACL", "CAT"], &[]),
    s(ReadOnly, &["ACL", "GETUSER", "default"], &[]),
    s(ReadOnly, &["ACL", "LOG"], &[]),
    s(ReadOnly, &["ACL", "GENPASS"], &[]).varies(),
    s(ReadOnly, &["ACL", "DRYRUN", "default", "GET", "k"], &[]),
    known(Admin, &["ACL", "SETUSER", "someone"]),
    // Administration.
    known(Admin, &["FLUSHDB"]),
    known(Admin, &["FLUSHALL"]),
    known(Admin, &["SWAPDB", "0", "1"]),
    known(Admin, &["SAVE"]),
    known(Admin, &["BGSAVE"]),
    known(Admin, &["BGREWRITEAOF"]),
    known(Admin, &["SHUTDOWN"]),
    known(Admin, &["DEBUG", "SLEEP", "0"]),
    known(Admin, &["REPLICAOF", "NO", "ONE"]),
    known(Admin, &["SLAVEOF", "NO", "ONE"]),
    known(Admin, &["FAILOVER"]),
    known(Admin, &["MIGRATE", "127.0.0.1", "1", "k", "0", "100"]),
    known(Admin, &["MONITOR"]),
    known(Admin, &["SYNC"]),
    known(Admin, &["PSYNC", "?", "-1"]),
    known(Admin, &["CLUSTER", "INFO"]),
    known(Admin, &["MODULE", "LIST"]),
    known(Admin, &["PFDEBUG", "GETREG", "p"]),
    known(Admin, &["PFSELFTEST"]),
    // Scripts, transactions, connection state.
    known(Never, &["EVAL", "return 1", "0"]),
    known(
        Never,
        &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
    ),
    known(Never, &["FCALL", "ro", "0"]),
    known(Never, &["MULTI"]),
    known(Never, &["EXEC"]),
    known(Never, &["DISCARD"]),
    known(Never, &["WATCH", "k"]),
    known(Never, &["UNWATCH"]),
    known(Never, &["SELECT", "1"]),
    known(Never, &["AUTH", "secret"]),
    known(Never, &["HELLO", "3"]),
    known(Never, &["RESET"]),
    known(Never, &["QUIT"]),
    known(Never, &["READONLY"]),
    known(Never, &["READWRITE"]),
    known(Never, &["ASKING"]),
    known(Never, &["SUBSCRIBE", "ch"]),
    known(Never, &["PSUBSCRIBE", "c*"]),
    known(Never, &["SSUBSCRIBE", "sch"]),
    known(Never, &["UNSUBSCRIBE", "ch"]),
    known(Never, &["PUNSUBSCRIBE", "c*"]),
    known(Never, &["SUNSUBSCRIBE", "sch"]),
    known(Never, &["WAIT", "1", "100"]),
    known(Never, &["WAITAOF", "1", "0", "100"]).needs("waitaof"),
    known(Never, &["BLPOP", "l", "1"]),
    known(Never, &["BRPOP", "l", "1"]),
    known(Never, &["BLMOVE", "l", "l2", "LEFT", "RIGHT", "1"]),
    known(Never, &["BRPOPLPUSH", "l", "l2", "1"]),
    known(Never, &["BLMPOP", "1", "1", "l", "LEFT"]),
    known(Never, &["BZPOPMIN", "z", "1"]),
    known(Never, &["BZPOPMAX", "z", "1"]),
    known(Never, &["BZMPOP", "1", "1", "z", "MIN"]),
];

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `args` as a command; [`LAST`] becomes `last` when given.
fn build(args: &[&str], last: Option<&[u8]>) -> Cmd {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        match last {
            Some(last) if *arg == LAST => cmd.arg(last),
            _ => cmd.arg(*arg),
        };
    }
    cmd
}

#[test]
fn every_table_entry_has_a_sample() {
    let has = |command: &str, sub: Option<&str>| {
        SAMPLES.iter().any(|sample| {
            eq(sample.cmd[0], command)
                && sub.is_none_or(|sub| sample.cmd.get(1).is_some_and(|s| eq(s, sub)))
        })
    };
    let mut missing: Vec<String> = FIXED
        .iter()
        .filter(|(name, _)| !has(name, None))
        .map(|(name, _)| (*name).to_string())
        .collect();
    for (container, _, subs) in SUBCOMMANDS {
        missing.extend(
            subs.iter()
                .filter(|(sub, _)| !has(container, Some(sub)))
                .map(|(sub, _)| format!("{container} {sub}")),
        );
        // The default, for the subcommands not listed.
        let default_sampled = SAMPLES.iter().any(|sample| {
            eq(sample.cmd[0], container)
                && sample
                    .cmd
                    .get(1)
                    .is_some_and(|s| !subs.iter().any(|(sub, _)| eq(s, sub)))
        });
        if !default_sampled {
            missing.push(format!("{container} <a subcommand not listed>"));
        }
    }
    assert!(
        missing.is_empty(),
        "table entries without a sample in real_server.rs SAMPLES: {missing:?}"
    );
}

#[test]
fn the_table_gives_every_sample_its_category() {
    let wrong: Vec<String> = SAMPLES
        .iter()
        .filter_map(|sample| {
            let table = command_category(&build(sample.cmd, None));
            (table != sample.category).then(|| {
                format!(
                    "  {}: the table says {table:?}, the sample expects {:?}",
                    sample.name(),
                    sample.category
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "categories that differ:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn samples_are_well_formed() {
    for sample in SAMPLES {
        let name = sample.name();
        if let Some(behaves) = sample.behaves {
            assert!(
                behaves < sample.category && sample.is_run(),
                "{name}: `behaves` is for a run sample whose category is more careful than \
                 its behaviour"
            );
        }
        assert!(
            !(sample.reply_varies && matches!(sample.expected_behaviour(), Checked | ReplyDiffers)),
            "{name}: a differing reply cannot be checked when the reply varies anyway"
        );
        assert!(
            sample.setup.iter().all(|cmd| !cmd.contains(&LAST)),
            "{name}: {LAST} only in the command"
        );
    }
}

/// A RESP2 value as text, for snapshots and messages.
fn render(value: &Value) -> String {
    let list = |items: &[Value]| {
        let items: Vec<String> = items.iter().map(render).collect();
        format!("[{}]", items.join(", "))
    };
    match value {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(bytes) => format!("\"{}\"", bytes.escape_ascii()),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Array(items) | Value::Set(items) => list(items),
        Value::Map(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        Value::ServerError(e) => format!("(error) {e}"),
        other => format!("{other:?}"),
    }
}

fn render_reply(reply: &RedisResult<Value>) -> String {
    match reply {
        Ok(value) => render(value),
        Err(e) => format!("(error) {e}"),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

/// The fields of a flat `name value …` reply (RESP2's form of a map).
fn fields(value: &Value) -> Vec<(String, &Value)> {
    items(value)
        .chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((text(name)?, value)),
            _ => None,
        })
        .collect()
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    fields(value)
        .into_iter()
        .find_map(|(n, v)| (n == name).then_some(v))
}

/// A subscriber to channel `ch` and shard channel `sch`, on a raw connection: what a
/// `PUBLISH` did is what it delivered.
struct Subscriber {
    stream: TcpStream,
    parser: redis::Parser,
    received: Vec<String>,
}

impl Subscriber {
    fn connect(addr: SocketAddr) -> Subscriber {
        let stream = TcpStream::connect(addr).expect("subscriber connects");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut sub = Subscriber {
            stream,
            parser: redis::Parser::new(),
            received: Vec::new(),
        };
        for args in [["SUBSCRIBE", "ch"], ["SSUBSCRIBE", "sch"]] {
            sub.send(&args);
            let confirmation = sub.read();
            assert!(
                items(&confirmation).len() == 3,
                "{args:?}: {}",
                render(&confirmation)
            );
        }
        sub
    }

    fn send(&mut self, args: &[&str]) {
        self.stream
            .write_all(&build(args, None).get_packed_command())
            .expect("subscriber writes");
    }

    fn read(&mut self) -> Value {
        self.parser
            .parse_value(&mut self.stream)
            .expect("subscriber reads")
    }

    /// Collects what was delivered so far: the server answers a `PING` after every message
    /// published before it.
    fn drain(&mut self) {
        self.send(&["PING"]);
        loop {
            let value = self.read();
            let parts = items(&value);
            match parts.first().and_then(text).as_deref() {
                Some("pong") => return,
                Some("message" | "smessage") => self.received.push(render(&value)),
                _ => panic!("subscriber got {}", render(&value)),
            }
        }
    }
}

/// A server, a connection to it and a subscriber, reset between samples.
struct Probe {
    _server: RedisServer,
    con: Connection,
    sub: Subscriber,
    infos: HashMap<String, Option<Value>>,
    hash_field_ttls: bool,
}

impl Probe {
    fn start() -> Probe {
        let server = RedisServer::start().expect("redis-server starts");
        let con = redis::Client::open(server.url())
            .expect("client")
            .get_connection()
            .expect("connection");
        con.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let sub = Subscriber::connect(server.addr());
        let mut probe = Probe {
            _server: server,
            con,
            sub,
            infos: HashMap::new(),
            hash_field_ttls: false,
        };
        probe.hash_field_ttls = probe.command_info("hpttl").is_some();
        probe
    }

    fn query(&mut self, args: &[&str]) -> RedisResult<Value> {
        build(args, None).query(&mut self.con)
    }

    fn must(&mut self, args: &[&str]) -> Value {
        self.query(args)
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
    }

    /// `COMMAND INFO name` (`name` may be `container|subcommand`); `None` if unknown.
    fn command_info(&mut self, name: &str) -> Option<Value> {
        let name = name.to_ascii_lowercase();
        if let Some(info) = self.infos.get(&name) {
            return info.clone();
        }
        let reply = self.must(&["COMMAND", "INFO", &name]);
        let info = items(&reply)
            .first()
            .filter(|info| !matches!(info, Value::Nil))
            .cloned();
        self.infos.insert(name, info.clone());
        info
    }

    /// Whether the server knows `args[0]` and, for a container, the subcommand `args[1]`.
    fn knows(&mut self, args: &[&str]) -> bool {
        let Some(info) = self.command_info(args[0]) else {
            return false;
        };
        let container = items(&info)
            .get(9)
            .is_some_and(|subs| !items(subs).is_empty());
        match args.get(1) {
            Some(sub) if container => self.command_info(&format!("{}|{sub}", args[0])).is_some(),
            _ => true,
        }
    }

    fn has(&mut self, needs: Needs) -> bool {
        match needs {
            Needs::Command(name) => self.command_info(name).is_some(),
            Needs::Token(command, token) => {
                fn mentions(value: &Value, token: &str) -> bool {
                    text(value).is_some_and(|t| eq(&t, token))
                        || items(value).iter().any(|v| mentions(v, token))
                        || matches!(value, Value::Map(pairs)
                            if pairs.iter().any(|(k, v)| mentions(k, token) || mentions(v, token)))
                }
                let docs = self.must(&["COMMAND", "DOCS", command]);
                mentions(&docs, token)
            }
        }
    }

    fn reset(&mut self) {
        for args in [
            &["FLUSHALL"][..],
            &["SCRIPT", "FLUSH"],
            &["FUNCTION", "FLUSH"],
        ] {
            self.must(args);
        }
        self.sub.drain();
        self.sub.received.clear();
    }

    /// Runs the setup; the reply of its last command stands for [`LAST`].
    fn setup(&mut self, sample: &Sample) -> Result<Option<Vec<u8>>, String> {
        let mut last = None;
        for args in sample.setup {
            let reply = self
                .query(args)
                .map_err(|e| format!("{}: setup {args:?} failed: {e}", sample.name()))?;
            last = match reply {
                Value::BulkString(bytes) => Some(bytes),
                other => text(&other).map(String::into_bytes),
            };
        }
        Ok(last)
    }

    /// The data, as lines: every key of databases 0 and 1 (type, value, time to live in
    /// ms, compared by [`same_data`] with a tolerance), the script cache, the function libraries and what the subscriber received.
    fn snapshot(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for db in ["0", "1"] {
            self.must(&["SELECT", db]);
            let keys = self.must(&["KEYS", "*"]);
            let mut keys: Vec<String> = items(&keys).iter().filter_map(text).collect();
            keys.sort();
            for key in keys {
                let kind = text(&self.must(&["TYPE", &key])).unwrap_or_default();
                let value = self.value_of(&key, &kind);
                let ttl = match self.must(&["PTTL", &key]) {
                    Value::Int(ms) if ms >= 0 => format!("{ms}ms"),
                    other => render(&other),
                };
                lines.push(format!("db{db} {key}: {kind} ttl={ttl} {value}"));
            }
        }
        self.must(&["SELECT", "0"]);
        let info = self.must(&["INFO", "memory"]);
        let scripts = text(&info)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("number_of_cached_scripts:"))
            .unwrap_or("number_of_cached_scripts: ?")
            .to_string();
        lines.push(scripts);
        let functions = self.must(&["FUNCTION", "LIST", "WITHCODE"]);
        lines.push(format!("functions: {}", render(&functions)));
        self.sub.drain();
        lines.extend(self.sub.received.iter().map(|m| format!("delivered: {m}")));
        lines
    }

    fn value_of(&mut self, key: &str, kind: &str) -> String {
        match kind {
            "string" => match self.must(&["GET", key]) {
                Value::BulkString(mut bytes) => {
                    // A HyperLogLog caches its cardinality in bytes 8..16: not data.
                    if bytes.starts_with(b"HYLL") && bytes.len() >= 16 {
                        bytes[8..16].fill(0);
                    }
                    render(&Value::BulkString(bytes))
                }
                other => render(&other),
            },
            "list" => render(&self.must(&["LRANGE", key, "0", "-1"])),
            "set" => {
                let mut members: Vec<String> = items(&self.must(&["SMEMBERS", key]))
                    .iter()
                    .map(render)
                    .collect();
                members.sort();
                format!("{members:?}")
            }
            "zset" => render(&self.must(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
            "hash" => {
                let all = self.must(&["HGETALL", key]);
                let mut pairs = Vec::new();
                for (name, value) in fields(&all) {
                    let mut pair = format!("{name}={}", render(value));
                    if self.hash_field_ttls {
                        let ttl = self.must(&["HPTTL", key, "FIELDS", "1", &name]);
                        if let Some(Value::Int(ms)) = items(&ttl).first() {
                            let ms = *ms;
                            if ms >= 0 {
                                let _ = write!(pair, " (ttl={ms}ms)");
                            }
                        }
                    }
                    pairs.push(pair);
                }
                pairs.sort();
                format!("{pairs:?}")
            }
            "stream" => self.stream_state(key),
            _ => String::new(),
        }
    }

    /// Entries, stream metadata, groups, their pending entries with delivery counts and
    /// their consumers; idle times left out.
    fn stream_state(&mut self, key: &str) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "entries {}",
            render(&self.must(&["XRANGE", key, "-", "+"]))
        );
        let _ = write!(
            out,
            " info {}",
            render(&self.must(&["XINFO", "STREAM", key]))
        );
        let groups = self.must(&["XINFO", "GROUPS", key]);
        for group in items(&groups) {
            let _ = write!(out, " group {}", render(group));
            let Some(name) = field(group, "name").and_then(text) else {
                continue;
            };
            let pending = self.must(&["XPENDING", key, &name, "-", "+", "1000"]);
            for entry in items(&pending) {
                // id, consumer, idle time, delivery count
                let parts = items(entry);
                if let [id, consumer, _idle, count] = parts {
                    let _ = write!(
                        out,
                        " pending {} {} x{}",
                        render(id),
                        render(consumer),
                        render(count)
                    );
                }
            }
            let consumers = self.must(&["XINFO", "CONSUMERS", key, &name]);
            for consumer in items(&consumers) {
                let name = field(consumer, "name").map_or_else(String::new, render);
                let pending = field(consumer, "pending").map_or_else(String::new, render);
                let _ = write!(out, " consumer {name} pending={pending}");
            }
        }
        out
    }
}

/// What a sample did, run twice on the same data.
struct Observed {
    before: Vec<String>,
    once: Vec<String>,
    twice: Vec<String>,
    first: String,
    second: String,
}

impl Observed {
    /// The most harmless category this behaviour fits; Checked and ReplyDiffers look the
    /// same from outside, so `ReplyDiffers` stands for both.
    fn category(&self, reply_varies: bool) -> CommandCategory {
        let same_reply = reply_varies || self.first == self.second;
        if !same_data(&self.once, &self.twice) {
            Accumulating
        } else if same_data(&self.before, &self.once) && same_reply {
            ReadOnly
        } else if same_reply {
            LastWins
        } else {
            ReplyDiffers
        }
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        let first_run = if same_data(&self.before, &self.once) {
            "changed no data".to_string()
        } else {
            format!("changed {}", diff(&self.before, &self.once))
        };
        let second_run = if same_data(&self.once, &self.twice) {
            "left the data as it was".to_string()
        } else {
            format!("changed {}", diff(&self.once, &self.twice))
        };
        let _ = write!(
            out,
            "the first run {first_run}; the second {second_run}; replies {} then {}",
            self.first, self.second
        );
        out
    }
}

/// Times to live that differ by less than this are the same: the clock runs between two
/// snapshots, and a replayed relative expiry (`EXPIRE k 100`) is set again a little later.
const TTL_TOLERANCE_MS: i64 = 1000;

/// Whether two snapshots hold the same data, times to live within [`TTL_TOLERANCE_MS`].
fn same_data(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_line(a, b))
}

/// `line` with every `ttl=<n>ms` replaced by `ttl=`, and the `n`s.
fn split_ttls(line: &str) -> (String, Vec<i64>) {
    let mut text = String::new();
    let mut ttls = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("ttl=") {
        let (head, tail) = rest.split_at(at + "ttl=".len());
        text.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        match (tail[..digits].parse(), tail[digits..].strip_prefix("ms")) {
            (Ok(ms), Some(after)) => {
                ttls.push(ms);
                rest = after;
            }
            _ => rest = tail,
        }
    }
    text.push_str(rest);
    (text, ttls)
}

fn same_line(a: &str, b: &str) -> bool {
    let ((a, a_ttls), (b, b_ttls)) = (split_ttls(a), split_ttls(b));
    a == b
        && a_ttls.len() == b_ttls.len()
        && a_ttls
            .iter()
            .zip(&b_ttls)
            .all(|(x, y)| (x - y).abs() < TTL_TOLERANCE_MS)
}

/// The lines that differ, `-` before and `+` after.
fn diff(a: &[String], b: &[String]) -> String {
    let gone = a.iter().filter(|l| !b.contains(l)).map(|l| format!("-{l}"));
    let new = b.iter().filter(|l| !a.contains(l)).map(|l| format!("+{l}"));
    let lines: Vec<String> = gone.chain(new).collect();
    if lines.is_empty() {
        "the order of the data".into()
    } else {
        format!("[{}]", lines.join(" | "))
    }
}

fn observe(probe: &mut Probe, sample: &Sample) -> Result<Observed, String> {
    probe.reset();
    let last = probe.setup(sample)?;
    let before = probe.snapshot();
    let cmd = build(sample.cmd, last.as_deref());
    let first = render_reply(&cmd.query::<Value>(&mut probe.con));
    let once = probe.snapshot();
    let second = render_reply(&cmd.query::<Value>(&mut probe.con));
    let twice = probe.snapshot();
    Ok(Observed {
        before,
        once,
        twice,
        first,
        second,
    })
}

fn matches_behaviour(expected: CommandCategory, seen: CommandCategory) -> bool {
    match expected {
        Checked | ReplyDiffers => seen == ReplyDiffers,
        other => other == seen,
    }
}

#[test]
fn replaying_each_sample_does_what_its_category_says() {
    let mut probe = Probe::start();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut ran = 0;
    for sample in SAMPLES {
        let name = sample.name();
        if sample.needs.is_some_and(|needs| !probe.has(needs)) {
            skipped.push(name);
            continue;
        }
        if !probe.knows(sample.cmd) {
            failures.push(format!(
                "  {name}: the server does not know this command; mark the sample `.needs(…)`"
            ));
            continue;
        }
        if !sample.is_run() {
            continue;
        }
        ran += 1;
        let observed = match observe(&mut probe, sample) {
            Ok(observed) => observed,
            Err(e) => {
                failures.push(format!("  {e}"));
                continue;
            }
        };
        let expected = sample.expected_behaviour();
        let seen = observed.category(sample.reply_varies);
        if !matches_behaviour(expected, seen) {
            let careful = sample
                .behaves
                .map_or_else(String::new, |_| format!(" (table: {:?})", sample.category));
            failures.push(format!(
                "  {name}: expected {expected:?} behaviour{careful}, but it behaves as {seen:?}: {}",
                observed.describe()
            ));
        }
    }
    if !skipped.is_empty() {
        eprintln!("skipped, newer than this redis-server: {skipped:?}");
    }
    eprintln!("{ran} samples replayed against redis-server");
    assert!(
        failures.is_empty(),
        "{} sample(s) do not behave as their category says:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A command (or subcommand) as `COMMAND` lists it.
struct ServerCommand {
    /// Upper case; `CONTAINER|SUB` for a subcommand.
    name: String,
    flags: Vec<String>,
    subcommands: Vec<ServerCommand>,
}

impl ServerCommand {
    fn parse(info: &Value) -> Option<ServerCommand> {
        let parts = items(info);
        Some(ServerCommand {
            name: text(parts.first()?)?.to_ascii_uppercase(),
            flags: parts
                .get(2)
                .map(|f| items(f).iter().filter_map(text).collect())
                .unwrap_or_default(),
            subcommands: parts
                .get(9)
                .map(|s| items(s).iter().filter_map(ServerCommand::parse).collect())
                .unwrap_or_default(),
        })
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| eq(f, flag))
    }

    /// The name as arguments: `["CONFIG", "GET"]`.
    fn args(&self) -> Vec<&str> {
        self.name.split('|').collect()
    }
}

/// Every command and subcommand the server has, flattened.
fn server_commands(probe: &mut Probe) -> Vec<ServerCommand> {
    let all = probe.must(&["COMMAND"]);
    let mut out = Vec::new();
    for command in items(&all).iter().filter_map(ServerCommand::parse) {
        if command.subcommands.is_empty() {
            out.push(command);
        } else {
            let ServerCommand { subcommands, .. } = command;
            out.extend(subcommands);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn table_category(args: &[&str]) -> CommandCategory {
    classify(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

fn argument_aware(args: &[&str]) -> bool {
    let rest: Vec<&[u8]> = args[1..].iter().map(|a| a.as_bytes()).collect();
    by_arguments(args[0].as_bytes(), &rest).is_some()
}

/// Whether the table names the command (or its container) at all, rather than leaving it to
/// the fallback `Never`.
fn listed(args: &[&str]) -> bool {
    argument_aware(args)
        || FIXED.iter().any(|(n, _)| eq(n, args[0]))
        || SUBCOMMANDS.iter().any(|(n, ..)| eq(n, args[0]))
}

#[test]
fn the_server_command_flags_agree_with_the_table() {
    let mut probe = Probe::start();
    let commands = server_commands(&mut probe);
    assert!(
        commands.len() > 200,
        "COMMAND listed {} commands",
        commands.len()
    );
    assert!(
        ["write", "blocking", "readonly"]
            .iter()
            .all(|flag| commands.iter().any(|c| c.has_flag(flag))),
        "COMMAND's flags did not parse"
    );
    let mut disagreements = Vec::new();
    let mut unlisted = Vec::new();
    let mut careful_reads = Vec::new();
    for command in &commands {
        let args = command.args();
        let category = table_category(&args);
        let aware = argument_aware(&args);
        if command.has_flag("write") && category == ReadOnly && !aware {
            disagreements.push(format!(
                "  {}: the server flags it `write`, the table says ReadOnly",
                command.name
            ));
        }
        if command.has_flag("blocking") && category != Never && !aware {
            disagreements.push(format!(
                "  {}: the server flags it `blocking`, the table says {category:?}",
                command.name
            ));
        }
        if !listed(&args) {
            unlisted.push(command.name.clone());
        } else if command.has_flag("readonly")
            && !command.has_flag("write")
            && category > ReadOnly
            && !aware
        {
            careful_reads.push(format!("{} ({category:?})", command.name));
        }
    }
    eprintln!("server commands the table leaves to the fallback Never: {unlisted:?}");
    eprintln!("flagged readonly, a higher category in the table: {careful_reads:?}");
    assert!(
        disagreements.is_empty(),
        "the table disagrees with the server's COMMAND flags:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn every_argument_aware_command_the_server_knows_has_a_sample() {
    let mut probe = Probe::start();
    let missing: Vec<String> = server_commands(&mut probe)
        .iter()
        .filter(|command| {
            let args = command.args();
            argument_aware(&args)
                && !SAMPLES.iter().any(|sample| {
                    sample.cmd.len() >= args.len()
                        && args.iter().zip(sample.cmd).all(|(a, b)| eq(a, b))
                })
        })
        .map(|command| command.name.clone())
        .collect();
    // FUNCTION LOAD is argument-aware only with its subcommand.
    assert!(argument_aware(&["FUNCTION", "LOAD"]));
    assert!(
        missing.is_empty(),
        "argument-aware commands without a sample: {missing:?}"
    );
}
