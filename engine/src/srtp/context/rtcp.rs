//! The SRTCP transforms: protect and unprotect (or verify) one RTCP packet in
//! place, with the E flag and 31-bit SRTCP index trailer. As for RTP, state
//! changes only after a packet has authenticated or been sealed.

use super::iv::{cm_iv, gcm_iv, xor_rtcp_index};
use super::{be32, Context};
use crate::error::MalformedKind;
use crate::srtp::batch::{tag_or_defer, Defer, MacJob};
use crate::srtp::keys::{Family, SessionCipher, SessionKeys, SRTCP_KEY_LIFETIME_MAX};
use crate::Error;

impl Context {
    /// [`Context::protect_rtcp`] before its outcome is counted.
    /// With `defer`, the tag is queued for the batch to compute and write.
    pub(super) fn protect_rtcp_inner(
        &mut self,
        buf: &mut [u8],
        len: usize,
        defer: Defer<'_>,
    ) -> Result<usize, Error> {
        let pkt = buf.get(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        check_rtcp_header(pkt)?;
        let ssrc = be32(pkt, 4);
        let tag_len = self.suite.srtcp_tag_len();
        let mki_len = self.mki_len;
        let needed = len + 4 + mki_len + tag_len;
        if buf.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let si = self.stream_or_create(ssrc)?;
        let stream = &mut self.streams[si];
        let index = stream.rtcp_next;
        let slot = &self.slots[self.active];
        // The 31-bit SRTCP index never wraps: past 2^31 - 1 the key is spent.
        if slot.rtcp_used >= slot.rtcp_limit || index as u64 >= SRTCP_KEY_LIFETIME_MAX {
            return Err(Error::KeyExhausted);
        }
        // Never an index this stream already sent (set_rtcp_index may have
        // moved the counter back).
        stream.rtcp.check(index as u64)?;
        let encrypt = self.encrypt_rtcp;
        let e_word = ((encrypt as u32) << 31) | index;
        let sealed = |keys: &SessionKeys, mki: &[u8]| match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = gcm_iv(&keys.salt, ssrc, 0, 0);
                let iv = xor_rtcp_index(iv, index);
                if encrypt {
                    // hdr | enc | tag | E+index | MKI; AAD = hdr || E+index.
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&buf[..8]);
                    aad[8..].copy_from_slice(&e_word.to_be_bytes());
                    let tag = k.seal(iv, &aad, &mut buf[8..len]);
                    buf[len..len + 16].copy_from_slice(&tag);
                } else {
                    // Unencrypted: the whole packet and E+index are AAD.
                    buf[len..len + 4].copy_from_slice(&e_word.to_be_bytes());
                    let tag = k.seal(iv, &buf[..len + 4], &mut []);
                    buf[len..len + 16].copy_from_slice(&tag);
                }
                buf[len + 16..len + 20].copy_from_slice(&e_word.to_be_bytes());
                buf[len + 20..needed].copy_from_slice(mki);
            }
            cipher => {
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypt) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index as u64), &mut buf[8..len]);
                }
                buf[len..len + 4].copy_from_slice(&e_word.to_be_bytes());
                buf[len + 4..len + 4 + mki_len].copy_from_slice(mki);
                let tag_at = len + 4 + mki_len;
                tag_or_defer(defer, keys, buf, len + 4, &[], tag_at, tag_len);
            }
        };
        self.seal_with_active_key(Family::Rtcp, si, index as u64, sealed)?;
        self.streams[si].rtcp_next = index + 1;
        Ok(needed)
    }

    /// [`Context::unprotect_rtcp`] (`decrypt`) or [`Context::verify_rtcp`],
    /// before the outcome is counted. The SRTCP layout: header, payload,
    /// E flag and index, MKI, tag (AEAD: the tag follows the payload).
    /// `hint`: as for [`Context::unprotect_rtp_inner`].
    pub(super) fn unprotect_rtcp_inner(
        &mut self,
        pkt: &mut [u8],
        decrypt: bool,
        hint: Option<&MacJob>,
    ) -> Result<usize, Error> {
        let len = pkt.len();
        let (aead, tag_len, mki_len) = self.received_trailer(Family::Rtcp, len, 8 + 4)?;
        check_rtcp_header(pkt)?;
        // CM: hdr | payload | E+index | MKI | tag.
        // AEAD: hdr | payload+tag | E+index | MKI.
        let (trailer_at, mki_at) = if aead {
            (len - mki_len - 4, len - mki_len)
        } else {
            (len - tag_len - mki_len - 4, len - tag_len - mki_len)
        };
        let e_word = be32(pkt, trailer_at);
        let encrypted = e_word & 0x8000_0000 != 0;
        let index = e_word & 0x7fff_ffff;
        let ssrc = be32(pkt, 4);
        let slot_idx = self.slot_for(&pkt[mki_at..mki_at + mki_len])?;
        let existing = self.find(ssrc);
        match existing {
            Some(i) => self.streams[i].rtcp.check(index as u64)?,
            None => self.may_create(ssrc)?,
        }
        let (keys, pick, r) = self.receive_keys(Family::Rtcp, slot_idx, existing, index as u64)?;
        let plain_len = match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = xor_rtcp_index(gcm_iv(&keys.salt, ssrc, 0, 0), index);
                let body_end = trailer_at - 16;
                if encrypted {
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&pkt[..8]);
                    aad[8..].copy_from_slice(&e_word.to_be_bytes());
                    let ok = if decrypt {
                        k.open(iv, &aad, &mut pkt[8..trailer_at])
                    } else {
                        k.verify(iv, &aad, &mut pkt[8..trailer_at])
                    };
                    if !ok {
                        return Err(Error::AuthFailed);
                    }
                } else {
                    // Move E+index next to the payload so the AAD is one slice.
                    let mut tag = [0u8; 16];
                    tag.copy_from_slice(&pkt[body_end..trailer_at]);
                    let original = tag;
                    pkt[body_end..body_end + 4].copy_from_slice(&e_word.to_be_bytes());
                    let ok = k.open(iv, &pkt[..body_end + 4], &mut tag);
                    pkt[body_end..trailer_at].copy_from_slice(&original);
                    if !ok {
                        return Err(Error::AuthFailed);
                    }
                }
                body_end
            }
            cipher => {
                let tag = &pkt[len - tag_len..];
                if !keys.verify_hmac_hinted(&pkt[..mki_at], &[], tag, hint) {
                    return Err(Error::AuthFailed);
                }
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypted && decrypt) {
                    k.ctr_xor(
                        &cm_iv(&keys.salt, ssrc, index as u64),
                        &mut pkt[8..trailer_at],
                    );
                }
                trailer_at
            }
        };
        // Authenticated: now, and only now, state changes.
        self.commit_received(
            Family::Rtcp,
            ssrc,
            existing,
            slot_idx,
            index as u64,
            (pick, r),
        )?;
        Ok(plain_len)
    }
}

fn check_rtcp_header(pkt: &[u8]) -> Result<(), Error> {
    if pkt.len() < 8 {
        return Err(MalformedKind::Truncated.into());
    }
    if pkt[0] >> 6 != 2 {
        return Err(MalformedKind::BadVersion.into());
    }
    Ok(())
}
