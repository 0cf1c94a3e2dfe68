//! A context's counters, and how each operation's outcome is counted (one
//! place, so every transform counts errors the same way).

use crate::Error;

/// Counters a context keeps about its own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// SRTP packets unprotected.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// SRTCP packets unprotected.
    pub rtcp_unprotected: u64,
    /// Packets whose tag failed to verify.
    pub auth_failures: u64,
    /// Received packets rejected as replays or as too old.
    pub replays: u64,
    /// Packets protect refused because their index was already used by this
    /// sender or is older than its window (keystream/nonce reuse refused).
    pub protect_replays: u64,
    /// Packets rejected as malformed or too short.
    pub malformed: u64,
    /// Packets rejected for any other reason (unknown SSRC or MKI, key
    /// exhausted, stream limit, buffer too small).
    pub other_errors: u64,
    /// Session keys derived on the packet path (non-zero key derivation
    /// rate only): each costs key schedules, so it is bounded.
    pub key_derivations: u64,
    /// Master keys dropped (oldest inactive first) to keep a context at
    /// [`MAX_KEYS`] keys.
    pub keys_evicted: u64,
}

impl ContextStats {
    /// Counts one operation's outcome: `ok` names the success counter.
    pub(super) fn record(
        &mut self,
        r: Result<usize, Error>,
        ok: impl FnOnce(&mut Self) -> &mut u64,
    ) -> Result<usize, Error> {
        match &r {
            Ok(_) => *ok(self) += 1,
            Err(e) => self.count_error(e),
        }
        r
    }

    /// Counts a protect outcome: a refused index counts as `protect_replays`.
    pub(super) fn record_protect(
        &mut self,
        r: Result<usize, Error>,
        ok: impl FnOnce(&mut Self) -> &mut u64,
    ) -> Result<usize, Error> {
        if let Err(Error::Replayed | Error::TooOld) = r {
            self.protect_replays += 1;
            return r;
        }
        self.record(r, ok)
    }

    pub(super) fn count_error(&mut self, e: &Error) {
        match e {
            Error::AuthFailed => self.auth_failures += 1,
            Error::Replayed | Error::TooOld => self.replays += 1,
            Error::Malformed(_) => self.malformed += 1,
            _ => self.other_errors += 1,
        }
    }
}
