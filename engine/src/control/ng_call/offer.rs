//! An offer: the offerer's side read and decided, ports reserved for new
//! sections, and the SDP rewritten toward the other side with Rampart's
//! address, ports and keys.

use super::*;

/// A media section of the offer, read before the SDP is rewritten.
struct OfferedSection {
    rejected: bool,
    v6: bool,
    /// The profile, `UDP/TLS` folded to its SDES twin.
    proto: String,
    /// The profile as the peer wrote it.
    raw_proto: String,
    /// What it says about ICE and DTLS.
    peer: webrtc::PeerSide,
    lines: Vec<PeerLine>,
    mux: bool,
    /// The section (or the session) says `a=cryptex`.
    cryptex: bool,
    /// The extension IDs it asks to encrypt (RFC 6904).
    encrypted: Vec<u8>,
    remote: (Option<SocketAddr>, Option<SocketAddr>, bool),
    kind: String,
    formats: Vec<String>,
}

/// What the policy decided for an offer: the offering side, the receiving
/// side when its subject is known, and the policy generation.
struct OfferDecision {
    x: LegDecision,
    y: Option<LegDecision>,
    generation: u64,
}

/// What the rewritten sections toward the receiving side share.
struct TowardY<'a> {
    /// What the offer toward it may carry.
    media: PolicyMedia,
    /// Suites Rampart may offer (config and SDES flags).
    allowed: Vec<Suite>,
    /// Rampart's address toward it.
    conn: Connection,
    /// It is reached over IPv6.
    v6: bool,
    opts: &'a MediaOpts,
    /// The node certificate's fingerprint (`None`: no DTLS here).
    dtls: Option<crate::dtls::Fingerprint>,
    /// Policy requires cryptex on SDES legs.
    require_cryptex: bool,
}

/// The profile toward the receiving side of an offer, and whether DTLS-SRTP
/// keys it there: `transport-protocol` if given, else the offerer's own
/// (a `UDP/TLS` offer stays DTLS unless `DTLS=off`). DTLS is never offered
/// where policy gives the side plain RTP or the node has no certificate.
fn profile_toward_y(
    inp: &OfferedSection,
    o: &MediaOpts,
    rtp_only: bool,
    dtls: bool,
) -> (String, bool) {
    let p = match &o.transport_protocol {
        Some(p) => p.clone(),
        None if inp.peer.dtls.is_some() => inp.raw_proto.clone(),
        None => inp.proto.clone(),
    };
    if webrtc::is_dtls_proto(&p) {
        if o.dtls != DtlsFlag::Off && dtls && !rtp_only {
            return (p, true);
        }
        return (normalize_proto(&p), false);
    }
    (p, false)
}

/// Removes the peer's ICE and DTLS attributes (Rampart writes its own
/// where a leg has them).
fn strip_ice(sdp: &mut Sdp) {
    sdp.remove_ice();
    sdp.remove_dtls();
}

/// Section `i` of an offer that follows `owner` in a bundle: the owner's
/// transport (its ICE, DTLS and address), the section's own `a=mid`,
/// media and keys; RTCP muxed (RFC 8843 §9).
fn follow(ins: &mut [OfferedSection], i: usize, owner: usize) {
    let (peer, remote, v6) = (ins[owner].peer.clone(), ins[owner].remote, ins[owner].v6);
    let s = &mut ins[i];
    let mid = s.peer.mid.take();
    s.peer = webrtc::PeerSide { mid, ..peer };
    s.remote = remote;
    s.v6 = v6;
}

/// Reads every media section of the offer.
fn read_offer(
    sdp: &Sdp,
    dtls_enabled: bool,
    follows: &[Option<usize>],
    warnings: &mut Vec<String>,
) -> Result<Vec<OfferedSection>, NgError> {
    let mut ins = Vec::with_capacity(sdp.media().len());
    for (i, m) in sdp.media().iter().enumerate() {
        if let Some(owner) = follows[i] {
            // Its transport is the owner's (read already); a bundle-only
            // section may carry none of its own.
            ins.push(OfferedSection {
                rejected: false,
                v6: false,
                proto: normalize_proto(m.proto()),
                raw_proto: m.proto().to_string(),
                peer: webrtc::read_peer_mid(m),
                lines: Vec::new(),
                mux: true,
                cryptex: cryptex::said(sdp, m),
                encrypted: hdrext::encrypted(m),
                remote: (None, None, false),
                kind: m.kind().to_string(),
                formats: m.formats().to_vec(),
            });
            follow(&mut ins, i, owner);
            continue;
        }
        let v6 = m
            .effective_connection(sdp)
            .as_ref()
            .is_some_and(|c| matches!(c.addr_type, crate::control::sdp::AddrType::Ip6));
        let proto = normalize_proto(m.proto());
        let peer = webrtc::read_peer(sdp, m, dtls_enabled, warnings)?;
        let lines = if proto_is_srtp(&proto) && peer.dtls.is_none() {
            let l = peer_lines(m, warnings)?;
            if l.is_empty() && !m.is_rejected() {
                return Err(NgError::new(format!(
                    "no usable a=crypto line in the offer's {} section",
                    m.kind()
                )));
            }
            l
        } else {
            Vec::new()
        };
        ins.push(OfferedSection {
            rejected: m.is_rejected(),
            v6,
            proto,
            raw_proto: m.proto().to_string(),
            peer,
            lines,
            mux: m.rtcp_mux(),
            cryptex: cryptex::said(sdp, m),
            encrypted: hdrext::encrypted(m),
            remote: remote_of(m, sdp),
            kind: m.kind().to_string(),
            formats: m.formats().to_vec(),
        });
    }
    if ins.is_empty() {
        return Err(NgError::new("the offer has no media section"));
    }
    Ok(ins)
}

/// The security policy for an offer: the offerer's side is decided from
/// its offer (the best suite it lists, capped at what its device or kind
/// may have, unless it asked for a mode); the other side now if its
/// subject is known (or the cluster is nonsecure), else at the answer.
fn decide_offer(
    policy: &crate::policy::Policy,
    who: &[LegWho; 2],
    ins: &[OfferedSection],
    o: &MediaOpts,
    (x, y): (usize, usize),
    dtls_enabled: bool,
) -> Result<OfferDecision, NgError> {
    let live: Vec<&OfferedSection> = ins.iter().filter(|i| !i.rejected).collect();
    let derived = live
        .iter()
        .map(|i| {
            if i.peer.dtls.is_some() {
                // Every DTLS-SRTP profile encrypts.
                SecurityMode::Encrypted
            } else if i.lines.is_empty() {
                SecurityMode::Nonsecure
            } else if i.lines.iter().any(|l| l.suite.encrypts()) {
                SecurityMode::Encrypted
            } else {
                SecurityMode::Authenticated
            }
        })
        .min()
        .unwrap_or(SecurityMode::Nonsecure);
    let null_x = !live.is_empty()
        && live
            .iter()
            .all(|i| i.lines.iter().any(|l| l.suite == PolicyMedia::NULL_SUITE));
    let req_x = who[x]
        .security
        .unwrap_or_else(|| cap(derived, who[x].ceiling(policy)));
    let dx = who[x]
        .decide(policy, req_x, null_x)
        .map_err(|m| policy_err(format!("the offering side: {m}")))?;
    let y_srtp_any = live.iter().any(|i| {
        let (p, dtls) = profile_toward_y(i, o, false, dtls_enabled);
        dtls || (!o.sdes_off && proto_is_srtp(&p))
    });
    let dy = if who[y].is_given()
        || who[y].security.is_some()
        || (policy.enforced() && policy.cluster_mode() == ClusterMode::Nonsecure)
    {
        let req_y = who[y].security.unwrap_or(if y_srtp_any {
            cap(SecurityMode::Encrypted, who[y].ceiling(policy))
        } else {
            SecurityMode::Nonsecure
        });
        Some(
            who[y]
                .decide(policy, req_y, true)
                .map_err(|m| policy_err(format!("the receiving side: {m}")))?,
        )
    } else {
        None
    };
    Ok(OfferDecision {
        x: dx,
        y: dy,
        generation: policy.generation(),
    })
}

/// Keeps the offerer's `a=crypto` lines its decision allows; refuses an
/// offer left with none where keys are needed.
fn keep_allowed_lines(ins: &mut [OfferedSection], dx: &LegDecision) -> Result<(), NgError> {
    for inp in ins.iter_mut().filter(|i| !i.rejected) {
        if inp.peer.dtls.is_some() && !webrtc::dtls_fits(&dx.media) {
            return Err(policy_err(format!(
                "a DTLS-SRTP leg cannot be an {} leg (policy allows it no DTLS-SRTP profile)",
                dx.security
            )));
        }
        if inp.lines.is_empty() {
            continue;
        }
        inp.lines.retain(|l| dx.media.allows(l.suite));
        if inp.lines.is_empty() && dx.media.needs_keys() {
            return Err(policy_err(format!(
                "none of the offer's a=crypto suites is allowed for an {} leg (see [security] \
                 srtp_suites and authenticated_media)",
                dx.security
            )));
        }
    }
    Ok(())
}

/// The suites to offer the receiving side for one section: the offerer's
/// (that Rampart allows) first, then Rampart's others unless `nonew`.
fn suites_toward_y(inp: &OfferedSection, y: &TowardY<'_>) -> Vec<Suite> {
    let suites = if y.media == PolicyMedia::NullCipher {
        vec![PolicyMedia::NULL_SUITE]
    } else if inp.lines.is_empty() {
        y.allowed.clone()
    } else {
        let mut v: Vec<Suite> = Vec::new();
        for l in &inp.lines {
            if y.allowed.contains(&l.suite) && !v.contains(&l.suite) {
                v.push(l.suite);
            }
        }
        if !y.opts.sdes_nonew {
            for a in &y.allowed {
                if !v.contains(a) {
                    v.push(*a);
                }
            }
        }
        v
    };
    suites
        .into_iter()
        .filter(|su| y.media.allows(*su))
        .collect()
}

impl NgCall {
    /// Handles an offer from the peer tagged `from_tag`: returns the SDP to
    /// send to the other peer. New sections take their ports from `ports`;
    /// nothing here touches a socket or the data plane (the answer starts
    /// the media), so offers are tested with made-up ports.
    pub fn offer(
        &mut self,
        neg: &mut Negotiation<'_>,
        ports: &mut dyn PortSource,
        from_tag: &str,
        sdp_text: &str,
        (o, warnings): (&MediaOpts, &mut Vec<String>),
    ) -> Result<String, NgError> {
        let cfg = neg.config;
        let mut sdp = Sdp::parse(sdp_text).map_err(|e| sdp_error("offer", e))?;
        // Each section holds two port pairs from the offer on.
        let max = cfg.ng.max_media_sections;
        if sdp.media().len() > max || self.streams.len() > max {
            return Err(NgError::new(format!(
                "the offer has {} media sections; a call may have at most {max} \
                 ([ng] max_media_sections)",
                sdp.media().len().max(self.streams.len())
            )));
        }
        let x = self.offering_side(from_tag, warnings);
        let y = 1 - x;
        let groups = bundle::offered(&sdp, neg.dtls.is_some());
        let mut ins = read_offer(&sdp, neg.dtls.is_some(), &groups.follows, warnings)?;
        strip_ice(&mut sdp);
        bundle::strip(&mut sdp);
        cryptex::strip_session(&mut sdp);
        let mut who = self.who.clone();
        merge_who(&mut who[x], &o.me);
        merge_who(&mut who[y], &o.peer);
        let d = decide_offer(neg.policy, &who, &ins, o, (x, y), neg.dtls.is_some())?;
        for w in
            d.x.warning
                .iter()
                .chain(d.y.as_ref().and_then(|d| d.warning.as_ref()))
        {
            warnings.push(w.clone());
        }
        let y_media = match &d.y {
            Some(d) => d.media.clone(),
            None if d.x.media == PolicyMedia::NullCipher => PolicyMedia::NullCipher,
            None => PolicyMedia::Srtp(neg.policy.srtp_suites().to_vec()),
        };
        keep_allowed_lines(&mut ins, &d.x)?;
        let x_v6 = ins.iter().find(|i| !i.rejected).is_some_and(|i| i.v6);
        let y_v6 = o.family_v6.unwrap_or(x_v6);
        let ip_x = media_address(cfg, x_v6, warnings)?;
        let ip_y = media_address(cfg, y_v6, warnings)?;
        let [ip_a, ip_b] = if x == 0 { [ip_x, ip_y] } else { [ip_y, ip_x] };
        self.reserve_sections(ports, &ins, ip_a, ip_b)?;
        self.bundle_sections(ports, (&groups.follows, &groups.owners), x);
        let toward = TowardY {
            media: y_media,
            allowed: allowed_suites(cfg, o),
            conn: Connection::new(self.streams[0].legs[y].local_rtp.ip()),
            v6: y_v6,
            opts: o,
            dtls: neg.dtls,
            require_cryptex: neg.policy.require_cryptex(),
        };
        if o.ice == IceFlag::Force && neg.dtls.is_none() {
            warnings.push("ICE=force ignored: WebRTC is disabled on this node".into());
        }
        let mut session_hold = false;
        for (i, (inp, m)) in ins.iter().zip(sdp.media_mut().iter_mut()).enumerate() {
            session_hold |= self.offer_section(ports, (i, inp, m), x, &toward)?;
        }
        self.bundle_toward(ports, &mut sdp, y);
        for (i, inp) in ins.iter().enumerate() {
            // A bundled section shows its owner's transport (RFC 8843).
            let ly = match self.streams[i].legs[y].bundle {
                Some(o) => &self.streams[o].legs[y],
                None => &self.streams[i].legs[y],
            };
            if !inp.rejected && ly.webrtc.active() {
                let setup = ly.webrtc.offered_setup;
                webrtc::write_local(&mut sdp, i, &ly.webrtc, ly.local_rtp, neg.dtls, setup);
            }
        }
        self.write_groups(&mut sdp, y);
        rewrite_session_connection(&mut sdp, session_hold, &toward.conn);
        if o.replace_origin {
            sdp.set_origin_address(&toward.conn);
        }
        self.settle_offer(neg, from_tag, x, o, who, d);
        Ok(sdp.to_string())
    }

    /// Which side offers: the side whose tag this is; a new call's caller;
    /// the callee re-offering before any tag of its own was seen.
    fn offering_side(&self, from_tag: &str, warnings: &mut Vec<String>) -> usize {
        match side_of(&self.tags, from_tag) {
            Some(x) => x,
            None if self.tags[0].is_none() => 0,
            None if self.tags[1].is_none()
                && self.pending_offerer.is_none()
                && !self.streams.is_empty() =>
            {
                1
            }
            None => {
                warnings.push("offer from an unknown tag replaces the calling side".into());
                0
            }
        }
    }

    /// New media sections get ports for both sides (`ip_a` faces side 0).
    fn reserve_sections(
        &mut self,
        ports: &mut dyn PortSource,
        ins: &[OfferedSection],
        ip_a: IpAddr,
        ip_b: IpAddr,
    ) -> Result<(), NgError> {
        while self.streams.len() < ins.len() {
            // Sections of an offer that fails later still time out.
            self.pending_since_ms.get_or_insert_with(now_ms);
            let i = self.streams.len();
            let a = ports.reserve(ip_a)?;
            let b = match ports.reserve(ip_b) {
                Ok(b) => b,
                Err(e) => {
                    ports.release(a);
                    return Err(e);
                }
            };
            self.streams.push(Stream {
                kind: ins[i].kind.clone(),
                formats: Vec::new(),
                dp_id: None,
                legs: [StreamLeg::new(a), StreamLeg::new(b)],
                reserved: true,
                rejected: false,
            });
        }
        Ok(())
    }

    /// Takes section `i` of the offer from side `x` and rewrites it toward
    /// the other side. Returns whether the offerer put it on hold.
    fn offer_section(
        &mut self,
        ports: &mut dyn PortSource,
        (i, inp, m): (usize, &OfferedSection, &mut Media),
        x: usize,
        toward: &TowardY<'_>,
    ) -> Result<bool, NgError> {
        let o = toward.opts;
        let st = &mut self.streams[i];
        st.rejected = inp.rejected;
        st.formats.clone_from(&inp.formats);
        if inp.rejected {
            return Ok(false);
        }
        if st.dp_id.is_none() && !st.reserved {
            // A section rejected while it ran comes back: its ports are
            // still this call's in the pool; open them again.
            for l in st.legs.iter().filter(|l| l.bundle.is_none()) {
                ports.reopen(l.local_rtp)?;
            }
            st.reserved = true;
        }
        let (mut rtp, rtcp, mut hold) = inp.remote;
        if inp.peer.ufrag.is_some() {
            // An ICE peer's address comes from its nomination; its c= may
            // be 0.0.0.0 with port 9 (RFC 8840), which is no hold.
            (rtp, hold) = (None, false);
        }
        let lx = &mut st.legs[x];
        lx.peer_proto = inp.raw_proto.clone();
        webrtc::take_offerer(&mut lx.webrtc, &inp.peer)?;
        lx.peer_lines = inp.lines.clone();
        lx.peer_offered_mux = inp.mux;
        let sdes = !inp.lines.is_empty();
        let said = (inp.cryptex, inp.encrypted.as_slice());
        cryptex::take_offerer(lx, said, sdes, toward.require_cryptex, &inp.kind)?;
        let x_headers = (lx.peer_cryptex, lx.peer_encrypted.clone());
        if !hold {
            lx.want.remote_rtp = rtp;
            lx.want.remote_rtcp = if inp.mux { None } else { rtcp };
        }
        lx.want.latch = if o.strict_source {
            LatchMode::Strict
        } else {
            LatchMode::Authenticated
        };
        let rtp_only = toward.media == PolicyMedia::Rtp;
        let (out_proto, y_dtls) = profile_toward_y(inp, o, rtp_only, toward.dtls.is_some());
        let y_srtp = !y_dtls && proto_is_srtp(&out_proto) && !o.sdes_off && !rtp_only;
        let out_proto = if y_dtls {
            out_proto
        } else {
            proto_with_srtp(&out_proto, y_srtp)
        };
        let y_ice = toward.dtls.is_some()
            && match o.ice {
                IceFlag::Force => true,
                IceFlag::Remove => false,
                IceFlag::Default => inp.peer.ufrag.is_some(),
            };
        let suites = if y_srtp {
            suites_toward_y(inp, toward)
        } else {
            Vec::new()
        };
        if y_srtp && suites.is_empty() {
            return Err(NgError::new(
                "no SRTP crypto suite left to offer (check the SDES flags and ng.sdes_suites)",
            ));
        }
        let ly = &mut st.legs[1 - x];
        webrtc::offer_toward(&mut ly.webrtc, y_ice, y_dtls.then_some(o.dtls))?;
        let mut lines = Vec::with_capacity(suites.len());
        ly.offered.clear();
        for (n, suite) in suites.iter().enumerate() {
            let k = ly.our_key(*suite, o.sdes_lifetime)?;
            let tag = n as u32 + 1;
            ly.offered.push((tag, *suite));
            lines.push(CryptoAttr::new(
                tag,
                *suite,
                vec![InlineKey::from_master_key(&k)],
            ));
        }
        ly.offered_mux = (inp.mux || o.mux_offer) && !o.mux_demux && !o.mux_reject;
        cryptex::offer_toward(ly, x_headers, y_srtp);
        let conn = if hold {
            Connection::new(if toward.v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            })
        } else {
            toward.conn.clone()
        };
        rewrite(
            m,
            ly.local_rtp.port(),
            &conn,
            &out_proto,
            &lines,
            ly.offered_mux,
        );
        cryptex::write(m, ly.offered_cryptex);
        hdrext::write(m, &ly.offered_encrypted);
        for l in lines.iter_mut() {
            l.keys.clear(); // drop the key copies now
        }
        if o.generate_mid {
            webrtc::ensure_mid(m, &i.to_string());
        }
        Ok(hold)
    }

    /// Records the offer: the offerer's tag, the pending offer, whom each
    /// side faces and what was decided; the offering side re-negotiates
    /// until the answer settles it.
    fn settle_offer(
        &mut self,
        neg: &mut Negotiation<'_>,
        from_tag: &str,
        x: usize,
        o: &MediaOpts,
        who: [LegWho; 2],
        d: OfferDecision,
    ) {
        if self.tags[x].is_none() {
            self.tags[x] = Some(from_tag.to_string());
        }
        self.pending_since_ms.get_or_insert_with(now_ms);
        self.pending_offerer = Some(x);
        self.last_offerer = x;
        self.pending_opts = o.clone();
        self.last_signal_ms = now_ms();
        self.who = who;
        self.decisions = [None, None];
        self.decisions[x] = Some(d.x);
        self.decisions[1 - x] = d.y;
        self.pending_generation = d.generation;
        let old = self.sec.status();
        let change = self.sec.leg_renegotiating(x);
        neg.status_changes.push((old, change));
    }
}
