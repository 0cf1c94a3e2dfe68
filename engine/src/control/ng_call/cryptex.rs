//! RFC 9335 cryptex, negotiated between Rampart and each SDES peer on its
//! own.
//!
//! Why per leg: Rampart ends SRTP on every leg, so what one peer and
//! Rampart agree on binds no one else. Forwarding `a=cryptex` untouched (as
//! any unknown attribute) would tell two peers they encrypt headers with
//! each other while Rampart, between them, does not: their extensions and
//! payloads would reach the far side scrambled. So the attribute is read
//! from the offer (media or session level), Rampart offers it toward the
//! other side only when the offerer did (a peer that never asked keeps the
//! SDP it would have had), answers it to the offerer whenever it offered
//! (Rampart supports it), and keys each leg with cryptex when both sides
//! of that leg said so. A leg with cryptex sends it; a leg's receiver
//! takes both forms (RFC 9335 §5.3). DTLS-SRTP legs do not negotiate it
//! yet: the attribute is dropped toward them.

use super::{hdrext, NgError, SrtpKeys, StreamLeg};
use crate::control::sdp::{Media, Sdp};

const ATTR: &str = "cryptex";

/// Whether `m` of `sdp` says `a=cryptex` (media or session level).
pub(super) fn said(sdp: &Sdp, m: &Media) -> bool {
    let has = |mut it: Box<dyn Iterator<Item = (&str, Option<&str>)> + '_>| {
        it.any(|(n, _)| n.eq_ignore_ascii_case(ATTR))
    };
    has(Box::new(m.attributes())) || has(Box::new(sdp.attributes()))
}

/// Drops a session-level `a=cryptex` (Rampart writes the media level).
pub(super) fn strip_session(sdp: &mut Sdp) {
    sdp.remove_attribute(ATTR);
}

/// The offerer's header protection as it asked for it: `said` (its
/// `a=cryptex` and `encrypt` IDs) counts on an SDES leg only. Refused when
/// policy requires cryptex and an SDES offer has none.
pub(super) fn take_offerer(
    lx: &mut StreamLeg,
    (cryptex, encrypted): (bool, &[u8]),
    sdes: bool,
    require: bool,
    kind: &str,
) -> Result<(), NgError> {
    if require && sdes && !cryptex {
        return Err(NgError::new(format!(
            "security policy requires cryptex (RFC 9335) on SDES legs: the offer's {kind} \
             section has no a=cryptex ([security] require_cryptex)"
        )));
    }
    lx.peer_cryptex = cryptex && sdes;
    lx.peer_encrypted = if sdes { encrypted.to_vec() } else { Vec::new() };
    Ok(())
}

/// What Rampart offers the other side: the offerer's cryptex and
/// encrypted IDs (`asked`) when that side is SDES SRTP too, else none.
pub(super) fn offer_toward(ly: &mut StreamLeg, asked: (bool, Vec<u8>), sdes: bool) {
    ly.offered_cryptex = asked.0 && sdes;
    ly.offered_encrypted = if sdes { asked.1 } else { Vec::new() };
}

/// The answerer's header protection: cryptex when Rampart offered it and
/// the answer accepts it (RFC 9335 §6); the IDs Rampart offered to encrypt
/// that the answer encrypts (RFC 6904). `said`: the answer's `a=cryptex`
/// and `encrypt` IDs. Refused when policy requires cryptex and the SDES
/// answer has none; what was not offered is ignored with a warning.
pub(super) fn settle_answerer(
    keys: &mut Option<SrtpKeys>,
    ly: &StreamLeg,
    (cryptex, encrypted): (bool, &[u8]),
    require: bool,
    warnings: &mut Vec<String>,
) -> Result<(), NgError> {
    if let Some(k) = keys.as_mut() {
        k.cryptex = ly.offered_cryptex && cryptex;
        k.encrypted_extensions = encrypted
            .iter()
            .copied()
            .filter(|id| ly.offered_encrypted.contains(id))
            .collect();
    }
    if encrypted
        .iter()
        .any(|id| !ly.offered_encrypted.contains(id))
    {
        warnings.push(
            "a=extmap with urn:ietf:params:rtp-hdrext:encrypt in the answer ignored for \
             extensions not offered encrypted"
                .into(),
        );
    }
    if require && keys.is_some() && !cryptex {
        return Err(NgError::new(
            "security policy requires cryptex (RFC 9335) on SDES legs: the answer has \
             no a=cryptex ([security] require_cryptex)",
        ));
    }
    if cryptex && !ly.offered_cryptex {
        warnings.push("a=cryptex in the answer ignored: it was not offered".into());
    }
    Ok(())
}

/// The offerer's header protection: Rampart accepts its cryptex whatever
/// the other side chose, and every extension it asked to encrypt that
/// the answer kept (`mapped`: the answer's extension IDs).
pub(super) fn settle_offerer(keys: &mut Option<SrtpKeys>, lx: &StreamLeg, mapped: &[u8]) {
    if let Some(k) = keys.as_mut() {
        k.cryptex = lx.peer_cryptex;
        k.encrypted_extensions = lx
            .peer_encrypted
            .iter()
            .copied()
            .filter(|id| mapped.contains(id))
            .collect();
    }
}

/// Writes `a=cryptex` and the `extmap` forms into `m` as `keys` run them
/// (none for plain RTP or DTLS).
pub(super) fn write_keys(m: &mut Media, keys: Option<&SrtpKeys>) {
    write(m, keys.is_some_and(|k| k.cryptex));
    hdrext::write(m, keys.map_or(&[][..], |k| &k.encrypted_extensions));
}

/// Makes `m` say `a=cryptex` exactly when `on`.
pub(super) fn write(m: &mut Media, on: bool) {
    m.remove_attribute(ATTR);
    if on {
        m.add_attribute(ATTR, None);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::MadeUpPorts;
    use super::super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::new(Suite::AesCm128HmacSha1_80, &[b; 16], &[b ^ 1; 14]).unwrap()
    }

    /// An SDES phone's SDP: `cryptex` at media level, session level, or not
    /// at all, and `extra` media-level lines (`a=extmap`).
    fn phone(port: u16, k: &MasterKey, cryptex: Option<&str>, extra: &str) -> String {
        let line = CryptoAttr::new(
            1,
            Suite::AesCm128HmacSha1_80,
            vec![InlineKey::from_master_key(k)],
        )
        .to_value();
        let session = if cryptex == Some("session") {
            "a=cryptex\r\n"
        } else {
            ""
        };
        let media = if cryptex == Some("media") {
            "a=cryptex\r\n"
        } else {
            ""
        };
        format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
             {session}m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:{line}\r\n{media}{extra}"
        )
    }

    fn cryptex_lines(sdp: &str) -> usize {
        sdp.lines().filter(|l| l.trim_end() == "a=cryptex").count()
    }

    /// What one negotiation gave: the SDP toward B, the SDP back to A,
    /// each leg's cryptex and RFC 6904 IDs (`None`: plain RTP), warnings.
    pub(in super::super) struct Negotiated {
        pub to_b: String,
        pub to_a: String,
        pub cryptex: [Option<bool>; 2],
        pub encrypted: [Option<Vec<u8>>; 2],
        pub warnings: Vec<String>,
    }

    /// Offer from A (`offer`: cryptex, extra lines), answer from B (same).
    pub(in super::super) fn negotiate(
        offer: (Option<&str>, &str),
        answer: (Option<&str>, &str),
        opts: MediaOpts,
    ) -> Negotiated {
        let mut cfg = Config::default();
        cfg.media.addresses = vec!["203.0.113.1".parse().unwrap()];
        let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
        let mut neg = Negotiation::new(&cfg, &policy);
        let mut call = NgCall::new("headers", 0, 0);
        let mut ports = MadeUpPorts::default();
        let mut warnings = Vec::new();
        let to_b = call
            .offer(
                &mut neg,
                &mut ports,
                "a",
                &phone(4000, &key(1), offer.0, offer.1),
                (&opts, &mut warnings),
            )
            .unwrap();
        let back = call
            .answer(
                &mut neg,
                Some("b"),
                &phone(5000, &key(2), answer.0, answer.1),
                (&MediaOpts::default(), &mut warnings),
            )
            .unwrap();
        let [a, b] = &call.streams[0].legs;
        let c = |l: &StreamLeg| l.want.srtp.as_ref().map(|k| k.cryptex);
        let e = |l: &StreamLeg| l.want.srtp.as_ref().map(|k| k.encrypted_extensions.clone());
        Negotiated {
            to_b,
            to_a: back.sdp,
            cryptex: [c(a), c(b)],
            encrypted: [e(a), e(b)],
            warnings,
        }
    }

    #[test]
    fn a_policy_that_requires_cryptex_refuses_sdes_peers_without_it() {
        let mut cfg = Config::default();
        cfg.media.addresses = vec!["203.0.113.1".parse().unwrap()];
        cfg.security.require_cryptex = true;
        let policy = crate::policy::Policy::from_config(&cfg.security).unwrap();
        let opts = MediaOpts::default();
        let run = |offer: Option<&str>, answer: Option<&str>| {
            let mut neg = Negotiation::new(&cfg, &policy);
            let mut call = NgCall::new("required", 0, 0);
            let mut ports = MadeUpPorts::default();
            let mut w = Vec::new();
            call.offer(
                &mut neg,
                &mut ports,
                "a",
                &phone(4000, &key(1), offer, ""),
                (&opts, &mut w),
            )?;
            call.answer(
                &mut neg,
                Some("b"),
                &phone(5000, &key(2), answer, ""),
                (&opts, &mut w),
            )
            .map(|_| ())
        };
        let e = run(None, Some("media")).unwrap_err();
        assert!(e.to_string().contains("requires cryptex"), "{e}");
        let e = run(Some("media"), None).unwrap_err();
        assert!(e.to_string().contains("the answer has no a=cryptex"), "{e}");
        run(Some("media"), Some("media")).expect("both sides run cryptex");
    }

    #[test]
    fn both_sides_agreeing_run_cryptex_on_both_legs() {
        let n = negotiate(
            (Some("media"), ""),
            (Some("media"), ""),
            MediaOpts::default(),
        );
        assert_eq!(cryptex_lines(&n.to_b), 1, "offered toward B:\n{}", n.to_b);
        assert_eq!(cryptex_lines(&n.to_a), 1, "answered to A:\n{}", n.to_a);
        assert_eq!(n.cryptex, [Some(true), Some(true)]);
        assert!(n.warnings.is_empty(), "{:?}", n.warnings);
    }

    #[test]
    fn a_side_that_declines_runs_without_and_the_other_keeps_it() {
        // B's answer has no a=cryptex: Rampart still answers A with it and
        // bridges (headers encrypted toward A, in the clear toward B).
        let n = negotiate((Some("media"), ""), (None, ""), MediaOpts::default());
        assert_eq!(cryptex_lines(&n.to_a), 1, "{}", n.to_a);
        assert_eq!(n.cryptex, [Some(true), Some(false)]);
    }

    #[test]
    fn session_level_cryptex_is_taken_and_written_per_section() {
        let n = negotiate(
            (Some("session"), ""),
            (Some("session"), ""),
            MediaOpts::default(),
        );
        for sdp in [&n.to_b, &n.to_a] {
            assert_eq!(cryptex_lines(sdp), 1, "{sdp}");
            let m = sdp.find("m=audio").unwrap();
            assert!(sdp[m..].contains("a=cryptex"), "at media level:\n{sdp}");
        }
        assert_eq!(n.cryptex, [Some(true), Some(true)]);
    }

    #[test]
    fn no_cryptex_unless_the_offerer_asked_and_a_stray_one_is_ignored() {
        let n = negotiate((None, ""), (Some("media"), ""), MediaOpts::default());
        assert_eq!(cryptex_lines(&n.to_b), 0, "{}", n.to_b);
        assert_eq!(cryptex_lines(&n.to_a), 0, "{}", n.to_a);
        assert_eq!(n.cryptex, [Some(false), Some(false)]);
        assert!(
            n.warnings
                .iter()
                .any(|w| w.contains("a=cryptex in the answer ignored")),
            "{:?}",
            n.warnings
        );
    }

    #[test]
    fn a_plain_rtp_side_is_offered_no_cryptex() {
        let opts = MediaOpts {
            transport_protocol: Some("RTP/AVP".into()),
            ..MediaOpts::default()
        };
        let n = negotiate((Some("media"), ""), (None, ""), opts);
        assert_eq!(cryptex_lines(&n.to_b), 0, "plain RTP toward B:\n{}", n.to_b);
        assert_eq!(cryptex_lines(&n.to_a), 1, "A keeps it:\n{}", n.to_a);
        assert_eq!(n.cryptex, [Some(true), None]);
    }
}
