//! The steps the SRTP and SRTCP transforms share around the cipher: picking
//! a packet's session keys and committing what the packet changes. On
//! receive the keys are picked before the packet has authenticated and
//! nothing is committed until it has (its stream, the key's use count, the
//! replay window, the derived keys); on send the commit follows the seal.

use super::kdr::{rx_keys, tx_keys, Pick};
use super::Context;
use crate::error::MalformedKind;
use crate::srtp::keys::{Family, SessionKeys};
use crate::Error;

impl Context {
    /// For a received `family` packet of `len` bytes: whether the suite is
    /// AEAD, the tag length and the MKI length; a packet shorter than
    /// `min_header` bytes and that trailer is refused as truncated.
    #[inline]
    pub(super) fn received_trailer(
        &self,
        family: Family,
        len: usize,
        min_header: usize,
    ) -> Result<(bool, usize, usize), Error> {
        let tag_len = match family {
            Family::Rtp => self.suite.srtp_tag_len(),
            Family::Rtcp => self.suite.srtcp_tag_len(),
        };
        let mki_len = self.mki_len;
        if len < min_header + mki_len + tag_len {
            return Err(MalformedKind::Truncated.into());
        }
        Ok((self.suite.is_aead(), tag_len, mki_len))
    }

    /// The session keys to authenticate a received `family` packet at
    /// `index` under key slot `slot_idx`, from the cache of its stream
    /// (`existing`) or of SSRCs with no stream yet; also the packet's
    /// key-derivation epoch. Nothing is committed (see [`rx_keys`]). A key
    /// that reached its lifetime is refused.
    #[inline]
    pub(super) fn receive_keys(
        &mut self,
        family: Family,
        slot_idx: usize,
        existing: Option<usize>,
        index: u64,
    ) -> Result<(&SessionKeys, Pick, Option<u64>), Error> {
        let slot = &self.slots[slot_idx];
        if slot.used(family) >= slot.limit(family) {
            return Err(Error::KeyExhausted);
        }
        let suite = self.suite;
        let header = self.header_ext.is_some();
        let r = self.kdr_shift.map(|s| index >> s);
        let cache = match (existing, family) {
            (Some(i), _) => self.streams[i].kdr_mut(family),
            (None, Family::Rtp) => &mut self.kdr_new_rtp,
            (None, Family::Rtcp) => &mut self.kdr_new_rtcp,
        };
        let (keys, pick) = rx_keys(
            slot.session_keys(family),
            cache,
            slot_idx,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, family, r, header),
        )?;
        Ok((keys, pick, r))
    }

    /// After a received `family` packet authenticated: creates its stream
    /// if it is new, counts the key's use, marks `index` in the replay
    /// window and commits the keys the packet used (`pick`, epoch `r`).
    #[inline]
    pub(super) fn commit_received(
        &mut self,
        family: Family,
        ssrc: u32,
        existing: Option<usize>,
        slot_idx: usize,
        index: u64,
        (pick, r): (Pick, Option<u64>),
    ) -> Result<(), Error> {
        let si = match existing {
            Some(i) => i,
            None => self.insert_stream(ssrc)?,
        };
        *self.slots[slot_idx].used_mut(family) += 1;
        let new_ssrc_cache = match family {
            Family::Rtp => &mut self.kdr_new_rtp,
            Family::Rtcp => &mut self.kdr_new_rtcp,
        };
        let stream = &mut self.streams[si];
        stream.window_mut(family).accept(index);
        if existing.is_none() && pick == Pick::Pending {
            // The new stream's first keys: the context's pending ones.
            stream.kdr_mut(family).committed = new_ssrc_cache.pending.take();
        } else if r.is_some() {
            // (Without a key derivation rate there is nothing to commit;
            // the call alone measured ~10 ns a packet.)
            stream.kdr_mut(family).commit(pick, slot_idx, r, None);
        }
        Ok(())
    }

    /// Seals a `family` packet of stream `si` at `index` with the active
    /// key: picks its session keys (see [`tx_keys`]), runs `seal` with them
    /// and the key's MKI, then counts the key's use, marks `index` as sent
    /// and commits freshly derived keys. The caller has checked the index
    /// and the key's lifetime.
    #[inline]
    pub(super) fn seal_with_active_key(
        &mut self,
        family: Family,
        si: usize,
        index: u64,
        seal: impl FnOnce(&SessionKeys, &[u8]),
    ) -> Result<(), Error> {
        let active = self.active;
        let slot = &mut self.slots[active];
        let stream = &mut self.streams[si];
        let suite = self.suite;
        let header = self.header_ext.is_some();
        let r = self.kdr_shift.map(|s| index >> s);
        let mut fresh = None;
        let (keys, pick) = tx_keys(
            slot.session_keys(family),
            stream.kdr_mut(family),
            active,
            r,
            &mut self.stats.key_derivations,
            |r| SessionKeys::derive(suite, &slot.master, family, r, header),
            &mut fresh,
        )?;
        seal(keys, slot.master.mki());
        *slot.used_mut(family) += 1;
        stream.window_mut(family).accept(index);
        stream.sent = true;
        stream.kdr_mut(family).commit(pick, active, r, fresh);
        Ok(())
    }
}
