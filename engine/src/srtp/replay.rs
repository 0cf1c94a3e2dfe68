//! Replay protection (RFC 3711 §3.3.2) and the SRTP index estimate
//! (RFC 3711 Appendix A).
//!
//! The window is a circular bitmap indexed by `index mod size`, so moving
//! the window forward by one packet touches one bit whatever the window size
//! (64 to 32768 packets), instead of shifting the whole bitmap. The check and
//! the update are separate calls: a receiver checks before authenticating
//! (cheap rejection) and updates only after the packet has authenticated, so
//! a forged packet never changes state.

use crate::Error;

/// Smallest configurable replay window, in packets.
pub const MIN_REPLAY_WINDOW: usize = 64;
/// Largest configurable replay window, in packets.
pub const MAX_REPLAY_WINDOW: usize = 32768;
/// Default replay window (libsrtp's and RFC 3711's suggested minimum is 64).
pub const DEFAULT_REPLAY_WINDOW: usize = 128;

/// A sliding replay window over packet indices.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest index accepted so far; `None` before the first packet.
    highest: Option<u64>,
    /// Packets behind `highest` that can still be judged.
    size: u64,
    /// Circular bitmap; length is a power of two words, at least `size` bits.
    bits: Box<[u64]>,
    mask: u64,
}

impl ReplayWindow {
    /// A window of `size` packets (clamped to 64..=32768).
    pub fn new(size: usize) -> ReplayWindow {
        let size = size.clamp(MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW) as u64;
        let nbits = size.next_power_of_two().max(64);
        ReplayWindow {
            highest: None,
            size,
            bits: vec![0u64; (nbits / 64) as usize].into_boxed_slice(),
            mask: nbits - 1,
        }
    }

    /// The highest index accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// The window size in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    #[inline]
    fn bit(&self, index: u64) -> bool {
        let b = index & self.mask;
        self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    #[inline]
    fn set_bit(&mut self, index: u64) {
        let b = index & self.mask;
        self.bits[(b / 64) as usize] |= 1 << (b % 64);
    }

    #[inline]
    fn clear_bit(&mut self, index: u64) {
        let b = index & self.mask;
        self.bits[(b / 64) as usize] &= !(1 << (b % 64));
    }

    /// Whether `index` would be accepted now: `Ok` if it is new, `Replayed`
    /// if it was seen, `TooOld` if it is behind the window.
    #[inline]
    pub fn check(&self, index: u64) -> Result<(), Error> {
        match self.highest {
            None => Ok(()),
            Some(h) if index > h => Ok(()),
            Some(h) if h - index >= self.size => Err(Error::TooOld),
            Some(_) if self.bit(index) => Err(Error::Replayed),
            Some(_) => Ok(()),
        }
    }

    /// Records `index` as received. Call only after [`check`](Self::check)
    /// passed and the packet authenticated.
    #[inline]
    pub fn accept(&mut self, index: u64) {
        self.advance(index);
        self.set_bit(index);
    }

    /// Moves the window forward so that `index` is the highest, keeping the
    /// marks of every index still inside the window, without marking
    /// `index` itself. An index at or below the highest changes nothing.
    pub fn advance(&mut self, index: u64) {
        match self.highest {
            None => {
                self.bits.fill(0);
                self.highest = Some(index);
            }
            Some(h) if index > h => {
                let advance = index - h;
                if advance > self.mask {
                    self.bits.fill(0);
                } else {
                    for i in h + 1..index {
                        self.clear_bit(i);
                    }
                }
                self.highest = Some(index);
            }
            Some(_) => {}
        }
    }

    /// Forgets every index and restarts the window.
    pub fn reset(&mut self) {
        self.highest = None;
        self.bits.fill(0);
    }

    /// Restarts the window at `index` with every index at or below it
    /// counted as seen: how a stream resumes from a checkpoint written
    /// elsewhere (the indexes behind the checkpoint are spent there).
    pub fn resume_at(&mut self, index: u64) {
        self.highest = Some(index);
        self.bits.fill(!0);
    }

    /// Restarts the window as if `index` had just been received.
    pub fn reset_to(&mut self, index: u64) {
        self.reset();
        self.accept(index);
    }
}

/// Estimates the 48-bit SRTP index of a packet with sequence number `seq`
/// given the highest index seen so far (RFC 3711 Appendix A). With no packet
/// seen yet, `initial_roc` (set for late joiners) gives the ROC. Returns
/// `None` for a packet that would sit past 2^48. A packet that would sit
/// before index 0 (ROC 0, more than 2^15 ahead of the highest) is a jump
/// forward within ROC 0, as libsrtp takes it (its sender seals such a
/// packet, so its peer must accept it).
#[inline]
pub fn estimate_index(highest: Option<u64>, initial_roc: u32, seq: u16) -> Option<u64> {
    let Some(h) = highest else {
        return Some(((initial_roc as u64) << 16) | seq as u64);
    };
    let roc = h >> 16;
    let s_l = (h & 0xffff) as i64;
    let s = seq as i64;
    let v = if s_l < 32768 {
        if s - s_l > 32768 {
            roc.checked_sub(1).unwrap_or(roc)
        } else {
            roc
        }
    } else if s_l - 32768 > s {
        roc + 1
    } else {
        roc
    };
    if v >= 1 << 32 {
        return None;
    }
    Some((v << 16) | seq as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_once_and_rejects_old() {
        let mut w = ReplayWindow::new(128);
        for i in [10u64, 12, 11, 200, 150] {
            w.check(i).unwrap();
            w.accept(i);
        }
        assert_eq!(w.check(12), Err(Error::TooOld));
        assert_eq!(w.check(150), Err(Error::Replayed));
        assert_eq!(w.check(200), Err(Error::Replayed));
        assert!(w.check(199).is_ok());
        assert!(w.check(73).is_ok());
        assert_eq!(w.check(72), Err(Error::TooOld));
        assert!(w.check(201).is_ok());
    }

    #[test]
    fn window_bits_cleared_on_advance() {
        let mut w = ReplayWindow::new(64);
        for i in 0..64 {
            w.accept(i);
        }
        // Advance by exactly the bitmap size: old bits must not alias.
        w.accept(127);
        for i in 64..127 {
            assert!(w.check(i).is_ok(), "{i}");
        }
        w.accept(10_000);
        assert!(w.check(9_999).is_ok());
        assert_eq!(w.check(10_000), Err(Error::Replayed));
    }

    #[test]
    fn a_resumed_window_refuses_everything_up_to_its_base() {
        let mut w = ReplayWindow::new(128);
        w.resume_at(70_000);
        for i in 69_873..=70_000 {
            assert_eq!(w.check(i), Err(Error::Replayed), "{i}");
        }
        assert_eq!(w.check(69_000), Err(Error::TooOld));
        w.check(70_001).unwrap();
        w.accept(70_005);
        for i in 70_001..70_005 {
            assert!(w.check(i).is_ok(), "{i} is new after the resume");
        }
        assert_eq!(w.check(70_000), Err(Error::Replayed));
    }

    #[test]
    fn sizes_clamped() {
        assert_eq!(ReplayWindow::new(1).size(), 64);
        assert_eq!(ReplayWindow::new(1 << 20).size(), 32768);
        assert_eq!(ReplayWindow::new(1000).size(), 1000);
    }

    #[test]
    fn index_estimate_appendix_a() {
        assert_eq!(estimate_index(None, 0, 5), Some(5));
        assert_eq!(estimate_index(None, 7, 5), Some((7 << 16) | 5));
        // Wrap forward.
        assert_eq!(estimate_index(Some(65535), 0, 0), Some(1 << 16));
        // Late packet from before the wrap.
        assert_eq!(estimate_index(Some(1 << 16), 0, 65535), Some(65535));
        // ROC 0 and far ahead: a jump within ROC 0 (libsrtp), not ROC -1.
        assert_eq!(estimate_index(Some(5), 0, 65000), Some(65000));
        // Ordinary.
        assert_eq!(estimate_index(Some(100), 0, 90), Some(90));
        assert_eq!(
            estimate_index(Some((3 << 16) | 40000), 0, 100),
            Some((4 << 16) | 100)
        );
    }
}
