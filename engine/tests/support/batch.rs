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

/// Runs `ops` (operation, buffer, length) on `ctx`, in order, inside one
/// batch with `engine`: 8 filler packets (protected on another context)
/// before them and 8 after, so the multi-buffer engines run on full
/// lanes. Returns each op's buffer and result.
pub fn among_fillers(
    engine: MacEngine,
    ctx: &mut Context,
    ops: Vec<(BatchOp, Vec<u8>, usize)>,
) -> Vec<(Vec<u8>, Result<usize, Error>)> {
    let mut filler = filler_context();
    let mut fill: Vec<Vec<u8>> = (0..16u16)
        .map(|i| {
            let mut p = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 1];
            p.resize(172 + 10, 0x33);
            p
        })
        .collect();
    let n = ops.len();
    let (mut bufs, rest): (Vec<Vec<u8>>, Vec<(BatchOp, usize)>) =
        ops.into_iter().map(|(op, b, len)| (b, (op, len))).unzip();
    let mut contexts: [&mut Context; 2] = [ctx, &mut filler];
    let (head, tail) = fill.split_at_mut(8);
    let mut batch: Vec<BatchPacket<'_>> = head
        .iter_mut()
        .map(|b| BatchPacket::new(BatchOp::ProtectRtp, 1, b, 172))
        .collect();
    for (b, &(op, len)) in bufs.iter_mut().zip(&rest) {
        batch.push(BatchPacket::new(op, 0, b, len));
    }
    batch.extend(
        tail.iter_mut()
            .map(|b| BatchPacket::new(BatchOp::ProtectRtp, 1, b, 172)),
    );
    Batcher::with_engine(engine)
        .expect("engine available")
        .run(&mut contexts, &mut batch);
    let results: Vec<Result<usize, Error>> = batch.drain(8..8 + n).map(|p| p.result).collect();
    for (i, p) in batch.iter().enumerate() {
        assert_eq!(p.result, Ok(182), "filler packet {i}");
    }
    drop(batch);
    bufs.into_iter().zip(results).collect()
}

/// Runs `op` on `ctx` for `buf[..len]` in a batch of fillers (see
/// [`among_fillers`]), leaving the result in `buf`.
pub fn in_batch(
    engine: MacEngine,
    ctx: &mut Context,
    op: BatchOp,
    buf: &mut [u8],
    len: usize,
) -> Result<usize, Error> {
    let mut out = among_fillers(engine, ctx, vec![(op, buf.to_vec(), len)]);
    let (b, r) = out.remove(0);
    buf.copy_from_slice(&b);
    r
}
