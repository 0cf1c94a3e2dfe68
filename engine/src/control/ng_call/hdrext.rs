//! RFC 6904 encrypted header extensions (`a=extmap:<id>
//! urn:ietf:params:rtp-hdrext:encrypt <uri>`), negotiated between Rampart
//! and each SDES peer on its own, as cryptex is (see `cryptex` for why:
//! an `extmap` passed through untouched would have two peers encrypt an
//! extension for each other through a relay that does not).
//!
//! The IDs the offerer asked to encrypt are offered as such toward the
//! other side when it is SDES SRTP too (and as plain extensions when it is
//! not); the answerer's `encrypt` IDs among those are what runs on its
//! leg; toward the offerer, Rampart accepts every ID it asked to encrypt
//! whose extension the answer kept, and writes the answer's line for it in
//! the `encrypt` form.

use crate::control::sdp::Media;

/// RFC 6904 §4's URI.
const ENCRYPT: &str = "urn:ietf:params:rtp-hdrext:encrypt";

/// One `a=extmap` value: the ID, the `/direction` as written (with its
/// slash, or empty), whether it is the `encrypt` form, and the rest (the
/// extension's URI and attributes).
fn parse(v: &str) -> Option<(u8, &str, bool, &str)> {
    let (head, rest) = v.trim().split_once(char::is_whitespace)?;
    let (id, dir) = match head.find('/') {
        Some(i) => (&head[..i], &head[i..]),
        None => (head, ""),
    };
    let id: u8 = id.parse().ok().filter(|&i| (1..=255).contains(&i))?;
    let rest = rest.trim_start();
    match rest.strip_prefix(ENCRYPT) {
        Some(inner) if inner.starts_with(char::is_whitespace) => {
            Some((id, dir, true, inner.trim_start()))
        }
        _ => Some((id, dir, false, rest)),
    }
}

/// The IDs `m` asks to encrypt, ascending, without repeats.
pub(super) fn encrypted(m: &Media) -> Vec<u8> {
    let mut ids: Vec<u8> = m
        .attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case("extmap"))
        .filter_map(|(_, v)| parse(v?))
        .filter(|&(_, _, enc, _)| enc)
        .map(|(id, ..)| id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The IDs of every extension `m` maps.
pub(super) fn mapped(m: &Media) -> Vec<u8> {
    m.attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case("extmap"))
        .filter_map(|(_, v)| parse(v?))
        .map(|(id, ..)| id)
        .collect()
}

/// Writes every `a=extmap` of `m` in the `encrypt` form exactly for the
/// IDs in `encrypt`, and in the plain form for the others.
pub(super) fn write(m: &mut Media, encrypt: &[u8]) {
    m.rewrite_attribute("extmap", |v| match parse(v) {
        Some((id, dir, _, inner)) if encrypt.contains(&id) => {
            format!("{id}{dir} {ENCRYPT} {inner}")
        }
        Some((id, dir, _, inner)) => format!("{id}{dir} {inner}"),
        None => v.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extmap_values_are_read_in_both_forms() {
        assert_eq!(
            parse("3 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on"),
            Some((
                3,
                "",
                false,
                "urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on"
            ))
        );
        assert_eq!(
            parse(
                "5/sendonly urn:ietf:params:rtp-hdrext:encrypt urn:ietf:params:rtp-hdrext:toffset"
            ),
            Some((5, "/sendonly", true, "urn:ietf:params:rtp-hdrext:toffset"))
        );
        assert_eq!(parse("0 urn:x"), None, "ID 0 is not an extension");
        assert_eq!(parse("300 urn:x"), None);
        assert_eq!(parse("nonsense"), None);
        // `encrypt` must be its own token.
        assert_eq!(
            parse("4 urn:ietf:params:rtp-hdrext:encryptx"),
            Some((4, "", false, "urn:ietf:params:rtp-hdrext:encryptx"))
        );
    }
}

#[cfg(test)]
mod negotiation {
    use super::super::cryptex::tests::{negotiate, Negotiated};
    use super::super::MediaOpts;

    const LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    const TOFFSET: &str = "urn:ietf:params:rtp-hdrext:toffset";

    fn enc(id: u8, uri: &str) -> String {
        format!("a=extmap:{id} urn:ietf:params:rtp-hdrext:encrypt {uri}\r\n")
    }

    fn plain(id: u8, uri: &str) -> String {
        format!("a=extmap:{id} {uri}\r\n")
    }

    fn run(offer: &str, answer: &str, opts: MediaOpts) -> Negotiated {
        negotiate((None, offer), (None, answer), opts)
    }

    #[test]
    fn an_extension_both_encrypt_runs_encrypted_on_both_legs() {
        let offer = enc(1, LEVEL) + &plain(2, TOFFSET);
        let n = run(
            &offer,
            &(enc(1, LEVEL) + &plain(2, TOFFSET)),
            MediaOpts::default(),
        );
        assert!(
            n.to_b.contains(&enc(1, LEVEL)) && n.to_b.contains(&plain(2, TOFFSET)),
            "{}",
            n.to_b
        );
        assert!(n.to_a.contains(&enc(1, LEVEL)), "{}", n.to_a);
        assert_eq!(n.encrypted, [Some(vec![1]), Some(vec![1])]);
    }

    #[test]
    fn an_answerer_that_keeps_it_in_the_clear_gets_it_in_the_clear() {
        // B keeps extension 1 but not encrypted: Rampart still encrypts it
        // with A (and writes the encrypt form in the answer to A).
        let n = run(&enc(1, LEVEL), &plain(1, LEVEL), MediaOpts::default());
        assert!(n.to_a.contains(&enc(1, LEVEL)), "{}", n.to_a);
        assert_eq!(n.encrypted, [Some(vec![1]), Some(vec![])]);
    }

    #[test]
    fn an_extension_the_answer_drops_is_encrypted_nowhere() {
        let n = run(
            &(enc(1, LEVEL) + &enc(3, TOFFSET)),
            &enc(3, TOFFSET),
            MediaOpts::default(),
        );
        assert_eq!(n.encrypted, [Some(vec![3]), Some(vec![3])]);
    }

    #[test]
    fn nothing_encrypted_unless_offered_and_a_stray_encrypt_is_ignored() {
        let n = run(&plain(1, LEVEL), &enc(1, LEVEL), MediaOpts::default());
        assert!(!n.to_a.contains("rtp-hdrext:encrypt"), "{}", n.to_a);
        assert_eq!(n.encrypted, [Some(vec![]), Some(vec![])]);
        assert!(
            n.warnings
                .iter()
                .any(|w| w.contains("rtp-hdrext:encrypt in the answer ignored")),
            "{:?}",
            n.warnings
        );
    }

    #[test]
    fn a_plain_rtp_side_sees_the_extension_in_the_clear() {
        let opts = MediaOpts {
            transport_protocol: Some("RTP/AVP".into()),
            ..MediaOpts::default()
        };
        let n = run(&enc(1, LEVEL), &plain(1, LEVEL), opts);
        assert!(
            n.to_b.contains(&plain(1, LEVEL)) && !n.to_b.contains("rtp-hdrext:encrypt"),
            "{}",
            n.to_b
        );
        assert_eq!(n.encrypted, [Some(vec![1]), None]);
    }
}
