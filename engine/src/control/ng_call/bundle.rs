//! BUNDLE (RFC 8843) on the offering side of an ng call: a WebRTC peer
//! that offers `a=group:BUNDLE` gets one port for the group's sections.
//!
//! Why per leg and not per call: only the side that bundled shares a
//! port. The other side (a SIP phone) keeps one port per section, so each
//! section stays a data-plane call of its own, and the bundled leg of
//! every section but the first (the group's owner) joins the owner's
//! socket ([`crate::dataplane::RtpSocket::Bundled`]). The owner's ICE and
//! DTLS run for the whole group: its keys go to every member, and the
//! worker keeps the members' SSRCs apart under that one key.
//!
//! What is built: a peer's offered group is accepted in Rampart's answer
//! (the answer lists the group, every bundled section gets the owner's
//! port, ICE credentials, candidate and fingerprint), `a=bundle-only`
//! sections (port 0, as `max-bundle` offers them) are taken, not
//! rejected. What is not: Rampart does not offer BUNDLE toward a WebRTC
//! answerer, so a SIP-to-WebRTC call keeps one transport per section.

use super::*;

/// The offer's BUNDLE groups, as section indexes in section order:
/// `a=group:BUNDLE <mid> ...` mapped through each section's `a=mid`.
fn offered_groups(sdp: &Sdp) -> Vec<Vec<usize>> {
    let mid_of = |m: &Media| webrtc::read_peer_mid(m).mid;
    sdp.attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case("group"))
        .filter_map(|(_, v)| {
            let mut it = v?.split_whitespace();
            it.next()
                .filter(|s| s.eq_ignore_ascii_case("BUNDLE"))
                .map(|_| it.map(str::to_string).collect::<Vec<_>>())
        })
        .map(|mids| {
            (0..sdp.media().len())
                .filter(|&i| mid_of(&sdp.media()[i]).is_some_and(|m| mids.contains(&m)))
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

/// Whether section `m` is `a=bundle-only`.
fn bundle_only(m: &Media) -> bool {
    m.attributes()
        .any(|(n, _)| n.eq_ignore_ascii_case("bundle-only"))
}

/// What an offer's BUNDLE groups mean for its sections: for each, the
/// section whose transport it shares (`None`: its own), and whether it
/// owns a group (the first live section of a group, alone or not); only
/// sections after the owner follow it. Only groups
/// Rampart can run bundle: the node runs WebRTC, and the group's first
/// section that is not rejected (the owner) runs ICE. `bundle-only`
/// sections of such a group count as offered, not rejected.
pub(super) struct Offered {
    pub follows: Vec<Option<usize>>,
    pub owners: Vec<bool>,
}

/// See [`Offered`].
pub(super) fn offered(sdp: &Sdp, dtls_enabled: bool) -> Offered {
    let n = sdp.media().len();
    let mut out = Offered {
        follows: vec![None; n],
        owners: vec![false; n],
    };
    if !dtls_enabled {
        return out;
    }
    for g in offered_groups(sdp) {
        let Some(&owner) = g.iter().find(|&&i| !sdp.media()[i].is_rejected()) else {
            continue;
        };
        let m = &sdp.media()[owner];
        if bundle_only(m)
            || crate::control::sdp::webrtc::PeerTransport::of(sdp, m)
                .ice
                .is_none()
        {
            continue;
        }
        out.owners[owner] = true;
        // Sections after the owner only: one before it (rejected, or
        // bundle-only on port 0) stays rejected.
        for &i in g.iter().filter(|&&i| i > owner) {
            let f = &sdp.media()[i];
            if !f.is_rejected() || bundle_only(f) {
                out.follows[i] = Some(owner);
            }
        }
    }
    out
}

/// Removes BUNDLE from an SDP going to the side that does not bundle:
/// the groups and `a=bundle-only`.
pub(super) fn strip(sdp: &mut Sdp) {
    let groups: Vec<String> = sdp
        .attributes()
        .filter(|(n, _)| n.eq_ignore_ascii_case("group"))
        .filter_map(|(_, v)| v.map(str::to_string))
        .filter(|v| !v.trim_start().to_ascii_uppercase().starts_with("BUNDLE"))
        .collect();
    sdp.remove_attribute("group");
    for g in groups {
        sdp.add_attribute("group", Some(&g));
    }
    for m in sdp.media_mut() {
        m.remove_attribute("bundle-only");
    }
}

impl NgCall {
    /// Makes side `x`'s leg of each new section that follows another in a
    /// bundle share its owner's port: the port reserved for it goes back.
    /// A section bundled once stays so; one already running is not moved.
    pub(super) fn bundle_sections(
        &mut self,
        ports: &mut dyn PortSource,
        (follows, owners): (&[Option<usize>], &[bool]),
        x: usize,
    ) {
        for (st, owner) in self.streams.iter_mut().zip(owners) {
            st.legs[x].bundle_tag = *owner && st.legs[x].bundle.is_none();
        }
        for (i, f) in follows.iter().enumerate() {
            let Some(owner) = *f else { continue };
            if owner >= i || self.streams[owner].legs[x].bundle.is_some() {
                continue;
            }
            let owner_rtp = self.streams[owner].legs[x].local_rtp;
            let st = &mut self.streams[i];
            if st.dp_id.is_some() || !st.reserved || st.legs[x].bundle.is_some() {
                continue;
            }
            ports.release(st.legs[x].local_rtp);
            st.legs[x].local_rtp = owner_rtp;
            st.legs[x].bundle = Some(owner);
            self.streams[owner].legs[x].bundle_tag = true;
        }
    }

    /// Writes the answer's `a=group:BUNDLE` lines toward side `x`: each
    /// owner's mid first, then its followers' (sections not rejected).
    pub(super) fn write_groups(&self, sdp: &mut Sdp, x: usize) {
        strip(sdp);
        for (owner, st) in self.streams.iter().enumerate() {
            if st.rejected || st.legs[x].bundle.is_some() || !st.legs[x].bundle_tag {
                continue;
            }
            let mids: Vec<&str> = std::iter::once(st)
                .chain(
                    self.streams
                        .iter()
                        .filter(|f| !f.rejected && f.legs[x].bundle == Some(owner)),
                )
                .filter_map(|s| s.legs[x].webrtc.mid.as_deref())
                .collect();
            if !mids.is_empty() {
                sdp.add_attribute("group", Some(&format!("BUNDLE {}", mids.join(" "))));
            }
        }
    }

    /// Offers BUNDLE toward side `y` when its legs run ICE (a WebRTC
    /// peer, which may insist on it: `max-bundle`): the first such
    /// section owns the group, later new ones take its port (theirs goes
    /// back), every one gets an `a=mid`, and `sdp` (the offer to `y`)
    /// says so.
    pub(super) fn bundle_toward(&mut self, ports: &mut dyn PortSource, sdp: &mut Sdp, y: usize) {
        let live: Vec<usize> = (0..self.streams.len().min(sdp.media().len()))
            .filter(|&i| !self.streams[i].rejected && self.streams[i].legs[y].webrtc.ice.is_some())
            .collect();
        let Some(&owner) = live
            .iter()
            .find(|&&i| self.streams[i].legs[y].bundle.is_none())
        else {
            return;
        };
        let owner_rtp = self.streams[owner].legs[y].local_rtp;
        self.streams[owner].legs[y].bundle_tag = true;
        for &i in &live {
            let st = &mut self.streams[i];
            let m = &mut sdp.media_mut()[i];
            let mid = webrtc::read_peer_mid(m).mid.unwrap_or_else(|| {
                webrtc::ensure_mid(m, &i.to_string());
                i.to_string()
            });
            st.legs[y].webrtc.mid = Some(mid);
            if i > owner && st.legs[y].bundle.is_none() && st.dp_id.is_none() && st.reserved {
                ports.release(st.legs[y].local_rtp);
                st.legs[y].local_rtp = owner_rtp;
                st.legs[y].bundle = Some(owner);
            }
            if st.legs[y].bundle == Some(owner) {
                st.legs[y].offered_mux = true;
                m.set_port(owner_rtp.port());
                m.set_rtcp_mux(true);
                m.set_rtcp(Some((owner_rtp.port(), None)));
            }
        }
    }

    /// After an answer from side `y`: a section Rampart bundled toward it
    /// that the answer's groups leave out of its owner's group cannot run
    /// (it has no port of its own there): rejected, with a warning.
    pub(super) fn check_answered_groups(
        &mut self,
        sdp: &Sdp,
        y: usize,
        warnings: &mut Vec<String>,
    ) {
        let groups = offered_groups(sdp);
        let together = |a: usize, b: usize| groups.iter().any(|g| g.contains(&a) && g.contains(&b));
        for i in 0..self.streams.len().min(sdp.media().len()) {
            let Some(owner) = self.streams[i].legs[y].bundle else {
                continue;
            };
            if !self.streams[i].rejected && !sdp.media()[i].is_rejected() && !together(owner, i) {
                warnings.push(format!(
                    "the answer leaves m= line {} out of the BUNDLE group Rampart offered: \
                     rejected (it has no port of its own)",
                    i + 1
                ));
                self.streams[i].rejected = true;
            }
        }
    }

    /// Tells the transport service which sections ride on each bundle
    /// owner's transport (after the data plane runs them).
    pub(super) fn sync_bundles(&self, s: &CallService) -> Result<(), NgError> {
        let Some(service) = s.webrtc.as_ref() else {
            return Ok(());
        };
        for (owner, st) in self.streams.iter().enumerate() {
            for leg_id in LegId::BOTH {
                let l = leg_id.index();
                let (Some(id), None) = (st.dp_id, st.legs[l].bundle) else {
                    continue;
                };
                let members: Vec<u64> = self
                    .streams
                    .iter()
                    .filter(|f| f.legs[l].bundle == Some(owner))
                    .filter_map(|f| f.dp_id)
                    .collect();
                if members.is_empty() || st.legs[l].webrtc.running.is_none() {
                    continue;
                }
                crate::control::calls::blocking(|| service.set_bundle(id, leg_id, members))
                    .map_err(apply::dataplane_error)?;
            }
        }
        Ok(())
    }
}

/// The payload types of a section's formats (for the worker's demux).
pub(super) fn payload_types(formats: &[String]) -> Vec<u8> {
    formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt < 128)
        .collect()
}
