//! The boot-counter rules of DESIGN.md section 3, as U-Boot's bootcount feature defines them: with
//! `upgrade_available=1` each boot adds one to `bootcount`; once `bootcount` exceeds `bootlimit` the fallback
//! boots (U-Boot would run `altbootcmd`). Normal boots (`upgrade_available` not 1) change nothing.

use uenv::counter_names as names;
use uenv::env_block::EnvBlock;

/// `bootlimit` when the variable is absent or not a number.
pub use uenv::counter_names::DEFAULT_BOOTLIMIT;

/// The counters as read from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Boots attempted since the last deploy or mark-good (absent or garbage: 0).
    pub bootcount: u32,
    /// Boots allowed before falling back.
    pub bootlimit: u32,
    /// A new default is on trial (`upgrade_available=1`).
    pub upgrade_available: bool,
    /// The agent has already fallen back (`atomboot_rollback=1`).
    pub rolled_back: bool,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            bootcount: 0,
            bootlimit: DEFAULT_BOOTLIMIT,
            upgrade_available: false,
            rolled_back: false,
        }
    }
}

fn decimal(text: Option<&str>) -> Option<u32> {
    let text = text?;
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Counters {
    /// Reads the counters from an environment block.
    pub fn from_env(env: &EnvBlock<'_>) -> Counters {
        Counters {
            bootcount: decimal(env.get_str(names::BOOTCOUNT)).unwrap_or(0),
            bootlimit: decimal(env.get_str(names::BOOTLIMIT)).unwrap_or(DEFAULT_BOOTLIMIT),
            upgrade_available: env.get_str(names::UPGRADE_AVAILABLE) == Some("1"),
            rolled_back: env.get_str(names::ROLLBACK) == Some("1"),
        }
    }
}

/// What the counters say for this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDecision {
    /// The counters after this boot.
    pub after: Counters,
    /// The limit is exceeded: boot the fallback.
    pub limit_exceeded: bool,
}

/// Applies the rules to the counters read at this boot.
pub fn decide(before: Counters) -> CounterDecision {
    if !before.upgrade_available {
        return CounterDecision {
            after: before,
            limit_exceeded: false,
        };
    }
    if before.rolled_back && before.bootcount > before.bootlimit {
        // Already fell back and recorded it: keep booting the fallback without writing again.
        return CounterDecision {
            after: before,
            limit_exceeded: true,
        };
    }
    let bootcount = before.bootcount.saturating_add(1);
    let limit_exceeded = bootcount > before.bootlimit;
    CounterDecision {
        after: Counters {
            bootcount,
            rolled_back: before.rolled_back || limit_exceeded,
            ..before
        },
        limit_exceeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(bootcount: u32) -> Counters {
        Counters {
            bootcount,
            bootlimit: 3,
            upgrade_available: true,
            rolled_back: false,
        }
    }

    #[test]
    fn below_at_and_over_the_limit() {
        assert!(!decide(trial(0)).limit_exceeded);
        assert_eq!(decide(trial(0)).after.bootcount, 1);
        assert!(!decide(trial(2)).limit_exceeded); // third boot: 3 == limit, still primary
        let over = decide(trial(3));
        assert!(over.limit_exceeded && over.after.rolled_back && over.after.bootcount == 4);
        // Once rolled back, nothing changes any more (no flash wear).
        let again = decide(over.after);
        assert!(again.limit_exceeded);
        assert_eq!(again.after, over.after);
    }

    #[test]
    fn normal_boots_change_nothing() {
        let normal = Counters {
            bootcount: 9,
            ..Counters::default()
        };
        assert_eq!(decide(normal).after, normal);
        assert!(!decide(normal).limit_exceeded);
        let saturated = decide(Counters {
            bootcount: u32::MAX,
            bootlimit: u32::MAX,
            ..trial(0)
        });
        assert!(!saturated.limit_exceeded);
    }
}
