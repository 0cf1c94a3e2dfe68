//! Zero-copy, bounds-checked RTP and RTCP header views, and first-byte
//! demultiplexing of a shared media port.
//!
//! Why: the relay's hot path must look at every packet's header without
//! copying it, and must never panic on attacker-controlled bytes. So, in the
//! style of smoltcp, a view wraps any `T: AsRef<[u8]>` (a slice, a `Vec`, a
//! pooled buffer), and its constructor [`RtpPacket::new_checked`] /
//! [`RtcpPacket::new_checked`] does the one length-and-shape check up front.
//! After a view was built by `new_checked`, no accessor (and no setter) can
//! panic on any input: the packet is parsed once and then read at fixed,
//! already-validated offsets. Malformed input is a named
//! [`Error::Malformed`] value the packet loop can count and drop.
//!
//! `new_unchecked` skips the check; accessors of such a view may panic if the
//! buffer is too short, so use it only on bytes already validated.
//!
//! ```
//! use rampart::rtp::{classify, PacketKind, RtpPacket};
//!
//! let bytes = [0x80, 0x60, 0x00, 0x01, 0, 0, 0, 10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3];
//! assert_eq!(classify(&bytes), PacketKind::Rtp);
//! let pkt = RtpPacket::new_checked(&bytes[..]).unwrap();
//! assert_eq!(pkt.sequence_number(), 1);
//! assert_eq!(pkt.ssrc(), 0xdead_beef);
//! assert_eq!(pkt.payload(), &[1, 2, 3]);
//! ```
#![forbid(unsafe_code)]

use crate::error::MalformedKind;
use crate::Error;

/// The only RTP/RTCP version this module accepts (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;

/// Length of the fixed RTP header, before CSRCs and extension (RFC 3550 §5.1).
pub const RTP_FIXED_HEADER_LEN: usize = 12;

/// Length of the RTCP header common to SR/RR/...: the first word plus the
/// sender SSRC (RFC 3550 §6.4).
pub const RTCP_HEADER_LEN: usize = 8;

#[inline]
fn malformed(kind: MalformedKind) -> Error {
    Error::Malformed(kind)
}

#[inline]
fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks an RTP header and returns its length in bytes (12 + 4·CC, plus
/// 4 + 4·length when the X bit is set).
///
/// Performs exactly the checks of [`RtpPacket::new_checked`], for callers
/// (the SRTP core) that only need the header length: `Truncated` if shorter
/// than 12 bytes, `BadVersion` if the version is not 2, `CsrcOverrun` if the
/// CSRC list runs past the buffer, `ExtensionOverrun` if the header extension
/// does.
#[inline]
pub fn rtp_header_len(buf: &[u8]) -> Result<usize, Error> {
    if buf.len() < RTP_FIXED_HEADER_LEN {
        return Err(malformed(MalformedKind::Truncated));
    }
    if buf[0] >> 6 != RTP_VERSION {
        return Err(malformed(MalformedKind::BadVersion));
    }
    let csrc_end = RTP_FIXED_HEADER_LEN + 4 * usize::from(buf[0] & 0x0f);
    if csrc_end > buf.len() {
        return Err(malformed(MalformedKind::CsrcOverrun));
    }
    if buf[0] & 0x10 == 0 {
        return Ok(csrc_end);
    }
    if csrc_end + 4 > buf.len() {
        return Err(malformed(MalformedKind::ExtensionOverrun));
    }
    let ext_end = csrc_end + 4 + 4 * usize::from(be_u16(buf, csrc_end + 2));
    if ext_end > buf.len() {
        return Err(malformed(MalformedKind::ExtensionOverrun));
    }
    Ok(ext_end)
}

/// A read (and, for `T: AsMut<[u8]>`, write) view of an RTP packet
/// (RFC 3550 §5.1). The whole buffer is the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is not a
    /// well-formed RTP header. Prefer [`RtpPacket::new_checked`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RtpPacket { buffer }
    }

    /// Wraps a buffer after [`RtpPacket::check_len`]; afterwards no accessor
    /// can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the fixed header, version, CSRC list and header extension fit
    /// in the buffer (the same checks as [`rtp_header_len`]).
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        rtp_header_len(self.buffer.as_ref()).map(|_| ())
    }

    /// Returns the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet: header, payload and padding.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field (always 2 for a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 6
    }

    /// The P bit: the payload ends with padding.
    #[inline]
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[0] & 0x20 != 0
    }

    /// The X bit: a header extension follows the CSRC list.
    #[inline]
    pub fn extension(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// The CC field: number of CSRC identifiers (0..=15).
    #[inline]
    pub fn csrc_count(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x0f
    }

    /// The M bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buffer.as_ref()[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.buffer.as_ref()[1] & 0x7f
    }

    /// The 16-bit sequence number.
    #[inline]
    pub fn sequence_number(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 2)
    }

    /// The 32-bit RTP timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 4)
    }

    /// The synchronization source identifier.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 8)
    }

    /// The `index`-th CSRC, or `None` if `index >= csrc_count()`.
    #[inline]
    pub fn csrc(&self, index: usize) -> Option<u32> {
        if index >= usize::from(self.csrc_count()) {
            return None;
        }
        let at = RTP_FIXED_HEADER_LEN + 4 * index;
        let b = self.buffer.as_ref().get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The CSRC list, in order.
    #[inline]
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        let end = self.csrc_end();
        self.buffer
            .as_ref()
            .get(RTP_FIXED_HEADER_LEN..end)
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The header extension's 16-bit profile-defined field (e.g. `0xBEDE` for
    /// RFC 8285 one-byte extensions), or `None` if the X bit is clear.
    #[inline]
    pub fn extension_profile(&self) -> Option<u16> {
        if !self.extension() {
            return None;
        }
        let at = self.csrc_end();
        let b = self.buffer.as_ref().get(at..at + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// The header extension's data words (without the 4-byte extension
    /// header), or `None` if the X bit is clear.
    #[inline]
    pub fn extension_data(&self) -> Option<&[u8]> {
        if !self.extension() {
            return None;
        }
        let start = self.csrc_end() + 4;
        let end = self.header_len();
        self.buffer.as_ref().get(start..end)
    }

    /// Offset just past the CSRC list.
    #[inline]
    fn csrc_end(&self) -> usize {
        RTP_FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count())
    }

    /// Header length in bytes: 12 + 4·CC, plus 4 + 4·length for an extension.
    #[inline]
    pub fn header_len(&self) -> usize {
        let csrc_end = self.csrc_end();
        if !self.extension() {
            return csrc_end;
        }
        let words = self
            .buffer
            .as_ref()
            .get(csrc_end + 2..csrc_end + 4)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        csrc_end + 4 + 4 * words
    }

    /// Everything after the header, padding included.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len();
        self.buffer.as_ref().get(start..).unwrap_or(&[])
    }

    /// Number of padding bytes at the end of the payload (0 if the P bit is
    /// clear). `BadPadding` if the P bit is set and the count (the last
    /// byte) is zero or longer than the payload.
    #[inline]
    pub fn padding_len(&self) -> Result<u8, Error> {
        if !self.padding() {
            return Ok(0);
        }
        let payload = self.payload();
        match payload.last() {
            Some(&n) if n != 0 && usize::from(n) <= payload.len() => Ok(n),
            _ => Err(malformed(MalformedKind::BadPadding)),
        }
    }

    /// The payload without its padding; `BadPadding` as for
    /// [`RtpPacket::padding_len`].
    #[inline]
    pub fn payload_without_padding(&self) -> Result<&[u8], Error> {
        let pad = usize::from(self.padding_len()?);
        let payload = self.payload();
        Ok(&payload[..payload.len() - pad])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtpPacket<T> {
    /// Sets the M bit.
    #[inline]
    pub fn set_marker(&mut self, marker: bool) {
        let b = &mut self.buffer.as_mut()[1];
        *b = (*b & 0x7f) | if marker { 0x80 } else { 0 };
    }

    /// Sets the payload type (only the low 7 bits of `pt` are used).
    #[inline]
    pub fn set_payload_type(&mut self, pt: u8) {
        let b = &mut self.buffer.as_mut()[1];
        *b = (*b & 0x80) | (pt & 0x7f);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_sequence_number(&mut self, seq: u16) {
        self.buffer.as_mut()[2..4].copy_from_slice(&seq.to_be_bytes());
    }

    /// Sets the RTP timestamp.
    #[inline]
    pub fn set_timestamp(&mut self, ts: u32) {
        self.buffer.as_mut()[4..8].copy_from_slice(&ts.to_be_bytes());
    }

    /// Sets the SSRC.
    #[inline]
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.buffer.as_mut()[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// Everything after the header, padding included, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// RTCP packet type numbers (RFC 3550 §12.1, RFC 4585, RFC 3611).
pub mod rtcp_type {
    /// Sender report (RFC 3550).
    pub const SR: u8 = 200;
    /// Receiver report (RFC 3550).
    pub const RR: u8 = 201;
    /// Source description (RFC 3550).
    pub const SDES: u8 = 202;
    /// Goodbye (RFC 3550).
    pub const BYE: u8 = 203;
    /// Application-defined (RFC 3550).
    pub const APP: u8 = 204;
    /// Transport-layer feedback, e.g. NACK (RFC 4585).
    pub const RTPFB: u8 = 205;
    /// Payload-specific feedback, e.g. PLI/FIR (RFC 4585).
    pub const PSFB: u8 = 206;
    /// Extended report (RFC 3611).
    pub const XR: u8 = 207;
}

/// A read (and, for `T: AsMut<[u8]>`, write) view of the first RTCP packet
/// of a (possibly compound) RTCP packet (RFC 3550 §6.4).
///
/// The length field is not checked against the buffer by
/// [`RtcpPacket::new_checked`]; use [`validate_compound`] for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtcpPacket<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is
    /// shorter than 8 bytes. Prefer [`RtcpPacket::new_checked`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RtcpPacket { buffer }
    }

    /// Wraps a buffer after [`RtcpPacket::check_len`]; afterwards no accessor
    /// can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if shorter than 8 bytes, `BadVersion` if the version is
    /// not 2.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < RTCP_HEADER_LEN {
            return Err(malformed(MalformedKind::Truncated));
        }
        if b[0] >> 6 != RTP_VERSION {
            return Err(malformed(MalformedKind::BadVersion));
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field (always 2 for a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 6
    }

    /// The P bit.
    #[inline]
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[0] & 0x20 != 0
    }

    /// The 5-bit count field (RC, SC or FMT, depending on the type).
    #[inline]
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x1f
    }

    /// The packet type (see [`rtcp_type`]).
    #[inline]
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The length field: the packet's length in 32-bit words minus one.
    #[inline]
    pub fn length_words(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 2)
    }

    /// The packet's length in bytes as the length field says:
    /// 4 · (length + 1). May exceed the buffer; see [`validate_compound`].
    #[inline]
    pub fn packet_len(&self) -> usize {
        4 * (usize::from(self.length_words()) + 1)
    }

    /// The sender SSRC (bytes 4..8).
    #[inline]
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 4)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtcpPacket<T> {
    /// Sets the sender SSRC (bytes 4..8).
    #[inline]
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.buffer.as_mut()[4..8].copy_from_slice(&ssrc.to_be_bytes());
    }
}

/// Walks a compound RTCP packet and returns how many RTCP packets it holds.
///
/// Checks: `Truncated` if the buffer is shorter than 8 bytes; for every
/// packet, `BadVersion` if its version is not 2 and `BadLength` if its
/// header or its length runs past the buffer, so that the lengths must add
/// up to the buffer exactly; `BadPadding` if a packet other than the last has
/// the P bit set, or the last one's padding count is zero or longer than its
/// body. Packet types are not checked (RFC 5506 reduced-size RTCP need not
/// start with SR/RR).
pub fn validate_compound(buf: &[u8]) -> Result<usize, Error> {
    if buf.len() < RTCP_HEADER_LEN {
        return Err(malformed(MalformedKind::Truncated));
    }
    let mut offset = 0;
    let mut count = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        if rest.len() < 4 {
            return Err(malformed(MalformedKind::BadLength));
        }
        if rest[0] >> 6 != RTP_VERSION {
            return Err(malformed(MalformedKind::BadVersion));
        }
        let len = 4 * (usize::from(be_u16(rest, 2)) + 1);
        if len > rest.len() {
            return Err(malformed(MalformedKind::BadLength));
        }
        if rest[0] & 0x20 != 0 {
            if len != rest.len() {
                return Err(malformed(MalformedKind::BadPadding));
            }
            let pad = usize::from(rest[len - 1]);
            if pad == 0 || pad > len - 4 {
                return Err(malformed(MalformedKind::BadPadding));
            }
        }
        offset += len;
        count += 1;
    }
    Ok(count)
}

/// What a datagram on a shared media port is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// RTP (or SRTP): first byte 128..=191, second byte not an RTCP type.
    Rtp,
    /// RTCP (or SRTCP): first byte 128..=191, second byte 192..=223.
    Rtcp,
    /// STUN: first byte 0..=3.
    Stun,
    /// DTLS: first byte 20..=63.
    Dtls,
    /// Anything else (ZRTP, TURN channel data, empty or too short, ...).
    Unknown,
}

/// Classifies a datagram per RFC 7983 §7 first-byte ranges, and RTP versus
/// RTCP per RFC 5761 §4 (second byte, M bit plus payload type, 192..=223 is
/// RTCP, covering RTCP types 200..=207).
///
/// Only the bytes needed to decide are required: one for STUN and DTLS, two
/// for RTP/RTCP; a shorter buffer is `Unknown`. The packet itself is not
/// validated; use the views for that.
#[inline]
pub fn classify(buf: &[u8]) -> PacketKind {
    match buf.first() {
        Some(0..=3) => PacketKind::Stun,
        Some(20..=63) => PacketKind::Dtls,
        Some(128..=191) => match buf.get(1) {
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Unknown,
        },
        _ => PacketKind::Unknown,
    }
}

/// Whether [`classify`] says RTCP.
#[inline]
pub fn is_rtcp(buf: &[u8]) -> bool {
    classify(buf) == PacketKind::Rtcp
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(kind: MalformedKind) -> Error {
        Error::Malformed(kind)
    }

    /// V=2, X=1, CC=2, M=1, PT=96, seq=0x1234, ts=0xdeadbeef,
    /// ssrc=0x11223344, CSRCs 0xaaaaaaaa and 0xbbbbbbbb, extension profile
    /// 0xBEDE with one word, payload [1, 2, 3, 4].
    fn full_packet() -> Vec<u8> {
        let mut v = vec![0x92, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
        v.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        v.extend_from_slice(&[0xaa; 4]);
        v.extend_from_slice(&[0xbb; 4]);
        v.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01]);
        v.extend_from_slice(&[0x10, 0x55, 0x00, 0x00]);
        v.extend_from_slice(&[1, 2, 3, 4]);
        v
    }

    fn minimal() -> Vec<u8> {
        vec![0x80, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
    }

    #[test]
    fn minimal_header() {
        let b = minimal();
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert!(!p.extension());
        assert_eq!(p.csrc_count(), 0);
        assert!(!p.marker());
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence_number(), 1);
        assert_eq!(p.timestamp(), 2);
        assert_eq!(p.ssrc(), 3);
        assert_eq!(p.csrc(0), None);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension_profile(), None);
        assert_eq!(p.extension_data(), None);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload(), &[] as &[u8]);
        assert_eq!(p.padding_len(), Ok(0));
        assert_eq!(p.payload_without_padding(), Ok(&[] as &[u8]));
        assert_eq!(rtp_header_len(&b), Ok(12));
    }

    #[test]
    fn csrcs_and_extension() {
        let b = full_packet();
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.extension());
        assert_eq!(p.csrc_count(), 2);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), 0x1122_3344);
        assert_eq!(p.csrc(0), Some(0xaaaa_aaaa));
        assert_eq!(p.csrc(1), Some(0xbbbb_bbbb));
        assert_eq!(p.csrc(2), None);
        assert_eq!(p.csrc(usize::MAX), None);
        assert_eq!(
            p.csrcs().collect::<Vec<_>>(),
            vec![0xaaaa_aaaa, 0xbbbb_bbbb]
        );
        assert_eq!(p.extension_profile(), Some(0xbede));
        assert_eq!(p.extension_data(), Some(&[0x10, 0x55, 0, 0][..]));
        assert_eq!(p.header_len(), 12 + 8 + 8);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(p.payload_without_padding(), Ok(&[1, 2, 3, 4][..]));
        assert_eq!(rtp_header_len(&b), Ok(28));
        assert_eq!(p.into_inner().len(), b.len());
    }

    #[test]
    fn empty_extension_and_exact_fit() {
        // X=1 with zero extension words, no payload: header is the buffer.
        let mut b = minimal();
        b[0] |= 0x10;
        b.extend_from_slice(&[0x10, 0x00, 0x00, 0x00]);
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.extension_profile(), Some(0x1000));
        assert_eq!(p.extension_data(), Some(&[] as &[u8]));
        assert_eq!(p.header_len(), 16);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn malformed_rtp() {
        for n in 0..12 {
            let b = &minimal()[..n];
            assert_eq!(
                RtpPacket::new_checked(b).unwrap_err(),
                err(MalformedKind::Truncated)
            );
            assert_eq!(rtp_header_len(b), Err(err(MalformedKind::Truncated)));
        }
        for v in [0u8, 1, 3] {
            let mut b = minimal();
            b[0] = (b[0] & 0x3f) | (v << 6);
            assert_eq!(
                RtpPacket::new_checked(&b[..]).unwrap_err(),
                err(MalformedKind::BadVersion)
            );
        }
        // CC=1 but no CSRC bytes; CC=15 with 56 bytes.
        let mut b = minimal();
        b[0] |= 0x01;
        assert_eq!(rtp_header_len(&b), Err(err(MalformedKind::CsrcOverrun)));
        b.extend_from_slice(&[0; 3]);
        assert_eq!(rtp_header_len(&b), Err(err(MalformedKind::CsrcOverrun)));
        b.push(0);
        assert_eq!(rtp_header_len(&b), Ok(16));
        let mut b = minimal();
        b[0] |= 0x0f;
        b.extend_from_slice(&[0; 56]);
        assert_eq!(rtp_header_len(&b), Err(err(MalformedKind::CsrcOverrun)));
        b.extend_from_slice(&[0; 4]);
        assert_eq!(rtp_header_len(&b), Ok(72));

        // X=1 but no room for the extension header.
        let mut b = minimal();
        b[0] |= 0x10;
        assert_eq!(
            RtpPacket::new_checked(&b[..]).unwrap_err(),
            err(MalformedKind::ExtensionOverrun)
        );
        b.extend_from_slice(&[0xbe, 0xde, 0x00]);
        assert_eq!(
            rtp_header_len(&b),
            Err(err(MalformedKind::ExtensionOverrun))
        );
        // Extension header claims 2 words but only 1 present.
        b.push(0x02);
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            rtp_header_len(&b),
            Err(err(MalformedKind::ExtensionOverrun))
        );
        b.extend_from_slice(&[0; 3]);
        assert_eq!(
            rtp_header_len(&b),
            Err(err(MalformedKind::ExtensionOverrun))
        );
        b.push(0);
        assert_eq!(rtp_header_len(&b), Ok(24));
        // Maximal extension length, nowhere near present.
        let mut b = minimal();
        b[0] |= 0x10;
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            rtp_header_len(&b),
            Err(err(MalformedKind::ExtensionOverrun))
        );
    }

    #[test]
    fn padding() {
        // Valid: payload [9, 9, 0, 0, 3] with P=1 -> 3 bytes of padding.
        let mut b = minimal();
        b[0] |= 0x20;
        b.extend_from_slice(&[9, 9, 0, 0, 3]);
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert!(p.padding());
        assert_eq!(p.padding_len(), Ok(3));
        assert_eq!(p.payload(), &[9, 9, 0, 0, 3]);
        assert_eq!(p.payload_without_padding(), Ok(&[9, 9][..]));

        // Padding is the whole payload.
        let mut b = minimal();
        b[0] |= 0x20;
        b.extend_from_slice(&[0, 0, 0, 4]);
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Ok(4));
        assert_eq!(p.payload_without_padding(), Ok(&[] as &[u8]));

        // Count zero.
        let mut b = minimal();
        b[0] |= 0x20;
        b.extend_from_slice(&[1, 2, 0]);
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Err(err(MalformedKind::BadPadding)));
        assert_eq!(
            p.payload_without_padding(),
            Err(err(MalformedKind::BadPadding))
        );

        // Count longer than the payload.
        let mut b = minimal();
        b[0] |= 0x20;
        b.extend_from_slice(&[1, 2, 4]);
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Err(err(MalformedKind::BadPadding)));

        // P=1 with an empty payload.
        let mut b = minimal();
        b[0] |= 0x20;
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Err(err(MalformedKind::BadPadding)));

        // Padding does not reach into the header: the count is measured
        // against the payload after CSRCs and extension only.
        let mut b = full_packet();
        b[0] |= 0x20;
        let n = b.len();
        b[n - 1] = 5; // payload is 4 bytes
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Err(err(MalformedKind::BadPadding)));
        // P clear: the last byte is payload, whatever it is.
        b[0] &= !0x20;
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.padding_len(), Ok(0));
        assert_eq!(p.payload_without_padding().unwrap().len(), 4);
    }

    #[test]
    fn setters() {
        let mut b = full_packet();
        let mut p = RtpPacket::new_checked(&mut b[..]).unwrap();
        p.set_marker(false);
        assert!(!p.marker());
        assert_eq!(p.payload_type(), 96);
        p.set_payload_type(0xff);
        assert_eq!(p.payload_type(), 0x7f);
        assert!(!p.marker());
        p.set_marker(true);
        p.set_payload_type(111);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 111);
        p.set_sequence_number(0xfffe);
        p.set_timestamp(0x0102_0304);
        p.set_ssrc(0xcafe_babe);
        p.payload_mut().copy_from_slice(&[7, 7, 7, 7]);
        assert_eq!(p.sequence_number(), 0xfffe);
        assert_eq!(p.timestamp(), 0x0102_0304);
        assert_eq!(p.ssrc(), 0xcafe_babe);
        assert_eq!(p.payload(), &[7, 7, 7, 7]);
        // Header untouched apart from the fields set.
        assert_eq!(p.csrc(1), Some(0xbbbb_bbbb));
        assert_eq!(p.extension_profile(), Some(0xbede));
        assert_eq!(p.header_len(), 28);
        assert_eq!(b[0], 0x92);
        assert_eq!(b[1], 0x80 | 111);
        assert_eq!(&b[2..12], &[0xff, 0xfe, 1, 2, 3, 4, 0xca, 0xfe, 0xba, 0xbe]);

        // Works with an owned Vec too.
        let mut p = RtpPacket::new_checked(minimal()).unwrap();
        p.set_ssrc(42);
        assert!(p.payload_mut().is_empty());
        assert_eq!(p.into_inner()[8..12], [0, 0, 0, 42]);
    }

    fn rr(ssrc: u32, padding: bool) -> Vec<u8> {
        let mut v = vec![0x80 | if padding { 0x20 } else { 0 }, rtcp_type::RR, 0, 1];
        v.extend_from_slice(&ssrc.to_be_bytes());
        v
    }

    fn sdes_with_padding() -> Vec<u8> {
        // SDES SC=1: ssrc, CNAME "ab", end, then 4 bytes padding (count 4).
        let mut v = vec![0xa1, rtcp_type::SDES, 0, 3];
        v.extend_from_slice(&[0, 0, 0, 9]);
        v.extend_from_slice(&[1, 2, b'a', b'b']);
        v.extend_from_slice(&[0, 0, 0, 4]);
        v
    }

    #[test]
    fn rtcp_header() {
        let mut b = vec![0x81, rtcp_type::SR, 0x00, 0x06];
        b.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        b.extend_from_slice(&[0; 20]);
        let p = RtcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert_eq!(p.count(), 1);
        assert_eq!(p.packet_type(), 200);
        assert_eq!(p.length_words(), 6);
        assert_eq!(p.packet_len(), 28);
        assert_eq!(p.ssrc(), 0x0102_0304);
        assert_eq!(validate_compound(&b), Ok(1));

        let mut p = RtcpPacket::new_checked(&mut b[..]).unwrap();
        p.set_ssrc(77);
        assert_eq!(p.ssrc(), 77);
        assert_eq!(p.into_inner()[4..8], [0, 0, 0, 77]);

        for n in 0..8 {
            assert_eq!(
                RtcpPacket::new_checked(&b[..n]).unwrap_err(),
                err(MalformedKind::Truncated)
            );
        }
        b[0] = 0x41;
        assert_eq!(
            RtcpPacket::new_checked(&b[..]).unwrap_err(),
            err(MalformedKind::BadVersion)
        );
        // Max length field.
        let b = [0xbf, 0xcf, 0xff, 0xff, 0, 0, 0, 0];
        let p = RtcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.count(), 31);
        assert!(p.padding());
        assert_eq!(p.packet_type(), 0xcf);
        assert_eq!(p.packet_len(), 4 * 65536);
        assert_eq!(validate_compound(&b), Err(err(MalformedKind::BadLength)));
    }

    #[test]
    fn compound() {
        let mut b = rr(1, false);
        b.extend(rr(2, false));
        b.extend(sdes_with_padding());
        assert_eq!(validate_compound(&b), Ok(3));
        let p = RtcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.ssrc(), 1);
        assert_eq!(p.packet_len(), 8);

        // Length too long for the last packet.
        let mut c = b.clone();
        c.pop();
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadLength)));
        // Trailing bytes that are not a whole packet header.
        for extra in 1..4 {
            let mut c = rr(1, false);
            c.extend(vec![0x80; extra]);
            assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadLength)));
        }
        // Trailing whole header: a 4-byte packet (length 0) is structurally
        // fine.
        let mut c = rr(1, false);
        c.extend_from_slice(&[0x80, rtcp_type::BYE, 0, 0]);
        assert_eq!(validate_compound(&c), Ok(2));
        // First packet's length overruns.
        let mut c = rr(1, false);
        c[3] = 2;
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadLength)));
        // Second packet bad version.
        let mut c = rr(1, false);
        c.extend(rr(2, false));
        c[8] = 0x01;
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadVersion)));
        // First packet bad version.
        let mut c = rr(1, false);
        c[0] = 0xc0;
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadVersion)));
        // Too short overall.
        assert_eq!(validate_compound(&[]), Err(err(MalformedKind::Truncated)));
        assert_eq!(
            validate_compound(&[0x80, 201, 0, 0]),
            Err(err(MalformedKind::Truncated))
        );
        // Padding on a packet that is not the last.
        let mut c = rr(1, true);
        c.extend(rr(2, false));
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadPadding)));
        // Padding on the last: count zero, count past the body, count ok.
        let mut c = rr(1, false);
        c.extend(rr(0, true));
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadPadding)));
        let n = c.len();
        c[n - 1] = 5;
        assert_eq!(validate_compound(&c), Err(err(MalformedKind::BadPadding)));
        c[n - 1] = 4;
        assert_eq!(validate_compound(&c), Ok(2));
    }

    #[test]
    fn classify_ranges() {
        assert_eq!(classify(&[]), PacketKind::Unknown);
        for b0 in 0..=255u8 {
            let expect_one = match b0 {
                0..=3 => PacketKind::Stun,
                20..=63 => PacketKind::Dtls,
                _ => PacketKind::Unknown,
            };
            assert_eq!(classify(&[b0]), expect_one, "first byte {b0}");
            for b1 in 0..=255u8 {
                let expect = match (b0, b1) {
                    (0..=3, _) => PacketKind::Stun,
                    (20..=63, _) => PacketKind::Dtls,
                    (128..=191, 192..=223) => PacketKind::Rtcp,
                    (128..=191, _) => PacketKind::Rtp,
                    _ => PacketKind::Unknown,
                };
                assert_eq!(classify(&[b0, b1]), expect, "bytes {b0} {b1}");
                assert_eq!(is_rtcp(&[b0, b1]), expect == PacketKind::Rtcp);
            }
        }
        // Every RTCP type is RTCP; RTP with or without marker is RTP.
        for pt in 200..=207u8 {
            assert!(is_rtcp(&[0x81, pt]));
            assert_eq!(classify(&[0x81, pt, 0, 1, 0, 0, 0, 1]), PacketKind::Rtcp);
        }
        assert_eq!(classify(&full_packet()), PacketKind::Rtp);
        assert_eq!(classify(&minimal()), PacketKind::Rtp);
        assert_eq!(classify(&sdes_with_padding()), PacketKind::Rtcp);
        // Edges named by RFC 5761: PT 72..=76 with marker would be RTCP, the
        // reason those PTs are not used for RTP on a muxed port.
        assert!(is_rtcp(&[0x80, 0x80 | 72]));
        assert!(is_rtcp(&[0x80, 0x80 | 64]));
        assert!(is_rtcp(&[0x80, 0x80 | 95]));
        assert!(!is_rtcp(&[0x80, 0x80 | 96]));
        assert!(!is_rtcp(&[0x80, 0x80 | 63]));
        assert!(!is_rtcp(&[0x80, 72]));
        // STUN binding request and DTLS handshake record.
        assert_eq!(classify(&[0x00, 0x01, 0x00, 0x00]), PacketKind::Stun);
        assert_eq!(classify(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
        assert!(!is_rtcp(&[]));
        assert!(!is_rtcp(&[0x80]));
    }

    /// Calls every accessor of a checked RTP view.
    fn exercise_rtp(p: &RtpPacket<&[u8]>) {
        let _ = p.version();
        let _ = p.padding();
        let _ = p.extension();
        let _ = p.csrc_count();
        let _ = p.marker();
        let _ = p.payload_type();
        let _ = p.sequence_number();
        let _ = p.timestamp();
        let _ = p.ssrc();
        for i in 0..20 {
            let _ = p.csrc(i);
        }
        assert_eq!(p.csrcs().count(), usize::from(p.csrc_count()));
        assert_eq!(p.extension_profile().is_some(), p.extension());
        assert_eq!(p.extension_data().is_some(), p.extension());
        let hl = p.header_len();
        assert!(hl <= p.as_bytes().len());
        assert_eq!(p.payload().len(), p.as_bytes().len() - hl);
        match p.padding_len() {
            Ok(n) => {
                assert!(usize::from(n) <= p.payload().len());
                let w = p.payload_without_padding().unwrap();
                assert_eq!(w.len() + usize::from(n), p.payload().len());
            }
            Err(e) => {
                assert_eq!(e, Error::Malformed(MalformedKind::BadPadding));
                assert!(p.payload_without_padding().is_err());
            }
        }
    }

    fn exercise_rtcp(p: &RtcpPacket<&[u8]>) {
        assert_eq!(p.version(), 2);
        let _ = p.padding();
        assert!(p.count() < 32);
        let _ = p.packet_type();
        let _ = p.length_words();
        assert!(p.packet_len() >= 4);
        let _ = p.ssrc();
    }

    /// Byte vectors biased towards version 2 and small CC/extension lengths,
    /// so the proptest reaches past the first checks often.
    fn rtp_like() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(any::<u8>(), 0..96),
            any::<u8>(),
            0u8..4,
            any::<bool>(),
        )
            .prop_map(|(mut v, b0, ext_words, fix_ext)| {
                if let Some(first) = v.first_mut() {
                    *first = 0x80 | (b0 & 0x3f);
                }
                if fix_ext && v.len() >= 12 {
                    let at = 12 + 4 * usize::from(v[0] & 0x0f) + 2;
                    if at + 2 <= v.len() {
                        v[at] = 0;
                        v[at + 1] = ext_words;
                    }
                }
                v
            })
    }

    fn check_bytes(bytes: &[u8]) {
        let kind = classify(bytes);
        assert_eq!(is_rtcp(bytes), kind == PacketKind::Rtcp);
        match (RtpPacket::new_checked(bytes), rtp_header_len(bytes)) {
            (Ok(p), Ok(hl)) => {
                assert_eq!(p.header_len(), hl);
                exercise_rtp(&p);
                // Setters on a copy never panic and keep the shape.
                let mut copy = bytes.to_vec();
                let mut m = RtpPacket::new_checked(&mut copy[..]).unwrap();
                m.set_marker(true);
                m.set_payload_type(0xff);
                m.set_sequence_number(1);
                m.set_timestamp(2);
                m.set_ssrc(3);
                m.payload_mut().fill(0);
                assert_eq!(m.header_len(), hl);
                assert_eq!(rtp_header_len(&copy), Ok(hl));
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("new_checked {a:?} disagrees with rtp_header_len {b:?}"),
        }
        if let Ok(p) = RtcpPacket::new_checked(bytes) {
            exercise_rtcp(&p);
        }
        if let Ok(n) = validate_compound(bytes) {
            assert!((1..=bytes.len() / 4).contains(&n));
            assert!(RtcpPacket::new_checked(bytes).is_ok());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
            check_bytes(&bytes);
        }

        #[test]
        fn rtp_like_bytes_never_panic(bytes in rtp_like()) {
            check_bytes(&bytes);
        }

        #[test]
        fn compound_of_valid_packets(
            bodies in prop::collection::vec(
                (0u8..32, any::<u8>(), prop::collection::vec(any::<u32>(), 1..6)),
                1..6,
            )
        ) {
            let mut buf = Vec::new();
            for (count, pt, words) in &bodies {
                buf.push(0x80 | count);
                buf.push(*pt);
                buf.extend_from_slice(&(words.len() as u16).to_be_bytes());
                for w in words {
                    buf.extend_from_slice(&w.to_be_bytes());
                }
            }
            prop_assert_eq!(validate_compound(&buf), Ok(bodies.len()));
            let p = RtcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.ssrc(), bodies[0].2[0]);
            prop_assert_eq!(p.packet_len(), 4 * (bodies[0].2.len() + 1));
            // Dropping any suffix byte breaks the exact fit.
            if buf.len() > 8 {
                prop_assert!(validate_compound(&buf[..buf.len() - 1]).is_err());
            }
        }
    }
}
