//! The SRTP transforms: protect and unprotect (or verify) one RTP packet in
//! place. State (ROC, replay window, key usage, key caches) changes only
//! after a packet has authenticated (receive) or been sealed (send).
//! Header-extension encryption (RFC 6904, RFC 9335) is planned before any
//! byte changes and applied around the cipher (see `header_ext`).

use super::header_ext::{self, Plan};
use super::iv::{cm_iv, gcm_iv};
use super::{be16, be32, Context};
use crate::srtp::batch::{tag_or_defer, Defer, MacJob};
use crate::srtp::keys::{Family, SessionCipher, SRTP_KEY_LIFETIME_MAX};
use crate::srtp::replay::estimate_index;
use crate::Error;

impl Context {
    /// [`Context::protect_rtp`] before its outcome is counted.
    /// With `defer`, the tag is queued for the batch to compute and write.
    pub(super) fn protect_rtp_inner(
        &mut self,
        buf: &mut [u8],
        len: usize,
        defer: Defer<'_>,
    ) -> Result<usize, Error> {
        let pkt = buf.get(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        let hl = crate::rtp::rtp_header_len(pkt)?;
        let seq = be16(pkt, 2);
        let ssrc = be32(pkt, 8);
        // Only a packet with an extension or CSRCs looks further.
        let plan = if pkt[0] & 0x1f != 0 && (self.cryptex_on || self.header_ext.is_some()) {
            header_ext::plan_protect(pkt, hl, self.cryptex_on, self.header_ext.as_deref())?
        } else {
            Plan::Clear
        };
        let grow = match plan {
            Plan::Cryptex { insert: true, .. } => 4,
            _ => 0,
        };
        let tag_len = self.suite.srtp_tag_len();
        let mki_len = self.mki_len;
        let needed = len + grow + mki_len + tag_len;
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
        let ids = match plan {
            Plan::Elements { .. } => self.header_ext.as_deref().copied(),
            _ => None,
        };
        self.seal_with_active_key(Family::Rtp, si, index, |keys, mki| {
            // The header first: RFC 6904 elements, or the cryptex layout
            // (extension header moved before the CSRCs until sealed).
            let (len, enc_at) = match plan {
                Plan::Clear => (len, hl),
                Plan::Elements { body, end } => {
                    // Header keys exist wherever IDs are set (the policy
                    // and `set_encrypted_extensions` derive them first).
                    debug_assert!(ids.is_none() || keys.header.is_some());
                    if let (Some(ids), Some(h)) = (&ids, &keys.header) {
                        let iv = cm_iv(&h.salt, ssrc, index);
                        header_ext::xor_elements(buf, body, end, ids, h, &iv);
                    }
                    (len, hl)
                }
                Plan::Cryptex { csrc_end, insert } => (
                    header_ext::cryptex_seal_layout(buf, len, csrc_end, insert),
                    16,
                ),
            };
            match &keys.cipher {
                SessionCipher::Gcm(k) => {
                    let (head, rest) = buf.split_at_mut(enc_at);
                    let tag = k.seal(
                        gcm_iv(&keys.salt, ssrc, roc, seq),
                        head,
                        &mut rest[..len - enc_at],
                    );
                    if let Plan::Cryptex { csrc_end, .. } = plan {
                        header_ext::cryptex_restore(buf, csrc_end);
                    }
                    buf[len..len + 16].copy_from_slice(&tag);
                    buf[len + 16..needed].copy_from_slice(mki);
                }
                cipher => {
                    if let (SessionCipher::Ctr(k), true) = (cipher, encrypt) {
                        k.ctr_xor(&cm_iv(&keys.salt, ssrc, index), &mut buf[enc_at..len]);
                    }
                    if let Plan::Cryptex { csrc_end, .. } = plan {
                        header_ext::cryptex_restore(buf, csrc_end);
                    }
                    buf[len..len + mki_len].copy_from_slice(mki);
                    let tag_at = len + mki_len;
                    tag_or_defer(defer, keys, buf, len, &roc.to_be_bytes(), tag_at, tag_len);
                }
            }
        })?;
        Ok(needed)
    }

    /// [`Context::unprotect_rtp`] (`decrypt`) or [`Context::verify_rtp`],
    /// before the outcome is counted. The SRTP layout: header, payload,
    /// MKI, tag (AEAD: header, payload and tag, MKI).
    /// `hint`: a MAC a batch computed beforehand (used only if it is this
    /// packet's, see `srtp::batch`).
    pub(super) fn unprotect_rtp_inner(
        &mut self,
        pkt: &mut [u8],
        decrypt: bool,
        hint: Option<&MacJob>,
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
        let plan = if pkt[0] & 0x10 != 0 && (self.cryptex_on || self.header_ext.is_some()) {
            header_ext::plan_unprotect(pkt, hl, self.cryptex_on, self.header_ext.as_deref())
        } else {
            Plan::Clear
        };
        let ids = match plan {
            Plan::Elements { .. } => self.header_ext.as_deref().copied(),
            _ => None,
        };
        let (keys, pick, r) = self.receive_keys(Family::Rtp, slot_idx, existing, index)?;
        let roc = (index >> 16) as u32;
        let cryptex_end = match plan {
            Plan::Cryptex { csrc_end, .. } => Some(csrc_end),
            _ => None,
        };
        match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = gcm_iv(&keys.salt, ssrc, roc, seq);
                // Cryptex: the extension header joins the fixed header as
                // the AAD, CSRCs and extension body join the ciphertext.
                let enc_at = match cryptex_end {
                    Some(csrc_end) => {
                        pkt[12..csrc_end + 4].rotate_right(4);
                        16
                    }
                    None => hl,
                };
                let (head, rest) = pkt.split_at_mut(enc_at);
                let body = &mut rest[..mki_at - enc_at];
                let ok = if decrypt {
                    k.open(iv, head, body)
                } else {
                    k.verify(iv, head, body)
                };
                if let Some(csrc_end) = cryptex_end {
                    header_ext::cryptex_restore(pkt, csrc_end);
                }
                if !ok {
                    return Err(Error::AuthFailed);
                }
            }
            cipher => {
                let tag = &pkt[len - tag_len..];
                if !keys.verify_hmac_hinted(&pkt[..body_end], &roc.to_be_bytes(), tag, hint) {
                    return Err(Error::AuthFailed);
                }
                if let (SessionCipher::Ctr(k), true) = (cipher, decrypt_ctr) {
                    let iv = cm_iv(&keys.salt, ssrc, index);
                    match cryptex_end {
                        Some(csrc_end) => {
                            pkt[12..csrc_end + 4].rotate_right(4);
                            k.ctr_xor(&iv, &mut pkt[16..body_end]);
                            header_ext::cryptex_restore(pkt, csrc_end);
                        }
                        None => k.ctr_xor(&iv, &mut pkt[hl..body_end]),
                    }
                }
            }
        }
        match plan {
            Plan::Cryptex { csrc_end, .. } if decrypt => {
                header_ext::cryptex_clear_profile(pkt, csrc_end)
            }
            Plan::Elements { body, end } => {
                // Checked once authentic (libsrtp's order), before any
                // state changes.
                header_ext::check_elements(pkt, body, end)?;
                if let (true, Some(ids), Some(h)) = (decrypt, &ids, &keys.header) {
                    let iv = cm_iv(&h.salt, ssrc, index);
                    header_ext::xor_elements(pkt, body, end, ids, h, &iv);
                }
            }
            _ => {}
        }
        // Authenticated: now, and only now, state changes.
        self.commit_received(Family::Rtp, ssrc, existing, slot_idx, index, (pick, r))?;
        Ok(body_end)
    }
}
