//! Batch SRTP: protect, unprotect and verify a whole receive batch at once.
//!
//! Why: with HMAC-SHA1 suites, the tag is most of a packet's cost, and on
//! one packet SHA-1 is a serial chain. A batch holds many independent
//! messages, which the multi-buffer engines of `rampart-simd` hash 16
//! (AVX-512) or 8 (AVX2) at a time. Everything else (parsing, the replay
//! check, keys, the cipher, state) stays the single-packet code, so a batch
//! gives exactly the results of calling the single-packet functions in
//! order. How that is kept:
//!
//! * **Send.** Each packet runs the single-packet protect, in order, with
//!   one step deferred: its tag. The tag depends only on the key and the
//!   sealed bytes, never on state, so computing all tags after the loop
//!   and writing them into their packets changes nothing but speed.
//! * **Receive.** Before the loop, each packet's tag is computed
//!   *speculatively*, from the state the context has before the batch (its
//!   ROC guess and its key). The loop then runs the single-packet
//!   unprotect, in order, and where it would compute the tag it uses the
//!   speculative one only if it was computed over the same bytes (same
//!   buffer address and length, untouched since), with the same key (the
//!   pad states compared) and the same trailer (the ROC). Otherwise, when
//!   an earlier packet of the batch moved the ROC, say, it computes the
//!   tag as always. The comparison with the packet's tag stays constant
//!   time. So a forged or replayed packet fails exactly as it would alone,
//!   and changes no state.
//!
//! AEAD (GCM) packets take the single-packet path inside the batch: the tag
//! is part of the AEAD, so there is nothing to defer, and the vector cipher
//! engine (`srtp::CipherEngine`) already makes each packet's AES-GCM cheap.
//! So do contexts with a key derivation rate, whose keys are picked on the
//! packet path.

use core::borrow::BorrowMut;
use std::sync::OnceLock;

use rampart_simd::{HmacInput, Lanes};
use zeroize::Zeroize;

use super::hmac_sha1::{mac_from_pads, HmacSha1};
use super::keys::SessionKeys;
use super::Context;
use crate::Error;

/// Packets a batch computes at once; a longer slice is run in chunks of
/// this many, in order.
pub const MAX_BATCH: usize = 64;

/// The environment variable that picks the HMAC-SHA1 engine of batches
/// ([`MacEngine::from_env`]): `auto` (or unset), `avx512`, `avx2` or
/// `single`.
pub const MAC_ENGINE_ENV: &str = "RAMPART_SRTP_MAC_ENGINE";

/// How a batch computes its HMAC-SHA1 tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacEngine {
    /// 16 packets at a time with AVX-512.
    Avx512,
    /// 8 packets at a time with AVX2.
    Avx2,
    /// One packet at a time (SHA-NI when the CPU has it): the
    /// single-packet path.
    Single,
}

impl MacEngine {
    /// Every engine, widest first.
    pub const ALL: [MacEngine; 3] = [MacEngine::Avx512, MacEngine::Avx2, MacEngine::Single];

    /// The name used by [`MAC_ENGINE_ENV`], the config and the benchmarks.
    pub const fn name(self) -> &'static str {
        match self {
            MacEngine::Avx512 => "avx512",
            MacEngine::Avx2 => "avx2",
            MacEngine::Single => "single",
        }
    }

    /// The engine called `name` (see [`MacEngine::name`]).
    pub fn parse(name: &str) -> Option<MacEngine> {
        MacEngine::ALL.into_iter().find(|e| e.name() == name)
    }

    fn lanes(self) -> Option<Lanes> {
        match self {
            MacEngine::Avx512 => Some(Lanes::X16Avx512),
            MacEngine::Avx2 => Some(Lanes::X8Avx2),
            MacEngine::Single => None,
        }
    }

    /// Whether this CPU runs it (detected at run time).
    pub fn available(self) -> bool {
        self.lanes().is_none_or(Lanes::available)
    }

    /// The fastest engine this CPU runs.
    pub fn detect() -> MacEngine {
        MacEngine::ALL
            .into_iter()
            .find(|e| e.available())
            .unwrap_or(MacEngine::Single)
    }

    /// The engine [`MAC_ENGINE_ENV`] names, or the detected one when it is
    /// unset, `auto`, unknown or not available on this CPU (the last two
    /// with a warning). Read once per process.
    pub fn from_env() -> MacEngine {
        static CHOSEN: OnceLock<MacEngine> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let Ok(name) = std::env::var(MAC_ENGINE_ENV) else {
                return MacEngine::detect();
            };
            match MacEngine::parse(name.trim()) {
                Some(e) if e.available() => e,
                _ if name.trim() == "auto" => MacEngine::detect(),
                other => {
                    let detected = MacEngine::detect();
                    tracing::warn!(
                        "{MAC_ENGINE_ENV}={name:?} is {}; using {}",
                        if other.is_some() {
                            "not available on this CPU"
                        } else {
                            "not auto, avx512, avx2 or single"
                        },
                        detected.name()
                    );
                    detected
                }
            }
        })
    }

    /// Fewest tags worth one vector call: a call costs its full width
    /// whatever the number of lanes in use (measured: a 16-lane AVX-512
    /// call costs about 5.8 single SHA-NI tags, an 8-lane AVX2 call 4.9).
    fn min_fill(lanes: Lanes) -> usize {
        match lanes {
            Lanes::X16Avx512 => 6,
            Lanes::X8Avx2 => 5,
        }
    }
}

/// What a batch does to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchOp {
    /// [`Context::protect_rtp`].
    ProtectRtp,
    /// [`Context::protect_rtcp`].
    ProtectRtcp,
    /// [`Context::unprotect_rtp`].
    UnprotectRtp,
    /// [`Context::unprotect_rtcp`].
    UnprotectRtcp,
    /// [`Context::verify_rtp`].
    VerifyRtp,
    /// [`Context::verify_rtcp`].
    VerifyRtcp,
}

impl BatchOp {
    fn receives(self) -> bool {
        !matches!(self, BatchOp::ProtectRtp | BatchOp::ProtectRtcp)
    }

    fn rtcp(self) -> bool {
        matches!(
            self,
            BatchOp::ProtectRtcp | BatchOp::UnprotectRtcp | BatchOp::VerifyRtcp
        )
    }
}

/// One packet of a batch and, once run, its result.
#[derive(Debug)]
pub struct BatchPacket<'a> {
    /// What to do.
    pub op: BatchOp,
    /// Which context, as an index into the batch's contexts.
    pub context: usize,
    /// The buffer: the packet in `buf[..len]`, and for protect the
    /// tailroom for its trailer after it.
    pub buf: &'a mut [u8],
    /// The packet's length in `buf`.
    pub len: usize,
    /// The single-packet function's result: the new length, or why the
    /// packet was refused. `Err(InvalidConfig)` until the batch has run.
    pub result: Result<usize, Error>,
}

impl<'a> BatchPacket<'a> {
    /// A packet not yet run.
    pub fn new(op: BatchOp, context: usize, buf: &'a mut [u8], len: usize) -> BatchPacket<'a> {
        BatchPacket {
            op,
            context,
            buf,
            len,
            result: Err(Error::InvalidConfig("batch packet not run")),
        }
    }
}

/// Runs batches (see the module docs) with one HMAC-SHA1 engine. It owns
/// the MAC queues a batch uses (one allocation, when it is made), so a
/// worker keeps one and runs every batch through it.
pub struct Batcher {
    engine: MacEngine,
    rx: Box<MacQueue>,
    tx: Box<MacQueue>,
}

impl core::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batcher")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Default for Batcher {
    fn default() -> Batcher {
        Batcher::new()
    }
}

impl Batcher {
    /// A batcher with the engine [`MacEngine::from_env`] picks.
    pub fn new() -> Batcher {
        Batcher::make(MacEngine::from_env())
    }

    fn make(engine: MacEngine) -> Batcher {
        Batcher {
            engine,
            rx: Box::new(MacQueue::new()),
            tx: Box::new(MacQueue::new()),
        }
    }

    /// A batcher with `engine`, refused if this CPU does not run it.
    pub fn with_engine(engine: MacEngine) -> Result<Batcher, Error> {
        if !engine.available() {
            return Err(Error::InvalidConfig(
                "this CPU does not run that HMAC-SHA1 engine",
            ));
        }
        Ok(Batcher::make(engine))
    }

    /// The engine it uses.
    pub fn engine(&self) -> MacEngine {
        self.engine
    }

    /// The engine and the receive and send queues, for a caller that runs
    /// a batch's steps itself (the relay's worker, `dataplane`).
    pub(crate) fn parts(&mut self) -> (MacEngine, &mut MacQueue, &mut MacQueue) {
        (self.engine, &mut self.rx, &mut self.tx)
    }

    /// Runs every packet's operation with `contexts[packet.context]` and
    /// stores each result in its packet: exactly what calling the
    /// single-packet functions in slice order gives (lengths, bytes,
    /// errors, context state and counters). A packet that names no context
    /// gets `Err(InvalidConfig)`; an unprotect `len` beyond its buffer gets
    /// `Err(BufferTooSmall)`. Allocates nothing.
    pub fn run<C: BorrowMut<Context>>(
        &mut self,
        contexts: &mut [C],
        packets: &mut [BatchPacket<'_>],
    ) {
        for chunk in packets.chunks_mut(MAX_BATCH) {
            self.run_chunk(contexts, chunk);
        }
    }

    fn run_chunk<C: BorrowMut<Context>>(
        &mut self,
        contexts: &mut [C],
        chunk: &mut [BatchPacket<'_>],
    ) {
        let rx = &mut *self.rx;
        rx.reset();
        for (i, p) in chunk.iter().enumerate() {
            if !p.op.receives() {
                continue;
            }
            let (Some(ctx), Some(pkt)) = (contexts.get(p.context), p.buf.get(..p.len)) else {
                continue;
            };
            ctx.borrow().speculate(p.op.rtcp(), pkt, rx, i);
        }
        let _ = rx.compute(self.engine, |i| &*chunk[i].buf);
        let tx = &mut *self.tx;
        tx.reset();
        for (i, p) in chunk.iter_mut().enumerate() {
            let Some(ctx) = contexts.get_mut(p.context) else {
                p.result = Err(Error::InvalidConfig("batch packet names no context"));
                continue;
            };
            run_one(ctx.borrow_mut(), p, (rx, tx), i);
        }
        let _ = tx.compute(self.engine, |i| &*chunk[i].buf);
        tx.write_tags(chunk);
    }
}

/// One packet of a chunk (packet `i`), its result written in place: kept
/// out of line so that the result goes straight into the packet (copied
/// back from a temporary, it cost a store-forwarding stall per packet).
#[inline(never)]
fn run_one(
    ctx: &mut Context,
    p: &mut BatchPacket<'_>,
    (rx, tx): (&MacQueue, &mut MacQueue),
    i: usize,
) {
    p.result = match p.op {
        BatchOp::ProtectRtp => ctx.protect_deferred(false, (p.buf, p.len), tx, i),
        BatchOp::ProtectRtcp => ctx.protect_deferred(true, (p.buf, p.len), tx, i),
        op => {
            let available = p.buf.len();
            match p.buf.get_mut(..p.len) {
                Some(pkt) => ctx.open_hinted(op, pkt, rx.hint(i)),
                None => Err(Error::BufferTooSmall {
                    needed: p.len,
                    available,
                }),
            }
        }
    };
}

/// Mutable access to the buffers of a chunk's packets, by index, for
/// writing deferred tags.
pub(crate) trait PacketBufs {
    /// Packet `i`'s whole buffer.
    fn buf_mut(&mut self, i: usize) -> Option<&mut [u8]>;
}

impl PacketBufs for [BatchPacket<'_>] {
    fn buf_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        self.get_mut(i).map(|p| &mut *p.buf)
    }
}

/// A protect call's deferred tag: the chunk's queue and the packet's
/// place in it (`None`: compute the tag at once).
pub(crate) type Defer<'q> = Option<(&'q mut MacQueue, usize)>;

/// One packet's share of a batch that a caller runs itself (the relay's
/// worker): the MAC computed for it beforehand, and where its outbound
/// tag is deferred to. The default is a packet on its own.
#[derive(Default)]
pub(crate) struct InBatch<'q> {
    /// The speculative MAC (receive), if one was computed.
    pub hint: Option<&'q MacJob>,
    /// Where the outbound tag goes (send).
    pub defer: Defer<'q>,
}

/// Writes the tag of the sealed message `buf[..end] || trailer` (its first
/// `tag_len` bytes at `tag_at`), or, with `defer`, queues it for the batch
/// to compute and write after the loop.
#[inline]
pub(crate) fn tag_or_defer(
    defer: Defer<'_>,
    keys: &SessionKeys,
    buf: &mut [u8],
    end: usize,
    trailer: &[u8],
    tag_at: usize,
    tag_len: usize,
) {
    if let (Some((queue, packet)), Some(mac)) = (defer, &keys.mac) {
        if queue.push(mac, &buf[..end], trailer, (tag_at, tag_len), packet) {
            return;
        }
    }
    let tag = keys.hmac(&buf[..end], trailer);
    buf[tag_at..tag_at + tag_len].copy_from_slice(&tag[..tag_len]);
}

/// One packet's HMAC-SHA1: its key's pad states, the message (the first
/// `end` bytes of the packet's buffer, then `trailer`), and, once
/// computed, the MAC. A send job also says where its tag goes.
pub(crate) struct MacJob {
    inner: [u32; 5],
    outer: [u32; 5],
    /// The message's address when it was computed (receive hints only use
    /// a MAC computed over the very bytes they check).
    addr: usize,
    end: usize,
    trailer: [u8; 4],
    trailer_len: u8,
    tag_at: usize,
    tag_len: u8,
    packet: u8,
    computed: bool,
    mac: [u8; 20],
}

impl MacJob {
    const EMPTY: MacJob = MacJob {
        inner: [0; 5],
        outer: [0; 5],
        addr: 0,
        end: 0,
        trailer: [0; 4],
        trailer_len: 0,
        tag_at: 0,
        tag_len: 0,
        packet: 0,
        computed: false,
        mac: [0; 20],
    };

    fn trailer(&self) -> &[u8] {
        &self.trailer[..usize::from(self.trailer_len)]
    }

    /// SHA-1 blocks of the inner message (after the ipad block).
    fn blocks(&self) -> usize {
        (self.end + usize::from(self.trailer_len) + 9).div_ceil(64)
    }

    /// The MAC, if this job computed it for exactly `data || trailer`
    /// under `mac`'s key.
    pub(crate) fn mac_for(&self, mac: &HmacSha1, data: &[u8], trailer: &[u8]) -> Option<[u8; 20]> {
        let (inner, outer) = mac.pads();
        let mut t = [0u8; 4];
        let n = trailer.len().min(4);
        t[..n].copy_from_slice(&trailer[..n]);
        // Word by word, not through slice equality: that calls memcmp,
        // which cost more than the rest of the check (perf, ~10 ns).
        let pads = (0..5).fold(0u32, |d, k| {
            d | (self.inner[k] ^ inner[k]) | (self.outer[k] ^ outer[k])
        });
        let same = self.computed
            && self.addr == data.as_ptr() as usize
            && self.end == data.len()
            && usize::from(self.trailer_len) == trailer.len()
            && u32::from_ne_bytes(self.trailer) == u32::from_ne_bytes(t)
            && pads == 0;
        same.then_some(self.mac)
    }

    fn compute_single(&mut self, data: &[u8]) {
        self.mac = mac_from_pads(&self.inner, &self.outer, data, self.trailer());
        self.computed = true;
    }
}

/// The MAC jobs of one chunk, at most one per packet. Holds key material
/// (pad states) and MACs: wiped when dropped, not between batches (the
/// contexts it serves hold the same keys for at least as long, and wiping
/// 64 jobs per batch would cost more than the tags it saves).
pub(crate) struct MacQueue {
    jobs: [MacJob; MAX_BATCH],
    len: usize,
    /// For each packet of the chunk, its job's index + 1 (0: none).
    of_packet: [u8; MAX_BATCH],
}

impl MacQueue {
    pub(crate) fn new() -> MacQueue {
        MacQueue {
            jobs: [MacJob::EMPTY; MAX_BATCH],
            len: 0,
            of_packet: [0; MAX_BATCH],
        }
    }

    /// Empties the queue for the next chunk.
    pub(crate) fn reset(&mut self) {
        self.of_packet.fill(0);
        self.len = 0;
    }

    /// Queues the MAC of `data || trailer` (trailer at most 4 bytes) under
    /// `mac`'s key for packet `packet` of the chunk; a send job's tag goes
    /// at `tag.0`, `tag.1` bytes of it (receive: `(0, 0)`). Written in
    /// place. False (nothing queued) when full or `packet` is out of range.
    pub(crate) fn push(
        &mut self,
        mac: &HmacSha1,
        data: &[u8],
        trailer: &[u8],
        (tag_at, tag_len): (usize, usize),
        packet: usize,
    ) -> bool {
        if self.len == MAX_BATCH || packet >= MAX_BATCH {
            return false;
        }
        let (inner, outer) = mac.pads();
        let t = trailer.len().min(4);
        let job = &mut self.jobs[self.len];
        job.inner = *inner;
        job.outer = *outer;
        job.addr = data.as_ptr() as usize;
        job.end = data.len();
        // Zero-padded: `mac_for` compares all four bytes.
        job.trailer = [0; 4];
        job.trailer[..t].copy_from_slice(&trailer[..t]);
        job.trailer_len = t as u8;
        job.tag_at = tag_at;
        job.tag_len = tag_len.min(20) as u8;
        job.packet = packet as u8;
        job.computed = false;
        self.len += 1;
        self.of_packet[packet] = self.len as u8;
        true
    }

    /// The job queued for `packet`, if any.
    pub(crate) fn hint(&self, packet: usize) -> Option<&MacJob> {
        let j = usize::from(*self.of_packet.get(packet)?);
        j.checked_sub(1).map(|j| &self.jobs[j])
    }

    /// Computes every queued MAC; `data(packet)` is that packet's buffer.
    /// Jobs are sorted by length so that each vector call holds messages
    /// of about the same length; a leftover too small for a vector call
    /// runs one at a time. Returns how many MACs a vector engine computed
    /// and how many were computed one at a time.
    pub(crate) fn compute<'d>(
        &mut self,
        engine: MacEngine,
        data: impl Fn(usize) -> &'d [u8],
    ) -> (usize, usize) {
        let n = self.len;
        let (mut lanes_done, mut single_done) = (0, 0);
        if n == 0 {
            return (0, 0);
        }
        let mut order = [0u8; MAX_BATCH];
        for (i, o) in order.iter_mut().enumerate().take(n) {
            *o = i as u8;
        }
        // Insertion sort by block count: n <= 64, mostly sorted already.
        for i in 1..n {
            let mut k = i;
            while k > 0
                && self.jobs[usize::from(order[k - 1])].blocks()
                    > self.jobs[usize::from(order[k])].blocks()
            {
                order.swap(k - 1, k);
                k -= 1;
            }
        }
        let message = |job: &MacJob| {
            data(usize::from(job.packet))
                .get(..job.end)
                .filter(|d| job.addr == 0 || job.addr == d.as_ptr() as usize)
        };
        let mut i = 0;
        while i < n {
            let left = n - i;
            let lanes = engine.lanes().filter(|l| left >= MacEngine::min_fill(*l));
            let Some(lanes) = lanes else {
                let job = &mut self.jobs[usize::from(order[i])];
                if let Some(d) = message(job) {
                    job.compute_single(d);
                    single_done += 1;
                }
                i += 1;
                continue;
            };
            let take = left.min(lanes.width());
            let group = &order[i..i + take];
            // A job whose buffer no longer holds its message (it cannot
            // happen through `Batcher::run`) stays out of the call.
            let mut flat = [HmacInput {
                inner: &[0; 5],
                outer: &[0; 5],
                data: &[],
                trailer: &[],
            }; 16];
            let mut lane_of = [usize::MAX; 16];
            let mut used = 0;
            for (k, &j) in group.iter().enumerate() {
                let job = &self.jobs[usize::from(j)];
                if let Some(d) = message(job) {
                    flat[used] = HmacInput {
                        inner: &job.inner,
                        outer: &job.outer,
                        data: d,
                        trailer: job.trailer(),
                    };
                    lane_of[k] = used;
                    used += 1;
                }
            }
            let mut out = [[0u8; 20]; 16];
            let ok = rampart_simd::hmac_sha1(lanes, &flat[..used], &mut out).is_ok();
            for (k, &j) in group.iter().enumerate() {
                let job = &mut self.jobs[usize::from(j)];
                match lane_of[k] {
                    lane if lane < used && ok => {
                        job.mac = out[lane];
                        job.computed = true;
                        lanes_done += 1;
                    }
                    lane if lane < used => {
                        if let Some(d) = data(usize::from(job.packet)).get(..job.end) {
                            job.compute_single(d);
                            single_done += 1;
                        }
                    }
                    _ => {}
                }
            }
            out.zeroize();
            i += take;
        }
        (lanes_done, single_done)
    }

    /// Writes each send job's tag into its packet (`buf(packet)`),
    /// computing it there if [`compute`](Self::compute) did not.
    pub(crate) fn write_tags<B: PacketBufs + ?Sized>(&mut self, bufs: &mut B) {
        for job in &mut self.jobs[..self.len] {
            let Some(b) = bufs.buf_mut(usize::from(job.packet)) else {
                continue;
            };
            if !job.computed {
                if let Some(d) = b.get(..job.end) {
                    job.compute_single(d);
                }
            }
            let (at, n) = (job.tag_at, usize::from(job.tag_len));
            if let (true, Some(dst)) = (job.computed, b.get_mut(at..at + n)) {
                dst.copy_from_slice(&job.mac[..n]);
            }
        }
    }
}

impl MacJob {
    fn zeroize_keys(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
        self.mac.zeroize();
    }
}

impl Drop for MacQueue {
    fn drop(&mut self) {
        for job in &mut self.jobs {
            job.zeroize_keys();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A precomputed MAC is handed out only for the very message it was
    /// computed over: same key, same bytes in place, same length, same
    /// trailer.
    #[test]
    fn a_precomputed_mac_matches_only_its_own_message() {
        let (a, b) = (HmacSha1::new(&[1; 20]), HmacSha1::new(&[2; 20]));
        let data = [7u8; 100];
        let copy = data;
        let mut q = MacQueue::new();
        assert!(q.push(&a, &data[..80], &[0, 0, 0, 1], (0, 0), 3));
        let _ = q.compute(MacEngine::Single, |_| &data[..]);
        let job = q.hint(3).expect("queued for packet 3");
        assert!(q.hint(2).is_none());
        let want = a.mac(&data[..80], &[0, 0, 0, 1]);
        assert_eq!(job.mac_for(&a, &data[..80], &[0, 0, 0, 1]), Some(want));
        assert_eq!(job.mac_for(&b, &data[..80], &[0, 0, 0, 1]), None, "key");
        assert_eq!(job.mac_for(&a, &copy[..80], &[0, 0, 0, 1]), None, "buffer");
        assert_eq!(job.mac_for(&a, &data[..79], &[0, 0, 0, 1]), None, "length");
        assert_eq!(job.mac_for(&a, &data[..80], &[0, 0, 0, 2]), None, "ROC");
        assert_eq!(job.mac_for(&a, &data[..80], &[]), None, "no trailer");
        // A shorter trailer in a reused slot is compared exactly too.
        q.reset();
        assert!(q.push(&a, &data[..80], &[], (0, 0), 0));
        let _ = q.compute(MacEngine::Single, |_| &data[..]);
        let job = q.hint(0).expect("queued");
        assert_eq!(
            job.mac_for(&a, &data[..80], &[]),
            Some(a.mac(&data[..80], &[]))
        );
    }

    /// Vector engines and the single path give the same MACs for a queue
    /// of mixed lengths (sorted into lanes by length).
    #[test]
    fn every_engine_computes_the_same_macs() {
        let key = HmacSha1::new(&[9; 20]);
        let bufs: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 60 + 37 * i]).collect();
        let mut results = Vec::new();
        for engine in MacEngine::ALL.into_iter().filter(|e| e.available()) {
            let mut q = MacQueue::new();
            for (i, b) in bufs.iter().enumerate() {
                assert!(q.push(&key, b, &(i as u32).to_be_bytes(), (0, 0), i));
            }
            let (lanes, single) = q.compute(engine, |i| &bufs[i][..]);
            assert_eq!(lanes + single, bufs.len(), "{engine:?}");
            let macs: Vec<[u8; 20]> = (0..bufs.len())
                .map(|i| {
                    let trailer = (i as u32).to_be_bytes();
                    q.hint(i)
                        .unwrap()
                        .mac_for(&key, &bufs[i], &trailer)
                        .unwrap()
                })
                .collect();
            results.push(macs);
        }
        let want: Vec<[u8; 20]> = bufs
            .iter()
            .enumerate()
            .map(|(i, b)| key.mac(b, &(i as u32).to_be_bytes()))
            .collect();
        for got in results {
            assert_eq!(got, want);
        }
    }
}
