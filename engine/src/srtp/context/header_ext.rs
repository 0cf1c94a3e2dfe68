//! Header-extension confidentiality: RFC 6904 (chosen RFC 8285 elements
//! encrypted, selected by ID) and RFC 9335 "cryptex" (the whole extension
//! block and the CSRCs encrypted).
//!
//! Why here and not in the transforms: both change which header bytes the
//! cipher covers, and both must be settled before any byte or state
//! changes. So the transforms first ask this module for a [`Plan`] (which
//! also refuses a packet whose extension cannot be processed), then apply
//! it inside the seal or after authentication. A packet with neither an
//! extension nor CSRCs never gets here (one test of the first byte).
//!
//! RFC 6904 follows libsrtp 2.5 byte for byte, including where libsrtp
//! reads RFC 6904 §4 its own way: the keystream runs over the elements'
//! headers and data only (padding bytes between elements consume none),
//! a one-byte element with ID 15 ends the walk, and an element that runs
//! past the block is an error. Cryptex follows RFC 9335 §5-§6 (libsrtp
//! 2.8 does the same): the 4-byte extension header stays clear, the CSRCs
//! and the extension body are encrypted with the payload as one region,
//! and for AEAD the fixed header and the extension header are the AAD.

use crate::error::MalformedKind;
use crate::srtp::keys::HeaderKey;
use crate::Error;

/// RFC 8285 one-byte and two-byte "defined by profile" values, and their
/// RFC 9335 counterparts.
const ONE_BYTE: u16 = 0xBEDE;
const TWO_BYTE: u16 = 0x1000;
const CRYPTEX_ONE_BYTE: u16 = 0xC0DE;
const CRYPTEX_TWO_BYTE: u16 = 0xC2DE;

/// The RFC 8285 extension IDs whose elements are encrypted (RFC 6904).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ExtIds([u64; 4]);

impl ExtIds {
    pub(super) fn from_ids(ids: &[u8]) -> ExtIds {
        let mut set = ExtIds::default();
        for &id in ids {
            set.0[usize::from(id >> 6)] |= 1 << (id & 63);
        }
        set
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    #[inline]
    fn contains(&self, id: u8) -> bool {
        self.0[usize::from(id >> 6)] & (1 << (id & 63)) != 0
    }
}

/// What a packet's header needs besides the payload's encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing: the header is authenticated as it is.
    Clear,
    /// RFC 6904: the extension body at `body..end` holds elements to
    /// encrypt or decrypt.
    Elements { body: usize, end: usize },
    /// RFC 9335: CSRCs and the extension body are encrypted with the
    /// payload; `csrc_end` is where the extension header starts. On
    /// protect, `insert` adds the empty extension a packet with CSRCs and
    /// no extension gets.
    Cryptex { csrc_end: usize, insert: bool },
}

fn bad() -> Error {
    MalformedKind::BadExtension.into()
}

/// An element of an extension body: its ID, where its data starts, its
/// length, and the offset of the header keystream its data takes.
type Element = (u8, usize, usize, usize);

/// A walk over the elements of an extension body as libsrtp 2.5 makes it.
/// It takes the body at each step, so that the caller may change element
/// data between steps (the walk reads only element headers and padding).
struct Walk {
    one_byte: bool,
    p: usize,
    ks: usize,
    done: bool,
}

impl Walk {
    /// A walk for `profile`; refused unless it is an RFC 8285 profile.
    fn new(profile: u16) -> Result<Walk, Error> {
        let one_byte = if profile == ONE_BYTE {
            true
        } else if profile & 0xfff0 == TWO_BYTE {
            false
        } else {
            return Err(bad());
        };
        Ok(Walk {
            one_byte,
            p: 0,
            ks: 0,
            done: false,
        })
    }

    /// The next element with data, `None` at the end; an element that
    /// runs past the body is an error.
    #[inline]
    fn next(&mut self, body: &[u8]) -> Option<Result<Element, Error>> {
        let n = body.len();
        loop {
            let hl = if self.one_byte { 1 } else { 2 };
            if self.done || self.p + hl > n {
                return None;
            }
            let (id, len) = if self.one_byte {
                (body[self.p] >> 4, usize::from(body[self.p] & 0x0f) + 1)
            } else {
                (body[self.p], usize::from(body[self.p + 1]))
            };
            let at = self.p + hl;
            if at + len > n {
                self.done = true;
                return Some(Err(bad()));
            }
            if self.one_byte && id == 15 {
                // libsrtp: ID 15 ends the walk (RFC 8285 §4.2).
                self.done = true;
                return None;
            }
            let ks = self.ks + hl;
            self.ks += hl + len;
            self.p = at + len;
            // Padding between elements takes no keystream.
            while self.p < n && body[self.p] == 0 {
                self.p += 1;
            }
            if len > 0 {
                return Some(Ok((id, at, len, ks)));
            }
        }
    }
}

/// Checks every element of `body` (profile `profile`).
fn check(profile: u16, body: &[u8]) -> Result<(), Error> {
    let mut w = Walk::new(profile)?;
    while let Some(e) = w.next(body) {
        e?;
    }
    Ok(())
}

/// The extension's profile and its body's bounds in a packet whose header
/// (`header_len` bytes, extension included) has been checked.
#[inline]
fn extension(pkt: &[u8], header_len: usize) -> (usize, u16, usize) {
    let csrc_end = 12 + 4 * usize::from(pkt[0] & 0x0f);
    let profile = u16::from_be_bytes([pkt[csrc_end], pkt[csrc_end + 1]]);
    (csrc_end, profile, header_len)
}

/// The plan to protect the RTP packet `pkt` whose header is `header_len`
/// bytes; `cryptex` and `ids` are what the context does (cryptex wins:
/// RFC 9335 §4 forbids both on one packet).
pub(super) fn plan_protect(
    pkt: &[u8],
    header_len: usize,
    cryptex: bool,
    ids: Option<&ExtIds>,
) -> Result<Plan, Error> {
    let x = pkt[0] & 0x10 != 0;
    let csrc_end = 12 + 4 * usize::from(pkt[0] & 0x0f);
    if cryptex {
        if !x {
            return Ok(if csrc_end > 12 {
                Plan::Cryptex {
                    csrc_end,
                    insert: true,
                }
            } else {
                Plan::Clear
            });
        }
        let (_, profile, _) = extension(pkt, header_len);
        // Only RFC 8285 blocks without appbits have a cryptex profile.
        if profile != ONE_BYTE && profile != TWO_BYTE {
            return Err(bad());
        }
        return Ok(Plan::Cryptex {
            csrc_end,
            insert: false,
        });
    }
    match ids {
        Some(_) if x => {
            let (csrc_end, profile, end) = extension(pkt, header_len);
            check(profile, &pkt[csrc_end + 4..end])?;
            Ok(Plan::Elements {
                body: csrc_end + 4,
                end,
            })
        }
        _ => Ok(Plan::Clear),
    }
}

/// The plan to unprotect the SRTP packet `pkt` (header `header_len`
/// bytes): cryptex when the context takes it and the profile says so
/// (any other packet is processed as usual, RFC 9335 §5.2), else the
/// RFC 6904 elements, checked once the packet has authenticated.
pub(super) fn plan_unprotect(
    pkt: &[u8],
    header_len: usize,
    cryptex: bool,
    ids: Option<&ExtIds>,
) -> Plan {
    if pkt[0] & 0x10 == 0 {
        return Plan::Clear;
    }
    let (csrc_end, profile, end) = extension(pkt, header_len);
    if cryptex && (profile == CRYPTEX_ONE_BYTE || profile == CRYPTEX_TWO_BYTE) {
        return Plan::Cryptex {
            csrc_end,
            insert: false,
        };
    }
    match ids {
        Some(_) => Plan::Elements {
            body: csrc_end + 4,
            end,
        },
        None => Plan::Clear,
    }
}

/// Checks the RFC 6904 elements of an authenticated packet.
pub(super) fn check_elements(pkt: &[u8], body: usize, end: usize) -> Result<(), Error> {
    let profile = u16::from_be_bytes([pkt[body - 4], pkt[body - 3]]);
    check(profile, &pkt[body..end])
}

/// XORs the header keystream (counter mode from `iv`) into the data of
/// the elements whose ID is in `ids` (both directions: it is its own
/// inverse). The body has been checked by [`plan_protect`] or
/// [`check_elements`].
pub(super) fn xor_elements(
    pkt: &mut [u8],
    body: usize,
    end: usize,
    ids: &ExtIds,
    key: &HeaderKey,
    iv: &[u8; 16],
) {
    let profile = u16::from_be_bytes([pkt[body - 4], pkt[body - 3]]);
    let body = &mut pkt[body..end];
    let Ok(mut w) = Walk::new(profile) else {
        return;
    };
    while let Some(Ok((id, at, len, ks))) = w.next(body) {
        if ids.contains(id) {
            key.key.ctr_xor_at(iv, ks, &mut body[at..at + len]);
        }
    }
}

/// Cryptex on protect, before the cipher: adds the empty extension when
/// `insert` (the packet grows by 4 bytes, from `len` to the returned
/// length), writes the cryptex profile, and moves the extension header in
/// front of the CSRCs so that the encrypted region, `pkt[16..]`, is one
/// run and `pkt[..16]` the AEAD AAD. [`cryptex_restore`] moves it back.
pub(super) fn cryptex_seal_layout(
    pkt: &mut [u8],
    len: usize,
    csrc_end: usize,
    insert: bool,
) -> usize {
    let len = if insert {
        pkt.copy_within(csrc_end..len, csrc_end + 4);
        pkt[csrc_end..csrc_end + 4].copy_from_slice(&[0, 0, 0, 0]);
        pkt[csrc_end..csrc_end + 2].copy_from_slice(&CRYPTEX_ONE_BYTE.to_be_bytes());
        pkt[0] |= 0x10;
        len + 4
    } else {
        let profile = u16::from_be_bytes([pkt[csrc_end], pkt[csrc_end + 1]]);
        let c = if profile == ONE_BYTE {
            CRYPTEX_ONE_BYTE
        } else {
            CRYPTEX_TWO_BYTE
        };
        pkt[csrc_end..csrc_end + 2].copy_from_slice(&c.to_be_bytes());
        len
    };
    pkt[12..csrc_end + 4].rotate_right(4);
    len
}

/// Moves the cryptex layout's extension header (in front of the CSRCs)
/// back after them.
pub(super) fn cryptex_restore(pkt: &mut [u8], csrc_end: usize) {
    pkt[12..csrc_end + 4].rotate_left(4);
}

/// Cryptex on unprotect, after decryption: the RFC 8285 profile back in
/// place of the cryptex one (RFC 9335 §6.3).
pub(super) fn cryptex_clear_profile(pkt: &mut [u8], csrc_end: usize) {
    let profile = u16::from_be_bytes([pkt[csrc_end], pkt[csrc_end + 1]]);
    let clear = if profile == CRYPTEX_ONE_BYTE {
        ONE_BYTE
    } else {
        TWO_BYTE
    };
    pkt[csrc_end..csrc_end + 2].copy_from_slice(&clear.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(profile: u16, body: &[u8]) -> Result<Vec<Element>, Error> {
        let mut w = Walk::new(profile)?;
        let mut out = Vec::new();
        while let Some(e) = w.next(body) {
            out.push(e?);
        }
        Ok(out)
    }

    #[test]
    fn walk_follows_libsrtp() {
        // One-byte: id 1 len 2, padding, id 2 len 1, id 15 stops.
        let body = [0x11, 0xaa, 0xbb, 0x00, 0x20, 0xcc, 0xf0, 0x00];
        // Padding consumes no keystream: id 2's data is at keystream 4.
        assert_eq!(
            walk(ONE_BYTE, &body).unwrap(),
            vec![(1, 1, 2, 1), (2, 5, 1, 4)]
        );
        // An element past the end.
        assert!(walk(ONE_BYTE, &[0x13, 0, 0]).is_err());
        // Two-byte, zero-length element, then id 7 len 1.
        let body = [0x05, 0x00, 0x07, 0x01, 0xee, 0x00, 0x00, 0x00];
        assert_eq!(walk(TWO_BYTE, &body).unwrap(), vec![(7, 4, 1, 4)]);
        assert!(walk(TWO_BYTE, &[0x05, 0x09, 0]).is_err());
        assert!(walk(0xABAC, &[0; 4]).is_err());
    }

    #[test]
    fn ids() {
        let s = ExtIds::from_ids(&[0, 1, 64, 255]);
        assert!(s.contains(0) && s.contains(1) && s.contains(64) && s.contains(255));
        assert!(!s.contains(2) && !s.contains(254));
        assert!(ExtIds::from_ids(&[]).is_empty());
    }
}
