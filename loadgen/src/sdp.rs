//! Just enough SDP for SDES calls: build a phone's audio offer/answer with
//! one `a=crypto` line, and read back the relay's address, port and crypto
//! lines from the SDP it returns.

use std::net::{IpAddr, SocketAddr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One `a=crypto:TAG SUITE inline:KEY[|...]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// The tag.
    pub tag: u32,
    /// The suite name.
    pub suite: String,
    /// key||salt, decoded.
    pub key: Vec<u8>,
}

/// What a relay's SDP says about its first audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// Where to send RTP.
    pub addr: SocketAddr,
    /// The transport (`RTP/SAVP`, ...).
    pub proto: String,
    /// Its `a=crypto` lines, in order.
    pub crypto: Vec<Crypto>,
}

/// A phone's SDP: one audio stream (PCMU) in transport `proto`, RTCP
/// multiplexed (`a=rtcp-mux`), with one crypto line `(tag, suite, key)`
/// when given.
pub fn phone_sdp(
    session_id: u64,
    addr: SocketAddr,
    proto: &str,
    crypto: Option<(u32, String, Vec<u8>)>,
) -> String {
    let (fam, ip) = match addr.ip() {
        IpAddr::V4(ip) => ("IP4", ip.to_string()),
        IpAddr::V6(ip) => ("IP6", ip.to_string()),
    };
    let mut s = format!(
        "v=0\r\n\
         o=- {session_id} 1 IN {fam} {ip}\r\n\
         s=rampart-loadgen\r\n\
         c=IN {fam} {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} {proto} 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n\
         a=rtcp-mux\r\n",
        port = addr.port(),
    );
    if let Some((tag, suite, key)) = crypto {
        s.push_str(&format!(
            "a=crypto:{tag} {suite} inline:{}\r\n",
            STANDARD.encode(key)
        ));
    }
    s
}

/// Reads the first `m=audio` stream of `sdp`: its connection address (media
/// level `c=` wins over session level), port, transport and crypto lines.
pub fn parse(sdp: &str) -> Result<Media, String> {
    let mut session_c: Option<IpAddr> = None;
    let mut media_c: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut proto = String::new();
    let mut crypto = Vec::new();
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in sdp.lines().take(10_000) {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            if seen_audio {
                break; // only the first audio stream
            }
            let mut f = m.split_whitespace();
            in_audio = f.next() == Some("audio");
            if in_audio {
                seen_audio = true;
                port = f.next().and_then(|p| p.parse().ok());
                proto = f.next().unwrap_or("").to_string();
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse::<IpAddr>().ok());
            if seen_audio {
                if in_audio {
                    media_c = ip;
                }
            } else {
                session_c = ip;
            }
        } else if let Some(a) = line.strip_prefix("a=crypto:") {
            if in_audio {
                if let Some(c) = parse_crypto(a) {
                    crypto.push(c);
                }
            }
        }
    }
    let port = port.ok_or("no m=audio line with a port")?;
    let ip = media_c.or(session_c).ok_or("no c= connection address")?;
    Ok(Media {
        addr: SocketAddr::new(ip, port),
        proto,
        crypto,
    })
}

/// Parses the part after `a=crypto:`.
fn parse_crypto(a: &str) -> Option<Crypto> {
    let mut f = a.split_whitespace();
    let tag = f.next()?.parse().ok()?;
    let suite = f.next()?.to_string();
    let params = f.next()?;
    let inline = params.split(';').next()?.strip_prefix("inline:")?;
    let b64 = inline.split('|').next()?;
    let key = STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
        .ok()?;
    Some(Crypto { tag, suite, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses() {
        let key: Vec<u8> = (0..30).collect();
        let s = phone_sdp(
            7,
            "127.0.0.1:4000".parse().unwrap(),
            "RTP/SAVP",
            Some((1, "AES_CM_128_HMAC_SHA1_80".into(), key.clone())),
        );
        let m = parse(&s).unwrap();
        assert_eq!(m.addr, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(m.proto, "RTP/SAVP");
        assert_eq!(
            m.crypto,
            vec![Crypto {
                tag: 1,
                suite: "AES_CM_128_HMAC_SHA1_80".into(),
                key
            }]
        );
    }

    #[test]
    fn media_level_connection_and_lifetime_params() {
        let s = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 30000 RTP/SAVP 0\r\nc=IN IP4 127.0.0.1\r\n\
                 a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:1\r\n\
                 a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n\
                 m=video 4 RTP/AVP 96\r\na=crypto:9 X inline:AAAA\r\n";
        let m = parse(s).unwrap();
        assert_eq!(m.addr, "127.0.0.1:30000".parse().unwrap());
        assert_eq!(m.crypto.len(), 2);
        assert_eq!(m.crypto[1].suite, "AES_CM_128_HMAC_SHA1_32");
        assert_eq!(m.crypto[0].key.len(), 30);
    }
}
