//! The RTP/RTCP views on arbitrary bytes: `RtpPacket`/`RtcpPacket`
//! `new_checked` and, when it succeeds, every accessor and setter;
//! `validate_compound`, `classify`, `is_rtcp` and `rtp_header_len`. Nothing
//! may panic, and the views must agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::rtp::{
    classify, is_rtcp, rtp_header_len, validate_compound, PacketKind, RtcpPacket, RtpPacket,
};

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    assert_eq!(is_rtcp(data), kind == PacketKind::Rtcp);
    match data.first() {
        None => assert_eq!(kind, PacketKind::Unknown),
        Some(0..=3) => assert_eq!(kind, PacketKind::Stun),
        Some(20..=63) => assert_eq!(kind, PacketKind::Dtls),
        _ => {}
    }

    rtp(data);
    rtcp(data);

    if let Ok(n) = validate_compound(data) {
        assert!(n >= 1 && n <= data.len() / 4);
        // The first packet of a valid compound is a valid RTCP view whose
        // length fits.
        let first = RtcpPacket::new_checked(data).expect("valid compound, valid first packet");
        assert!(first.packet_len() <= data.len());
    }
});

fn rtp(data: &[u8]) {
    let hl = rtp_header_len(data);
    let view = RtpPacket::new_checked(data);
    assert_eq!(
        hl.is_ok(),
        view.is_ok(),
        "rtp_header_len and new_checked disagree"
    );
    let (Ok(hl), Ok(p)) = (hl, view) else {
        return;
    };
    assert!(hl >= 12 && hl <= data.len());
    assert_eq!(p.header_len(), hl);
    assert_eq!(p.version(), 2);
    let _ = (
        p.padding(),
        p.marker(),
        p.payload_type(),
        p.sequence_number(),
    );
    let _ = (p.timestamp(), p.ssrc(), p.as_bytes());
    let cc = usize::from(p.csrc_count());
    assert!(cc <= 15);
    assert_eq!(p.csrcs().count(), cc);
    for i in 0..=16 {
        assert_eq!(p.csrc(i).is_some(), i < cc);
    }
    assert!(p.csrcs().eq((0..cc).map(|i| p.csrc(i).unwrap())));
    assert_eq!(p.extension_profile().is_some(), p.extension());
    if let Some(ext) = p.extension_data() {
        assert!(p.extension());
        assert_eq!(ext.len(), hl - 12 - 4 * cc - 4);
    }
    assert_eq!(p.payload().len(), data.len() - hl);
    match (p.padding_len(), p.payload_without_padding()) {
        (Ok(n), Ok(body)) => {
            assert_eq!(body.len() + usize::from(n), p.payload().len());
            assert_eq!(n == 0, !p.padding());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("padding_len {a:?} vs payload_without_padding {b:?}"),
    }

    // Setters on a copy: they change only their field.
    let mut buf = data.to_vec();
    let mut m = RtpPacket::new_checked(&mut buf[..]).expect("same bytes");
    m.set_marker(!p.marker());
    m.set_payload_type(p.payload_type() ^ 0x55);
    m.set_sequence_number(p.sequence_number().wrapping_add(1));
    m.set_timestamp(p.timestamp() ^ 0xdead_beef);
    m.set_ssrc(!p.ssrc());
    let payload_len = m.payload_mut().len();
    assert_eq!(payload_len, data.len() - hl);
    m.payload_mut().iter_mut().for_each(|b| *b ^= 0xff);
    assert_eq!(m.marker(), !p.marker());
    assert_eq!(m.payload_type(), (p.payload_type() ^ 0x55) & 0x7f);
    assert_eq!(m.sequence_number(), p.sequence_number().wrapping_add(1));
    assert_eq!(m.timestamp(), p.timestamp() ^ 0xdead_beef);
    assert_eq!(m.ssrc(), !p.ssrc());
    assert_eq!(m.header_len(), hl);
    assert_eq!(m.csrc_count(), p.csrc_count());
    assert_eq!(
        buf[12..hl],
        data[12..hl],
        "setters touched CSRCs or extension"
    );
    assert_eq!(buf[0], data[0]);
}

fn rtcp(data: &[u8]) {
    let Ok(p) = RtcpPacket::new_checked(data) else {
        assert!(data.len() < 8 || data[0] >> 6 != 2);
        return;
    };
    assert_eq!(p.version(), 2);
    let _ = (
        p.padding(),
        p.count(),
        p.packet_type(),
        p.ssrc(),
        p.as_bytes(),
    );
    assert!(p.count() < 32);
    assert_eq!(p.packet_len(), 4 * (usize::from(p.length_words()) + 1));
    let mut buf = data.to_vec();
    let mut m = RtcpPacket::new_checked(&mut buf[..]).expect("same bytes");
    m.set_ssrc(!p.ssrc());
    assert_eq!(m.ssrc(), !p.ssrc());
    assert_eq!(buf[..4], data[..4]);
    assert_eq!(buf[8..], data[8..]);
}
