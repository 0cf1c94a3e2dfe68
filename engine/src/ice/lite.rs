//! The lite side of ICE (RFC 8445 §2.5) for one media stream: Rampart
//! offers host candidates on its media addresses and answers the full
//! agent's connectivity checks; the full agent (a browser) chooses the
//! pair and nominates it with USE-CANDIDATE; Rampart sends media to the
//! nominated address for as long as the peer keeps consenting (RFC 7675:
//! a valid check at least every 30 s).
//!
//! Why sans-I/O: whoever owns the socket (the worker, or a test) hands a
//! datagram in and sends what comes out; the decisions (is this check
//! authentic, does it move the selected pair, has consent run out) are
//! pure and tested without sockets. A check that fails anything (framing,
//! FINGERPRINT, USERNAME, MESSAGE-INTEGRITY) is dropped without an answer
//! and never moves the pair: an unauthenticated error response would only
//! make Rampart a reflector.

use std::net::SocketAddr;

use super::stun::{attr, Class, Message, StunError, Writer, BINDING};

/// How long a selected pair stays usable without a valid check from the
/// peer (RFC 7675 §5.1).
pub const CONSENT_TIMEOUT_MS: u64 = 30_000;

/// The characters of `ice-char` (RFC 8839 §5.4).
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A username fragment and password (`a=ice-ufrag`, `a=ice-pwd`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd` (the short-term key of MESSAGE-INTEGRITY).
    pub pwd: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a key: never in logs.
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Fresh random credentials: an 8-character ufrag and a 24-character
    /// password (RFC 8445 asks for at least 24 and 128 bits of
    /// randomness; 24 characters of 64 are 144 bits).
    pub fn generate() -> Result<Credentials, getrandom::Error> {
        let mut r = [0u8; 32];
        getrandom::fill(&mut r)?;
        let s = |b: &[u8]| {
            b.iter()
                .map(|x| ICE_CHARS[(x & 63) as usize] as char)
                .collect()
        };
        Ok(Credentials {
            ufrag: s(&r[..8]),
            pwd: s(&r[8..]),
        })
    }
}

/// What an answered check came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Answered with a success response (in the output buffer). With
    /// `nominated`, it carried USE-CANDIDATE: its source is the selected
    /// pair's remote address now.
    Answered {
        /// The check nominated its source.
        nominated: bool,
    },
    /// Answered with 487 (Role Conflict): the peer claims the controlled
    /// role, which a lite agent always has.
    RoleConflict,
    /// A Binding indication (a keepalive): nothing to answer.
    Keepalive,
}

/// Why a datagram was dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckDrop {
    /// Not a well-formed STUN message.
    Malformed(StunError),
    /// Not a Binding request or indication.
    NotBinding,
    /// No FINGERPRINT, or a wrong one (ICE requires it on every message).
    Fingerprint,
    /// No USERNAME, or not `<our ufrag>:<their ufrag>`.
    Username,
    /// No MESSAGE-INTEGRITY, or not under our password.
    Integrity,
}

/// Where the selected pair's consent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// No pair nominated yet.
    NoPair,
    /// The peer checked the pair within [`CONSENT_TIMEOUT_MS`].
    Fresh,
    /// It did not: stop sending (RFC 7675 §5.1).
    Expired,
}

/// The lite agent of one media stream.
#[derive(Debug)]
pub struct IceLite {
    local: Credentials,
    remote_ufrag: Option<String>,
    selected: Option<SocketAddr>,
    consent_at_ms: u64,
}

impl IceLite {
    /// An agent answering checks keyed with `local`.
    pub fn new(local: Credentials) -> IceLite {
        IceLite {
            local,
            remote_ufrag: None,
            selected: None,
            consent_at_ms: 0,
        }
    }

    /// This side's credentials (for `a=ice-ufrag` / `a=ice-pwd`).
    pub fn local(&self) -> &Credentials {
        &self.local
    }

    /// The peer's `a=ice-ufrag`, once its SDP is known. Until then any
    /// peer ufrag is taken (checks can arrive before the answer); the
    /// password, ours, is what authenticates them.
    pub fn set_remote_ufrag(&mut self, ufrag: &str) {
        self.remote_ufrag = Some(ufrag.to_string());
    }

    /// Continues a pair nominated before (on another node, whose call this
    /// is now): `selected`, with consent fresh as of `now_ms`. The peer's
    /// next consent checks keep it so.
    pub fn resume(&mut self, selected: SocketAddr, now_ms: u64) {
        self.selected = Some(selected);
        self.consent_at_ms = now_ms;
    }

    /// The remote address of the nominated pair.
    pub fn selected(&self) -> Option<SocketAddr> {
        self.selected
    }

    /// Whether media may go to the selected pair at `now_ms`.
    pub fn consent(&self, now_ms: u64) -> Consent {
        match self.selected {
            None => Consent::NoPair,
            Some(_) if now_ms.saturating_sub(self.consent_at_ms) <= CONSENT_TIMEOUT_MS => {
                Consent::Fresh
            }
            Some(_) => Consent::Expired,
        }
    }

    /// Takes one datagram the data plane classified as STUN, from `from`,
    /// at `now_ms`. An authentic Binding request is answered into `out`
    /// (sent back to `from` by the caller); anything else is dropped and
    /// changes nothing.
    pub fn on_check(
        &mut self,
        pkt: &[u8],
        from: SocketAddr,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<Check, CheckDrop> {
        out.clear();
        let m = Message::parse(pkt).map_err(CheckDrop::Malformed)?;
        if m.method() != BINDING {
            return Err(CheckDrop::NotBinding);
        }
        match m.class() {
            Class::Request => {}
            Class::Indication => return Ok(Check::Keepalive),
            _ => return Err(CheckDrop::NotBinding),
        }
        if !m.verify_fingerprint() {
            return Err(CheckDrop::Fingerprint);
        }
        if !self.username_is_ours(m.username()) {
            return Err(CheckDrop::Username);
        }
        if !m.verify_integrity(self.local.pwd.as_bytes()) {
            return Err(CheckDrop::Integrity);
        }
        let key = self.local.pwd.as_bytes();
        if m.has(attr::ICE_CONTROLLED) {
            Writer::new(out, BINDING, Class::Error, m.transaction_id())
                .error_code(487, "Role Conflict")
                .integrity(key)
                .fingerprint();
            return Ok(Check::RoleConflict);
        }
        Writer::new(out, BINDING, Class::Success, m.transaction_id())
            .xor_mapped_address(from)
            .integrity(key)
            .fingerprint();
        let nominated = m.has(attr::USE_CANDIDATE);
        if nominated {
            self.selected = Some(from);
        }
        if self.selected == Some(from) {
            self.consent_at_ms = now_ms;
        }
        Ok(Check::Answered { nominated })
    }

    fn username_is_ours(&self, username: Option<&[u8]>) -> bool {
        let Some(u) = username else {
            return false;
        };
        let ours = self.local.ufrag.as_bytes();
        let Some(theirs) = u
            .strip_prefix(ours)
            .and_then(|rest| rest.strip_prefix(b":"))
        else {
            return false;
        };
        match &self.remote_ufrag {
            Some(r) => theirs == r.as_bytes(),
            None => !theirs.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests;
