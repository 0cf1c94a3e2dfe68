//! The SRTP transforms: protect and unprotect (or verify) one RTP packet in
//! place. State (ROC, replay window, key usage, key caches) changes only
//! after a packet has authenticated (receive) or been sealed (send).

use super::iv::{cm_iv, gcm_iv};
use super::{be16, be32, Context};
use crate::srtp::keys::{Family, SessionCipher, SRTP_KEY_LIFETIME_MAX};
use crate::srtp::replay::estimate_index;
use crate::Error;

impl Context {
    /// [`Context::protect_rtp`] before its outcome is counted.
    pub(super) fn protect_rtp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let pkt = buf.get(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        let hl = crate::rtp::rtp_header_len(pkt)?;
        let seq = be16(pkt, 2);
        let ssrc = be32(pkt, 8);
        let tag_len = self.suite.srtp_tag_len();
        let mki_len = self.mki_len;
        let needed = len + mki_len + tag_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let si = self.stream_or_create(ssrc)?;
        let stream = &mut self.streams[si];
        let index =
            estimate_index(stream.rtp.highest(), stream.initial_roc, seq).ok_or(Error::TooOld)?;
        // The sender's own replay check (as libsrtp's): an index this
        // stream already protected, or one behind its window, would encrypt
        // a second plaintext under the same keystream / GCM nonce (unless
        // the owner declared retransmissions of the same packet).
        match stream.rtp.check(index) {
            Err(Error::Replayed) if self.allow_repeat_tx => {}
            r => r?,
        }
        let slot = &self.slots[self.active];
        if slot.rtp_used >= slot.rtp_limit || index >= SRTP_KEY_LIFETIME_MAX {
            return Err(Error::KeyExhausted);
        }
        let encrypt = self.encrypt_rtp;
        let roc = (index >> 16) as u32;
        self.seal_with_active_key(Family::Rtp, si, index, |keys, mki| match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let (head, rest) = buf.split_at_mut(hl);
                let tag = k.seal(
                    gcm_iv(&keys.salt, ssrc, roc, seq),
                    head,
                    &mut rest[..len - hl],
                );
                buf[len..len + 16].copy_from_slice(&tag);
                buf[len + 16..needed].copy_from_slice(mki);
            }
            cipher => {
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypt) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index), &mut buf[hl..len]);
                }
                buf[len..len + mki_len].copy_from_slice(mki);
                let tag = keys.hmac(&buf[..len], &roc.to_be_bytes());
                buf[len + mki_len..needed].copy_from_slice(&tag[..tag_len]);
            }
        })?;
        Ok(needed)
    }

    /// [`Context::unprotect_rtp`] (`decrypt`) or [`Context::verify_rtp`],
    /// before the outcome is counted. The SRTP layout: header, payload,
    /// MKI, tag (AEAD: header, payload and tag, MKI).
    pub(super) fn unprotect_rtp_inner(
        &mut self,
        pkt: &mut [u8],
        decrypt: bool,
    ) -> Result<usize, Error> {
        let len = pkt.len();
        let (aead, tag_len, mki_len) = self.received_trailer(Family::Rtp, len, 12)?;
        // CM: header | payload | MKI | tag.  AEAD: header | payload+tag | MKI.
        let (mki_at, body_end) = if aead {
            (len - mki_len, len - mki_len - tag_len)
        } else {
            (len - tag_len - mki_len, len - tag_len - mki_len)
        };
        let hl = crate::rtp::rtp_header_len(&pkt[..body_end])?;
        let seq = be16(pkt, 2);
        let ssrc = be32(pkt, 8);
        let slot_idx = self.slot_for(&pkt[mki_at..mki_at + mki_len])?;
        let existing = self.find(ssrc);
        let (highest, initial_roc) = match existing {
            Some(i) => (self.streams[i].rtp.highest(), self.streams[i].initial_roc),
            None => {
                self.may_create(ssrc)?;
                (None, 0)
            }
        };
        let index = estimate_index(highest, initial_roc, seq).ok_or(Error::TooOld)?;
        if let Some(i) = existing {
            self.streams[i].rtp.check(index)?;
        }
        let decrypt_ctr = self.encrypt_rtp && decrypt;
        let (keys, pick, r) = self.receive_keys(Family::Rtp, slot_idx, existing, index)?;
        let roc = (index >> 16) as u32;
        match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = gcm_iv(&keys.salt, ssrc, roc, seq);
                let (head, rest) = pkt.split_at_mut(hl);
                let body = &mut rest[..mki_at - hl];
                if !k.open(iv, head, body) {
                    return Err(Error::AuthFailed);
                }
                if !decrypt {
                    let (data, tag_out) = body.split_at_mut(body.len() - 16);
                    tag_out.copy_from_slice(&k.seal(iv, head, data));
                }
            }
            cipher => {
                let tag = &pkt[len - tag_len..];
                if !keys.verify_hmac(&pkt[..body_end], &roc.to_be_bytes(), tag) {
                    return Err(Error::AuthFailed);
                }
                if let (SessionCipher::Ctr(k), true) = (cipher, decrypt_ctr) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index), &mut pkt[hl..body_end]);
                }
            }
        }
        // Authenticated: now, and only now, state changes.
        self.commit_received(Family::Rtp, ssrc, existing, slot_idx, index, (pick, r))?;
        Ok(body_end)
    }
}
