//! BUNDLE on one socket (RFC 8843): which section a received packet
//! belongs to, and which section owns each SSRC sent.
//!
//! Why apart from the worker: these are pure decisions over a packet's
//! header and the bundle's tables, the part with the security rule in it
//! (one key, so never one SSRC in two sections), kept free of sockets.

use super::LegId;

/// Most SSRCs a bundle remembers per direction: past that, unknown
/// inbound SSRCs go by payload type each time, and new outbound SSRCs are
/// dropped (no section may start one that is not checked).
pub(super) const BUNDLE_MAX_SSRCS: usize = 64;

/// The owner of an SSRC whose section left the bundle.
const RETIRED: usize = usize::MAX;

/// The sections sharing one socket (RFC 8843) and how its packets are
/// told apart. All members of a bundle share one DTLS association, so one
/// SRTP master key: two sections must never send under the same SSRC
/// (that would repeat keystream), which `ssrc_out` enforces.
#[derive(Default)]
pub(super) struct Bundle {
    /// Members besides the owner: call slot, leg, payload types.
    pub(super) members: Vec<(usize, LegId, Vec<u8>)>,
    /// Inbound SSRC → member (slot, leg), learned from packets that
    /// authenticated and were relayed.
    pub(super) ssrc_in: Vec<(u32, usize, LegId)>,
    /// Outbound SSRC → the member (slot) that sends with it.
    pub(super) ssrc_out: Vec<(u32, usize)>,
}

impl Bundle {
    /// The member (slot, leg) a received packet belongs to, and whether
    /// its SSRC should be learned once it authenticates: by SSRC first,
    /// else by payload type (RTP only); `None`: the socket's owner.
    pub(super) fn member_of(&self, pkt: &[u8]) -> (Option<(usize, LegId)>, Option<u32>) {
        if pkt.len() < 8 || pkt[0] >> 6 != 2 {
            return (None, None);
        }
        let pt = pkt[1] & 0x7f;
        let rtcp = (64..=95).contains(&pt);
        let at = if rtcp { 4 } else { 8 };
        let Some(b) = pkt.get(at..at + 4) else {
            return (None, None);
        };
        let ssrc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if let Some(&(_, slot, leg)) = self.ssrc_in.iter().find(|e| e.0 == ssrc) {
            return (Some((slot, leg)), None);
        }
        if rtcp {
            return (None, None);
        }
        let by_pt = self
            .members
            .iter()
            .find(|(_, _, pts)| pts.contains(&pt))
            .map(|(slot, leg, _)| (*slot, *leg));
        (by_pt, Some(ssrc))
    }

    /// Whether member `slot` may send a packet with this header: its SSRC
    /// is new (and now the member's) or already the member's.
    pub(super) fn may_send(&mut self, slot: usize, pkt: &[u8], rtcp: bool) -> bool {
        let at = if rtcp { 4 } else { 8 };
        let Some(b) = pkt.get(at..at + 4) else {
            return false;
        };
        let ssrc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        match self.ssrc_out.iter().find(|e| e.0 == ssrc) {
            Some(&(_, owner)) => owner == slot,
            None if self.ssrc_out.len() < BUNDLE_MAX_SSRCS => {
                self.ssrc_out.push((ssrc, slot));
                true
            }
            None => false,
        }
    }

    /// Forgets member `slot` and what it learned. The SSRCs it sent with
    /// stay taken by no one: a section that comes back starts a fresh
    /// context under the same key, and must not repeat their keystream.
    pub(super) fn forget(&mut self, slot: usize) {
        self.members.retain(|m| m.0 != slot);
        self.ssrc_in.retain(|e| e.1 != slot);
        for e in &mut self.ssrc_out {
            if e.1 == slot {
                e.1 = RETIRED;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8, ssrc: u32) -> Vec<u8> {
        let mut v = vec![0x80, pt, 0, 1, 0, 0, 0, 0];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v
    }

    fn rtcp(ssrc: u32) -> Vec<u8> {
        let mut v = vec![0x80, 200, 0, 6];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v
    }

    fn video_bundle() -> Bundle {
        Bundle {
            members: vec![(7, LegId::A, vec![96, 97])],
            ..Bundle::default()
        }
    }

    #[test]
    fn packets_go_by_learned_ssrc_then_payload_type_else_to_the_owner() {
        let mut b = video_bundle();
        // New SSRC: by payload type, to be learned once it authenticates.
        assert_eq!(b.member_of(&rtp(96, 5)), (Some((7, LegId::A)), Some(5)));
        assert_eq!(b.member_of(&rtp(111, 6)), (None, Some(6)), "the owner's");
        b.ssrc_in.push((6, 7, LegId::A));
        // A learned SSRC decides over the payload type.
        assert_eq!(b.member_of(&rtp(111, 6)), (Some((7, LegId::A)), None));
        // RTCP by its sender SSRC, never learned; unknown: the owner.
        assert_eq!(b.member_of(&rtcp(6)), (Some((7, LegId::A)), None));
        assert_eq!(b.member_of(&rtcp(9)), (None, None));
        // Not RTP (STUN, DTLS, short, garbage): the owner's.
        for junk in [
            &[0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42][..],
            &[22, 0xfe],
            &[0x80, 96, 0],
        ] {
            assert_eq!(b.member_of(junk), (None, None));
        }
    }

    #[test]
    fn an_ssrc_belongs_to_the_first_section_that_sends_it() {
        let mut b = video_bundle();
        assert!(b.may_send(1, &rtp(0, 0x1111), false));
        assert!(b.may_send(1, &rtp(0, 0x1111), false));
        assert!(b.may_send(1, &rtcp(0x1111), true), "its RTCP too");
        assert!(!b.may_send(7, &rtp(96, 0x1111), false), "another section");
        assert!(!b.may_send(7, &rtcp(0x1111), true));
        assert!(b.may_send(7, &rtp(96, 0x2222), false));
        assert!(!b.may_send(7, &[0x80, 96], false), "no SSRC to check");
        // A section that left keeps its SSRCs from everyone.
        b.forget(1);
        assert!(!b.may_send(7, &rtp(96, 0x1111), false));
        assert!(
            !b.may_send(1, &rtp(0, 0x1111), false),
            "not even a new call in its slot"
        );
        // A full table takes no new SSRC.
        for s in 0..BUNDLE_MAX_SSRCS as u32 {
            b.may_send(7, &rtp(96, 0x1_0000 + s), false);
        }
        assert!(!b.may_send(7, &rtp(96, 0x9_9999), false));
        assert!(b.may_send(7, &rtp(96, 0x2222), false));
    }
}
