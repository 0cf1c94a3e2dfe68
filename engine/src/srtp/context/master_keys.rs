//! Master key slots: each key's session keys and usage limits, MKI lookup,
//! and the rekey operations (add, activate, remove, replace). Derived-key
//! caches name slots by index, so every change that moves a slot clears them.

use super::{Context, MAX_KEYS};
use crate::srtp::keys::{
    Family, HeaderKey, MasterKey, SessionKeys, MAX_MKI_LEN, SRTCP_KEY_LIFETIME_MAX,
    SRTP_KEY_LIFETIME_MAX,
};
use crate::srtp::suite::Suite;
use crate::Error;

/// One master key with its derived session keys and usage counters.
pub(super) struct KeySlot {
    pub(super) master: MasterKey,
    pub(super) rtp: SessionKeys,
    pub(super) rtcp: SessionKeys,
    pub(super) rtp_used: u64,
    pub(super) rtcp_used: u64,
    pub(super) rtp_limit: u64,
    pub(super) rtcp_limit: u64,
}

impl KeySlot {
    /// The session keys of `family` (derived at r = 0).
    #[inline]
    pub(super) fn session_keys(&self, family: Family) -> &SessionKeys {
        match family {
            Family::Rtp => &self.rtp,
            Family::Rtcp => &self.rtcp,
        }
    }

    /// Packets of `family` this key has protected or unprotected.
    #[inline]
    pub(super) fn used(&self, family: Family) -> u64 {
        match family {
            Family::Rtp => self.rtp_used,
            Family::Rtcp => self.rtcp_used,
        }
    }

    /// The use count of `family`, to count one more packet.
    #[inline]
    pub(super) fn used_mut(&mut self, family: Family) -> &mut u64 {
        match family {
            Family::Rtp => &mut self.rtp_used,
            Family::Rtcp => &mut self.rtcp_used,
        }
    }

    /// Packets of `family` this key may handle in all.
    #[inline]
    pub(super) fn limit(&self, family: Family) -> u64 {
        match family {
            Family::Rtp => self.rtp_limit,
            Family::Rtcp => self.rtcp_limit,
        }
    }

    pub(super) fn new(suite: Suite, master: MasterKey, header: bool) -> Result<KeySlot, Error> {
        let lifetime = master.lifetime().unwrap_or(u64::MAX);
        if lifetime == 0 {
            return Err(Error::InvalidConfig("key lifetime must be positive"));
        }
        Ok(KeySlot {
            rtp: SessionKeys::derive(suite, &master, Family::Rtp, 0, header)?,
            rtcp: SessionKeys::derive(suite, &master, Family::Rtcp, 0, false)?,
            rtp_used: 0,
            rtcp_used: 0,
            rtp_limit: lifetime.min(SRTP_KEY_LIFETIME_MAX),
            rtcp_limit: lifetime.min(SRTCP_KEY_LIFETIME_MAX),
            master,
        })
    }
}

impl Context {
    /// Adds a master key. With MKIs this is a hitless rekey: a receiver
    /// accepts packets under every key it holds, selected by MKI; a sender
    /// keeps using the active key until [`set_active_mki`](Self::set_active_mki).
    pub fn add_key(&mut self, key: MasterKey) -> Result<(), Error> {
        if key.key_len() != self.suite.master_key_len()
            || key.salt_len() != self.suite.master_salt_len()
        {
            return Err(Error::InvalidConfig("master key does not match the suite"));
        }
        if key.mki_len_raw() > MAX_MKI_LEN {
            return Err(Error::InvalidConfig("MKI longer than 8 bytes"));
        }
        if key.mki_len_raw() != self.mki_len {
            return Err(Error::InvalidConfig(
                "every key of a context needs the same MKI length",
            ));
        }
        if !self.slots.is_empty() && self.mki_len == 0 {
            return Err(Error::InvalidConfig("several master keys need MKIs"));
        }
        if self.slots.iter().any(|s| s.master.mki() == key.mki()) {
            return Err(Error::InvalidConfig("duplicate MKI"));
        }
        let slot = KeySlot::new(self.suite, key, self.header_ext.is_some())?;
        if self.slots.len() >= MAX_KEYS {
            // The oldest key that is not the active one.
            let oldest = usize::from(self.active == 0);
            self.drop_slot(oldest);
            self.stats.keys_evicted += 1;
        }
        self.slots.push(slot);
        Ok(())
    }

    /// Number of master keys the context holds (at most [`MAX_KEYS`]).
    pub fn key_count(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every cached derived key: they name key slots by index.
    fn clear_kdr_caches(&mut self) {
        self.kdr_new_rtp.clear();
        self.kdr_new_rtcp.clear();
        for s in &mut self.streams {
            s.kdr_rtp.clear();
            s.kdr_rtcp.clear();
        }
    }

    /// Drops key slot `i` (not the active one) and every key derived from
    /// a slot index, since the indexes after `i` move.
    fn drop_slot(&mut self, i: usize) {
        self.slots.remove(i);
        if self.active > i {
            self.active -= 1;
        }
        self.clear_kdr_caches();
    }

    /// Derives the RFC 6904 header key of every SRTP session key the
    /// context holds that lacks one: each master key's (r = 0) and, with a
    /// key derivation rate, the cached keys of each epoch (new streams'
    /// and every stream's, committed and pending). RTCP has no header key.
    /// Computed before anything is stored, so an error changes nothing.
    pub(super) fn derive_header_keys(&mut self) -> Result<(), Error> {
        let suite = self.suite;
        let mut slot_keys = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if s.rtp.header.is_none() {
                slot_keys.push((i, HeaderKey::derive(suite, &s.master, 0)?));
            }
        }
        let mut cached = Vec::new();
        let caches =
            std::iter::once(&self.kdr_new_rtp).chain(self.streams.iter().map(|s| &s.kdr_rtp));
        for (c, cache) in caches.enumerate() {
            for (pending, k) in [(false, &cache.committed), (true, &cache.pending)] {
                if let Some(k) = k.as_deref().filter(|k| k.keys.header.is_none()) {
                    let master = &self.slots[k.slot].master;
                    cached.push((c, pending, HeaderKey::derive(suite, master, k.r)?));
                }
            }
        }
        for (i, h) in slot_keys {
            self.slots[i].rtp.header = h;
        }
        for (c, pending, h) in cached {
            let cache = match c {
                0 => &mut self.kdr_new_rtp,
                c => &mut self.streams[c - 1].kdr_rtp,
            };
            let k = if pending {
                &mut cache.pending
            } else {
                &mut cache.committed
            };
            if let Some(k) = k.as_deref_mut() {
                k.keys.header = h;
            }
        }
        Ok(())
    }

    /// Drops every RFC 6904 header key (the context no longer encrypts
    /// header extensions; keys derived from now on come without one).
    pub(super) fn drop_header_keys(&mut self) {
        for s in &mut self.slots {
            s.rtp.header = None;
        }
        let caches = std::iter::once(&mut self.kdr_new_rtp)
            .chain(self.streams.iter_mut().map(|s| &mut s.kdr_rtp));
        for cache in caches {
            for k in [&mut cache.committed, &mut cache.pending]
                .into_iter()
                .flatten()
            {
                k.keys.header = None;
            }
        }
    }

    /// Whether the context holds a key with this MKI.
    pub fn has_mki(&self, mki: &[u8]) -> bool {
        self.slot_by_mki(mki).is_some()
    }

    /// Makes the key with this MKI the one protect uses.
    pub fn set_active_mki(&mut self, mki: &[u8]) -> Result<(), Error> {
        self.active = self.slot_by_mki(mki).ok_or(Error::UnknownMki)?;
        Ok(())
    }

    /// Removes the key with this MKI (not the active one).
    pub fn remove_key(&mut self, mki: &[u8]) -> Result<(), Error> {
        let i = self.slot_by_mki(mki).ok_or(Error::UnknownMki)?;
        if i == self.active {
            return Err(Error::InvalidConfig("cannot remove the active key"));
        }
        self.drop_slot(i);
        Ok(())
    }

    /// Replaces every master key with `key`, keeping each stream's ROC,
    /// replay window and SRTCP index: a rekey without MKI (SDES re-offer).
    pub fn replace_key(&mut self, key: MasterKey) -> Result<(), Error> {
        let old = std::mem::take(&mut self.slots);
        let old_mki_len = self.mki_len;
        self.mki_len = key.mki_len_raw();
        if let Err(e) = self.add_key(key) {
            self.slots = old;
            self.mki_len = old_mki_len;
            return Err(e);
        }
        self.active = 0;
        self.clear_kdr_caches();
        Ok(())
    }

    /// The slot whose MKI is `mki`: the active key first (the common
    /// case), then a scan of at most [`MAX_KEYS`] keys.
    pub(super) fn slot_by_mki(&self, mki: &[u8]) -> Option<usize> {
        match self.slots.get(self.active) {
            Some(s) if s.master.mki() == mki => Some(self.active),
            _ => self.slots.iter().position(|s| s.master.mki() == mki),
        }
    }

    /// Where the MKI sits and which key it selects; the active key when the
    /// context has no MKI.
    pub(super) fn slot_for(&self, mki: &[u8]) -> Result<usize, Error> {
        if self.mki_len == 0 {
            Ok(self.active)
        } else {
            self.slot_by_mki(mki).ok_or(Error::UnknownMki)
        }
    }
}
