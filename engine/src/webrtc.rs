//! One WebRTC leg's transport on one port: STUN (the ICE-lite agent) and
//! DTLS (the DTLS-SRTP endpoint) demultiplexed by their first byte (RFC
//! 7983), as the data plane already classifies them; RTP and RTCP are the
//! worker's. The result of a datagram is what to send and to whom, the
//! nominated remote address, and, once the handshake is done, the SRTP
//! keys of both directions.
//!
//! Why a state machine of its own: the worker hands the leg's STUN and
//! DTLS datagrams to the control plane (the handshake must not stall the
//! packet path), which keeps one `Transport` per leg and sends what it
//! returns through the leg's socket. Without sockets, the same code runs
//! under tests and against real peers (aiortc in `tests/webrtc_aiortc.rs`).

use std::net::SocketAddr;

mod service;
pub use service::{placeholder, DataPlaneRef, KeyedHook, ServiceCounters, TransportService};

/// The node certificate as `[webrtc]` configures it: loaded from its two
/// PEM files, or generated and written there when they do not exist yet
/// (the key with mode 0600), or generated for this run when no files are
/// set.
pub fn node_certificate(
    cfg: &crate::config::WebrtcConfig,
) -> Result<crate::dtls::Certificate, String> {
    use crate::dtls::Certificate;
    let (Some(cert), Some(key)) = (&cfg.certificate, &cfg.private_key) else {
        return Certificate::generate("rampart").map_err(|e| e.to_string());
    };
    let shown = |p: &std::path::Path, e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
    if cert.exists() || key.exists() {
        let c = std::fs::read(cert).map_err(|e| shown(cert, &e))?;
        let k = zeroize::Zeroizing::new(std::fs::read(key).map_err(|e| shown(key, &e))?);
        return Certificate::from_pem(&c, &k).map_err(|e| shown(cert, &e));
    }
    let made = Certificate::generate("rampart").map_err(|e| e.to_string())?;
    let k = made.key_pem().map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(key)
            .map_err(|e| shown(key, &e))?;
        f.write_all(&k).map_err(|e| shown(key, &e))?;
    }
    let c = made.cert_pem().map_err(|e| e.to_string())?;
    std::fs::write(cert, c).map_err(|e| shown(cert, &e))?;
    tracing::info!(certificate = %cert.display(), fingerprint = %made.fingerprint(), "generated the node's DTLS certificate");
    Ok(made)
}

use crate::dtls::{DtlsError, Endpoint, SrtpKeys};
use crate::ice::lite::{Check, CheckDrop, Consent, IceLite};
use crate::rtp::{classify, PacketKind};

/// What one datagram or timer tick came to.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Datagrams to send from the leg's port.
    pub send: Vec<(Vec<u8>, SocketAddr)>,
    /// A check nominated this remote address (media goes there now).
    pub nominated: Option<SocketAddr>,
    /// The DTLS handshake finished with this datagram: [`Transport::keys`].
    pub connected: bool,
    /// Why the datagram was dropped, if it was.
    pub dropped: Option<Dropped>,
}

/// Why a datagram was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dropped {
    /// A STUN datagram that is not an authentic check.
    Stun(CheckDrop),
    /// STUN on a leg without ICE, or DTLS on a leg without DTLS.
    NotNegotiated,
    /// DTLS from an address ICE did not nominate.
    NotSelected,
    /// RTP, RTCP or garbage: not the transport's.
    NotTransport,
    /// The DTLS handshake failed (now or earlier).
    Dtls(DtlsError),
}

/// A leg's ICE-lite agent and DTLS endpoint (either may be absent: ICE
/// with SDES keys, or DTLS without ICE).
#[derive(Debug)]
pub struct Transport {
    ice: Option<IceLite>,
    dtls: Option<Endpoint>,
    /// Where DTLS records go: the nominated pair, else where the peer's
    /// records come from.
    dtls_peer: Option<SocketAddr>,
    scratch: Vec<u8>,
}

impl Transport {
    /// A transport with the given parts. `dtls_peer` is where an active
    /// endpoint sends its first flight when there is no ICE (the SDP's
    /// address); with ICE it goes to the nominated address.
    pub fn new(
        ice: Option<IceLite>,
        dtls: Option<Endpoint>,
        dtls_peer: Option<SocketAddr>,
    ) -> Self {
        Transport {
            ice,
            dtls,
            dtls_peer,
            scratch: Vec::with_capacity(128),
        }
    }

    /// The ICE-lite agent.
    pub fn ice(&self) -> Option<&IceLite> {
        self.ice.as_ref()
    }

    /// Continues the pair `selected` nominated on another node (a call
    /// taken over), with consent fresh as of `now_ms`.
    pub fn resume_pair(&mut self, selected: SocketAddr, now_ms: u64) {
        if let Some(i) = self.ice.as_mut() {
            i.resume(selected, now_ms);
        }
        self.dtls_peer = Some(selected);
    }

    /// An ICE restart: `agent` (new credentials, no pair selected) takes
    /// over; the DTLS association and its keys stay. Until the peer
    /// nominates again, DTLS goes where it went.
    pub fn restart_ice(&mut self, agent: IceLite) {
        self.ice = Some(agent);
    }

    /// The SRTP keys, once the DTLS handshake finished.
    pub fn keys(&self) -> Option<&SrtpKeys> {
        self.dtls.as_ref().and_then(|d| d.keys())
    }

    /// Whether media may be sent at `now_ms` (ICE consent, RFC 7675; a
    /// leg without ICE always may).
    pub fn may_send(&self, now_ms: u64) -> bool {
        self.ice
            .as_ref()
            .is_none_or(|i| i.consent(now_ms) == Consent::Fresh)
    }

    /// Takes one datagram from `from` that arrived on the leg's port.
    pub fn on_datagram(&mut self, pkt: &[u8], from: SocketAddr, now_ms: u64) -> Outcome {
        let mut o = Outcome::default();
        match classify(pkt) {
            PacketKind::Stun => self.on_stun(pkt, from, now_ms, &mut o),
            PacketKind::Dtls => {
                let Some(d) = self.dtls.as_mut() else {
                    o.dropped = Some(Dropped::NotNegotiated);
                    return o;
                };
                // With ICE, records count only from the nominated pair: an
                // answer to anyone else would make the port a reflector
                // (a certificate flight is larger than a ClientHello).
                let to = match self.ice.as_ref().map(|i| i.selected()) {
                    Some(Some(s)) if s == from => s,
                    Some(_) => {
                        o.dropped = Some(Dropped::NotSelected);
                        return o;
                    }
                    None => from,
                };
                self.dtls_peer = Some(to);
                let was = d.is_connected();
                match d.on_datagram(pkt) {
                    Ok(_) => o.connected = !was && d.is_connected(),
                    Err(e) => o.dropped = Some(Dropped::Dtls(e)),
                }
                self.flush_dtls(&mut o);
            }
            _ => o.dropped = Some(Dropped::NotTransport),
        }
        o
    }

    /// Retransmits DTLS flights whose timer ran out (call every few
    /// hundred ms while handshaking).
    pub fn on_timer(&mut self) -> Outcome {
        let mut o = Outcome::default();
        if let Some(d) = self.dtls.as_mut() {
            if !d.is_connected() {
                if let Err(e) = d.on_timer() {
                    o.dropped = Some(Dropped::Dtls(e));
                }
            }
        }
        self.flush_dtls(&mut o);
        o
    }

    fn on_stun(&mut self, pkt: &[u8], from: SocketAddr, now_ms: u64, o: &mut Outcome) {
        let Some(ice) = self.ice.as_mut() else {
            o.dropped = Some(Dropped::NotNegotiated);
            return;
        };
        match ice.on_check(pkt, from, now_ms, &mut self.scratch) {
            Ok(Check::Keepalive) => {}
            Ok(c) => {
                o.send.push((self.scratch.clone(), from));
                if c == (Check::Answered { nominated: true }) {
                    o.nominated = Some(from);
                    self.dtls_peer = Some(from);
                    // An active endpoint's first flight waited for a pair.
                    self.flush_dtls(o);
                }
            }
            Err(e) => o.dropped = Some(Dropped::Stun(e)),
        }
    }

    fn flush_dtls(&mut self, o: &mut Outcome) {
        let (Some(d), Some(to)) = (self.dtls.as_mut(), self.dtls_peer) else {
            return;
        };
        while let Some(dg) = d.poll_datagram() {
            o.send.push((dg, to));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::{Certificate, Role};
    use crate::ice::lite::Credentials;
    use crate::ice::stun::{attr, Class, Writer, BINDING};

    fn creds() -> Credentials {
        Credentials {
            ufrag: "lite".into(),
            pwd: "0123456789abcdefghijklmn".into(),
        }
    }

    fn nominate(t: &mut Transport, from: SocketAddr) -> Outcome {
        let mut check = Vec::new();
        Writer::new(&mut check, BINDING, Class::Request, [3; 12])
            .attr(attr::USERNAME, b"lite:peer")
            .attr(attr::ICE_CONTROLLING, &[0; 8])
            .attr(attr::USE_CANDIDATE, &[])
            .integrity(creds().pwd.as_bytes())
            .fingerprint();
        t.on_datagram(&check, from, 0)
    }

    #[test]
    fn dtls_counts_only_from_the_nominated_pair_and_the_first_flight_waits_for_it() {
        let (ours, theirs) = (
            Certificate::generate("a").unwrap(),
            Certificate::generate("b").unwrap(),
        );
        let dtls = Endpoint::new(&ours, Role::Active, theirs.fingerprint()).unwrap();
        let mut t = Transport::new(Some(IceLite::new(creds())), Some(dtls), None);
        let peer: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.7:4000".parse().unwrap();
        // Before a nomination nothing goes out, and records are refused.
        assert!(t.on_timer().send.is_empty());
        let hello = [22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            t.on_datagram(&hello, stranger, 0).dropped,
            Some(Dropped::NotSelected)
        );
        let o = nominate(&mut t, peer);
        assert_eq!(o.nominated, Some(peer));
        // The check's answer, then the ClientHello, both to the pair.
        assert!(o.send.len() >= 2, "{:?}", o.send.len());
        assert!(o.send.iter().all(|(_, to)| *to == peer));
        assert_eq!(
            t.on_datagram(&hello, stranger, 1).dropped,
            Some(Dropped::NotSelected)
        );
        assert!(t.may_send(1));
        assert!(!t.may_send(1 + crate::ice::lite::CONSENT_TIMEOUT_MS + 1));
    }

    #[test]
    fn an_ice_restart_swaps_the_agent_and_keeps_the_dtls_association() {
        let (ours, theirs) = (
            Certificate::generate("a").unwrap(),
            Certificate::generate("b").unwrap(),
        );
        let dtls = Endpoint::new(&ours, Role::Passive, theirs.fingerprint()).unwrap();
        let mut t = Transport::new(Some(IceLite::new(creds())), Some(dtls), None);
        let (peer, moved): (SocketAddr, SocketAddr) = (
            "198.51.100.7:4000".parse().unwrap(),
            "198.51.100.7:4444".parse().unwrap(),
        );
        assert_eq!(nominate(&mut t, peer).nominated, Some(peer));
        let fresh = Credentials {
            ufrag: "rst2".into(),
            pwd: "restartedpasswordrestart".into(),
        };
        t.restart_ice(IceLite::new(fresh.clone()));
        // The old credentials no longer move anything; the new ones do.
        let o = nominate(&mut t, moved);
        assert!(o.nominated.is_none() && o.send.is_empty());
        let mut check = Vec::new();
        Writer::new(&mut check, BINDING, Class::Request, [4; 12])
            .attr(attr::USERNAME, b"rst2:peer")
            .attr(attr::ICE_CONTROLLING, &[0; 8])
            .attr(attr::USE_CANDIDATE, &[])
            .integrity(fresh.pwd.as_bytes())
            .fingerprint();
        assert_eq!(t.on_datagram(&check, moved, 5).nominated, Some(moved));
        assert_eq!(t.dtls.as_ref().map(Endpoint::role), Some(Role::Passive));
    }

    #[test]
    fn the_node_certificate_is_generated_once_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rampart-node-cert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = crate::config::WebrtcConfig {
            enabled: true,
            certificate: Some(dir.join("cert.pem")),
            private_key: Some(dir.join("key.pem")),
        };
        let first = node_certificate(&cfg).unwrap();
        let mode = std::fs::metadata(dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        // The next start loads the same certificate: the fingerprint stays.
        let again = node_certificate(&cfg).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        // A key without its certificate is an error, not a new identity.
        std::fs::remove_file(dir.join("cert.pem")).unwrap();
        assert!(node_certificate(&cfg).is_err());
        // No files configured: a fresh certificate each time.
        let none = crate::config::WebrtcConfig::default();
        assert_ne!(
            node_certificate(&none).unwrap().fingerprint(),
            node_certificate(&none).unwrap().fingerprint()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_a_leg_did_not_negotiate_is_dropped() {
        let mut t = Transport::new(None, None, None);
        let from: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let stun = [
            0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            t.on_datagram(&stun, from, 0).dropped,
            Some(Dropped::NotNegotiated)
        );
        assert_eq!(
            t.on_datagram(&[22, 0xfe, 0xfd], from, 0).dropped,
            Some(Dropped::NotNegotiated)
        );
        assert_eq!(
            t.on_datagram(&[0x80, 0, 0, 1], from, 0).dropped,
            Some(Dropped::NotTransport)
        );
        assert!(t.may_send(0) && t.keys().is_none());
    }
}
