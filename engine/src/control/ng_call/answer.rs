//! An answer: the answerer's suite and keys, the offerer's side keyed to
//! match, the SDP rewritten toward the offerer, and the data plane brought
//! to the negotiated state.

use super::*;
use crate::control::sdp::webrtc::Setup;

/// A media section of the answer, read before the SDP is rewritten.
struct AnsweredSection {
    rejected: bool,
    /// The profile, `UDP/TLS` folded to its SDES twin.
    proto: String,
    /// The profile as the peer wrote it.
    raw_proto: String,
    /// What it says about ICE and DTLS.
    peer: webrtc::PeerSide,
    crypto: Vec<CryptoAttr>,
    mux: bool,
    /// The section (or the session) says `a=cryptex`.
    cryptex: bool,
    /// The extension IDs it encrypts (RFC 6904), and every ID it maps.
    encrypted: Vec<u8>,
    mapped: Vec<u8>,
    remote: (Option<SocketAddr>, Option<SocketAddr>, bool),
}

/// Reads every media section of the answer.
fn read_answer(
    sdp: &Sdp,
    dtls_enabled: bool,
    follows: &[Option<usize>],
    warnings: &mut Vec<String>,
) -> Result<Vec<AnsweredSection>, NgError> {
    let mut out: Vec<AnsweredSection> = Vec::with_capacity(sdp.media().len());
    for (i, m) in sdp.media().iter().enumerate() {
        // A section Rampart bundled toward the answerer has the owner's
        // transport, whatever it repeats of it.
        let owner = follows
            .get(i)
            .copied()
            .flatten()
            .and_then(|o| out.get(o).map(|s| (s.peer.clone(), s.remote)));
        let bundled = owner.is_some();
        let (peer, remote) = match owner {
            Some((peer, remote)) => (
                webrtc::PeerSide {
                    mid: webrtc::read_peer_mid(m).mid,
                    ..peer
                },
                remote,
            ),
            None => (
                webrtc::read_peer(sdp, m, dtls_enabled, warnings)?,
                remote_of(m, sdp),
            ),
        };
        out.push(AnsweredSection {
            rejected: m.is_rejected(),
            proto: normalize_proto(m.proto()),
            raw_proto: m.proto().to_string(),
            peer,
            crypto: m.crypto().map_err(|e| sdp_error("answer", e))?,
            mux: m.rtcp_mux() || bundled,
            cryptex: cryptex::said(sdp, m),
            encrypted: hdrext::encrypted(m),
            mapped: hdrext::mapped(m),
            remote,
        });
    }
    Ok(out)
}

/// The answerer's keys for one section: the offered suite its `a=crypto`
/// line picked, with its key and Rampart's key for that suite; `None` for
/// plain RTP.
fn answerer_keys(
    ly: &mut StreamLeg,
    inp: &AnsweredSection,
    lifetime: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<SrtpKeys>, NgError> {
    if ly.offered.is_empty() {
        if !inp.crypto.is_empty() {
            warnings.push("a=crypto in the answer ignored: none was offered".into());
        }
        return Ok(None);
    }
    let Some(line) = inp.crypto.first() else {
        if proto_is_srtp(&inp.proto) {
            return Err(NgError::new(
                "the answer is SRTP but has no a=crypto line (DTLS-SRTP is not supported)",
            ));
        }
        return Ok(None); // the answerer chose plain RTP
    };
    let Some(&(_, suite)) = ly.offered.iter().find(|(t, _)| *t == line.tag) else {
        return Err(NgError::new(format!(
            "the answer's a=crypto tag {} was not offered",
            line.tag
        )));
    };
    if line.suite().ok() != Some(suite) {
        return Err(NgError::new(format!(
            "the answer's a=crypto tag {} names {} but {} was offered with it",
            line.tag,
            line.suite_name,
            suite.name()
        )));
    }
    let bad =
        |e: crate::control::sdes::SdesError| NgError::new(format!("the answer's a=crypto: {e}"));
    let inbound = line
        .keys
        .first()
        .ok_or_else(|| NgError::new("a=crypto without a key"))?
        .to_master_key(suite)
        .map_err(bad)?;
    let inbound_kdr = line.kdr().map_err(bad)?.unwrap_or(0);
    let outbound = ly.our_key(suite, lifetime)?;
    Ok(Some(SrtpKeys {
        suite,
        inbound,
        inbound_kdr,
        outbound,
        cryptex: false,
        encrypted_extensions: Vec::new(),
    }))
}

/// The offerer's keys once the answerer chose `y_suite`: the offerer's
/// line of that suite (or its first), and Rampart's key toward it, as the
/// `a=crypto` line of the answer to the offerer.
fn offerer_keys(
    lx: &mut StreamLeg,
    y_suite: Option<Suite>,
    lifetime: bool,
) -> Result<(Option<SrtpKeys>, Vec<CryptoAttr>), NgError> {
    let line = lx
        .peer_lines
        .iter()
        .find(|l| Some(l.suite) == y_suite)
        .or_else(|| lx.peer_lines.first())
        .cloned();
    let Some(l) = line else {
        return Ok((None, Vec::new()));
    };
    let outbound = lx.our_key(l.suite, lifetime)?;
    let crypto = vec![CryptoAttr::new(
        l.tag,
        l.suite,
        vec![InlineKey::from_master_key(&outbound)],
    )];
    let keys = SrtpKeys {
        suite: l.suite,
        inbound: l.key,
        inbound_kdr: l.kdr,
        outbound,
        cryptex: false,
        encrypted_extensions: Vec::new(),
    };
    Ok((Some(keys), crypto))
}

/// What an answerer chose for one section.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chosen {
    /// Plain RTP.
    Rtp,
    /// SDES with this suite.
    Sdes(Suite),
    /// DTLS-SRTP (the profile is known after the handshake; all encrypt).
    Dtls,
}

/// What the rewritten sections toward the offerer share.
struct TowardX<'a> {
    /// The answer's options.
    opts: &'a MediaOpts,
    /// Rampart's address toward the offerer.
    conn: &'a Connection,
    /// Policy requires cryptex on SDES legs.
    require_cryptex: bool,
}

/// The address for a held section: the unspecified one of `conn`'s family.
fn hold_connection(conn: &Connection) -> Connection {
    Connection::new(if conn.ip().is_some_and(|i| i.is_ipv6()) {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    })
}

/// What an answer negotiated: the SDP for the offerer and the policy's
/// decision for the answering side, which [`NgCall::settle_answer`]
/// records once the data plane runs what was negotiated.
pub struct Answered {
    /// The answer rewritten toward the offerer.
    pub sdp: String,
    /// What the policy decided for the answering side.
    pub decision: LegDecision,
}

impl NgCall {
    /// Handles the answer from the peer tagged `to_tag` to the pending
    /// offer: both sides' keys and addresses as they should run, and the
    /// SDP for the offerer. Touches no socket and no worker: the caller
    /// then installs it ([`NgCall::install`]) and settles it
    /// ([`NgCall::settle_answer`]).
    pub fn answer(
        &mut self,
        neg: &mut Negotiation<'_>,
        to_tag: Option<&str>,
        sdp_text: &str,
        (o, warnings): (&MediaOpts, &mut Vec<String>),
    ) -> Result<Answered, NgError> {
        let mut sdp = Sdp::parse(sdp_text).map_err(|e| sdp_error("answer", e))?;
        let x = self.pending_offerer.unwrap_or(self.last_offerer);
        let y = 1 - x;
        self.note_answer_tag(y, to_tag, warnings);
        if sdp.media().len() > self.streams.len() {
            return Err(NgError::new(format!(
                "the answer has {} media sections, the offer had {}",
                sdp.media().len(),
                self.streams.len()
            )));
        }
        let follows: Vec<Option<usize>> = self.streams.iter().map(|st| st.legs[y].bundle).collect();
        let ins = read_answer(&sdp, neg.dtls.is_some(), &follows, warnings)?;
        self.check_answered_groups(&sdp, y, warnings);
        sdp.remove_ice();
        sdp.remove_dtls();
        cryptex::strip_session(&mut sdp);
        merge_who(&mut self.who[y], &o.me);
        let dy = self.decide_answer(neg.policy, &ins, o, y, warnings)?;
        // A DTLS leg negotiates only the profiles its side's policy allows.
        let px = self.decisions[x]
            .as_ref()
            .map(|d| webrtc::allowed_profiles(&d.media))
            .unwrap_or_default();
        let py = webrtc::allowed_profiles(&dy.media);
        for st in &mut self.streams {
            st.legs[x].webrtc.profiles.clone_from(&px);
            st.legs[y].webrtc.profiles.clone_from(&py);
        }
        let conn_x = Connection::new(
            self.streams
                .first()
                .map(|st| st.legs[x].local_rtp.ip())
                .ok_or_else(|| NgError::new("no media to answer"))?,
        );
        let toward = TowardX {
            opts: o,
            conn: &conn_x,
            require_cryptex: neg.policy.require_cryptex(),
        };
        let mut session_hold = false;
        for (i, section) in ins.iter().zip(sdp.media_mut().iter_mut()).enumerate() {
            session_hold |= self.answer_section(i, section, x, &toward, warnings)?;
        }
        for (i, st) in self.streams.iter().enumerate().take(ins.len()) {
            // A bundled section shows its owner's transport (RFC 8843).
            let lx = match st.legs[x].bundle {
                Some(o) => &self.streams[o].legs[x],
                None => &st.legs[x],
            };
            if !st.rejected && lx.webrtc.active() {
                let setup = lx.webrtc.role.map(Setup::of_role);
                webrtc::write_local(&mut sdp, i, &lx.webrtc, lx.local_rtp, neg.dtls, setup);
            }
        }
        self.write_groups(&mut sdp, x);
        self.reject_unanswered(&mut sdp, x, ins.len(), warnings);
        rewrite_session_connection(&mut sdp, session_hold, &conn_x);
        if o.replace_origin || self.pending_opts.replace_origin {
            sdp.set_origin_address(&conn_x);
        }
        Ok(Answered {
            sdp: sdp.to_string(),
            decision: dy,
        })
    }

    /// Records the answerer's tag (a new one replaces the old, with a
    /// warning).
    fn note_answer_tag(&mut self, y: usize, to_tag: Option<&str>, warnings: &mut Vec<String>) {
        let Some(t) = to_tag else { return };
        match &self.tags[y] {
            Some(old) if old != t => {
                warnings.push(format!("answer from tag {t} replaces tag {old}"));
                self.tags[y] = Some(t.to_string());
            }
            None => self.tags[y] = Some(t.to_string()),
            _ => {}
        }
    }

    /// The security policy for the answering side: the suite it chose (or
    /// plain RTP) must fit what policy allows its device or kind.
    fn decide_answer(
        &self,
        policy: &crate::policy::Policy,
        ins: &[AnsweredSection],
        o: &MediaOpts,
        y: usize,
        warnings: &mut Vec<String>,
    ) -> Result<LegDecision, NgError> {
        let chosen: Vec<Chosen> = ins
            .iter()
            .enumerate()
            .filter(|(i, inp)| !inp.rejected && !self.streams[*i].rejected)
            .map(|(i, inp)| {
                let ly = &self.streams[i].legs[y];
                if ly.webrtc.dtls && inp.peer.dtls.is_some() {
                    return Chosen::Dtls;
                }
                if ly.offered.is_empty() {
                    return Chosen::Rtp;
                }
                let Some(line) = inp.crypto.first() else {
                    return Chosen::Rtp;
                };
                ly.offered
                    .iter()
                    .find(|(t, _)| *t == line.tag)
                    .map_or(Chosen::Rtp, |&(_, su)| Chosen::Sdes(su))
            })
            .collect();
        let fits = |d: &LegDecision| {
            chosen.iter().all(|c| match c {
                Chosen::Sdes(su) => d.media.allows(*su),
                Chosen::Dtls => webrtc::dtls_fits(&d.media),
                Chosen::Rtp => !d.media.needs_keys(),
            })
        };
        if let Some(d) = &self.decisions[y] {
            if o.me.security.is_none() && fits(d) {
                return Ok(d.clone());
            }
        }
        let derived = chosen
            .iter()
            .map(|c| match c {
                Chosen::Sdes(su) => mode_of_suite(*su),
                Chosen::Dtls => SecurityMode::Encrypted,
                Chosen::Rtp => SecurityMode::Nonsecure,
            })
            .min()
            .unwrap_or(SecurityMode::Nonsecure);
        let null_y = !chosen.is_empty()
            && chosen
                .iter()
                .all(|c| *c == Chosen::Sdes(PolicyMedia::NULL_SUITE));
        let req = self.who[y].security.unwrap_or(derived);
        let d = self.who[y]
            .decide(policy, req, null_y)
            .map_err(|m| policy_err(format!("the answering side: {m}")))?;
        if !fits(&d) {
            return Err(policy_err(format!(
                "the answer's media ({}) does not fit the {} leg policy gives the answering side",
                chosen
                    .iter()
                    .map(|c| match c {
                        Chosen::Sdes(su) => su.name(),
                        Chosen::Dtls => "DTLS-SRTP",
                        Chosen::Rtp => "RTP",
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                d.security
            )));
        }
        if let Some(w) = &d.warning {
            warnings.push(w.clone());
        }
        Ok(d)
    }

    /// Takes section `i` of the answer (from side `1 - x`), keys both
    /// sides, and rewrites it toward the offerer `x`. Returns whether the
    /// answerer put it on hold.
    fn answer_section(
        &mut self,
        i: usize,
        (inp, m): (&AnsweredSection, &mut Media),
        x: usize,
        toward: &TowardX<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<bool, NgError> {
        let (o, conn_x) = (toward.opts, toward.conn);
        let po = &self.pending_opts;
        let st = &mut self.streams[i];
        if st.rejected || inp.rejected {
            st.rejected = true;
            m.set_port(0);
            m.set_crypto(&[]);
            return Ok(false);
        }
        let (mut rtp, rtcp, mut hold) = inp.remote;
        // The answerer's side.
        let ly = &mut st.legs[1 - x];
        ly.peer_proto = inp.raw_proto.clone();
        webrtc::take_answerer(&mut ly.webrtc, &inp.peer, proto_is_srtp(&inp.proto))?;
        if ly.webrtc.ice.is_some() {
            // Its address comes from its nomination (see the offer).
            (rtp, hold) = (None, false);
        }
        ly.mux = ly.offered_mux && (inp.mux || po.mux_require);
        if !hold {
            ly.want.remote_rtp = rtp;
            ly.want.remote_rtcp = if ly.mux { None } else { rtcp };
        }
        ly.want.latch = if o.strict_source || po.strict_source {
            LatchMode::Strict
        } else {
            LatchMode::Authenticated
        };
        let y_keys = if ly.webrtc.dtls {
            None
        } else {
            answerer_keys(ly, inp, po.sdes_lifetime, warnings)?
        };
        let mut y_keys = y_keys;
        let said = (inp.cryptex, inp.encrypted.as_slice());
        cryptex::settle_answerer(&mut y_keys, ly, said, toward.require_cryptex, warnings)?;
        let y_suite = y_keys.as_ref().map(|k| k.suite);
        let y_mux = ly.mux;
        ly.want.srtp = y_keys;
        // The offerer's side.
        let lx = &mut st.legs[x];
        let (x_keys, crypto) = if lx.webrtc.dtls {
            (None, Vec::new())
        } else {
            offerer_keys(lx, y_suite, po.sdes_lifetime || o.sdes_lifetime)?
        };
        let mut x_keys = x_keys;
        cryptex::settle_offerer(&mut x_keys, lx, &inp.mapped);
        lx.want.srtp = x_keys;
        // WebRTC peers need RTCP muxed (RFC 8829 §5.1.3: rtcp-mux-policy).
        lx.mux = lx.bundle.is_some()
            || (lx.peer_offered_mux
                && !po.mux_reject
                && (po.mux_accept || po.mux_demux || y_mux || lx.webrtc.dtls));
        webrtc::answer_offerer(&mut lx.webrtc, o.dtls);
        let proto = if lx.webrtc.dtls {
            lx.peer_proto.clone()
        } else if lx.peer_proto.is_empty() {
            proto_with_srtp(&inp.proto, lx.want.srtp.is_some())
        } else if lx.want.srtp.is_none() && proto_is_srtp(&lx.peer_proto) {
            // Policy gave the offerer plain RTP (a downgrade, with a
            // warning): answer with the plain profile.
            proto_with_srtp(&lx.peer_proto, false)
        } else {
            lx.peer_proto.clone()
        };
        let conn = if hold {
            hold_connection(conn_x)
        } else {
            conn_x.clone()
        };
        rewrite(m, lx.local_rtp.port(), &conn, &proto, &crypto, lx.mux);
        cryptex::write_keys(m, lx.want.srtp.as_ref());
        if let Some(mid) = &lx.webrtc.mid {
            webrtc::ensure_mid(m, mid);
        }
        Ok(hold)
    }

    /// RFC 3264 §6: the answer has as many m= lines as the offer. A section
    /// the answerer left out is rejected (port 0 toward the offerer) and
    /// never relayed: it would otherwise run with the offer's side only (an
    /// SRTP section relayed as plain RTP).
    fn reject_unanswered(
        &mut self,
        sdp: &mut Sdp,
        x: usize,
        answered: usize,
        warnings: &mut Vec<String>,
    ) {
        for (i, st) in self.streams.iter_mut().enumerate().skip(answered) {
            if !st.rejected {
                warnings.push(format!(
                    "the answer has no {} section for m= line {} of the offer: rejected (port 0)",
                    st.kind,
                    i + 1
                ));
            }
            st.rejected = true;
            let proto = st.legs[x].peer_proto.clone();
            sdp.push_rejected_media(&st.kind, &proto, &st.formats);
        }
    }

    /// Records the answer once it runs: nothing pending, every section's
    /// ports out of the unanswered share of the pool, both sides settled
    /// at what policy decided.
    pub fn settle_answer(
        &mut self,
        status_changes: &mut Vec<(CallSecurity, Option<CallSecurity>)>,
        ports: &mut dyn PortSource,
        dy: LegDecision,
    ) {
        let x = self.pending_offerer.unwrap_or(self.last_offerer);
        let y = 1 - x;
        self.pending_offerer = None;
        self.pending_since_ms = None;
        self.answered = true;
        self.settled_streams = self.streams.len();
        for st in &self.streams {
            for l in st.legs.iter().filter(|l| l.bundle.is_none()) {
                ports.confirm(l.local_rtp);
            }
        }
        self.last_signal_ms = now_ms();
        let mx = self.decisions[x]
            .as_ref()
            .map_or(SecurityMode::Nonsecure, |d| d.security);
        let my = dy.security;
        self.decisions[y] = Some(dy);
        self.sec.readmit(self.pending_generation);
        for (side, mode) in [(x, mx), (y, my)] {
            let old = self.sec.status();
            let change = self.sec.leg_settled(side, mode);
            status_changes.push((old, change));
        }
    }
}
