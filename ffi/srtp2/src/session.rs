//! A libsrtp session (`srtp_t`) over Rampart contexts: safe Rust, no
//! pointers.
//!
//! libsrtp keeps a list of streams, one per SSRC, and at most one template
//! (`ssrc_any_inbound` or `ssrc_any_outbound`) that new SSRCs are cloned
//! from, on send or on receive alike. Here a stream added for one SSRC is
//! a [`Context`] of its own; the template is one `SsrcPolicy::Any`
//! context, in which Rampart keeps one stream per SSRC it has met (a new
//! SSRC on receive joins it only once its packet authenticates, as
//! libsrtp clones the template only then). `streams` maps every SSRC to
//! where it lives.
//!
//! As libsrtp, a stream remembers the direction it was first used in, and
//! using it the other way raises `event_ssrc_collision` (once per change).

use std::collections::HashMap;

use rampart::error::MalformedKind;
use rampart::srtp::{Context, MAX_TRAILER_LEN};
use rampart::Error;

use crate::abi::*;
use crate::policy::{build, PolicyDesc, SsrcKind, StreamSpec};

/// Which way a stream has been used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Unknown,
    Sender,
    Receiver,
}

/// Where a stream's state lives.
enum Home {
    /// A stream added for its SSRC: a context of its own.
    Own(Box<Context>, StreamSpec),
    /// A stream the template created: inside the template's context.
    Template,
}

struct Stream {
    home: Home,
    direction: Direction,
}

/// The template: one context for every SSRC it serves.
struct Template {
    ctx: Context,
    spec: StreamSpec,
    direction: Direction,
}

/// RTP or RTCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// SRTP.
    Rtp,
    /// SRTCP.
    Rtcp,
}

/// What a call reports besides its status: events for the handler.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Events(pub Vec<(u32, std::ffi::c_int)>);

/// One `srtp_t`.
#[derive(Default)]
pub struct Session {
    streams: HashMap<u32, Stream>,
    template: Option<Template>,
    /// `srtp_set_user_data`'s pointer, as an address.
    pub(crate) user_data: usize,
}

/// libsrtp's status for a Rampart error.
pub(crate) fn status_of(e: &Error) -> srtp_err_status_t {
    match e {
        Error::AuthFailed => srtp_err_status_auth_fail,
        Error::Replayed => srtp_err_status_replay_fail,
        Error::TooOld => srtp_err_status_replay_old,
        // An extension RFC 6904 cannot walk (libsrtp: parse_err).
        Error::Malformed(MalformedKind::BadExtension) => srtp_err_status_parse_err,
        Error::Malformed(_) | Error::BufferTooSmall { .. } => srtp_err_status_bad_param,
        Error::UnknownSsrc(_) => srtp_err_status_no_ctx,
        Error::UnknownMki => srtp_err_status_bad_mki,
        Error::KeyExhausted => srtp_err_status_key_expired,
        Error::TooManyStreams { .. } => srtp_err_status_alloc_fail,
        Error::InvalidConfig(_) | Error::UnknownSuite => srtp_err_status_bad_param,
        _ => srtp_err_status_fail,
    }
}

/// The RTP header's length as libsrtp 2.5 validates it (the fixed
/// header, CSRCs, the extension and its length must fit; the version is
/// not looked at), `None` when it does not fit.
fn libsrtp_header_len(pkt: &[u8]) -> Option<usize> {
    if pkt.len() < 12 {
        return None;
    }
    let mut n = 12 + 4 * (pkt[0] & 0x0f) as usize;
    if pkt[0] & 0x10 != 0 {
        n += 4;
        if pkt.len() < n {
            return None;
        }
        n += 4 * u16::from_be_bytes([pkt[n - 2], pkt[n - 1]]) as usize;
    }
    (pkt.len() >= n).then_some(n)
}

/// The SSRC a packet names, after the checks libsrtp makes before it looks
/// the stream up (header length; RTCP: its 8 fixed bytes).
fn packet_ssrc(family: Family, pkt: &[u8]) -> Result<u32, srtp_err_status_t> {
    let bad = srtp_err_status_bad_param;
    match family {
        Family::Rtp => {
            libsrtp_header_len(pkt).ok_or(bad)?;
            Ok(u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]))
        }
        Family::Rtcp => {
            if pkt.len() < 8 {
                return Err(bad);
            }
            Ok(u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]))
        }
    }
}

/// The status libsrtp 2.5 gives an SRTP packet Rampart found malformed
/// (too short for its trailer), in libsrtp's order of checks: replay,
/// then the MKI, then the payload start against the trailer
/// (`parse_err`, where the payload is encrypted), else the tag
/// (`auth_fail`). `pkt` has a valid RTP header (checked first).
fn rtp_refusal(ctx: &Context, spec: &StreamSpec, pkt: &[u8], use_mki: bool) -> srtp_err_status_t {
    let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
    let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
    if let Err(e) = ctx.rtp_replay_status(ssrc, seq) {
        return status_of(&e);
    }
    let (len, tag, mki) = (pkt.len(), spec.suite.srtp_tag_len(), spec.mki_len());
    let aead = spec.suite.is_aead();
    if use_mki {
        // libsrtp looks for the MKI before the tag (GCM: at the very end).
        let before = if aead { 0 } else { tag };
        let found = len >= before + mki
            && spec
                .mkis
                .iter()
                .any(|m| pkt[len - before - mki..len - before] == m[..]);
        if !found {
            return srtp_err_status_bad_mki;
        }
    }
    let header = libsrtp_header_len(pkt).unwrap_or(len);
    // libsrtp computes `len - tag - mki` in unsigned arithmetic: when the
    // packet is shorter than its trailer the bound wraps and the payload
    // start passes; only a payload starting past a real bound is a parse
    // error.
    let past_bound = len.checked_sub(tag + mki).is_some_and(|room| header > room);
    if (aead || spec.enc_rtp) && past_bound {
        return srtp_err_status_parse_err;
    }
    // GCM: then the payload, tag included, must hold the 16-byte tag.
    if aead && len.checked_sub(mki + header).is_some_and(|body| body < tag) {
        return srtp_err_status_cipher_fail;
    }
    srtp_err_status_auth_fail
}

/// Moves where each stream of `old` stands into `new` (an update). Keys
/// the stream never ran with: as libsrtp, each SRTP stream keeps its
/// highest index and starts an empty window (what was sealed under the old
/// keys is fresh keystream under the new). A key it ran with before (kept,
/// or coming back after another): every index already used stays used, so
/// the sender never seals an index twice under one key (libsrtp would).
fn carry_over(
    new: &mut Context,
    old: &Context,
    new_spec: &mut StreamSpec,
    old_spec: &StreamSpec,
) -> Result<(), srtp_err_status_t> {
    let r = if new_spec.reuses_a_key_of(old_spec) {
        let mut cps = old.checkpoint();
        cps.extend(old_spec.floor.iter().cloned());
        new.resume(&cps, 0)
    } else {
        new.resume_after_rekey(old)
    };
    // Every stream of `old` goes on in `new`: only the floor carries over.
    new_spec.inherit(old_spec, Vec::new());
    r.map_err(|e| status_of(&e))
}

/// libsrtp 2.5's checks of an SRTCP packet before its tag, in its order:
/// the MKI (looked for before the SRTP tag's length: libsrtp's layout),
/// the length, then (not for AEAD) the E flag against what the stream
/// sends, which, when they differ, libsrtp cannot check.
fn rtcp_prechecks(spec: &StreamSpec, pkt: &[u8], use_mki: bool) -> Result<(), srtp_err_status_t> {
    let (len, mki) = (pkt.len(), spec.mki_len());
    let aead = spec.suite.is_aead();
    if use_mki {
        let before = if aead { 0 } else { spec.suite.srtp_tag_len() };
        let found = len >= before + mki
            && spec
                .mkis
                .iter()
                .any(|m| pkt[len - before - mki..len - before] == m[..]);
        if !found {
            return Err(srtp_err_status_bad_mki);
        }
    }
    let t = spec.suite.srtcp_tag_len() + mki + 4;
    if len < 8 + t {
        return Err(srtp_err_status_bad_param);
    }
    if !aead && ((pkt[len - t] & 0x80) != 0) != spec.enc_rtcp {
        return Err(srtp_err_status_cant_check);
    }
    Ok(())
}

impl Session {
    /// A session with the streams of a policy list (`srtp_create`).
    pub(crate) fn new(policies: &[PolicyDesc]) -> Result<Session, srtp_err_status_t> {
        let mut s = Session::default();
        for p in policies {
            s.add_stream(p)?;
        }
        Ok(s)
    }

    /// `srtp_add_stream`: a stream for one SSRC, or the template (a
    /// second template is `bad_param`). A stream for an SSRC that has one
    /// takes its place, as in libsrtp 2.5, where the newer stream is the
    /// one found: GStreamer and Asterisk rekey that way, after a removal
    /// that, given the SSRC in host order, removed nothing.
    pub(crate) fn add_stream(&mut self, p: &PolicyDesc) -> Result<(), srtp_err_status_t> {
        let (mut ctx, mut spec) = build(p)?;
        match p.ssrc.ok_or(srtp_err_status_bad_param)? {
            SsrcKind::Specific(ssrc) => {
                self.replacing(ssrc, &mut ctx, &mut spec)?;
                self.streams.insert(
                    ssrc,
                    Stream {
                        home: Home::Own(Box::new(ctx), spec),
                        direction: Direction::Unknown,
                    },
                );
            }
            kind => {
                if self.template.is_some() {
                    return Err(srtp_err_status_bad_param);
                }
                self.template = Some(Template {
                    ctx,
                    spec,
                    direction: if kind == SsrcKind::AnyInbound {
                        Direction::Receiver
                    } else {
                        Direction::Sender
                    },
                });
            }
        }
        Ok(())
    }

    /// Before a new stream for `ssrc` takes the place of the one it has:
    /// the new one starts fresh (libsrtp) unless one of its keys ran on
    /// the old one, in which case it continues the old one's indexes (a
    /// fresh stream would seal them again under that key); either way it
    /// remembers the old one's keys. A stream the template made is taken
    /// out of the template.
    fn replacing(
        &mut self,
        ssrc: u32,
        ctx: &mut Context,
        spec: &mut StreamSpec,
    ) -> Result<(), srtp_err_status_t> {
        let (old, old_spec) = match self.streams.get(&ssrc) {
            None => return Ok(()),
            Some(Stream {
                home: Home::Own(old, old_spec),
                ..
            }) => (old.as_ref(), old_spec),
            Some(Stream {
                home: Home::Template,
                ..
            }) => match self.template.as_ref() {
                Some(t) => (&t.ctx, &t.spec),
                None => return Ok(()),
            },
        };
        let mut was: Vec<_> = old
            .checkpoint()
            .into_iter()
            .filter(|c| c.ssrc == ssrc)
            .collect();
        if spec.reuses_a_key_of(old_spec) {
            was.extend(old_spec.floor.iter().filter(|c| c.ssrc == ssrc).cloned());
            ctx.resume(&was, 0).map_err(|e| status_of(&e))?;
            was.clear(); // it goes on in `ctx`
        }
        spec.inherit(old_spec, was);
        if let (
            Some(Stream {
                home: Home::Template,
                ..
            }),
            Some(t),
        ) = (self.streams.get(&ssrc), self.template.as_mut())
        {
            t.ctx.remove_stream(ssrc);
        }
        Ok(())
    }

    /// `srtp_remove_stream`. A template stream that has sent keeps its
    /// index inside the template (Rampart never restarts a sending
    /// stream's index under the same key); it is only forgotten here.
    pub(crate) fn remove_stream(&mut self, ssrc: u32) -> Result<(), srtp_err_status_t> {
        let s = self.streams.remove(&ssrc).ok_or(srtp_err_status_no_ctx)?;
        if let (Home::Template, Some(t)) = (s.home, self.template.as_mut()) {
            t.ctx.remove_stream(ssrc);
        }
        Ok(())
    }

    /// `srtp_update` / `srtp_update_stream`: new keys for an existing
    /// stream or the template (and the streams it made), keeping where
    /// each stream stands (ROC, replay state, SRTCP index).
    pub(crate) fn update(&mut self, p: &PolicyDesc) -> Result<(), srtp_err_status_t> {
        let (mut ctx, mut spec) = build(p)?;
        match p.ssrc.ok_or(srtp_err_status_bad_param)? {
            SsrcKind::Specific(ssrc) => {
                let s = self
                    .streams
                    .get_mut(&ssrc)
                    .ok_or(srtp_err_status_bad_param)?;
                let Home::Own(old, old_spec) = &s.home else {
                    // A stream the template made is updated with it.
                    return Err(srtp_err_status_bad_param);
                };
                carry_over(&mut ctx, old, &mut spec, old_spec)?;
                s.home = Home::Own(Box::new(ctx), spec);
            }
            _ => {
                let t = self.template.as_mut().ok_or(srtp_err_status_bad_param)?;
                carry_over(&mut ctx, &t.ctx, &mut spec, &t.spec)?;
                t.ctx = ctx;
                t.spec = spec;
            }
        }
        Ok(())
    }

    /// Protects `pkt` in place (`srtp_protect[_rtcp][_mki]`): the
    /// protected length. `extend(n)` gives the caller's buffer as `n` bytes,
    /// the packet and the trailer its stream appends (libsrtp's contract
    /// promises that tailroom; Rampart writes at most the trailer it
    /// reports).
    pub(crate) fn protect<'b>(
        &mut self,
        family: Family,
        (pkt, extend): (
            &[u8],
            impl FnOnce(usize) -> Result<&'b mut [u8], srtp_err_status_t>,
        ),
        mki: Option<u32>,
        events: &mut Events,
    ) -> Result<usize, srtp_err_status_t> {
        let (len, ssrc) = (pkt.len(), packet_ssrc(family, pkt)?);
        let (ctx, spec, dir, fresh) = self.locate(ssrc)?;
        if family == Family::Rtcp && !spec.rtcp {
            return Err(srtp_err_status_no_such_op);
        }
        let room = match family {
            Family::Rtp => spec.suite.srtp_tag_len(),
            Family::Rtcp => spec.suite.srtcp_tag_len() + 4,
        } + spec.mki_len();
        let buf = extend(len + room)?;
        Self::choose_key(ctx, spec, mki)?;
        if family == Family::Rtp && ctx.cryptex() && spec.enc_rtp && len >= 12 {
            // CSRCs without an extension: RFC 9335 adds an empty one, which
            // libsrtp's buffer contract has no room for (libsrtp 2.8
            // refuses the same way).
            if buf[0] & 0x0f != 0 && buf[0] & 0x10 == 0 {
                return Err(srtp_err_status_cryptex_err);
            }
        }
        let r = match family {
            Family::Rtp => ctx.protect_rtp(buf, len),
            Family::Rtcp => ctx.protect_rtcp(buf, len),
        };
        self.settle(ssrc, Direction::Sender, dir, fresh, &r, events);
        r.map_err(|e| status_of(&e))
    }

    /// Unprotects `pkt` in place (`srtp_unprotect[_rtcp][_mki]`): the
    /// plain length.
    pub(crate) fn unprotect(
        &mut self,
        family: Family,
        pkt: &mut [u8],
        use_mki: bool,
        events: &mut Events,
    ) -> Result<usize, srtp_err_status_t> {
        if family == Family::Rtcp && pkt.len() < 12 {
            // libsrtp: a header and the E flag and index, before anything.
            return Err(srtp_err_status_bad_param);
        }
        let ssrc = packet_ssrc(family, pkt)?;
        let (ctx, spec, dir, fresh) = self.locate(ssrc)?;
        if use_mki != (spec.mki_len() > 0) {
            // libsrtp reads an MKI only when told to; Rampart's stream
            // either always carries one or never does.
            return Err(if use_mki {
                srtp_err_status_bad_mki
            } else {
                srtp_err_status_auth_fail
            });
        }
        if family == Family::Rtcp {
            if !spec.rtcp {
                return Err(srtp_err_status_no_such_op);
            }
            rtcp_prechecks(spec, pkt, use_mki)?;
        }
        // ring's AEAD open wipes the buffer when the tag fails; libsrtp's
        // callers (pjproject, GStreamer) may retry on the same buffer, so
        // a refused AEAD packet is put back as it came.
        let mut saved = [0u8; 2048];
        let keep = spec.suite.is_aead() && pkt.len() <= saved.len();
        if keep {
            saved[..pkt.len()].copy_from_slice(pkt);
        }
        let r = match family {
            Family::Rtp => ctx.unprotect_rtp(pkt),
            Family::Rtcp => ctx.unprotect_rtcp(pkt),
        };
        if keep && r.is_err() {
            let n = pkt.len();
            pkt.copy_from_slice(&saved[..n]);
        }
        match (family, &r) {
            // An authentic packet whose extension RFC 6904 cannot walk:
            // libsrtp's parse_err, after its tag check, as here.
            (Family::Rtp, Err(Error::Malformed(MalformedKind::BadExtension))) => {
                return Err(srtp_err_status_parse_err)
            }
            // Rampart looks at the MKI before the replay window, libsrtp
            // after it.
            (Family::Rtp, Err(Error::Malformed(_) | Error::UnknownMki)) => {
                return Err(rtp_refusal(ctx, spec, pkt, use_mki))
            }
            // Past libsrtp's checks, it reads no RTCP header length: a
            // packet Rampart finds malformed fails its tag there.
            (Family::Rtcp, Err(Error::Malformed(_))) => return Err(srtp_err_status_auth_fail),
            _ => {}
        }
        self.settle(ssrc, Direction::Receiver, dir, fresh, &r, events);
        r.map_err(|e| status_of(&e))
    }

    /// The context, spec and direction serving `ssrc`; `fresh` when the
    /// template would create its stream.
    fn locate(
        &mut self,
        ssrc: u32,
    ) -> Result<(&mut Context, &StreamSpec, Direction, bool), srtp_err_status_t> {
        match self.streams.get_mut(&ssrc) {
            Some(Stream {
                home: Home::Own(ctx, spec),
                direction,
            }) => Ok((ctx, spec, *direction, false)),
            Some(Stream {
                home: Home::Template,
                direction,
            }) => {
                let t = self.template.as_mut().ok_or(srtp_err_status_no_ctx)?;
                Ok((&mut t.ctx, &t.spec, *direction, false))
            }
            None => {
                let t = self.template.as_mut().ok_or(srtp_err_status_no_ctx)?;
                Ok((&mut t.ctx, &t.spec, t.direction, true))
            }
        }
    }

    /// Makes the key protect will use the active one: key 0 without an
    /// MKI, else `keys[mki_index]` (libsrtp's `srtp_protect_mki`).
    fn choose_key(
        ctx: &mut Context,
        spec: &StreamSpec,
        mki: Option<u32>,
    ) -> Result<(), srtp_err_status_t> {
        match (mki, spec.mki_len()) {
            (None, 0) => Ok(()),
            // A stream keyed with MKIs always writes one: refused rather
            // than sent with an MKI the caller did not ask for.
            (None, _) => Err(srtp_err_status_bad_mki),
            (Some(_), 0) => Err(srtp_err_status_bad_mki),
            (Some(i), _) => {
                let m = spec.mkis.get(i as usize).ok_or(srtp_err_status_bad_mki)?;
                ctx.set_active_mki(m).map_err(|_| srtp_err_status_bad_mki)
            }
        }
    }

    /// After a packet: a new stream recorded (a template's, once its first
    /// packet went through), the direction kept and collisions and key
    /// limits reported.
    fn settle(
        &mut self,
        ssrc: u32,
        now: Direction,
        was: Direction,
        fresh: bool,
        r: &Result<usize, Error>,
        events: &mut Events,
    ) {
        if let Err(Error::KeyExhausted) = r {
            events.0.push((ssrc, event_key_hard_limit));
        }
        if r.is_err() {
            return;
        }
        if was != Direction::Unknown && was != now {
            events.0.push((ssrc, event_ssrc_collision));
        }
        if fresh {
            self.streams.insert(
                ssrc,
                Stream {
                    home: Home::Template,
                    direction: now,
                },
            );
        } else if let Some(s) = self.streams.get_mut(&ssrc) {
            s.direction = now;
        }
    }

    /// `srtp_set_stream_use_cryptex` (libsrtp 2.8): a stream added for
    /// its SSRC, or the template with every stream it made. A stream the
    /// template made shares the template's context: refused rather than
    /// changed for the others too.
    pub(crate) fn set_cryptex(
        &mut self,
        ssrc: Option<SsrcKind>,
        on: bool,
    ) -> Result<(), srtp_err_status_t> {
        let bad = srtp_err_status_bad_param;
        match ssrc.ok_or(bad)? {
            SsrcKind::Specific(s) => match self.streams.get_mut(&s) {
                Some(Stream {
                    home: Home::Own(ctx, _),
                    ..
                }) => ctx.set_cryptex(on),
                _ => return Err(bad),
            },
            _ => self.template.as_mut().ok_or(bad)?.ctx.set_cryptex(on),
        }
        Ok(())
    }

    /// `srtp_get_stream_roc`.
    pub(crate) fn roc(&self, ssrc: u32) -> Result<u32, srtp_err_status_t> {
        let ctx = self.ctx_of(ssrc)?;
        ctx.roc(ssrc).ok_or(srtp_err_status_bad_param)
    }

    /// `srtp_set_stream_roc`.
    pub(crate) fn set_roc(&mut self, ssrc: u32, roc: u32) -> Result<(), srtp_err_status_t> {
        let ctx = match self.streams.get_mut(&ssrc) {
            Some(Stream {
                home: Home::Own(ctx, _),
                ..
            }) => ctx.as_mut(),
            Some(_) => &mut self.template.as_mut().ok_or(srtp_err_status_bad_param)?.ctx,
            None => return Err(srtp_err_status_bad_param),
        };
        ctx.set_roc(ssrc, roc).map_err(|e| status_of(&e))
    }

    fn ctx_of(&self, ssrc: u32) -> Result<&Context, srtp_err_status_t> {
        match self.streams.get(&ssrc) {
            Some(Stream {
                home: Home::Own(ctx, _),
                ..
            }) => Ok(ctx),
            Some(_) => Ok(&self.template.as_ref().ok_or(srtp_err_status_bad_param)?.ctx),
            None => Err(srtp_err_status_bad_param),
        }
    }

    /// `srtp_get_protect[_rtcp]_trailer_length`: the most protect appends
    /// for any stream of the session (and its template).
    pub(crate) fn trailer_len(
        &self,
        family: Family,
        use_mki: bool,
        mki_index: u32,
    ) -> Result<u32, srtp_err_status_t> {
        let specs = self
            .streams
            .values()
            .filter_map(|s| match &s.home {
                Home::Own(_, spec) => Some(spec),
                Home::Template => None,
            })
            .chain(self.template.as_ref().map(|t| &t.spec));
        let mut best: Option<usize> = None;
        for spec in specs {
            if use_mki && mki_index as usize >= spec.mkis.len().max(1) {
                continue;
            }
            let tag = match family {
                Family::Rtp => spec.suite.srtp_tag_len(),
                Family::Rtcp => spec.suite.srtcp_tag_len() + 4,
            };
            let n = tag + if use_mki { spec.mki_len() } else { 0 };
            best = Some(best.map_or(n, |b| b.max(n)));
        }
        debug_assert!(best.is_none_or(|b| b <= MAX_TRAILER_LEN));
        best.map(|b| b as u32).ok_or(srtp_err_status_bad_mki)
    }
}
