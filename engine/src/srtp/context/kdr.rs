//! Session keys derived on the packet path with a non-zero key derivation
//! rate. A received packet's freshly derived keys stay pending until it has
//! authenticated, so forged packets cost at most one derivation per epoch and
//! never replace keys a genuine packet committed.

use crate::srtp::keys::SessionKeys;
use crate::Error;

/// Session keys derived for one stream at one key-derivation index (only
/// with a non-zero key derivation rate).
pub(super) struct KdrKeys {
    pub(super) slot: usize,
    pub(super) r: u64,
    pub(super) keys: SessionKeys,
}

/// Which keys a packet uses (non-zero key derivation rate).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pick {
    /// The slot's own keys (r = 0, or no key derivation rate).
    Base,
    /// The stream's committed keys: the newest epoch a packet used.
    Committed,
    /// Keys derived for a received packet that has not authenticated yet;
    /// kept, uncommitted, and reused by every packet of that epoch.
    Pending,
    /// Keys a sender derived for this packet.
    Fresh,
}

/// One stream family's derived keys (non-zero key derivation rate). A
/// received packet's keys are committed only after it authenticated.
#[derive(Default)]
pub(super) struct KdrCache {
    pub(super) committed: Option<Box<KdrKeys>>,
    pub(super) pending: Option<Box<KdrKeys>>,
}

impl KdrCache {
    pub(super) fn clear(&mut self) {
        self.committed = None;
        self.pending = None;
    }

    pub(super) fn hit(&self, slot: usize, r: u64) -> Option<Pick> {
        let is = |k: &Option<Box<KdrKeys>>| k.as_ref().is_some_and(|k| k.slot == slot && k.r == r);
        if is(&self.committed) {
            Some(Pick::Committed)
        } else if is(&self.pending) {
            Some(Pick::Pending)
        } else {
            None
        }
    }

    pub(super) fn keys(&self, pick: Pick) -> Option<&SessionKeys> {
        match pick {
            Pick::Committed => self.committed.as_deref().map(|k| &k.keys),
            Pick::Pending => self.pending.as_deref().map(|k| &k.keys),
            _ => None,
        }
    }

    /// After the packet succeeded: its keys become the committed ones if
    /// its epoch is newer than the committed one.
    pub(super) fn commit(
        &mut self,
        pick: Pick,
        slot: usize,
        r: Option<u64>,
        fresh: Option<SessionKeys>,
    ) {
        let Some(r) = r else { return };
        let newer = match &self.committed {
            Some(k) => k.slot != slot || r > k.r,
            None => true,
        };
        match pick {
            Pick::Pending if newer => self.committed = self.pending.take(),
            Pick::Fresh if newer => {
                if let Some(keys) = fresh {
                    self.committed = Some(Box::new(KdrKeys { slot, r, keys }));
                    if self
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.slot == slot && p.r <= r)
                    {
                        self.pending = None;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Picks a sender's session keys: the slot's own at r = 0 (or without a
/// key derivation rate), the stream's committed keys for this `r`, or
/// freshly derived ones left in `fresh` (committed once the packet is out).
pub(super) fn tx_keys<'a>(
    base: &'a SessionKeys,
    cache: &'a KdrCache,
    slot: usize,
    r: Option<u64>,
    derivations: &mut u64,
    derive: impl FnOnce(u64) -> Result<SessionKeys, Error>,
    fresh: &'a mut Option<SessionKeys>,
) -> Result<(&'a SessionKeys, Pick), Error> {
    let r = match r {
        None | Some(0) => return Ok((base, Pick::Base)),
        Some(r) => r,
    };
    if let Some(keys) = cache.hit(slot, r).and_then(|p| Some((cache.keys(p)?, p))) {
        return Ok(keys);
    }
    *derivations += 1;
    Ok((fresh.insert(derive(r)?), Pick::Fresh))
}

/// Picks a received packet's session keys before it has authenticated:
/// the slot's own at r = 0, cached keys for this epoch, or keys derived now
/// into the cache's pending slot (one per stream and family, and one per
/// context for SSRCs with no stream yet). Pending keys are only used to
/// authenticate; they are committed after a packet authenticated with
/// them. So any number of forged packets in one epoch cost one derivation,
/// and no forged packet costs more than one.
pub(super) fn rx_keys<'a>(
    base: &'a SessionKeys,
    cache: &'a mut KdrCache,
    slot: usize,
    r: Option<u64>,
    derivations: &mut u64,
    derive: impl FnOnce(u64) -> Result<SessionKeys, Error>,
) -> Result<(&'a SessionKeys, Pick), Error> {
    let r = match r {
        None | Some(0) => return Ok((base, Pick::Base)),
        Some(r) => r,
    };
    match cache.hit(slot, r) {
        Some(pick) => {
            let cache: &'a KdrCache = cache;
            let keys = cache
                .keys(pick)
                .ok_or(Error::InvalidConfig("key cache out of step"))?;
            Ok((keys, pick))
        }
        None => {
            *derivations += 1;
            let keys = derive(r)?;
            let k = cache.pending.insert(Box::new(KdrKeys { slot, r, keys }));
            Ok((&k.keys, Pick::Pending))
        }
    }
}
