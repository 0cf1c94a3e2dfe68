//! The SRTCP transforms: protect and unprotect (or verify) one RTCP packet in
//! place, with the E flag and 31-bit SRTCP index trailer. As for RTP, state
//! changes only after a packet has authenticated or been sealed.

use super::iv::{cm_iv, gcm_iv, xor_rtcp_index};
use super::kdr::{rx_keys, tx_keys, Pick};
use super::{be32, Context};
use crate::error::MalformedKind;
use crate::srtp::keys::{Family, SessionCipher, SessionKeys, SRTCP_KEY_LIFETIME_MAX};
use crate::Error;

impl Context {
    pub(super) fn protect_rtcp_inner(
        &mut self,
        buf: &mut [u8],
        len: usize,
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
        let active = self.active;
        let slot = &mut self.slots[active];
        // The 31-bit SRTCP index never wraps: past 2^31 - 1 the key is spent.
        if slot.rtcp_used >= slot.rtcp_limit || index as u64 >= SRTCP_KEY_LIFETIME_MAX {
            return Err(Error::KeyExhausted);
        }
        // Never an index this stream already sent (set_rtcp_index may have
        // moved the counter back).
        stream.rtcp.check(index as u64)?;
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| (index as u64) >> s);
        let mut fresh = None;
        let (keys, pick) = tx_keys(
            &slot.rtcp,
            &stream.kdr_rtcp,
            active,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtcp, r),
            &mut fresh,
        )?;
        let encrypt = self.encrypt_rtcp;
        let e_word = ((encrypt as u32) << 31) | index;
        match &keys.cipher {
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
                buf[len + 20..needed].copy_from_slice(slot.master.mki());
            }
            cipher => {
                if let (SessionCipher::Ctr(k), true) = (cipher, encrypt) {
                    k.ctr_xor(&cm_iv(&keys.salt, ssrc, index as u64), &mut buf[8..len]);
                }
                buf[len..len + 4].copy_from_slice(&e_word.to_be_bytes());
                buf[len + 4..len + 4 + mki_len].copy_from_slice(slot.master.mki());
                let tag = keys.hmac(&buf[..len + 4], &[]);
                buf[len + 4 + mki_len..needed].copy_from_slice(&tag[..tag_len]);
            }
        }
        slot.rtcp_used += 1;
        stream.rtcp_next = index + 1;
        stream.rtcp.accept(index as u64);
        stream.sent = true;
        stream.kdr_rtcp.commit(pick, active, r, fresh);
        Ok(needed)
    }

    pub(super) fn unprotect_rtcp_inner(
        &mut self,
        pkt: &mut [u8],
        decrypt: bool,
    ) -> Result<usize, Error> {
        let len = pkt.len();
        let aead = self.suite.is_aead();
        let tag_len = self.suite.srtcp_tag_len();
        let mki_len = self.mki_len;
        if len < 8 + 4 + mki_len + tag_len {
            return Err(MalformedKind::Truncated.into());
        }
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
        let slot = &self.slots[slot_idx];
        if slot.rtcp_used >= slot.rtcp_limit {
            return Err(Error::KeyExhausted);
        }
        let suite = self.suite;
        let r = self.kdr_shift.map(|s| (index as u64) >> s);
        let cache = match existing {
            Some(i) => &mut self.streams[i].kdr_rtcp,
            None => &mut self.kdr_new_rtcp,
        };
        let (keys, pick) = rx_keys(
            &slot.rtcp,
            cache,
            slot_idx,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, Family::Rtcp, r),
        )?;
        let plain_len = match &keys.cipher {
            SessionCipher::Gcm(k) => {
                let iv = xor_rtcp_index(gcm_iv(&keys.salt, ssrc, 0, 0), index);
                let body_end = trailer_at - 16;
                if encrypted {
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&pkt[..8]);
                    aad[8..].copy_from_slice(&e_word.to_be_bytes());
                    if !k.open(iv, &aad, &mut pkt[8..trailer_at]) {
                        return Err(Error::AuthFailed);
                    }
                    if !decrypt {
                        let tag = k.seal(iv, &aad, &mut pkt[8..body_end]);
                        pkt[body_end..trailer_at].copy_from_slice(&tag);
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
                if !keys.verify_hmac(&pkt[..mki_at], &[], tag) {
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
        let si = match existing {
            Some(i) => i,
            None => self.insert_stream(ssrc)?,
        };
        self.slots[slot_idx].rtcp_used += 1;
        let stream = &mut self.streams[si];
        stream.rtcp.accept(index as u64);
        if existing.is_none() && pick == Pick::Pending {
            // The new stream's first keys: the context's pending ones.
            stream.kdr_rtcp.committed = self.kdr_new_rtcp.pending.take();
        } else {
            stream.kdr_rtcp.commit(pick, slot_idx, r, None);
        }
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
