//! The call's security status and the per-call state machine that keeps it.
//!
//! Why a state machine: the status is not a function of the legs' final modes
//! alone. While a leg is being re-negotiated (hold, resume, transfer,
//! forward) nobody knows yet what it will settle at, and the guide says the
//! call may be temporarily nonsecure or unknown; reporting the old status
//! during that window would overstate the call's security. So each leg is
//! either settled at a mode or re-negotiating, the call status is computed
//! from all of them, and every change is returned to the caller so it can be
//! logged and counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::SecurityMode;

/// A leg's identity within its call (the control plane's leg index).
pub type LegId = usize;

/// A call's security status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallSecurity {
    /// Every leg is encrypted.
    Encrypted,
    /// Every leg is at least authenticated, and one is not encrypted.
    Authenticated,
    /// Some settled leg is nonsecure.
    Nonsecure,
    /// A leg is re-negotiating (or no leg has settled yet).
    Unknown,
}

impl CallSecurity {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallSecurity::Encrypted => "encrypted",
            CallSecurity::Authenticated => "authenticated",
            CallSecurity::Nonsecure => "nonsecure",
            CallSecurity::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for CallSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum LegState {
    Settled(SecurityMode),
    Renegotiating,
}

/// One call's security state: each leg settled at a mode or re-negotiating,
/// and the policy generation the call was admitted under.
///
/// Every transition returns `Some(new_status)` when the call's status
/// changed, `None` otherwise; that is the hook callers log and count with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallSecurityState {
    legs: BTreeMap<LegId, LegState>,
    generation: u64,
    status: CallSecurity,
}

impl CallSecurityState {
    /// A call admitted under policy `generation`, with no leg yet (status
    /// [`CallSecurity::Unknown`]).
    pub fn new(generation: u64) -> CallSecurityState {
        CallSecurityState {
            legs: BTreeMap::new(),
            generation,
            status: CallSecurity::Unknown,
        }
    }

    /// A call admitted under `generation` whose legs are already settled.
    pub fn with_legs(generation: u64, modes: &[SecurityMode]) -> CallSecurityState {
        let mut s = CallSecurityState::new(generation);
        for (i, m) in modes.iter().enumerate() {
            s.legs.insert(i, LegState::Settled(*m));
        }
        s.status = s.compute();
        s
    }

    /// The policy generation the call was admitted under.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records that the call was re-admitted under a newer policy (after its
    /// legs were re-decided).
    pub fn readmit(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// The call's security status.
    pub fn status(&self) -> CallSecurity {
        self.status
    }

    /// A leg's settled mode (`None`: unknown leg or re-negotiating).
    pub fn leg_mode(&self, leg: LegId) -> Option<SecurityMode> {
        match self.legs.get(&leg) {
            Some(LegState::Settled(m)) => Some(*m),
            _ => None,
        }
    }

    /// A leg started re-negotiating (hold, resume, transfer, forward): the
    /// call's status is unknown until it settles. Adds the leg if new.
    pub fn leg_renegotiating(&mut self, leg: LegId) -> Option<CallSecurity> {
        self.legs.insert(leg, LegState::Renegotiating);
        self.update()
    }

    /// A leg settled at `mode` (new legs are added this way too).
    pub fn leg_settled(&mut self, leg: LegId, mode: SecurityMode) -> Option<CallSecurity> {
        self.legs.insert(leg, LegState::Settled(mode));
        self.update()
    }

    /// A leg left the call.
    pub fn leg_removed(&mut self, leg: LegId) -> Option<CallSecurity> {
        self.legs.remove(&leg);
        self.update()
    }

    fn update(&mut self) -> Option<CallSecurity> {
        let new = self.compute();
        if new == self.status {
            None
        } else {
            self.status = new;
            Some(new)
        }
    }

    fn compute(&self) -> CallSecurity {
        if self.legs.is_empty() {
            return CallSecurity::Unknown;
        }
        let mut weakest = SecurityMode::Encrypted;
        for s in self.legs.values() {
            match s {
                LegState::Renegotiating => return CallSecurity::Unknown,
                LegState::Settled(m) => weakest = weakest.min(*m),
            }
        }
        match weakest {
            SecurityMode::Encrypted => CallSecurity::Encrypted,
            SecurityMode::Authenticated => CallSecurity::Authenticated,
            SecurityMode::Nonsecure => CallSecurity::Nonsecure,
        }
    }
}

/// Ids of the calls admitted under a generation older than `current`: the
/// calls a mode change has not reached yet. `calls` yields (call id,
/// generation admitted under); the answer keeps their order.
pub fn stale_calls<'a, I>(calls: I, current: u64) -> Vec<&'a str>
where
    I: IntoIterator<Item = (&'a str, u64)>,
{
    calls
        .into_iter()
        .filter(|&(_, g)| g < current)
        .map(|(id, _)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SecurityMode::*;

    #[test]
    fn policy_status_is_weakest_leg() {
        let s = CallSecurityState::with_legs(1, &[Encrypted, Authenticated]);
        assert_eq!(s.status(), CallSecurity::Authenticated);
        let s = CallSecurityState::with_legs(1, &[Encrypted, Encrypted]);
        assert_eq!(s.status(), CallSecurity::Encrypted);
        let s = CallSecurityState::with_legs(1, &[Authenticated, Nonsecure]);
        assert_eq!(s.status(), CallSecurity::Nonsecure);
        assert_eq!(CallSecurityState::new(1).status(), CallSecurity::Unknown);
    }

    #[test]
    fn policy_stale_calls_filters_older_generations() {
        let calls = [("a", 1), ("b", 2), ("c", 3)];
        assert_eq!(stale_calls(calls, 3), vec!["a", "b"]);
        assert!(stale_calls(calls, 1).is_empty());
    }
}
