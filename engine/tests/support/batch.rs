//! Running known answers through the batch path (`srtp::batch`): one packet
//! inside a batch of filler packets, so that the multi-buffer engines run
//! on it rather than the single-packet fallback.

use rampart::srtp::{BatchOp, BatchPacket, Batcher, Context, MacEngine, MasterKey, Policy, Suite};
use rampart::Error;

/// Every HMAC-SHA1 engine, checked to run on this CPU (these machines
/// have AVX2 and AVX-512; `RAMPART_SIMD_MAY_LACK=1` lets a CPU without them
/// test the ones it has).
pub fn engines() -> Vec<MacEngine> {
    let all: Vec<MacEngine> = MacEngine::ALL
        .into_iter()
        .filter(|e| e.available())
        .collect();
    assert!(
        std::env::var_os("RAMPART_SIMD_MAY_LACK").is_some() || all.len() == MacEngine::ALL.len(),
        "this CPU lacks a multi-buffer engine: has {all:?}"
    );
    all
}

/// A sender of the default suite, for filler packets.
fn filler_context() -> Context {
    let key = MasterKey::new(Suite::AesCm128HmacSha1_80, &[7; 16], &[9; 14]).unwrap();
    Context::new(Policy::new(Suite::AesCm128HmacSha1_80, key)).unwrap()
}

/// Runs `op` on `ctx` for `buf[..len]` as packet 7 of a 16-packet batch
/// whose other packets protect RTP on a filler context, with `engine`.
pub fn in_batch(
    engine: MacEngine,
    ctx: &mut Context,
    op: BatchOp,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, Error> {
    let mut filler = filler_context();
    let mut bufs: Vec<Vec<u8>> = (0..15u16)
        .map(|i| {
            let mut p = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 1];
            p.resize(172 + 10, 0x33);
            p
        })
        .collect();
    let mut contexts: [&mut Context; 2] = [ctx, &mut filler];
    let mut batch: Vec<BatchPacket<'_>> = bufs
        .iter_mut()
        .map(|b| BatchPacket::new(BatchOp::ProtectRtp, 1, b, 172))
        .collect();
    batch.insert(7, BatchPacket::new(op, 0, buf, len));
    Batcher::with_engine(engine)
        .expect("engine available")
        .run(&mut contexts, &mut batch);
    for (i, p) in batch.iter().enumerate() {
        if i != 7 {
            assert_eq!(p.result, Ok(182), "filler packet {i}");
        }
    }
    batch.remove(7).result
}
