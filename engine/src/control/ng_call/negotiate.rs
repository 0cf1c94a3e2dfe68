//! Offer/answer as a pure function of two SDPs, for tests and tools.

use super::*;

/// What [`negotiate_sdp`] produced: the offer as rewritten toward the
/// answerer and the answer as rewritten toward the offerer.
pub struct Negotiated {
    /// The offer toward the answerer.
    pub offer_out: String,
    /// The answer toward the offerer, `None` without an answer or when it
    /// was refused.
    pub answer_out: Option<String>,
    /// Warnings, as an ng reply would carry them.
    pub warnings: Vec<String>,
}

/// The pure part of an ng offer/answer over untrusted bytes, with no ports,
/// no data plane and fixed (non-secret) keys: the offer is parsed, its
/// `a=crypto` lines read (suites, keys, `KDR`, session parameters), each
/// section rewritten toward the answerer the way [`NgCall::offer`] does;
/// the answer is parsed, its chosen lines checked against what was
/// offered, missing sections rejected, and rewritten toward the offerer.
/// For the `sdp_offer_answer` fuzz target and tests: it must never panic.
pub fn negotiate_sdp(offer: &[u8], answer: Option<&[u8]>) -> Result<Negotiated, NgError> {
    let mut warnings = Vec::new();
    let here = Connection::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let mut sdp = Sdp::parse_bytes(offer).map_err(|e| sdp_error("offer", e))?;
    if sdp.media().len() > crate::control::sdp::MAX_MEDIA {
        return Err(NgError::new("too many media sections"));
    }
    sdp.remove_ice();
    sdp.remove_dtls();
    // Per section: (proto, offered (tag, suite), formats, kind).
    let mut offered = Vec::new();
    let mut reads = Vec::new();
    for m in sdp.media() {
        let proto = normalize_proto(m.proto());
        let lines = if proto_is_srtp(&proto) {
            peer_lines(m, &mut warnings)?
        } else {
            Vec::new()
        };
        let _ = remote_of(m, &sdp);
        reads.push((proto, lines, m.rtcp_mux(), m.is_rejected()));
    }
    for (i, ((proto, lines, mux, rejected), m)) in
        reads.iter().zip(sdp.media_mut().iter_mut()).enumerate()
    {
        let port = 40000u16.saturating_add(u16::try_from(i).unwrap_or(0).saturating_mul(2));
        let mut crypto = Vec::new();
        let mut tags = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            let tag = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
            crypto.push(CryptoAttr::new(
                tag,
                l.suite,
                vec![InlineKey::from_master_key(&fixed_key(l.suite)?)],
            ));
            tags.push((tag, l.suite));
        }
        if !rejected {
            rewrite(
                m,
                port,
                &here,
                &proto_with_srtp(proto, !lines.is_empty()),
                &crypto,
                *mux,
            );
        }
        offered.push((
            tags,
            proto.clone(),
            m.formats().to_vec(),
            m.kind().to_string(),
        ));
    }
    rewrite_session_connection(&mut sdp, false, &here);
    sdp.set_origin_address(&here);
    let offer_out = sdp.to_string();
    let Some(answer) = answer else {
        return Ok(Negotiated {
            offer_out,
            answer_out: None,
            warnings,
        });
    };
    let answer_out = negotiate_answer(answer, &offered, &here)?;
    Ok(Negotiated {
        offer_out,
        answer_out: Some(answer_out),
        warnings,
    })
}

/// A key of `suite` made of fixed bytes (nothing secret is negotiated here).
fn fixed_key(suite: Suite) -> Result<MasterKey, NgError> {
    let n = suite.master_key_len() + suite.master_salt_len();
    let bytes = [0x5au8; 46];
    MasterKey::from_concatenated(suite, bytes.get(..n).unwrap_or(&bytes))
        .map_err(|e| NgError::new(e.to_string()))
}

/// Per offered section: its (tag, suite) lines, profile, formats and kind.
type OfferedLines = (Vec<(u32, Suite)>, String, Vec<String>, String);

/// The answer half of [`negotiate_sdp`]: its chosen lines checked against
/// what was offered, missing sections rejected, rewritten toward the
/// offerer.
fn negotiate_answer(
    answer: &[u8],
    offered: &[OfferedLines],
    here: &Connection,
) -> Result<String, NgError> {
    let mut sdp = Sdp::parse_bytes(answer).map_err(|e| sdp_error("answer", e))?;
    sdp.remove_ice();
    sdp.remove_dtls();
    if sdp.media().len() > offered.len() {
        return Err(NgError::new(
            "the answer has more media sections than the offer",
        ));
    }
    for m in sdp.media() {
        let _ = remote_of(m, &sdp);
    }
    for (m, (tags, _, _, _)) in sdp.media_mut().iter_mut().zip(offered) {
        if m.is_rejected() {
            m.set_crypto(&[]);
            continue;
        }
        let crypto = m.crypto().map_err(|e| sdp_error("answer", e))?;
        let mut out = Vec::new();
        if let Some(line) = crypto.first() {
            let Some(&(_, suite)) = tags.iter().find(|(t, _)| *t == line.tag) else {
                return Err(NgError::new("the answer's a=crypto tag was not offered"));
            };
            if line.suite().ok() != Some(suite) {
                return Err(NgError::new("the answer's a=crypto suite does not match"));
            }
            let k = line
                .keys
                .first()
                .ok_or_else(|| NgError::new("a=crypto without a key"))?;
            k.to_master_key(suite)
                .map_err(|e| NgError::new(e.to_string()))?;
            line.kdr().map_err(|e| NgError::new(e.to_string()))?;
            out.push(CryptoAttr::new(
                line.tag,
                suite,
                vec![InlineKey::from_master_key(&fixed_key(suite)?)],
            ));
        }
        let proto = m.proto().to_string();
        let mux = m.rtcp_mux();
        rewrite(m, 42000, here, &proto, &out, mux);
    }
    for (_, proto, formats, kind) in offered.iter().skip(sdp.media().len()) {
        sdp.push_rejected_media(kind, proto, formats);
    }
    rewrite_session_connection(&mut sdp, false, here);
    Ok(sdp.to_string())
}
