//! The RTP packets the phones send: a fixed 12-byte header and a payload
//! that carries who sent it and when, followed by filler derived from those
//! fields so that any change to the payload is detected after decryption.
//!
//! Payload layout (big endian):
//! `0..4` magic `RLG1`, `4..8` call index, `8` direction (0 = A→B,
//! 1 = B→A), `9..12` zero, `12..20` sequence (64-bit), `20..28` send time
//! (monotonic ns since the run's clock base), `28..` filler.

/// Fixed RTP header length (no CSRC, no extension).
pub const RTP_HEADER: usize = 12;
/// Bytes of the payload that carry fields.
pub const FIELDS: usize = 28;
const MAGIC: &[u8; 4] = b"RLG1";

/// A media profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// Name.
    pub name: &'static str,
    /// RTP payload type.
    pub payload_type: u8,
    /// Payload bytes per packet.
    pub payload_len: usize,
    /// Packet interval in ms.
    pub ptime_ms: u64,
    /// RTP clock rate.
    pub clock_rate: u32,
}

/// A profile as read back from JSON: by its name.
#[derive(serde::Deserialize)]
struct ProfileByName {
    name: String,
}

impl<'de> serde::Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Profile, D::Error> {
        let p = ProfileByName::deserialize(d)?;
        Profile::by_name(&p.name).map_err(serde::de::Error::custom)
    }
}

/// G.711 µ-law: 160 bytes every 20 ms, 50 packets per second per direction.
pub const G711: Profile = Profile {
    name: "g711",
    payload_type: 0,
    payload_len: 160,
    ptime_ms: 20,
    clock_rate: 8000,
};

impl Profile {
    /// A profile by name.
    pub fn by_name(s: &str) -> Result<Profile, String> {
        match s.to_ascii_lowercase().as_str() {
            "g711" | "pcmu" => Ok(G711),
            _ => Err(format!("unknown profile {s:?} (known: g711)")),
        }
    }

    /// RTP timestamp units per packet.
    pub fn ts_step(&self) -> u32 {
        (self.clock_rate as u64 * self.ptime_ms / 1000) as u32
    }

    /// Packet interval in ns.
    pub fn period_ns(&self) -> u64 {
        self.ptime_ms * 1_000_000
    }
}

/// What a received payload says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    /// Call index.
    pub call: u32,
    /// Direction.
    pub dir: u8,
    /// Sequence number (64-bit, from 0).
    pub seq: u64,
    /// Send time, ns.
    pub sent_ns: u64,
}

#[inline]
fn filler(i: usize, f: &Fields) -> u8 {
    (i as u8) ^ (f.seq as u8) ^ (f.call as u8).rotate_left(3) ^ f.dir.wrapping_mul(0x55)
}

/// Writes the RTP packet for `f` into `buf`; returns its length.
pub fn write(buf: &mut [u8], p: &Profile, ssrc: u32, f: &Fields) -> usize {
    let len = RTP_HEADER + p.payload_len;
    let h = &mut buf[..len];
    h[0] = 0x80;
    h[1] = p.payload_type & 0x7f;
    h[2..4].copy_from_slice(&(f.seq as u16).to_be_bytes());
    h[4..8].copy_from_slice(&((f.seq as u32).wrapping_mul(p.ts_step())).to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let pl = &mut h[RTP_HEADER..];
    pl[0..4].copy_from_slice(MAGIC);
    pl[4..8].copy_from_slice(&f.call.to_be_bytes());
    pl[8] = f.dir;
    pl[9..12].fill(0);
    pl[12..20].copy_from_slice(&f.seq.to_be_bytes());
    pl[20..28].copy_from_slice(&f.sent_ns.to_be_bytes());
    for (i, b) in pl[FIELDS..].iter_mut().enumerate() {
        *b = filler(i, f);
    }
    len
}

/// The SSRC of an RTP/SRTP packet (bytes 8..12), if long enough.
pub fn ssrc_of(pkt: &[u8]) -> Option<u32> {
    pkt.get(8..12)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Checks a decrypted RTP packet: header shape, payload length, magic,
/// filler, and the RTP sequence/timestamp matching the payload's sequence.
/// Returns the payload's fields, or `None` if anything is off.
pub fn check(pkt: &[u8], p: &Profile, ssrc: u32) -> Option<Fields> {
    if pkt.len() != RTP_HEADER + p.payload_len || pkt[0] != 0x80 {
        return None;
    }
    if pkt[1] & 0x7f != p.payload_type || ssrc_of(pkt)? != ssrc {
        return None;
    }
    let pl = &pkt[RTP_HEADER..];
    if &pl[0..4] != MAGIC || pl[9..12] != [0, 0, 0] {
        return None;
    }
    let f = Fields {
        call: u32::from_be_bytes(pl[4..8].try_into().ok()?),
        dir: pl[8],
        seq: u64::from_be_bytes(pl[12..20].try_into().ok()?),
        sent_ns: u64::from_be_bytes(pl[20..28].try_into().ok()?),
    };
    if u16::from_be_bytes([pkt[2], pkt[3]]) != f.seq as u16
        || u32::from_be_bytes(pkt[4..8].try_into().ok()?)
            != (f.seq as u32).wrapping_mul(p.ts_step())
    {
        return None;
    }
    if pl[FIELDS..]
        .iter()
        .enumerate()
        .any(|(i, &b)| b != filler(i, &f))
    {
        return None;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_check_and_tamper() {
        let f = Fields {
            call: 7,
            dir: 1,
            seq: 70_000,
            sent_ns: 123_456_789,
        };
        let mut b = [0u8; 256];
        let n = write(&mut b, &G711, 0xdead_beef, &f);
        assert_eq!(n, 172);
        assert_eq!(check(&b[..n], &G711, 0xdead_beef), Some(f));
        assert_eq!(check(&b[..n], &G711, 1), None);
        for i in [1usize, 2, 5, 12, 20, 40, 171] {
            let mut t = b;
            t[i] ^= 0x01;
            assert_eq!(check(&t[..n], &G711, 0xdead_beef), None, "byte {i}");
        }
    }
}
