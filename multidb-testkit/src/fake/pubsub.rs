//! Who is subscribed to what, message delivery, and Redis' glob patterns.
//!
//! Messages are built once as pushes and sent to each subscriber's connection task, which
//! encodes them for its own protocol (a `>` push on RESP3, an array on RESP2).

use std::collections::{BTreeSet, HashMap};

use super::reply::Reply;
use super::state::Client;

/// The three kinds of subscription Redis keeps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    channels: HashMap<Vec<u8>, BTreeSet<u64>>,
    patterns: HashMap<Vec<u8>, BTreeSet<u64>>,
    shards: HashMap<Vec<u8>, BTreeSet<u64>>,
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, BTreeSet<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shards,
        }
    }

    pub(crate) fn add(&mut self, kind: Kind, name: &[u8], client: u64) {
        self.map(kind)
            .entry(name.to_vec())
            .or_default()
            .insert(client);
    }

    pub(crate) fn remove(&mut self, kind: Kind, name: &[u8], client: u64) {
        let map = self.map(kind);
        if let Some(ids) = map.get_mut(name) {
            ids.remove(&client);
            if ids.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Drops every subscription of a closed connection.
    pub(crate) fn forget(&mut self, client: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            self.map(kind).retain(|_, ids| {
                ids.remove(&client);
                !ids.is_empty()
            });
        }
    }

    /// Delivers `message` and returns how many subscriptions received it (as `PUBLISH` does:
    /// a client matching through two patterns counts twice).
    pub(crate) fn publish(
        &self,
        clients: &HashMap<u64, Client>,
        channel: &[u8],
        message: &[u8],
        shard: bool,
    ) -> usize {
        let mut delivered = 0;
        let mut send = |id: &u64, push: Vec<Reply>| {
            if let Some(client) = clients.get(id) {
                // A closed receiver means the connection is going away; it no longer counts.
                if client.push.send(Reply::Push(push)).is_ok() {
                    delivered += 1;
                }
            }
        };
        if shard {
            for id in self.shards.get(channel).into_iter().flatten() {
                send(
                    id,
                    vec![
                        Reply::bulk("smessage"),
                        Reply::bulk(channel),
                        Reply::bulk(message),
                    ],
                );
            }
            return delivered;
        }
        for id in self.channels.get(channel).into_iter().flatten() {
            send(
                id,
                vec![
                    Reply::bulk("message"),
                    Reply::bulk(channel),
                    Reply::bulk(message),
                ],
            );
        }
        for (pattern, ids) in &self.patterns {
            if glob_match(pattern, channel) {
                for id in ids {
                    let push = vec![
                        Reply::bulk("pmessage"),
                        Reply::bulk(pattern.clone()),
                        Reply::bulk(channel),
                        Reply::bulk(message),
                    ];
                    send(id, push);
                }
            }
        }
        delivered
    }
}

/// Redis' glob: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\x`. Iterative with one backtrack
/// point, so hostile patterns cannot blow up time or stack.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {
                    if let Some(next) = match_one(pattern, p, text[t]) {
                        p = next;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((star_p, star_t)) => {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one literal, escape or class at `pattern[p]`; returns the index after it.
fn match_one(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match pattern[p] {
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            while i < pattern.len() && pattern[i] != b']' {
                if pattern[i] == b'\\' && i + 1 < pattern.len() {
                    matched |= pattern[i + 1] == c;
                    i += 2;
                } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']'
                {
                    let (lo, hi) = (
                        pattern[i].min(pattern[i + 2]),
                        pattern[i].max(pattern[i + 2]),
                    );
                    matched |= (lo..=hi).contains(&c);
                    i += 3;
                } else {
                    matched |= pattern[i] == c;
                    i += 1;
                }
            }
            // An unterminated class ends at the pattern's end, as in Redis.
            (matched != negate).then_some((i + 1).min(pattern.len()))
        }
        literal => (literal == c).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_follows_redis_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("news.*", "news.sport", true),
            ("news.*", "weather", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("*a*b", "xxaxxb", true),
            ("*a*b", "xxaxxbc", false),
            ("a\\*", "a*", true),
            ("", "", true),
            ("*", "", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                *want,
                "{pattern} vs {text}"
            );
        }
    }
}
