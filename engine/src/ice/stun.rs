//! STUN messages (RFC 8489) as a checked view over a datagram, and a writer
//! that builds them into a reused buffer.
//!
//! Why our own: the ICE-lite responder runs beside the packet path, on
//! every connectivity check and consent refresh a WebRTC peer sends (one
//! every few hundred ms per leg while checking, every 5 s after), so the
//! check must not allocate, and it must refuse anything malformed before
//! reading a field: [`Message::parse`] walks every attribute header once
//! and keeps the slice; accessors then only index what was checked. The
//! known answers of RFC 5769 pin the framing of MESSAGE-INTEGRITY (the
//! header length rewritten to end at the attribute) and FINGERPRINT.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ring::hmac;

/// The magic cookie every RFC 5389/8489 message carries.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// The Binding method.
pub const BINDING: u16 = 0x001;
/// Header length.
pub const HEADER: usize = 20;

/// Attribute types used by ICE.
pub mod attr {
    /// MAPPED-ADDRESS.
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (ICE).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (ICE).
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
    /// FINGERPRINT (CRC-32).
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED.
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING.
    pub const ICE_CONTROLLING: u16 = 0x802a;
}

/// FINGERPRINT is the CRC-32 of the message XORed with this.
const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// MESSAGE-INTEGRITY's value length (HMAC-SHA1).
const INTEGRITY_LEN: usize = 20;

/// The class of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request.
    Request,
    /// An indication.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0x000,
            Class::Indication => 0x010,
            Class::Success => 0x100,
            Class::Error => 0x110,
        }
    }
}

/// Why a datagram is not a STUN message this module accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StunError {
    /// Shorter than a header, or than its length field says.
    Truncated,
    /// The two top bits are not zero, or the magic cookie is wrong.
    NotStun,
    /// The length field is not a multiple of 4, or does not match the
    /// datagram.
    BadLength,
    /// An attribute runs past the message.
    BadAttribute,
}

/// The message type field: method and class interleaved (RFC 8489 §5).
pub fn message_type(method: u16, class: Class) -> u16 {
    let m = method & 0x0fff;
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | class.bits()
}

/// A STUN message whose header and attribute framing were checked.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl<'a> Message<'a> {
    /// Checks `buf` as one whole STUN message: header, cookie, length, and
    /// every attribute's framing.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, StunError> {
        if buf.len() < HEADER {
            return Err(StunError::Truncated);
        }
        if buf[0] & 0xc0 != 0
            || u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) != MAGIC_COOKIE
        {
            return Err(StunError::NotStun);
        }
        let len = be16(buf, 2) as usize;
        if !len.is_multiple_of(4) || HEADER + len != buf.len() {
            return Err(StunError::BadLength);
        }
        let mut at = HEADER;
        while at < buf.len() {
            if at + 4 > buf.len() {
                return Err(StunError::BadAttribute);
            }
            let vlen = be16(buf, at + 2) as usize;
            let next = at + 4 + vlen.div_ceil(4) * 4;
            if next > buf.len() {
                return Err(StunError::BadAttribute);
            }
            at = next;
        }
        Ok(Message { buf })
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The message type field.
    pub fn message_type(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// The method.
    pub fn method(&self) -> u16 {
        let t = self.message_type();
        (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2)
    }

    /// The class.
    pub fn class(&self) -> Class {
        match self.message_type() & 0x0110 {
            0x000 => Class::Request,
            0x010 => Class::Indication,
            0x100 => Class::Success,
            _ => Class::Error,
        }
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> [u8; 12] {
        let mut t = [0u8; 12];
        t.copy_from_slice(&self.buf[8..HEADER]);
        t
    }

    /// Every attribute in order: (offset of its header, type, value).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            at: HEADER,
        }
    }

    /// The first attribute of type `ty` that comes before
    /// MESSAGE-INTEGRITY (what the integrity covers; anything after it
    /// other than FINGERPRINT is ignored, RFC 8489 §14.5).
    pub fn get(&self, ty: u16) -> Option<&'a [u8]> {
        for (_, t, v) in self.attributes() {
            if t == ty {
                return Some(v);
            }
            if t == attr::MESSAGE_INTEGRITY {
                return None;
            }
        }
        None
    }

    /// Whether an attribute of type `ty` comes before MESSAGE-INTEGRITY.
    pub fn has(&self, ty: u16) -> bool {
        self.get(ty).is_some()
    }

    /// USERNAME.
    pub fn username(&self) -> Option<&'a [u8]> {
        self.get(attr::USERNAME)
    }

    /// PRIORITY.
    pub fn priority(&self) -> Option<u32> {
        let v = self.get(attr::PRIORITY)?;
        Some(u32::from_be_bytes(v.try_into().ok()?))
    }

    /// XOR-MAPPED-ADDRESS, decoded.
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        let v = self.get(attr::XOR_MAPPED_ADDRESS)?;
        decode_xor_address(v, &self.transaction_id())
    }

    /// ERROR-CODE's number (e.g. 487).
    pub fn error_code(&self) -> Option<u16> {
        let v = self.get(attr::ERROR_CODE)?;
        (v.len() >= 4).then(|| u16::from(v[2] & 0x07) * 100 + u16::from(v[3]))
    }

    /// Whether MESSAGE-INTEGRITY is present and is the HMAC-SHA1 of the
    /// message under `key` (the short-term password). Constant time in
    /// the tag.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some((at, _, tag)) = self
            .attributes()
            .find(|(_, t, _)| *t == attr::MESSAGE_INTEGRITY)
        else {
            return false;
        };
        if tag.len() != INTEGRITY_LEN {
            return false;
        }
        // The length as if MESSAGE-INTEGRITY ended the message.
        let len = (at + 4 + INTEGRITY_LEN - HEADER) as u16;
        let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mut ctx = hmac::Context::with_key(&k);
        ctx.update(&self.buf[0..2]);
        ctx.update(&len.to_be_bytes());
        ctx.update(&self.buf[4..at]);
        let mac = ctx.sign();
        subtle::ConstantTimeEq::ct_eq(mac.as_ref(), tag).into()
    }

    /// Whether FINGERPRINT is present, last, and right.
    pub fn verify_fingerprint(&self) -> bool {
        let Some((at, ty, v)) = self.attributes().last() else {
            return false;
        };
        if ty != attr::FINGERPRINT || v.len() != 4 {
            return false;
        }
        let want = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        crc32fast::hash(&self.buf[..at]) ^ FINGERPRINT_XOR == want
    }
}

/// Iterator over a checked message's attributes.
pub struct Attributes<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (usize, u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        let at = self.at;
        // Framing was checked by `Message::parse`; `get` keeps this total.
        let ty = u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
        let len = u16::from_be_bytes([*b.get(at + 2)?, *b.get(at + 3)?]) as usize;
        let v = b.get(at + 4..at + 4 + len)?;
        self.at = at + 4 + len.div_ceil(4) * 4;
        Some((at, ty, v))
    }
}

fn decode_xor_address(v: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match (v[1], v.len()) {
        (0x01, 8) => {
            let x = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) ^ MAGIC_COOKIE;
            IpAddr::V4(Ipv4Addr::from(x))
        }
        (0x02, 20) => {
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            mask[4..].copy_from_slice(tid);
            let mut a = [0u8; 16];
            for (i, o) in a.iter_mut().enumerate() {
                *o = v[4 + i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Builds one message into a caller's buffer (cleared first; reused
/// across messages, so building allocates only while it grows).
pub struct Writer<'b> {
    out: &'b mut Vec<u8>,
    tid: [u8; 12],
}

impl<'b> Writer<'b> {
    /// Starts a message of `method` and `class` with transaction id `tid`.
    pub fn new(out: &'b mut Vec<u8>, method: u16, class: Class, tid: [u8; 12]) -> Writer<'b> {
        out.clear();
        out.extend_from_slice(&message_type(method, class).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&tid);
        Writer { out, tid }
    }

    fn set_len(&mut self) {
        let len = (self.out.len() - HEADER) as u16;
        self.out[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends an attribute, padded with `pad` bytes to a multiple of 4.
    pub fn attr_padded(&mut self, ty: u16, value: &[u8], pad: u8) -> &mut Self {
        self.out.extend_from_slice(&ty.to_be_bytes());
        self.out
            .extend_from_slice(&(value.len().min(0xffff) as u16).to_be_bytes());
        self.out.extend_from_slice(value);
        let padding = value.len().div_ceil(4) * 4 - value.len();
        self.out.extend(std::iter::repeat_n(pad, padding));
        self.set_len();
        self
    }

    /// Appends an attribute (zero padding).
    pub fn attr(&mut self, ty: u16, value: &[u8]) -> &mut Self {
        self.attr_padded(ty, value, 0)
    }

    /// Appends XOR-MAPPED-ADDRESS for `addr`.
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let mut v = [0u8; 20];
        v[2..4].copy_from_slice(&port.to_be_bytes());
        let n = match addr.ip() {
            IpAddr::V4(ip) => {
                v[1] = 0x01;
                v[4..8].copy_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
                8
            }
            IpAddr::V6(ip) => {
                v[1] = 0x02;
                let mut mask = [0u8; 16];
                mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                mask[4..].copy_from_slice(&self.tid);
                for (i, b) in ip.octets().iter().enumerate() {
                    v[4 + i] = b ^ mask[i];
                }
                20
            }
        };
        self.attr(attr::XOR_MAPPED_ADDRESS, &v[..n])
    }

    /// Appends ERROR-CODE `code` with `reason`.
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut v = Vec::with_capacity(4 + reason.len());
        v.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
        v.extend_from_slice(reason.as_bytes());
        self.attr(attr::ERROR_CODE, &v)
    }

    /// Appends MESSAGE-INTEGRITY under `key`.
    pub fn integrity(&mut self, key: &[u8]) -> &mut Self {
        let at = self.out.len();
        self.attr(attr::MESSAGE_INTEGRITY, &[0u8; INTEGRITY_LEN]);
        let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mac = hmac::sign(&k, &self.out[..at]);
        self.out[at + 4..at + 4 + INTEGRITY_LEN].copy_from_slice(mac.as_ref());
        self
    }

    /// Appends FINGERPRINT (last).
    pub fn fingerprint(&mut self) -> &mut Self {
        let at = self.out.len();
        self.attr(attr::FINGERPRINT, &[0u8; 4]);
        let crc = crc32fast::hash(&self.out[..at]) ^ FINGERPRINT_XOR;
        self.out[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        self
    }

    /// The message built so far.
    pub fn bytes(&self) -> &[u8] {
        self.out
    }
}

#[cfg(test)]
mod tests;
