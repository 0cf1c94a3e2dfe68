//! An answer: the answerer's suite and keys, the offerer's side keyed to
//! match, the SDP rewritten toward the offerer, and the data plane brought
//! to the negotiated state.

use super::*;

impl NgCall {
    /// Handles the answer from the peer tagged `to_tag` to the pending
    /// offer: returns the SDP for the offerer and starts or updates the
    /// data-plane calls.
    pub fn answer(
        &mut self,
        s: &Shared,
        to_tag: Option<&str>,
        sdp_text: &str,
        o: &MediaOpts,
        warnings: &mut Vec<String>,
    ) -> Result<String, NgError> {
        let cfg = &s.config;
        let mut sdp = Sdp::parse(sdp_text).map_err(|e| sdp_error("answer", e))?;
        let x = self.pending_offerer.unwrap_or(self.last_offerer);
        let y = 1 - x;
        if let Some(t) = to_tag {
            match &self.tags[y] {
                Some(old) if old != t => {
                    warnings.push(format!("answer from tag {t} replaces tag {old}"));
                    self.tags[y] = Some(t.to_string());
                }
                None => self.tags[y] = Some(t.to_string()),
                _ => {}
            }
        }
        sdp.remove_ice();
        sdp.remove_dtls();
        if sdp.media().len() > self.streams.len() {
            return Err(NgError::new(format!(
                "the answer has {} media sections, the offer had {}",
                sdp.media().len(),
                self.streams.len()
            )));
        }
        let po = self.pending_opts.clone();
        struct In {
            rejected: bool,
            proto: String,
            crypto: Vec<CryptoAttr>,
            mux: bool,
            remote: (Option<SocketAddr>, Option<SocketAddr>, bool),
        }
        let mut ins = Vec::new();
        for m in sdp.media() {
            ins.push(In {
                rejected: m.is_rejected(),
                proto: normalize_proto(m.proto()),
                crypto: m.crypto().map_err(|e| sdp_error("answer", e))?,
                mux: m.rtcp_mux(),
                remote: remote_of(m, &sdp),
            });
        }
        // The security policy for the answering side: the suite it chose
        // (or plain RTP) must fit what policy allows its device or kind.
        merge_who(&mut self.who[y], &o.me);
        let chosen: Vec<Option<Suite>> = ins
            .iter()
            .enumerate()
            .filter(|(i, inp)| !inp.rejected && !self.streams[*i].rejected)
            .map(|(i, inp)| {
                let ly = &self.streams[i].legs[y];
                if ly.offered.is_empty() {
                    return None;
                }
                inp.crypto.first().and_then(|line| {
                    ly.offered
                        .iter()
                        .find(|(t, _)| *t == line.tag)
                        .map(|&(_, su)| su)
                })
            })
            .collect();
        let fits = |d: &LegDecision| {
            chosen.iter().all(|c| match c {
                Some(su) => d.media.allows(*su),
                None => !d.media.needs_keys(),
            })
        };
        let dy = match &self.decisions[y] {
            Some(d) if o.me.security.is_none() && fits(d) => d.clone(),
            _ => {
                let derived = chosen
                    .iter()
                    .map(|c| c.map_or(SecurityMode::Nonsecure, mode_of_suite))
                    .min()
                    .unwrap_or(SecurityMode::Nonsecure);
                let null_y = !chosen.is_empty()
                    && chosen.iter().all(|c| *c == Some(PolicyMedia::NULL_SUITE));
                let req = self.who[y].security.unwrap_or(derived);
                let policy = s.security.policy();
                let d = self.who[y]
                    .decide(&policy, req, null_y)
                    .map_err(|m| policy_err(format!("the answering side: {m}")))?;
                if !fits(&d) {
                    return Err(policy_err(format!(
                        "the answer's media ({}) does not fit the {} leg policy gives the \
                         answering side",
                        chosen
                            .iter()
                            .map(|c| c.map_or("RTP", |su| su.name()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        d.security
                    )));
                }
                if let Some(w) = &d.warning {
                    warnings.push(w.clone());
                }
                d
            }
        };
        let conn_x = Connection::new(
            self.streams
                .first()
                .map(|st| st.legs[x].local_rtp.ip())
                .ok_or_else(|| NgError::new("no media to answer"))?,
        );
        let mut session_hold = false;
        for (i, (inp, m)) in ins.iter().zip(sdp.media_mut().iter_mut()).enumerate() {
            let st = &mut self.streams[i];
            if st.rejected || inp.rejected {
                st.rejected = true;
                m.set_port(0);
                m.set_crypto(&[]);
                continue;
            }
            let (rtp, rtcp, hold) = inp.remote;
            session_hold |= hold;
            // The answerer's side.
            let y_keys = {
                let ly = &mut st.legs[y];
                ly.peer_proto = inp.proto.clone();
                ly.mux = ly.offered_mux && inp.mux;
                if !hold {
                    ly.want.remote_rtp = rtp;
                    ly.want.remote_rtcp = if ly.mux { None } else { rtcp };
                }
                ly.want.latch = if o.strict_source || po.strict_source {
                    LatchMode::Strict
                } else {
                    LatchMode::Authenticated
                };
                if ly.offered.is_empty() {
                    if !inp.crypto.is_empty() {
                        warnings.push("a=crypto in the answer ignored: none was offered".into());
                    }
                    None
                } else if let Some(line) = inp.crypto.first() {
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
                    let inbound = line
                        .keys
                        .first()
                        .ok_or_else(|| NgError::new("a=crypto without a key"))?
                        .to_master_key(suite)
                        .map_err(|e| NgError::new(format!("the answer's a=crypto: {e}")))?;
                    let inbound_kdr = line
                        .kdr()
                        .map_err(|e| NgError::new(format!("the answer's a=crypto: {e}")))?
                        .unwrap_or(0);
                    let outbound = ly.our_key(suite, po.sdes_lifetime)?;
                    Some(SrtpKeys {
                        suite,
                        inbound,
                        inbound_kdr,
                        outbound,
                    })
                } else if proto_is_srtp(&inp.proto) {
                    return Err(NgError::new(
                        "the answer is SRTP but has no a=crypto line (DTLS-SRTP is not supported)",
                    ));
                } else {
                    None // the answerer chose plain RTP
                }
            };
            let y_suite = y_keys.as_ref().map(|k| k.suite);
            let y_mux = st.legs[y].mux;
            st.legs[y].want.srtp = y_keys;
            // The offerer's side.
            let lx = &mut st.legs[x];
            let x_line = if lx.peer_lines.is_empty() {
                None
            } else {
                let pick = lx
                    .peer_lines
                    .iter()
                    .find(|l| Some(l.suite) == y_suite)
                    .or_else(|| lx.peer_lines.first())
                    .cloned();
                pick
            };
            let mut crypto = Vec::new();
            lx.want.srtp = match x_line {
                Some(l) => {
                    let outbound = lx.our_key(l.suite, po.sdes_lifetime || o.sdes_lifetime)?;
                    crypto.push(CryptoAttr::new(
                        l.tag,
                        l.suite,
                        vec![InlineKey::from_master_key(&outbound)],
                    ));
                    Some(SrtpKeys {
                        suite: l.suite,
                        inbound: l.key,
                        inbound_kdr: l.kdr,
                        outbound,
                    })
                }
                None => None,
            };
            lx.mux =
                lx.peer_offered_mux && !po.mux_reject && (po.mux_accept || po.mux_demux || y_mux);
            let lx = &st.legs[x];
            let proto = if lx.peer_proto.is_empty() {
                proto_with_srtp(&inp.proto, lx.want.srtp.is_some())
            } else if lx.want.srtp.is_none() && proto_is_srtp(&lx.peer_proto) {
                // Policy gave the offerer plain RTP (a downgrade, with a
                // warning): answer with the plain profile.
                proto_with_srtp(&lx.peer_proto, false)
            } else {
                lx.peer_proto.clone()
            };
            let conn = if hold {
                Connection::new(if conn_x.ip().is_some_and(|i| i.is_ipv6()) {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                })
            } else {
                conn_x.clone()
            };
            rewrite(m, lx.local_rtp.port(), &conn, &proto, &crypto, lx.mux);
        }
        // RFC 3264 §6: the answer has as many m= lines as the offer. A
        // section the answerer left out is rejected (port 0 toward the
        // offerer) and never relayed: it would otherwise run with the
        // offer's side only (an SRTP section relayed as plain RTP).
        let answered = ins.len();
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
        rewrite_session_connection(&mut sdp, session_hold, &conn_x);
        if o.replace_origin || po.replace_origin {
            sdp.set_origin_address(&conn_x);
        }
        let out = sdp.to_string();
        self.apply(s, cfg, warnings)?;
        self.pending_offerer = None;
        self.pending_since_ms = None;
        self.answered = true;
        self.settled_streams = self.streams.len();
        // Answered: every section's pairs (relayed or rejected) leave the
        // unanswered share of the pool.
        {
            let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
            for st in &self.streams {
                for l in &st.legs {
                    pool.confirm(l.local_rtp);
                }
            }
        }
        self.last_signal_ms = now_ms();
        // Both sides settle at what policy decided.
        let mx = self.decisions[x]
            .as_ref()
            .map_or(SecurityMode::Nonsecure, |d| d.security);
        let my = dy.security;
        self.decisions[y] = Some(dy);
        self.sec.readmit(self.pending_generation);
        for (side, mode) in [(x, mx), (y, my)] {
            let old = self.sec.status();
            let change = self.sec.leg_settled(side, mode);
            s.security.note(&self.call_id, old, change);
        }
        Ok(out)
    }
}
