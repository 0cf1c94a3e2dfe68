//! WebRTC offer/answer over arbitrary bytes, through the same `NgCall`
//! offer and answer the ng server runs (with made-up ports, no socket):
//! a peer's ICE and DTLS attributes read (`ice-ufrag`, `fingerprint`,
//! `setup`, trickle, `mid`), Rampart's own written back, the flags
//! `transport-protocol`, `ICE`, `DTLS`, `rtcp-mux` and `generate-mid`
//! applied. Nothing may panic; what Rampart writes must parse again; a
//! DTLS leg is never run without a peer fingerprint to check.
//!
//! Input: one byte of flags, the offer, then optionally `\0` and the
//! answer.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use rampart::config::Config;
use rampart::control::ng_call::{
    DtlsFlag, IceFlag, MediaOpts, Negotiation, NgCall, NgError, PortSource,
};
use rampart::control::sdp::Sdp;
use rampart::dtls::Fingerprint;

#[derive(Default)]
struct Ports(u16);

impl PortSource for Ports {
    fn reserve(&mut self, ip: IpAddr) -> Result<SocketAddr, NgError> {
        self.0 = self.0.wrapping_add(2);
        Ok(SocketAddr::new(ip, 30000u16.wrapping_add(self.0)))
    }
    fn reopen(&mut self, _: SocketAddr) -> Result<(), NgError> {
        Ok(())
    }
    fn release(&mut self, _: SocketAddr) {}
    fn confirm(&mut self, _: SocketAddr) {}
}

fn opts(flags: u8) -> MediaOpts {
    MediaOpts {
        transport_protocol: match flags & 3 {
            0 => None,
            1 => Some("RTP/SAVP".into()),
            2 => Some("UDP/TLS/RTP/SAVPF".into()),
            _ => Some("RTP/AVP".into()),
        },
        ice: match (flags >> 2) & 3 {
            0 => IceFlag::Default,
            1 => IceFlag::Force,
            _ => IceFlag::Remove,
        },
        dtls: match (flags >> 4) & 3 {
            0 => DtlsFlag::Default,
            1 => DtlsFlag::Off,
            2 => DtlsFlag::Passive,
            _ => DtlsFlag::Active,
        },
        mux_demux: flags & 0x40 != 0,
        mux_require: flags & 0x40 == 0 && flags & 0x80 != 0,
        generate_mid: flags & 0x80 != 0,
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (offer, answer) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (Ok(offer), answer) = (
        std::str::from_utf8(offer),
        answer.and_then(|a| std::str::from_utf8(a).ok()),
    ) else {
        return;
    };
    let mut cfg = Config::default();
    cfg.media.addresses = vec!["203.0.113.1".parse().unwrap()];
    let policy = rampart::policy::Policy::from_config(&cfg.security).unwrap();
    let mut neg = Negotiation::new(&cfg, &policy);
    neg.dtls = Some(Fingerprint([0x42; 32]));
    let mut call = NgCall::new("fuzz", 0, 0);
    let mut ports = Ports::default();
    let mut warnings = Vec::new();
    let Ok(out) = call.offer(
        &mut neg,
        &mut ports,
        "a",
        offer,
        (&opts(flags), &mut warnings),
    ) else {
        return;
    };
    Sdp::parse(&out).expect("the offer Rampart wrote parses");
    let Some(answer) = answer else { return };
    let back = call.answer(
        &mut neg,
        Some("b"),
        answer,
        (&opts(flags.rotate_left(3)), &mut warnings),
    );
    if let Ok(a) = back {
        let sdp = Sdp::parse(&a.sdp).expect("the answer Rampart wrote parses");
        // Rampart's side of a DTLS section carries its fingerprint.
        for m in sdp.media() {
            if m.proto().to_ascii_uppercase().starts_with("UDP/TLS/") && !m.is_rejected() {
                assert!(
                    m.attributes()
                        .any(|(n, _)| n.eq_ignore_ascii_case("fingerprint")),
                    "a DTLS section without Rampart's fingerprint"
                );
            }
        }
    }
});
