//! The RTP packets the phones send, and the traffic profiles that say how
//! big they are and when they are due.
//!
//! A packet is a fixed 12-byte RTP header and a payload that carries who
//! sent it and when, followed by filler derived from those fields, so that
//! any change to the payload is detected after decryption.
//!
//! Payload layout (big endian, at least [`FIELDS`] = 20 bytes, so a G.729
//! frame carries the fields and nothing else): `0..2` magic `RL`, `2`
//! direction (0 = A→B, 1 = B→A), `3` `0x5a`, `4..8` call index, `8..12`
//! packet sequence (32-bit), `12..20` send time (CLOCK_REALTIME ns),
//! `20..` filler.
//!
//! Profiles ([`Profile::by_name`]): `g711` (160 bytes every 20 ms), `g729`
//! (20 bytes every 20 ms), `opus` (40–160 bytes, varying per packet, every
//! 20 ms), `video` (30 frames per second of 3–8 packets of 1,000–1,200
//! bytes, the packets of a frame paced over the first half of the frame
//! interval, the marker bit on each frame's last packet).

use serde::Serialize;

/// Fixed RTP header length (no CSRC, no extension).
pub const RTP_HEADER: usize = 12;
/// Bytes of the payload that carry fields (the smallest payload).
pub const FIELDS: usize = 20;
const MAGIC: &[u8; 2] = b"RL";

/// How a profile's packets are sized and timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// One packet of `payload_len` bytes every `ptime_ms`.
    Fixed,
    /// One packet every `ptime_ms`, `min..=payload_len` bytes, varying per
    /// packet.
    Variable {
        /// Smallest payload.
        min: u16,
    },
    /// `fps` frames per second, each of `min_pkts..=max_pkts` packets of
    /// `min..=payload_len` bytes.
    Video {
        /// Frames per second.
        fps: u16,
        /// Fewest packets per frame.
        min_pkts: u8,
        /// Most packets per frame.
        max_pkts: u8,
        /// Smallest payload.
        min: u16,
    },
}

/// A media profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Name.
    pub name: &'static str,
    /// RTP payload type.
    pub payload_type: u8,
    /// Largest payload bytes per packet (the size, for fixed profiles).
    pub payload_len: usize,
    /// Packet interval in ms (audio); frame interval, rounded (video).
    pub ptime_ms: u64,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Sizing and timing.
    #[serde(flatten)]
    pub kind: Kind,
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
    kind: Kind::Fixed,
};

/// G.729: 20 bytes every 20 ms.
pub const G729: Profile = Profile {
    name: "g729",
    payload_type: 18,
    payload_len: 20,
    ptime_ms: 20,
    clock_rate: 8000,
    kind: Kind::Fixed,
};

/// Opus-like: 40–160 bytes (varying per packet) every 20 ms.
pub const OPUS: Profile = Profile {
    name: "opus",
    payload_type: 111,
    payload_len: 160,
    ptime_ms: 20,
    clock_rate: 48000,
    kind: Kind::Variable { min: 40 },
};

/// Video: 30 frames per second of 3–8 packets of 1,000–1,200 bytes.
pub const VIDEO: Profile = Profile {
    name: "video",
    payload_type: 96,
    payload_len: 1200,
    ptime_ms: 33,
    clock_rate: 90000,
    kind: Kind::Video {
        fps: 30,
        min_pkts: 3,
        max_pkts: 8,
        min: 1000,
    },
};

/// All profiles, by name.
pub const PROFILES: [Profile; 4] = [G711, G729, OPUS, VIDEO];

/// A 64-bit mixer (splitmix64's finalizer): deterministic "random" sizes.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// When a packet is due within its stream, and its RTP timing fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Offset from the stream's first packet, ns.
    pub offset_ns: u64,
    /// RTP timestamp.
    pub rtp_ts: u32,
    /// RTP marker bit.
    pub marker: bool,
}

impl Profile {
    /// A profile by name.
    pub fn by_name(s: &str) -> Result<Profile, String> {
        match s.to_ascii_lowercase().as_str() {
            "g711" | "pcmu" => Ok(G711),
            "g729" => Ok(G729),
            "opus" => Ok(OPUS),
            "video" => Ok(VIDEO),
            _ => Err(format!(
                "unknown profile {s:?} (known: g711, g729, opus, video)"
            )),
        }
    }

    /// Profiles from a comma-separated list (`g711,opus`): calls take them
    /// in turn.
    pub fn list(s: &str) -> Result<Vec<Profile>, String> {
        let v: Vec<Profile> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| Profile::by_name(p.trim()))
            .collect::<Result<_, _>>()?;
        if v.is_empty() || v.len() > 16 {
            return Err("--profile takes 1 to 16 names".into());
        }
        Ok(v)
    }

    /// The pattern's repeat: one packet interval (audio) or one second of
    /// frames (video), ns.
    pub fn cycle_ns(&self) -> u64 {
        match self.kind {
            Kind::Video { .. } => 1_000_000_000,
            _ => self.ptime_ms * 1_000_000,
        }
    }

    /// Packets per cycle.
    pub fn per_cycle(&self) -> u64 {
        match self.kind {
            Kind::Video { fps, .. } => (0..fps as u64).map(|f| self.frame_pkts(f)).sum(),
            _ => 1,
        }
    }

    /// Packets of frame `f` (within the cycle) of a video profile.
    fn frame_pkts(&self, f: u64) -> u64 {
        match self.kind {
            Kind::Video {
                min_pkts, max_pkts, ..
            } => {
                let span = (max_pkts.saturating_sub(min_pkts) as u64) + 1;
                min_pkts as u64 + mix(f ^ 0x5eed) % span
            }
            _ => 1,
        }
    }

    /// Mean packets per second of one stream.
    pub fn pps(&self) -> f64 {
        self.per_cycle() as f64 * 1e9 / self.cycle_ns() as f64
    }

    /// When packet `seq` is due (offset from the stream's start), with its
    /// RTP timestamp and marker.
    pub fn slot(&self, seq: u64) -> Slot {
        match self.kind {
            Kind::Video { fps, .. } => {
                let per = self.per_cycle().max(1);
                let (cycle, mut idx) = (seq / per, seq % per);
                let frame_ns = 1_000_000_000 / fps.max(1) as u64;
                for f in 0..fps as u64 {
                    let n = self.frame_pkts(f);
                    if idx < n {
                        let frame = cycle * fps as u64 + f;
                        return Slot {
                            offset_ns: cycle * 1_000_000_000
                                + f * frame_ns
                                + idx * frame_ns / 2 / n,
                            rtp_ts: (frame * (self.clock_rate / fps.max(1) as u32) as u64) as u32,
                            marker: idx + 1 == n,
                        };
                    }
                    idx -= n;
                }
                Slot {
                    offset_ns: cycle * 1_000_000_000,
                    rtp_ts: 0,
                    marker: false,
                }
            }
            _ => Slot {
                offset_ns: seq * self.cycle_ns(),
                rtp_ts: (seq as u32).wrapping_mul(self.ts_step()),
                marker: false,
            },
        }
    }

    /// Packets of one stream due within `ns` of its start.
    pub fn packets_in(&self, ns: u64) -> u64 {
        let per = self.per_cycle().max(1);
        let cycles = ns / self.cycle_ns();
        let mut n = cycles * per;
        // The last, partial cycle (bounded: at most `per` slots).
        for _ in 0..per {
            if self.slot(n).offset_ns >= ns {
                break;
            }
            n += 1;
        }
        n
    }

    /// Payload bytes of packet `seq` of the stream `ssrc`.
    pub fn len(&self, seq: u64, ssrc: u32) -> usize {
        let min = match self.kind {
            Kind::Fixed => return self.payload_len.max(FIELDS),
            Kind::Variable { min } | Kind::Video { min, .. } => min as usize,
        };
        let min = min.clamp(FIELDS, self.payload_len);
        let span = (self.payload_len - min) as u64 + 1;
        min + (mix(seq ^ ((ssrc as u64) << 32)) % span) as usize
    }

    /// RTP timestamp units per packet (audio).
    pub fn ts_step(&self) -> u32 {
        (self.clock_rate as u64 * self.ptime_ms / 1000) as u32
    }

    /// Packet interval in ns (audio), frame interval (video).
    pub fn period_ns(&self) -> u64 {
        match self.kind {
            Kind::Video { fps, .. } => 1_000_000_000 / fps.max(1) as u64,
            _ => self.ptime_ms * 1_000_000,
        }
    }
}

/// What a received payload says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    /// Call index.
    pub call: u32,
    /// Direction.
    pub dir: u8,
    /// Sequence number (from 0; 32 bits on the wire).
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
    let len = RTP_HEADER + p.len(f.seq, ssrc);
    let slot = p.slot(f.seq);
    let h = &mut buf[..len];
    h[0] = 0x80;
    h[1] = (p.payload_type & 0x7f) | if slot.marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&(f.seq as u16).to_be_bytes());
    h[4..8].copy_from_slice(&slot.rtp_ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let pl = &mut h[RTP_HEADER..];
    pl[0..2].copy_from_slice(MAGIC);
    pl[2] = f.dir;
    pl[3] = 0x5a;
    pl[4..8].copy_from_slice(&f.call.to_be_bytes());
    pl[8..12].copy_from_slice(&(f.seq as u32).to_be_bytes());
    pl[12..20].copy_from_slice(&f.sent_ns.to_be_bytes());
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

/// Whether a datagram is RTCP (RFC 5761 demultiplexing on the second byte).
pub fn is_rtcp(pkt: &[u8]) -> bool {
    matches!(pkt.get(1), Some(192..=223))
}

/// Checks a decrypted RTP packet: header shape, payload length, magic,
/// filler, and the RTP sequence/timestamp/marker matching the payload's
/// sequence. Returns the payload's fields, or `None` if anything is off.
pub fn check(pkt: &[u8], p: &Profile, ssrc: u32) -> Option<Fields> {
    if pkt.len() < RTP_HEADER + FIELDS || pkt[0] != 0x80 {
        return None;
    }
    if pkt[1] & 0x7f != p.payload_type || ssrc_of(pkt)? != ssrc {
        return None;
    }
    let pl = &pkt[RTP_HEADER..];
    if &pl[0..2] != MAGIC || pl[3] != 0x5a {
        return None;
    }
    let f = Fields {
        call: u32::from_be_bytes(pl[4..8].try_into().ok()?),
        dir: pl[2],
        seq: u32::from_be_bytes(pl[8..12].try_into().ok()?) as u64,
        sent_ns: u64::from_be_bytes(pl[12..20].try_into().ok()?),
    };
    if pkt.len() != RTP_HEADER + p.len(f.seq, ssrc) {
        return None;
    }
    let slot = p.slot(f.seq);
    if u16::from_be_bytes([pkt[2], pkt[3]]) != f.seq as u16
        || u32::from_be_bytes(pkt[4..8].try_into().ok()?) != slot.rtp_ts
        || (pkt[1] & 0x80 != 0) != slot.marker
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

/// Length of the RTCP sender report the phones send (no report blocks).
pub const SR_LEN: usize = 28;

/// Writes an RTCP sender report (RFC 3550 6.4.1, no report blocks) for
/// `ssrc` into `buf`; returns its length.
pub fn write_sr(
    buf: &mut [u8],
    ssrc: u32,
    wall_ns: u64,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
) -> usize {
    let b = &mut buf[..SR_LEN];
    b[0] = 0x80;
    b[1] = 200;
    b[2..4].copy_from_slice(&6u16.to_be_bytes());
    b[4..8].copy_from_slice(&ssrc.to_be_bytes());
    // NTP time: seconds since 1900, 32.32 fixed point.
    let secs = wall_ns / 1_000_000_000 + 2_208_988_800;
    let frac = ((wall_ns % 1_000_000_000) << 32) / 1_000_000_000;
    b[8..12].copy_from_slice(&(secs as u32).to_be_bytes());
    b[12..16].copy_from_slice(&(frac as u32).to_be_bytes());
    b[16..20].copy_from_slice(&rtp_ts.to_be_bytes());
    b[20..24].copy_from_slice(&packets.to_be_bytes());
    b[24..28].copy_from_slice(&octets.to_be_bytes());
    SR_LEN
}

/// Checks a decrypted RTCP packet as one of our sender reports from
/// `ssrc`; returns its sender packet count.
pub fn check_sr(pkt: &[u8], ssrc: u32) -> Option<u32> {
    if pkt.len() != SR_LEN || pkt[0] != 0x80 || pkt[1] != 200 || pkt[2..4] != [0, 6] {
        return None;
    }
    let s = u32::from_be_bytes(pkt[4..8].try_into().ok()?);
    if s != ssrc {
        return None;
    }
    Some(u32::from_be_bytes(pkt[20..24].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_check_and_tamper() {
        for p in PROFILES {
            for seq in [0u64, 1, 7, 70_000] {
                let f = Fields {
                    call: 7,
                    dir: 1,
                    seq,
                    sent_ns: 123_456_789,
                };
                let mut b = [0u8; 1500];
                let n = write(&mut b, &p, 0xdead_beef, &f);
                assert!(n >= RTP_HEADER + FIELDS && n <= RTP_HEADER + p.payload_len);
                assert_eq!(check(&b[..n], &p, 0xdead_beef), Some(f), "{}", p.name);
                assert_eq!(check(&b[..n], &p, 1), None);
                // Every byte but the send time (bytes 24..32), which only
                // SRTP authentication protects.
                let last = if n > 32 { n - 1 } else { 23 };
                for i in [1usize, 2, 5, 12, 16, 20, 23, last] {
                    let mut t = b;
                    t[i] ^= 0x01;
                    // Refused, or (no filler on G.729) read as other
                    // fields, which the player counts as misrouted.
                    assert_ne!(check(&t[..n], &p, 0xdead_beef), Some(f), "byte {i}");
                }
            }
        }
        let mut b = [0u8; 1500];
        let f = Fields {
            call: 1,
            dir: 0,
            seq: 3,
            sent_ns: 1,
        };
        assert_eq!(write(&mut b, &G711, 1, &f), 172);
        assert_eq!(write(&mut b, &G729, 1, &f), 32);
    }

    #[test]
    fn profiles_timing_and_sizes() {
        assert_eq!(G711.packets_in(2_000_000_000), 100);
        assert_eq!(G729.pps(), 50.0);
        let per = VIDEO.per_cycle();
        assert!((30 * 3..=30 * 8).contains(&per));
        assert_eq!(VIDEO.packets_in(1_000_000_000), per);
        assert_eq!(VIDEO.packets_in(2_000_000_000), 2 * per);
        // Due times never go backwards; frames end with a marker.
        let mut last = 0;
        let mut markers = 0;
        for s in 0..2 * per {
            let sl = VIDEO.slot(s);
            assert!(sl.offset_ns >= last);
            last = sl.offset_ns;
            markers += sl.marker as u64;
        }
        assert_eq!(markers, 60);
        let sizes: std::collections::BTreeSet<usize> = (0..200).map(|s| OPUS.len(s, 9)).collect();
        assert!(sizes.len() > 20);
        assert!(sizes.iter().all(|&n| (40..=160).contains(&n)));
        assert!((0..200)
            .map(|s| VIDEO.len(s, 3))
            .all(|n| (1000..=1200).contains(&n)));
    }

    #[test]
    fn sender_report_round_trip() {
        let mut b = [0u8; 64];
        let n = write_sr(&mut b, 42, 1_700_000_000_000_000_000, 8000, 77, 7700);
        assert_eq!(check_sr(&b[..n], 42), Some(77));
        assert_eq!(check_sr(&b[..n], 43), None);
        assert!(is_rtcp(&b[..n]));
    }
}
