//! What a subscriber is subscribed to, independent of any connection: the source of truth
//! that every new member connection is subscribed from.

use std::collections::BTreeSet;

use crate::event::DatabaseId;

/// The three kinds of subscription Redis knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SUBSCRIBE` / `UNSUBSCRIBE`.
    Channel,
    /// `PSUBSCRIBE` / `PUNSUBSCRIBE`.
    Pattern,
    /// `SSUBSCRIBE` / `SUNSUBSCRIBE` (Redis 7).
    Shard,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];

    pub(crate) fn command(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "SUBSCRIBE",
            (Kind::Channel, false) => "UNSUBSCRIBE",
            (Kind::Pattern, true) => "PSUBSCRIBE",
            (Kind::Pattern, false) => "PUNSUBSCRIBE",
            (Kind::Shard, true) => "SSUBSCRIBE",
            (Kind::Shard, false) => "SUNSUBSCRIBE",
        }
    }
}

/// The subscriptions, and the member they are currently made on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    channels: BTreeSet<String>,
    patterns: BTreeSet<String>,
    shards: BTreeSet<String>,
    /// The member whose connection carries the subscriptions now (`None` while none does).
    pub(crate) database: Option<DatabaseId>,
}

impl Registry {
    pub(crate) fn set(&self, kind: Kind) -> &BTreeSet<String> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shards,
        }
    }

    fn set_mut(&mut self, kind: Kind) -> &mut BTreeSet<String> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shards,
        }
    }

    /// Records a (un)subscription; returns whether it changed anything, so a refused
    /// request can be undone exactly.
    pub(crate) fn apply(&mut self, kind: Kind, subscribe: bool, name: &str) -> bool {
        let set = self.set_mut(kind);
        if subscribe {
            set.insert(name.to_owned())
        } else {
            set.remove(name)
        }
    }

    /// Undoes an [`Self::apply`] that returned `true`.
    pub(crate) fn undo(&mut self, kind: Kind, subscribe: bool, name: &str) {
        self.apply(kind, !subscribe, name);
    }

    /// Every name of one kind, sorted.
    pub(crate) fn names(&self, kind: Kind) -> Vec<String> {
        self.set(kind).iter().cloned().collect()
    }

    /// Channels, patterns and sharded channels together.
    pub(crate) fn len(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shards.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_reports_changes_and_undo_restores_the_previous_state() {
        let mut r = Registry::default();
        assert!(r.apply(Kind::Channel, true, "a"));
        assert!(!r.apply(Kind::Channel, true, "a"), "already subscribed");
        assert!(r.apply(Kind::Pattern, true, "a.*"));
        assert_eq!(r.len(), 2);
        assert!(r.apply(Kind::Channel, false, "a"));
        r.undo(Kind::Channel, false, "a");
        assert_eq!(r.names(Kind::Channel), ["a"]);
        assert!(!r.apply(Kind::Shard, false, "never"), "nothing to remove");
        assert_eq!(r.len(), 2);
    }
}
