//! Every transition of the per-call security status machine: each status
//! times each event, and the hold / transfer / forward sequences the guide
//! describes (secure → unknown while re-negotiating → settled).

use rampart::policy::{stale_calls, CallSecurity, CallSecurityState, SecurityMode};

use CallSecurity as S;
use SecurityMode::*;

/// A two-leg call in the given status.
fn call_in(status: S) -> CallSecurityState {
    let mut c = CallSecurityState::new(1);
    match status {
        S::Encrypted => {
            c.leg_settled(0, Encrypted);
            c.leg_settled(1, Encrypted);
        }
        S::Authenticated => {
            c.leg_settled(0, Encrypted);
            c.leg_settled(1, Authenticated);
        }
        S::Nonsecure => {
            c.leg_settled(0, Encrypted);
            c.leg_settled(1, Nonsecure);
        }
        S::Unknown => {
            c.leg_settled(0, Encrypted);
            c.leg_renegotiating(1);
        }
    }
    assert_eq!(c.status(), status);
    c
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Settle(SecurityMode),
    Renegotiate,
    Remove,
}

#[test]
fn every_status_times_every_event_on_leg_1() {
    // Leg 0 is encrypted throughout, so the status after the event is
    // decided by leg 1 alone.
    let events = [
        Event::Settle(Encrypted),
        Event::Settle(Authenticated),
        Event::Settle(Nonsecure),
        Event::Renegotiate,
        Event::Remove,
    ];
    for from in [S::Encrypted, S::Authenticated, S::Nonsecure, S::Unknown] {
        for ev in events {
            let mut c = call_in(from);
            let to = match ev {
                Event::Settle(Encrypted) | Event::Remove => S::Encrypted,
                Event::Settle(Authenticated) => S::Authenticated,
                Event::Settle(Nonsecure) => S::Nonsecure,
                Event::Renegotiate => S::Unknown,
            };
            let got = match ev {
                Event::Settle(m) => c.leg_settled(1, m),
                Event::Renegotiate => c.leg_renegotiating(1),
                Event::Remove => c.leg_removed(1),
            };
            assert_eq!(c.status(), to, "{from:?} --{ev:?}-->");
            let expected_hook = if to == from { None } else { Some(to) };
            assert_eq!(got, expected_hook, "{from:?} --{ev:?}--> hook");
        }
    }
}

#[test]
fn hold_makes_the_call_unknown_until_it_settles() {
    let mut c = CallSecurityState::new(7);
    assert_eq!(c.status(), S::Unknown, "no leg yet");
    assert_eq!(c.leg_settled(0, Encrypted), Some(S::Encrypted));
    assert_eq!(c.leg_settled(1, Encrypted), None);
    // Hold: leg 1 re-negotiates (music on hold may be inserted).
    assert_eq!(c.leg_renegotiating(1), Some(S::Unknown));
    assert_eq!(c.leg_mode(1), None);
    // Settles nonsecure (MoH is nonsecure).
    assert_eq!(c.leg_settled(1, Nonsecure), Some(S::Nonsecure));
    // Resume: re-negotiates again and settles encrypted.
    assert_eq!(c.leg_renegotiating(1), Some(S::Unknown));
    assert_eq!(c.leg_settled(1, Encrypted), Some(S::Encrypted));
    assert_eq!(c.generation(), 7);
}

#[test]
fn transfer_with_both_legs_renegotiating() {
    let mut c = CallSecurityState::with_legs(1, &[Encrypted, Encrypted]);
    assert_eq!(c.status(), S::Encrypted);
    assert_eq!(c.leg_renegotiating(0), Some(S::Unknown));
    assert_eq!(c.leg_renegotiating(1), None, "still unknown");
    assert_eq!(c.leg_settled(0, Authenticated), None, "leg 1 still open");
    assert_eq!(c.status(), S::Unknown);
    assert_eq!(c.leg_settled(1, Encrypted), Some(S::Authenticated));
}

#[test]
fn forward_to_a_new_leg() {
    let mut c = CallSecurityState::with_legs(1, &[Encrypted, Encrypted]);
    // The forwarded-to party joins as leg 2 while leg 1 is dropped.
    assert_eq!(c.leg_renegotiating(2), Some(S::Unknown));
    assert_eq!(c.leg_removed(1), None);
    assert_eq!(c.leg_settled(2, Authenticated), Some(S::Authenticated));
    assert_eq!(c.leg_removed(2), Some(S::Encrypted));
    assert_eq!(c.leg_removed(0), Some(S::Unknown), "no legs left");
}

#[test]
fn settling_at_the_same_mode_reports_no_change() {
    let mut c = CallSecurityState::with_legs(1, &[Nonsecure, Encrypted]);
    assert_eq!(c.leg_settled(0, Nonsecure), None);
    assert_eq!(c.leg_settled(1, Authenticated), None, "still nonsecure");
    assert_eq!(c.status(), S::Nonsecure);
}

#[test]
fn status_names() {
    for (s, n) in [
        (S::Encrypted, "encrypted"),
        (S::Authenticated, "authenticated"),
        (S::Nonsecure, "nonsecure"),
        (S::Unknown, "unknown"),
    ] {
        assert_eq!(s.as_str(), n);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{n}\""));
    }
}

#[test]
fn calls_under_an_older_generation_are_listed() {
    let mut a = CallSecurityState::with_legs(1, &[Encrypted, Encrypted]);
    let b = CallSecurityState::with_legs(2, &[Encrypted, Encrypted]);
    let calls = [("a", &a), ("b", &b)];
    assert_eq!(
        stale_calls(calls.iter().map(|(id, c)| (*id, c.generation())), 2),
        vec!["a"]
    );
    a.readmit(2);
    assert!(stale_calls([("a", a.generation())], 2).is_empty());
}
