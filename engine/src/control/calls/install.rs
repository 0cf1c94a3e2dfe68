//! Installing calls in the data plane: from what a leg should run to
//! sockets, SRTP contexts and flows, and from what runs to what should run
//! as one set of leg updates.
//!
//! Why pure: deciding *what changes* (a new remote, a key replaced in
//! place, a fresh context on a suite change) is the part with the security
//! rules in it (a fresh context restarts indexes, so it must never get a
//! key that ran before), and it is tested here without sockets or workers,
//! as `dataplane::relay` is. The HTTP API, ng and librampart all go
//! through [`leg_flows`] to start a leg and [`reconcile`] to change one.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use crate::dataplane::{
    ForwardMode, KeyChange, LatchMode, LegCounters, LegFlows, LegUpdate, RtpSocket,
};
use crate::srtp::{Context, MasterKey, Policy, Suite};

use super::super::keys::same_key;

/// The SRTP keys a leg should run.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct WantedKeys {
    /// The suite of both directions.
    pub suite: Suite,
    /// The key the leg's peer sends with.
    pub inbound: MasterKey,
    /// The peer's key derivation rate (SDES `KDR=`), 0 for none.
    pub inbound_kdr: u64,
    /// The key the node sends with toward the peer.
    pub outbound: MasterKey,
    /// RFC 9335 cryptex on this leg (both directions): header extensions
    /// and CSRCs encrypted when sending; received packets either way.
    #[serde(default)]
    pub cryptex: bool,
    /// RFC 6904: the header extension IDs whose elements are encrypted on
    /// this leg (both directions).
    #[serde(default)]
    pub encrypted_extensions: Vec<u8>,
}

/// What one leg of a data-plane call should run.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WantedLeg {
    /// Signalled remote RTP address (`None`: learn it by latching).
    pub remote_rtp: Option<SocketAddr>,
    /// Signalled remote RTCP address.
    pub remote_rtcp: Option<SocketAddr>,
    /// Latching.
    pub latch: LatchMode,
    /// SRTP keys, `None` for plain RTP.
    pub srtp: Option<WantedKeys>,
    /// How packets received on this leg reach the other.
    pub forward: ForwardMode,
    /// RTCP muxed on the RTP socket (RFC 5761).
    pub rtcp_mux: bool,
}

/// Why an install step cannot be done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallError {
    /// The SRTP core refused to build a context for the keys.
    Context(crate::Error),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::Context(e) => write!(f, "cannot build an SRTP context: {e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Context(e) => Some(e),
        }
    }
}

/// One SRTP context for `key` under `suite`.
pub fn context(
    suite: Suite,
    key: &MasterKey,
    replay_window: usize,
    (kdr, headers): (u64, &WantedKeys),
) -> Result<Context, InstallError> {
    Context::new(
        Policy::new(suite, key.clone())
            .replay_window(replay_window)
            .key_derivation_rate(kdr)
            .cryptex(headers.cryptex)
            .encrypt_header_extensions(&headers.encrypted_extensions),
    )
    .map_err(InstallError::Context)
}

/// The inbound and outbound contexts of `keys`.
pub fn contexts(
    keys: &WantedKeys,
    replay_window: usize,
) -> Result<(Context, Context), InstallError> {
    let (i, o) = (&keys.inbound, &keys.outbound);
    Ok((
        context(keys.suite, i, replay_window, (keys.inbound_kdr, keys))?,
        context(keys.suite, o, replay_window, (0, keys))?,
    ))
}

/// The flows that start `want` on these sockets.
pub fn leg_flows(
    want: &WantedLeg,
    rtp_socket: impl Into<RtpSocket>,
    rtcp_socket: Option<UdpSocket>,
    replay_window: usize,
    counters: Arc<LegCounters>,
) -> Result<LegFlows, InstallError> {
    let (srtp_in, srtp_out) = match &want.srtp {
        Some(k) => {
            let (i, o) = contexts(k, replay_window)?;
            (Some(i), Some(o))
        }
        None => (None, None),
    };
    Ok(LegFlows {
        rtp_socket: rtp_socket.into(),
        rtcp_socket,
        rtcp_mux: want.rtcp_mux,
        remote_rtp: want.remote_rtp,
        remote_rtcp: want.remote_rtcp,
        latch: want.latch,
        srtp_in,
        srtp_out,
        forward: want.forward,
        counters,
    })
}

/// Continues `flows`, built for a call taken over from another node, from
/// that node's checkpoint `cp`: each context's streams resumed past it
/// (new streams' SRTCP past `rtcp_margin`, see
/// [`crate::srtp::Context::resume`]), and a leg with no signalled remote
/// sends where the other node had latched.
pub fn resume_flows(
    flows: &mut LegFlows,
    cp: &crate::dataplane::relay::LegCheckpoint,
    rtcp_margin: u32,
) -> Result<(), InstallError> {
    for (c, streams) in [
        (flows.srtp_in.as_mut(), &cp.inbound),
        (flows.srtp_out.as_mut(), &cp.outbound),
    ] {
        if let Some(c) = c {
            c.resume(streams, rtcp_margin)
                .map_err(InstallError::Context)?;
        }
    }
    if flows.remote_rtp.is_none() {
        flows.remote_rtp = cp.latched_rtp;
        flows.remote_rtcp = flows.remote_rtcp.or(cp.latched_rtcp);
    }
    Ok(())
}

/// What fresh contexts a change from `installed` to `want` starts: their
/// keys must never have run in a context before (see the callers' key
/// bookkeeping), and the suite a replaced outbound context retires.
#[derive(Default)]
pub struct Freshness {
    /// The outbound key going into a fresh context.
    pub outbound: Option<MasterKey>,
    /// The inbound key going into a fresh context.
    pub inbound: Option<MasterKey>,
    /// The suite whose outbound context goes away.
    pub retired: Option<Suite>,
}

/// Which contexts a change from `installed` to `want` builds afresh.
pub fn freshness(installed: &WantedLeg, want: &WantedLeg) -> Freshness {
    match (&installed.srtp, &want.srtp) {
        (Some(a), Some(b)) if a.suite == b.suite => Freshness {
            inbound: (a.inbound_kdr != b.inbound_kdr).then(|| b.inbound.clone()),
            ..Freshness::default()
        },
        (old, Some(b)) => Freshness {
            outbound: Some(b.outbound.clone()),
            inbound: Some(b.inbound.clone()),
            retired: old.as_ref().map(|a| a.suite),
        },
        (old, None) => Freshness {
            retired: old.as_ref().map(|a| a.suite),
            ..Freshness::default()
        },
    }
}

/// The update that brings a running leg from `installed` to `want`, or
/// `None` when nothing changes. A remote address `None` in `want` keeps the
/// installed one (latching learns it). Keys of the same suite and rate are
/// replaced in place (ROC, replay and SRTCP index state kept); a new suite,
/// a new rate, or SRTP turned on builds fresh contexts.
pub fn reconcile(
    installed: &WantedLeg,
    want: &WantedLeg,
    replay_window: usize,
) -> Result<Option<LegUpdate>, InstallError> {
    let mut u = LegUpdate::default();
    let mut changed = false;
    if want.remote_rtp.is_some() && want.remote_rtp != installed.remote_rtp {
        u.remote_rtp = want.remote_rtp;
        changed = true;
    }
    if want.remote_rtcp.is_some() && want.remote_rtcp != installed.remote_rtcp {
        u.remote_rtcp = want.remote_rtcp;
        changed = true;
    }
    if want.latch != installed.latch {
        u.latch = Some(want.latch);
        changed = true;
    }
    if want.forward != installed.forward {
        u.forward = Some(want.forward);
        changed = true;
    }
    if want.rtcp_mux != installed.rtcp_mux {
        // The RTCP address goes with the mux choice: the new one, or none.
        u.rtcp_mux = Some(want.rtcp_mux);
        u.remote_rtcp = want.remote_rtcp;
        changed = true;
    }
    match (&installed.srtp, &want.srtp) {
        (None, None) => {}
        (Some(a), Some(b)) if a.suite == b.suite => {
            if a.inbound_kdr != b.inbound_kdr {
                // A new rate needs a context built with it.
                u.srtp_in = Some(KeyChange::Context(Some(context(
                    b.suite,
                    &b.inbound,
                    replay_window,
                    (b.inbound_kdr, b),
                )?)));
                changed = true;
            } else if !same_key(&a.inbound, &b.inbound) {
                u.srtp_in = Some(KeyChange::Replace(b.inbound.clone()));
                changed = true;
            }
            if !same_key(&a.outbound, &b.outbound) {
                u.srtp_out = Some(KeyChange::Replace(b.outbound.clone()));
                changed = true;
            }
            if a.cryptex != b.cryptex {
                // Turned in place: the streams, and their keystream, go on.
                u.cryptex = Some(b.cryptex);
                changed = true;
            }
            if a.encrypted_extensions != b.encrypted_extensions {
                u.encrypted_extensions = Some(b.encrypted_extensions.clone());
                changed = true;
            }
        }
        (_, Some(b)) => {
            let (i, o) = contexts(b, replay_window)?;
            u.srtp_in = Some(KeyChange::Context(Some(i)));
            u.srtp_out = Some(KeyChange::Context(Some(o)));
            changed = true;
        }
        (Some(_), None) => {
            u.srtp_in = Some(KeyChange::Context(None));
            u.srtp_out = Some(KeyChange::Context(None));
            changed = true;
        }
    }
    Ok(changed.then_some(u))
}

/// What runs after `want` was installed over `installed`: remote addresses
/// `want` leaves open stay as they were.
pub fn installed_after(installed: Option<&WantedLeg>, want: &WantedLeg) -> WantedLeg {
    let mut now = want.clone();
    if let Some(old) = installed {
        now.remote_rtp = now.remote_rtp.or(old.remote_rtp);
        if old.rtcp_mux == want.rtcp_mux {
            now.remote_rtcp = now.remote_rtcp.or(old.remote_rtcp);
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(suite: Suite, b: u8) -> MasterKey {
        MasterKey::new(
            suite,
            &vec![b; suite.master_key_len()],
            &vec![b ^ 0x5a; suite.master_salt_len()],
        )
        .unwrap()
    }

    fn srtp(suite: Suite, i: u8, o: u8) -> WantedLeg {
        WantedLeg {
            srtp: Some(WantedKeys {
                suite,
                inbound: key(suite, i),
                inbound_kdr: 0,
                outbound: key(suite, o),
                cryptex: false,
                encrypted_extensions: Vec::new(),
            }),
            ..WantedLeg::default()
        }
    }

    const S80: Suite = Suite::AesCm128HmacSha1_80;
    const GCM: Suite = Suite::AeadAes128Gcm;

    #[test]
    fn nothing_changes_nothing_is_sent() {
        let a = srtp(S80, 1, 2);
        assert!(reconcile(&a, &a.clone(), 128).unwrap().is_none());
    }

    #[test]
    fn cryptex_turns_in_place_without_new_contexts() {
        let mut on = srtp(S80, 1, 2);
        on.srtp.as_mut().unwrap().cryptex = true;
        let u = reconcile(&srtp(S80, 1, 2), &on, 128).unwrap().unwrap();
        assert_eq!(u.cryptex, Some(true));
        assert!(u.srtp_in.is_none() && u.srtp_out.is_none());
        let f = freshness(&srtp(S80, 1, 2), &on);
        assert!(f.outbound.is_none() && f.inbound.is_none());
        // A fresh context (SRTP turned on) is built with it.
        let u = reconcile(&WantedLeg::default(), &on, 128).unwrap().unwrap();
        let Some(KeyChange::Context(Some(c))) = u.srtp_out else {
            panic!("a fresh outbound context");
        };
        assert!(c.cryptex());
    }

    #[test]
    fn same_suite_new_keys_replace_in_place() {
        let u = reconcile(&srtp(S80, 1, 2), &srtp(S80, 3, 4), 128)
            .unwrap()
            .unwrap();
        assert!(matches!(u.srtp_in, Some(KeyChange::Replace(_))));
        assert!(matches!(u.srtp_out, Some(KeyChange::Replace(_))));
        let f = freshness(&srtp(S80, 1, 2), &srtp(S80, 3, 4));
        assert!(f.outbound.is_none() && f.inbound.is_none() && f.retired.is_none());
    }

    #[test]
    fn a_new_suite_builds_fresh_contexts_and_retires_the_old() {
        let u = reconcile(&srtp(S80, 1, 2), &srtp(GCM, 3, 4), 128)
            .unwrap()
            .unwrap();
        assert!(matches!(u.srtp_in, Some(KeyChange::Context(Some(_)))));
        assert!(matches!(u.srtp_out, Some(KeyChange::Context(Some(_)))));
        let f = freshness(&srtp(S80, 1, 2), &srtp(GCM, 3, 4));
        assert!(f.outbound.is_some() && f.inbound.is_some());
        assert_eq!(f.retired, Some(S80));
    }

    #[test]
    fn plain_rtp_drops_both_contexts() {
        let u = reconcile(&srtp(S80, 1, 2), &WantedLeg::default(), 128)
            .unwrap()
            .unwrap();
        assert!(matches!(u.srtp_in, Some(KeyChange::Context(None))));
        assert!(matches!(u.srtp_out, Some(KeyChange::Context(None))));
        assert_eq!(
            freshness(&srtp(S80, 1, 2), &WantedLeg::default()).retired,
            Some(S80)
        );
    }

    #[test]
    fn a_new_key_derivation_rate_rebuilds_only_inbound() {
        let mut b = srtp(S80, 1, 2);
        if let Some(k) = &mut b.srtp {
            k.inbound_kdr = 1 << 16;
        }
        let u = reconcile(&srtp(S80, 1, 2), &b, 128).unwrap().unwrap();
        assert!(matches!(u.srtp_in, Some(KeyChange::Context(Some(_)))));
        assert!(u.srtp_out.is_none());
    }

    #[test]
    fn an_open_remote_keeps_the_installed_one() {
        let old = WantedLeg {
            remote_rtp: Some("198.51.100.1:4000".parse().unwrap()),
            ..WantedLeg::default()
        };
        let want = WantedLeg::default();
        assert!(reconcile(&old, &want, 128).unwrap().is_none());
        assert_eq!(
            installed_after(Some(&old), &want).remote_rtp,
            old.remote_rtp
        );
        let moved = WantedLeg {
            remote_rtp: Some("198.51.100.2:4000".parse().unwrap()),
            ..WantedLeg::default()
        };
        let u = reconcile(&old, &moved, 128).unwrap().unwrap();
        assert_eq!(u.remote_rtp, moved.remote_rtp);
    }

    #[test]
    fn a_mux_change_takes_the_rtcp_address_with_it() {
        let old = WantedLeg {
            remote_rtp: Some("198.51.100.1:4000".parse().unwrap()),
            remote_rtcp: Some("198.51.100.1:4001".parse().unwrap()),
            ..WantedLeg::default()
        };
        let muxed = WantedLeg {
            rtcp_mux: true,
            ..WantedLeg::default()
        };
        let u = reconcile(&old, &muxed, 128).unwrap().unwrap();
        assert_eq!(u.rtcp_mux, Some(true));
        assert_eq!(u.remote_rtcp, None);
        let now = installed_after(Some(&old), &muxed);
        assert_eq!(now.remote_rtcp, None, "the old RTCP address is gone");
        assert_eq!(now.remote_rtp, old.remote_rtp);
    }
}
