//! Scenarios: a list of timed phases, each maybe injecting a fault and expecting the client
//! to react (switch away from a member, or come home to the primary).

use multidb_testkit::{FakeRedis, Fault, FaultProxy, ProxyFault};

/// The scenarios `--scenario` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScenarioName {
    /// Baseline, kill the primary, blackhole the next, recover both, fall back.
    Default,
    /// Baseline, kill the primary, recover it, fall back.
    KillOnly,
}

impl ScenarioName {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::Default),
            "kill-only" => Some(Self::KillOnly),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::KillOnly => "kill-only",
        }
    }

    /// The phases, in order.
    pub(crate) fn phases(self) -> Vec<Phase> {
        let baseline = Phase {
            name: "baseline",
            action: Action::Nothing,
            expect: Expect::Nothing,
        };
        let kill = Phase {
            name: "kill-primary",
            action: Action::Kill,
            expect: Expect::SwitchAway,
        };
        let blackhole = Phase {
            name: "blackhole-next",
            action: Action::BlackholeActive,
            expect: Expect::SwitchAway,
        };
        let recover = Phase {
            name: "recover",
            action: Action::RecoverAll,
            expect: Expect::Home,
        };
        match self {
            Self::Default => vec![baseline, kill, blackhole, recover],
            Self::KillOnly => vec![baseline, kill, recover],
        }
    }
}

/// One phase of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    pub(crate) action: Action,
    pub(crate) expect: Expect,
}

impl Phase {
    /// The single phase of observe mode: load, no faults.
    pub(crate) fn observe() -> Self {
        Phase {
            name: "observe",
            action: Action::Nothing,
            expect: Expect::Nothing,
        }
    }
}

/// What a phase does when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Nothing,
    /// The primary (highest weight) goes down: port closed, connections dropped.
    Kill,
    /// The member active at the phase's start stops answering, connections stay open.
    BlackholeActive,
    /// Every fault is cleared.
    RecoverAll,
}

/// What the client should do during a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Nothing,
    /// Switch away from the faulted member.
    SwitchAway,
    /// Traffic back on the primary.
    Home,
}

/// A member's fault switch: a fake, a proxy in front of a real server, or none.
#[derive(Clone, Debug)]
pub(crate) enum FaultTarget {
    Fake(FakeRedis),
    Proxy(FaultProxy),
    /// Observed only.
    None,
}

impl FaultTarget {
    /// Down: connections refused, open ones dropped.
    pub(crate) fn kill(&self) {
        match self {
            FaultTarget::Fake(f) => {
                f.inject(Fault::Down);
                f.drop_connections();
            }
            FaultTarget::Proxy(p) => {
                p.inject(ProxyFault::Refuse);
                p.drop_connections();
            }
            FaultTarget::None => {}
        }
    }

    /// Silent: connections stay open, nothing is answered.
    pub(crate) fn blackhole(&self) {
        match self {
            FaultTarget::Fake(f) => f.inject(Fault::Blackhole),
            FaultTarget::Proxy(p) => p.inject(ProxyFault::Blackhole),
            FaultTarget::None => {}
        }
    }

    pub(crate) fn recover(&self) {
        match self {
            FaultTarget::Fake(f) => f.recover(),
            FaultTarget::Proxy(p) => p.recover(),
            FaultTarget::None => {}
        }
    }

    /// Commands the member served since start, when it can tell (fakes only).
    pub(crate) fn data_commands(&self) -> Option<u64> {
        match self {
            FaultTarget::Fake(f) => Some(f.data_command_count()),
            _ => None,
        }
    }
}
