//! One DTLS-SRTP association: the handshake driven by datagrams and a
//! timer, the fingerprint check, and the key export.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openssl::ssl::{
    ErrorCode, Ssl, SslContextBuilder, SslMethod, SslOptions, SslStream, SslVerifyMode, SslVersion,
};
use zeroize::Zeroizing;

use super::{Certificate, DtlsError, Fingerprint};
use crate::srtp::{MasterKey, Suite};

/// The largest DTLS datagram sent (the handshake fragments to fit).
pub const MTU: u32 = 1200;

/// Cipher suites offered: forward-secret AEAD and CBC suites with ECDSA
/// and RSA certificates (browsers sign with ECDSA, SIP servers often with
/// RSA).
const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";

/// The label of RFC 5764 §4.2.
const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// `a=setup`: who starts the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// `a=setup:active`: Rampart is the DTLS client.
    Active,
    /// `a=setup:passive`: Rampart is the DTLS server.
    Passive,
}

/// An SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Profile {
    /// SRTP_AES128_CM_HMAC_SHA1_80.
    AesCm128Sha1_80,
    /// SRTP_AES128_CM_HMAC_SHA1_32.
    AesCm128Sha1_32,
    /// SRTP_AEAD_AES_128_GCM.
    AeadAes128Gcm,
    /// SRTP_AEAD_AES_256_GCM.
    AeadAes256Gcm,
}

impl Profile {
    /// Every profile, in Rampart's order of preference.
    pub const ALL: [Profile; 4] = [
        Profile::AeadAes128Gcm,
        Profile::AeadAes256Gcm,
        Profile::AesCm128Sha1_80,
        Profile::AesCm128Sha1_32,
    ];

    /// OpenSSL's name for it.
    pub fn openssl_name(self) -> &'static str {
        match self {
            Profile::AesCm128Sha1_80 => "SRTP_AES128_CM_SHA1_80",
            Profile::AesCm128Sha1_32 => "SRTP_AES128_CM_SHA1_32",
            Profile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            Profile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// The SRTP suite its keys are for.
    pub fn suite(self) -> Suite {
        match self {
            Profile::AesCm128Sha1_80 => Suite::AesCm128HmacSha1_80,
            Profile::AesCm128Sha1_32 => Suite::AesCm128HmacSha1_32,
            Profile::AeadAes128Gcm => Suite::AeadAes128Gcm,
            Profile::AeadAes256Gcm => Suite::AeadAes256Gcm,
        }
    }

    fn from_openssl_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.openssl_name() == name)
    }
}

/// The SRTP keys a finished handshake exported.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SrtpKeys {
    /// The profile negotiated.
    pub profile: Profile,
    /// What Rampart protects with (the client's write key when active).
    pub local: MasterKey,
    /// What the peer protects with (Rampart unprotects with it).
    pub remote: MasterKey,
}

/// Where the handshake stands after a datagram or a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Still handshaking (send what [`Endpoint::poll_datagram`] gives).
    Pending,
    /// Connected: [`Endpoint::keys`] has the SRTP keys.
    Connected,
}

/// The datagrams between OpenSSL and whoever owns the socket: `Read`
/// hands OpenSSL one queued datagram per call, `Write` queues one.
#[derive(Default)]
pub struct Pipe {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

/// Datagrams queued toward OpenSSL at most (a flood waits no further).
const MAX_QUEUED: usize = 64;

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.incoming.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.outgoing.len() >= MAX_QUEUED {
            self.outgoing.pop_front();
        }
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum State {
    Handshaking,
    Connected,
    Failed(DtlsError),
}

/// One DTLS-SRTP association, without a socket.
pub struct Endpoint {
    stream: SslStream<Pipe>,
    role: Role,
    expected: Fingerprint,
    mismatch: Arc<AtomicBool>,
    state: State,
    keys: Option<SrtpKeys>,
    /// A flight went out or came in: there may be one to retransmit.
    started: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("role", &self.role)
            .field("expected", &self.expected)
            .field("connected", &matches!(self.state, State::Connected))
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An association presenting `cert`, in `role`, accepting only a peer
    /// whose certificate has the fingerprint `expected` (from its SDP).
    /// An active endpoint has its ClientHello ready at once.
    pub fn new(
        cert: &Certificate,
        role: Role,
        expected: Fingerprint,
    ) -> Result<Endpoint, DtlsError> {
        Endpoint::with_profiles(cert, role, expected, &Profile::ALL)
    }

    /// [`Endpoint::new`] offering (as the client) or accepting (as the
    /// server) only `profiles`, in that order of preference: what policy
    /// allows the leg. No profile in common fails the handshake.
    pub fn with_profiles(
        cert: &Certificate,
        role: Role,
        expected: Fingerprint,
        profiles: &[Profile],
    ) -> Result<Endpoint, DtlsError> {
        Endpoint::with_options(cert, role, expected, profiles, false)
    }

    /// [`Endpoint::with_profiles`]; with `cookie`, a passive endpoint
    /// first answers a ClientHello with a HelloVerifyRequest (RFC 6347
    /// §4.2.1) and sends its certificate flight only to a client that
    /// echoes the cookie: one that receives at the address it claims. For
    /// legs without ICE, where the address is not otherwise checked, so
    /// the port cannot be used to reflect a larger flight at a spoofed
    /// source.
    pub fn with_options(
        cert: &Certificate,
        role: Role,
        expected: Fingerprint,
        profiles: &[Profile],
        cookie: bool,
    ) -> Result<Endpoint, DtlsError> {
        if profiles.is_empty() {
            return Err(DtlsError::Handshake("no DTLS-SRTP profile allowed".into()));
        }
        let cookie = cookie && role == Role::Passive;
        let slot = if cookie {
            &cert.cookie_context
        } else {
            &cert.context
        };
        let ctx = match slot.get() {
            Some(c) => c,
            None => {
                let built = context(cert, cookie)?;
                slot.get_or_init(|| built)
            }
        };
        let mut ssl = Ssl::new(ctx)?;
        ssl.set_mtu(MTU)?;
        if profiles != Profile::ALL {
            let names: Vec<&str> = profiles.iter().map(|p| p.openssl_name()).collect();
            ssl.set_tlsext_use_srtp(&names.join(":"))?;
        }
        let mismatch = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&mismatch);
        // Self-signed certificates: no chain to check; the leaf is pinned
        // to the SDP fingerprint, and a mismatch fails the handshake.
        ssl.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            move |_chain_ok, store| {
                if store.error_depth() != 0 {
                    return true;
                }
                let ok = store
                    .current_cert()
                    .is_some_and(|c| Fingerprint::of(c) == expected);
                if !ok {
                    flag.store(true, Ordering::Relaxed);
                }
                ok
            },
        );
        match role {
            Role::Active => ssl.set_connect_state(),
            Role::Passive => ssl.set_accept_state(),
        }
        let stream = SslStream::new(ssl, Pipe::default())?;
        let mut e = Endpoint {
            stream,
            role,
            expected,
            mismatch,
            state: State::Handshaking,
            keys: None,
            started: role == Role::Active,
        };
        if role == Role::Active {
            e.drive()?;
        }
        Ok(e)
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Takes one datagram the data plane classified as DTLS.
    pub fn on_datagram(&mut self, datagram: &[u8]) -> Result<Event, DtlsError> {
        let q = &mut self.stream.get_mut().incoming;
        if q.len() < MAX_QUEUED {
            q.push_back(datagram.to_vec());
        }
        self.started = true;
        self.drive()
    }

    /// Lets OpenSSL retransmit a flight whose timer ran out (call every
    /// few hundred ms while [`Endpoint::is_connected`] is false). A
    /// passive endpoint that has heard nothing yet has nothing to resend,
    /// and is not asked.
    pub fn on_timer(&mut self) -> Result<Event, DtlsError> {
        if !self.started {
            return Ok(Event::Pending);
        }
        self.drive()
    }

    /// The next datagram to send to the peer.
    pub fn poll_datagram(&mut self) -> Option<Vec<u8>> {
        self.stream.get_mut().outgoing.pop_front()
    }

    /// Whether the handshake finished (and the keys are exported).
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected)
    }

    /// The SRTP keys, once connected.
    pub fn keys(&self) -> Option<&SrtpKeys> {
        self.keys.as_ref()
    }

    fn drive(&mut self) -> Result<Event, DtlsError> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Connected => {
                // Records after the handshake (a peer retransmitting its
                // last flight because ours was lost): OpenSSL answers them
                // while reading; application data is not used.
                let mut scratch = [0u8; 1500];
                for _ in 0..MAX_QUEUED {
                    if self.stream.ssl_read(&mut scratch).is_err() {
                        break;
                    }
                }
                return Ok(Event::Connected);
            }
            State::Handshaking => {}
        }
        match self.stream.do_handshake() {
            Ok(()) => match self.finish() {
                Ok(()) => Ok(Event::Connected),
                Err(e) => Err(self.fail(e)),
            },
            Err(e) if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE => {
                Ok(Event::Pending)
            }
            Err(e) => {
                let why = if self.mismatch.load(Ordering::Relaxed) {
                    DtlsError::FingerprintMismatch
                } else {
                    DtlsError::Handshake(e.to_string())
                };
                Err(self.fail(why))
            }
        }
    }

    fn fail(&mut self, e: DtlsError) -> DtlsError {
        self.state = State::Failed(e.clone());
        e
    }

    /// Checks the peer once more and exports the keys (RFC 5764 §4.2:
    /// client key, server key, client salt, server salt).
    fn finish(&mut self) -> Result<(), DtlsError> {
        let ssl = self.stream.ssl();
        let peer = ssl
            .peer_certificate()
            .ok_or(DtlsError::FingerprintMismatch)?;
        if Fingerprint::of(&peer) != self.expected {
            return Err(DtlsError::FingerprintMismatch);
        }
        let profile = ssl
            .selected_srtp_profile()
            .and_then(|p| Profile::from_openssl_name(p.name()))
            .ok_or(DtlsError::NoSrtpProfile)?;
        let suite = profile.suite();
        let (k, s) = (suite.master_key_len(), suite.master_salt_len());
        let mut m = Zeroizing::new(vec![0u8; 2 * (k + s)]);
        ssl.export_keying_material(&mut m, EXPORTER_LABEL, None)?;
        let key = |key_at: usize, salt_at: usize| -> Result<MasterKey, DtlsError> {
            MasterKey::new(suite, &m[key_at..key_at + k], &m[salt_at..salt_at + s])
                .map_err(|e| DtlsError::Setup(format!("exported key: {e:?}")))
        };
        let client = key(0, 2 * k)?;
        let server = key(k, 2 * k + s)?;
        let (local, remote) = match self.role {
            Role::Active => (client, server),
            Role::Passive => (server, client),
        };
        self.keys = Some(SrtpKeys {
            profile,
            local,
            remote,
        });
        self.state = State::Connected;
        Ok(())
    }
}

/// Bytes of a DTLS cookie.
const COOKIE_LEN: usize = 16;

/// Where an association keeps the cookie it sent.
fn cookie_index() -> Result<openssl::ex_data::Index<Ssl, [u8; COOKIE_LEN]>, DtlsError> {
    static INDEX: std::sync::OnceLock<openssl::ex_data::Index<Ssl, [u8; COOKIE_LEN]>> =
        std::sync::OnceLock::new();
    if let Some(i) = INDEX.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index()?;
    Ok(*INDEX.get_or_init(|| i))
}

/// The OpenSSL context every association presenting `cert` shares (built
/// once: parsing the cipher list and loading the key cost more than the
/// rest of a handshake's setup): DTLS 1.2 at least, the cipher suites and
/// SRTP profiles offered, the certificate, no tickets, no renegotiation
/// (a new handshake is a new association, on a re-offer).
fn context(cert: &Certificate, cookie: bool) -> Result<openssl::ssl::SslContext, DtlsError> {
    let mut b = SslContextBuilder::new(SslMethod::dtls())?;
    if cookie {
        // Each association's cookie is random and kept with it: the check
        // is that the client got it at its address, on this association.
        let index = cookie_index()?;
        b.set_options(SslOptions::COOKIE_EXCHANGE);
        b.set_cookie_generate_cb(move |ssl, out| {
            let mut c = [0u8; COOKIE_LEN];
            getrandom::fill(&mut c).map_err(|_| openssl::error::ErrorStack::get())?;
            let n = COOKIE_LEN.min(out.len());
            out[..n].copy_from_slice(&c[..n]);
            ssl.set_ex_data(index, c);
            Ok(n)
        });
        b.set_cookie_verify_cb(move |ssl, got| {
            ssl.ex_data(index).is_some_and(|c: &[u8; COOKIE_LEN]| {
                got.len() == COOKIE_LEN && bool::from(subtle::ConstantTimeEq::ct_eq(&c[..], got))
            })
        });
    }
    b.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_cipher_list(CIPHERS)?;
    let profiles: Vec<&str> = Profile::ALL.iter().map(|p| p.openssl_name()).collect();
    b.set_tlsext_use_srtp(&profiles.join(":"))?;
    b.set_certificate(&cert.x509)?;
    b.set_private_key(&cert.key)?;
    b.check_private_key()?;
    b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
    // Associations share the context, never a session: each call's
    // handshake is full, its peer's certificate checked again.
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
    Ok(b.build())
}
