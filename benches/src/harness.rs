//! The measuring loop shared by the criterion benchmarks (`benches/srtp.rs`)
//! and the `srtp-table` binary, so that Rampart and libsrtp are driven by
//! exactly the same code.
//!
//! * **protect**: one buffer holds an RTP packet (12-byte header, no CSRC or
//!   extension) or an RTCP packet; each iteration writes the next sequence
//!   number into the header (RTP) and protects the packet in place. The
//!   payload is whatever the previous iteration left (ciphertext): the cost
//!   of a cipher does not depend on the bytes. The sequence number wraps and
//!   the ROC grows as in a real stream; SRTCP indexes advance by themselves.
//! * **unprotect**: every packet must be fresh (a receiver rejects replays),
//!   so the loop runs in chunks of [`CHUNK`] packets: untimed, the
//!   implementation's own sender protects the next `CHUNK` packets of the
//!   stream into `CHUNK` buffers; timed, the receiver unprotects them in
//!   order. The receiver sees one steady stream with strictly increasing
//!   indexes, no copies are timed, and the packets are in cache, as a packet
//!   just received would be.
//!
//! Every call's result is checked: a benchmark that measured an error path
//! would be worthless, so an error panics.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rampart::srtp::{
    BatchOp, BatchPacket, Batcher, Context, MacEngine, MasterKey, Policy, SsrcPolicy, Suite,
};

use crate::libsrtp::{self, LibSrtp};

/// Packets per untimed-prepare / timed-unprotect round.
pub const CHUNK: usize = 128;
/// Free bytes after every packet (libsrtp wants 148 for RTCP).
const TAILROOM: usize = libsrtp::RTCP_TAILROOM + 12;
const SSRC: u32 = 0x5eed_cafe;

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// Rampart's SRTP core.
    Rampart,
    /// libsrtp 2.3.0 (OpenSSL) through [`crate::libsrtp`].
    Libsrtp,
}

impl Impl {
    /// Lower-case name, as used for benchmark function names.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Rampart => "rampart",
            Impl::Libsrtp => "libsrtp",
        }
    }
}

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// protect_rtp / protect_rtcp.
    Protect,
    /// unprotect_rtp / unprotect_rtcp.
    Unprotect,
}

impl Op {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Protect => "protect",
            Op::Unprotect => "unprotect",
        }
    }
}

/// SRTP or SRTCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// RTP/SRTP; the size is the RTP payload (after a 12-byte header).
    Rtp,
    /// RTCP/SRTCP; the size is the whole RTCP packet (a multiple of 4, >= 8).
    Rtcp,
}

enum Endpoint {
    Rampart(Context),
    Libsrtp(LibSrtp),
}

impl Endpoint {
    fn new(imp: Impl, suite: Suite, inbound: bool) -> Endpoint {
        let key: Vec<u8> = (0..suite.master_key_len() as u8)
            .map(|i| i.wrapping_mul(37) ^ 0x5a)
            .collect();
        let salt: Vec<u8> = (0..suite.master_salt_len() as u8)
            .map(|i| i.wrapping_mul(11) ^ 0xc3)
            .collect();
        match imp {
            Impl::Rampart => {
                let mk = MasterKey::new(suite, &key, &salt).expect("master key");
                let policy = Policy::new(suite, mk).ssrc(SsrcPolicy::Specific(SSRC));
                Endpoint::Rampart(Context::new(policy).expect("rampart context"))
            }
            Impl::Libsrtp => Endpoint::Libsrtp(
                LibSrtp::new(suite.name(), &key, &salt, None, Some(SSRC), inbound, 128)
                    .unwrap_or_else(|e| {
                        panic!("libsrtp {}: {}", suite.name(), libsrtp::err_name(e))
                    }),
            ),
        }
    }

    #[inline(always)]
    fn protect(&mut self, proto: Proto, buf: &mut [u8], len: usize) -> usize {
        let r = match (self, proto) {
            (Endpoint::Rampart(c), Proto::Rtp) => {
                c.protect_rtp(buf, len).map_err(|e| e.to_string())
            }
            (Endpoint::Rampart(c), Proto::Rtcp) => {
                c.protect_rtcp(buf, len).map_err(|e| e.to_string())
            }
            (Endpoint::Libsrtp(l), Proto::Rtp) => l
                .protect_rtp(buf, len)
                .map_err(|e| libsrtp::err_name(e).into()),
            (Endpoint::Libsrtp(l), Proto::Rtcp) => l
                .protect_rtcp(buf, len)
                .map_err(|e| libsrtp::err_name(e).into()),
        };
        match r {
            Ok(n) => n,
            Err(e) => panic!("protect failed in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    fn unprotect(&mut self, proto: Proto, buf: &mut [u8], len: usize) -> usize {
        let r = match (self, proto) {
            (Endpoint::Rampart(c), Proto::Rtp) => {
                c.unprotect_rtp(&mut buf[..len]).map_err(|e| e.to_string())
            }
            (Endpoint::Rampart(c), Proto::Rtcp) => {
                c.unprotect_rtcp(&mut buf[..len]).map_err(|e| e.to_string())
            }
            (Endpoint::Libsrtp(l), Proto::Rtp) => l
                .unprotect_rtp(buf, len)
                .map_err(|e| libsrtp::err_name(e).into()),
            (Endpoint::Libsrtp(l), Proto::Rtcp) => l
                .unprotect_rtcp(buf, len)
                .map_err(|e| libsrtp::err_name(e).into()),
        };
        match r {
            Ok(n) => n,
            Err(e) => panic!("unprotect failed in a benchmark: {e}"),
        }
    }
}

/// An RTP packet: V=2, PT 0, the given sequence number, `payload` bytes.
pub fn rtp_packet(seq: u16, payload: usize) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..payload).map(|i| (i * 7) as u8));
    p
}

/// An RTCP sender report of `len` bytes (a multiple of 4, at least 8) with
/// a consistent length field.
pub fn rtcp_packet(len: usize) -> Vec<u8> {
    assert!(
        len >= 8 && len & 3 == 0,
        "RTCP length must be a multiple of 4, >= 8"
    );
    let mut p = vec![0x80, 200];
    p.extend_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((8..len).map(|i| (i * 13) as u8));
    p
}

/// One measurable case: an implementation, a suite, a protocol and a size.
pub struct Case {
    proto: Proto,
    sender: Endpoint,
    receiver: Endpoint,
    template: Vec<u8>,
    seq: u16,
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
}

impl Case {
    /// `size`: RTP payload bytes, or the whole RTCP packet for SRTCP.
    pub fn new(imp: Impl, suite: Suite, proto: Proto, size: usize) -> Case {
        let template = match proto {
            Proto::Rtp => rtp_packet(0, size),
            Proto::Rtcp => rtcp_packet(size),
        };
        let cap = template.len() + TAILROOM;
        let mut bufs = vec![vec![0u8; cap]; CHUNK];
        for b in &mut bufs {
            b[..template.len()].copy_from_slice(&template);
        }
        Case {
            proto,
            sender: Endpoint::new(imp, suite, false),
            receiver: Endpoint::new(imp, suite, true),
            template,
            // Start just before a wrap, as a stream may.
            seq: 65_000,
            bufs,
            lens: vec![0; CHUNK],
        }
    }

    /// Protected length of one packet (for throughput reporting).
    pub fn plain_len(&self) -> usize {
        self.template.len()
    }

    fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Times `iters` protects; returns the total time.
    pub fn run_protect(&mut self, iters: u64) -> Duration {
        let len = self.template.len();
        let proto = self.proto;
        let mut seq = self.seq;
        let buf = &mut self.bufs[0];
        let sender = &mut self.sender;
        let start = Instant::now();
        for _ in 0..iters {
            seq = seq.wrapping_add(1);
            if proto == Proto::Rtp {
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
            }
            let n = sender.protect(proto, black_box(&mut buf[..]), len);
            black_box(n);
        }
        let t = start.elapsed();
        self.seq = seq;
        t
    }

    /// Times `iters` unprotects of fresh packets (prepared untimed in
    /// chunks); returns the total time of the unprotect calls only.
    pub fn run_unprotect(&mut self, iters: u64) -> Duration {
        let len = self.template.len();
        let proto = self.proto;
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            for i in 0..n {
                let seq = self.next_seq();
                let b = &mut self.bufs[i];
                b[..len].copy_from_slice(&self.template);
                if proto == Proto::Rtp {
                    b[2..4].copy_from_slice(&seq.to_be_bytes());
                }
                self.lens[i] = self.sender.protect(proto, b, len);
            }
            let receiver = &mut self.receiver;
            let bufs = &mut self.bufs;
            let lens = &self.lens;
            let start = Instant::now();
            for i in 0..n {
                let out = receiver.unprotect(proto, black_box(&mut bufs[i][..]), lens[i]);
                black_box(out);
            }
            total += start.elapsed();
            left -= n as u64;
        }
        total
    }

    /// Times `iters` operations of `op`.
    pub fn run(&mut self, op: Op, iters: u64) -> Duration {
        match op {
            Op::Protect => self.run_protect(iters),
            Op::Unprotect => self.run_unprotect(iters),
        }
    }

    /// Checks, untimed, that this case's receiver gets back exactly what the
    /// sender protected (so a benchmark never measures a failing path).
    pub fn self_check(&mut self) {
        let len = self.template.len();
        let seq = self.next_seq();
        let mut b = self.bufs[0].clone();
        b[..len].copy_from_slice(&self.template);
        if self.proto == Proto::Rtp {
            b[2..4].copy_from_slice(&seq.to_be_bytes());
        }
        let plain = b[..len].to_vec();
        let n = self.sender.protect(self.proto, &mut b, len);
        let m = self.receiver.unprotect(self.proto, &mut b, n);
        assert_eq!(&b[..m], &plain[..], "round trip changed the packet");
    }
}

/// Something the table can time: `iters` operations of `op`.
pub trait Measure {
    /// Times `iters` operations of `op`; returns the total time.
    fn run(&mut self, op: Op, iters: u64) -> Duration;
}

impl Measure for Case {
    fn run(&mut self, op: Op, iters: u64) -> Duration {
        Case::run(self, op, iters)
    }
}

/// Rampart's batch path (`srtp::Batcher`) on `batch` streams at once, the
/// shape of a relay's receive batch: each packet of a batch belongs to
/// another stream (its own context, as another call's leg), and one
/// `Batcher::run` handles them all. Times are per packet. Unprotect
/// prepares, untimed, rounds of fresh packets from each stream's sender,
/// as [`Case::run_unprotect`] does.
pub struct BatchCase {
    proto: Proto,
    batch: usize,
    batcher: Batcher,
    senders: Vec<Context>,
    receivers: Vec<Context>,
    template: Vec<u8>,
    seq: u16,
    /// `rounds * batch` buffers.
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    rounds: usize,
}

impl BatchCase {
    /// `batch` streams of `suite`, with `engine`'s HMAC-SHA1.
    pub fn new(
        suite: Suite,
        proto: Proto,
        size: usize,
        batch: usize,
        engine: MacEngine,
    ) -> BatchCase {
        let template = match proto {
            Proto::Rtp => rtp_packet(0, size),
            Proto::Rtcp => rtcp_packet(size),
        };
        let rounds = CHUNK.div_ceil(batch).max(1);
        let cap = template.len() + TAILROOM;
        let bufs = vec![
            template
                .clone()
                .into_iter()
                .chain(std::iter::repeat_n(0, cap - template.len()))
                .collect();
            rounds * batch
        ];
        let context = |stream: usize| {
            let key: Vec<u8> = (0..suite.master_key_len() as u8)
                .map(|i| i.wrapping_mul(37) ^ stream as u8)
                .collect();
            let salt: Vec<u8> = (0..suite.master_salt_len() as u8)
                .map(|i| i.wrapping_mul(11) ^ 0xc3)
                .collect();
            let mk = MasterKey::new(suite, &key, &salt).expect("master key");
            Context::new(Policy::new(suite, mk).ssrc(SsrcPolicy::Specific(SSRC))).expect("context")
        };
        BatchCase {
            proto,
            batch,
            batcher: Batcher::with_engine(engine).expect("engine available on this CPU"),
            senders: (0..batch).map(context).collect(),
            receivers: (0..batch).map(context).collect(),
            template,
            seq: 65_000,
            bufs,
            lens: vec![0; rounds * batch],
            rounds,
        }
    }

    fn op_of(&self, protect: bool) -> BatchOp {
        match (protect, self.proto) {
            (true, Proto::Rtp) => BatchOp::ProtectRtp,
            (true, Proto::Rtcp) => BatchOp::ProtectRtcp,
            (false, Proto::Rtp) => BatchOp::UnprotectRtp,
            (false, Proto::Rtcp) => BatchOp::UnprotectRtcp,
        }
    }

    fn check(batch: &[BatchPacket<'_>]) {
        for p in batch {
            if let Err(e) = &p.result {
                panic!("{:?} failed in a benchmark: {e}", p.op);
            }
        }
    }

    /// Times `iters` packets protected in batches (rounded up to whole
    /// batches; the time is scaled back to `iters`).
    pub fn run_protect(&mut self, iters: u64) -> Duration {
        let len = self.template.len();
        let rounds = iters.div_ceil(self.batch as u64);
        let op = self.op_of(true);
        let rtp = self.proto == Proto::Rtp;
        let mut seq = self.seq;
        let mut batch: Vec<BatchPacket<'_>> = self.bufs[..self.batch]
            .iter_mut()
            .enumerate()
            .map(|(j, b)| BatchPacket::new(op, j, b, len))
            .collect();
        let start = Instant::now();
        for _ in 0..rounds {
            seq = seq.wrapping_add(1);
            for p in batch.iter_mut() {
                if rtp {
                    p.buf[2..4].copy_from_slice(&seq.to_be_bytes());
                }
                p.len = len;
            }
            self.batcher.run(&mut self.senders, black_box(&mut batch));
        }
        let t = start.elapsed();
        Self::check(&batch);
        self.seq = seq;
        t.mul_f64(iters as f64 / (rounds * self.batch as u64) as f64)
    }

    /// Times `iters` packets unprotected in batches of fresh packets.
    pub fn run_unprotect(&mut self, iters: u64) -> Duration {
        let len = self.template.len();
        let rtp = self.proto == Proto::Rtp;
        let (protect, open) = (self.op_of(true), self.op_of(false));
        let mut total = Duration::ZERO;
        let mut left = iters.div_ceil(self.batch as u64);
        let done = left * self.batch as u64;
        while left > 0 {
            let rounds = left.min(self.rounds as u64) as usize;
            let used = rounds * self.batch;
            for (i, b) in self.bufs[..used].iter_mut().enumerate() {
                if i % self.batch == 0 {
                    self.seq = self.seq.wrapping_add(1);
                }
                b[..len].copy_from_slice(&self.template);
                if rtp {
                    b[2..4].copy_from_slice(&self.seq.to_be_bytes());
                }
            }
            for (r, chunk) in self.bufs[..used].chunks_mut(self.batch).enumerate() {
                let mut batch: Vec<BatchPacket<'_>> = chunk
                    .iter_mut()
                    .enumerate()
                    .map(|(j, b)| BatchPacket::new(protect, j, b, len))
                    .collect();
                self.batcher.run(&mut self.senders, &mut batch);
                for (j, p) in batch.iter().enumerate() {
                    self.lens[r * self.batch + j] = *p.result.as_ref().expect("protect");
                }
            }
            let lens = &self.lens;
            let mut batches: Vec<Vec<BatchPacket<'_>>> = self.bufs[..used]
                .chunks_mut(self.batch)
                .enumerate()
                .map(|(r, chunk)| {
                    chunk
                        .iter_mut()
                        .enumerate()
                        .map(|(j, b)| BatchPacket::new(open, j, b, lens[r * self.batch + j]))
                        .collect()
                })
                .collect();
            let start = Instant::now();
            for batch in batches.iter_mut() {
                self.batcher.run(&mut self.receivers, black_box(batch));
            }
            total += start.elapsed();
            for batch in &batches {
                Self::check(batch);
            }
            left -= rounds as u64;
        }
        total.mul_f64(iters as f64 / done as f64)
    }

    /// Checks, untimed, that each stream's receiver gets back what its
    /// sender protected through the batch path.
    pub fn self_check(&mut self) {
        let len = self.template.len();
        self.seq = self.seq.wrapping_add(1);
        let mut bufs: Vec<Vec<u8>> = self.bufs[..self.batch].to_vec();
        for b in bufs.iter_mut() {
            b[..len].copy_from_slice(&self.template);
            if self.proto == Proto::Rtp {
                b[2..4].copy_from_slice(&self.seq.to_be_bytes());
            }
        }
        let plain = bufs[0][..len].to_vec();
        let mut batch: Vec<BatchPacket<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(j, b)| BatchPacket::new(self.op_of(true), j, b, len))
            .collect();
        self.batcher.run(&mut self.senders, &mut batch);
        let lens: Vec<usize> = batch
            .iter()
            .map(|p| *p.result.as_ref().expect("protect"))
            .collect();
        let mut batch: Vec<BatchPacket<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(j, b)| BatchPacket::new(self.op_of(false), j, b, lens[j]))
            .collect();
        self.batcher.run(&mut self.receivers, &mut batch);
        for p in &batch {
            let n = *p.result.as_ref().expect("unprotect");
            assert_eq!(
                &p.buf[..n],
                &plain[..],
                "batch round trip changed the packet"
            );
        }
    }
}

impl Measure for BatchCase {
    fn run(&mut self, op: Op, iters: u64) -> Duration {
        match op {
            Op::Protect => self.run_protect(iters),
            Op::Unprotect => self.run_unprotect(iters),
        }
    }
}
