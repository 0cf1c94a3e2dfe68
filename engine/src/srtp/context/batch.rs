//! The context's side of a batch (`srtp::batch`): the speculative MAC of a
//! received packet, and the single-packet transforms with a deferred tag
//! (send) or a precomputed MAC (receive).

use super::{be32, Context};
use crate::srtp::batch::{BatchOp, MacJob, MacQueue};
use crate::srtp::keys::Family;
use crate::srtp::replay::estimate_index;
use crate::Error;

impl Context {
    /// The MAC job a received packet would authenticate with, judged from
    /// the state the context has now and changing none of it: the message
    /// (SRTP: up to the MKI, then the guessed ROC; SRTCP: up to the MKI)
    /// and the key of its MKI. `None` where the single-packet path would
    /// refuse the packet before its tag, for AEAD suites, and with a key
    /// derivation rate (whose keys are picked on the packet path).
    ///
    /// The job goes into `queue` for packet `packet` of the chunk.
    pub(crate) fn speculate(&self, rtcp: bool, pkt: &[u8], queue: &mut MacQueue, packet: usize) {
        self.speculate_inner(rtcp, pkt, queue, packet);
    }

    fn speculate_inner(
        &self,
        rtcp: bool,
        pkt: &[u8],
        queue: &mut MacQueue,
        packet: usize,
    ) -> Option<()> {
        if self.kdr_shift.is_some() {
            return None;
        }
        let family = if rtcp { Family::Rtcp } else { Family::Rtp };
        // 12 bytes: the RTP fixed header, or the RTCP header and the SRTCP
        // index (as the single-packet path requires).
        let (aead, tag_len, mki_len) = self.received_trailer(family, pkt.len(), 12).ok()?;
        if aead {
            return None;
        }
        let mki_at = pkt.len() - tag_len - mki_len;
        let slot = self.slot_for(&pkt[mki_at..mki_at + mki_len]).ok()?;
        let mac = self.slots[slot].session_keys(family).mac.as_ref()?;
        if rtcp {
            queue.push(mac, &pkt[..mki_at], &[], (0, 0), packet);
            return Some(());
        }
        // The header itself is not checked here: a malformed packet fails
        // in the real pass before its tag, and only wastes this guess.
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = be32(pkt, 8);
        let (highest, initial_roc) = match self.find_ro(ssrc) {
            Some(i) => (self.streams[i].rtp.highest(), self.streams[i].initial_roc),
            None => (None, 0),
        };
        let index = estimate_index(highest, initial_roc, seq)?;
        let roc = ((index >> 16) as u32).to_be_bytes();
        queue.push(mac, &pkt[..mki_at], &roc, (0, 0), packet);
        Some(())
    }

    /// [`Context::protect_rtcp`] (`rtcp`) or [`Context::protect_rtp`] with
    /// its tag left to `queue` (packet `packet` of the chunk).
    pub(crate) fn protect_deferred(
        &mut self,
        rtcp: bool,
        (buf, len): (&mut [u8], usize),
        queue: &mut MacQueue,
        packet: usize,
    ) -> Result<usize, Error> {
        let defer = Some((queue, packet));
        if rtcp {
            let r = self.protect_rtcp_inner(buf, len, defer);
            self.stats.record_protect(r, |s| &mut s.rtcp_protected)
        } else {
            let r = self.protect_rtp_inner(buf, len, defer);
            self.stats.record_protect(r, |s| &mut s.rtp_protected)
        }
    }

    /// The receiving `op` (unprotect or verify, RTP or RTCP) on `packet`,
    /// exactly as its single-packet function, using `hint` where it is
    /// this packet's MAC.
    pub(crate) fn open_hinted(
        &mut self,
        op: BatchOp,
        packet: &mut [u8],
        hint: Option<&MacJob>,
    ) -> Result<usize, Error> {
        match op {
            BatchOp::UnprotectRtp | BatchOp::VerifyRtp => {
                let r = self.unprotect_rtp_inner(packet, op == BatchOp::UnprotectRtp, hint);
                self.stats.record(r, |s| &mut s.rtp_unprotected)
            }
            BatchOp::UnprotectRtcp | BatchOp::VerifyRtcp => {
                let r = self.unprotect_rtcp_inner(packet, op == BatchOp::UnprotectRtcp, hint);
                self.stats.record(r, |s| &mut s.rtcp_unprotected)
            }
            BatchOp::ProtectRtp | BatchOp::ProtectRtcp => {
                Err(Error::InvalidConfig("protect is not a receiving operation"))
            }
        }
    }
}
