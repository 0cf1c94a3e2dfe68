//! What the kernel alone charges for the UDP half of relaying a packet on
//! this machine: the floor under any user-space relay's CPU-µs per packet.
//!
//! `cargo run --release -p rampart-benches --bin udp-floor [-- --packets N]`
//!
//! A relay's own CPU time per relayed packet holds one receive (the
//! datagram is already queued: on loopback the sender's `sendmsg` ran the
//! receive path, and is charged for it) and one send, which on loopback
//! also runs the destination socket's receive path. This program does
//! exactly that pair, one thread, no crypto, no epoll, no other work: send
//! a 172-byte datagram (G.711 RTP with an 80-bit SRTP tag) to a socket,
//! receive it there, and reports the thread's CPU time (user + system,
//! `CLOCK_THREAD_CPUTIME_ID`) per pair, for:
//!
//! - one socket, one datagram per call (the cache-hot best case);
//! - one socket, 32 datagrams per `sendmmsg`/`recvmmsg` (best case, batched);
//! - 2,000 sockets taken in turn, one datagram each per call: a relay's
//!   real pattern at 1,000 calls, where each leg's socket sees one packet
//!   per 20 ms and batching across sockets is impossible with these calls.
//!
//! Then the wall-clock round trip of a request/response exchange between
//! two threads over loopback (blocking sockets, one datagram each way: the
//! shape of one ng command and its reply, with no work done on either
//! side), the floor under a control protocol's per-command latency here.
//!
//! Bounded: `--packets` pairs per case (default 200,000), 20,000 round
//! trips; loopback only. Prints markdown tables on stdout.
//!
//! The batched case uses rampart-sys's `MmsgTx`/`MmsgRx`, the calls the
//! relay's mmsg backend makes, so it is the floor under that code path.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use rampart_sys::{thread_cpu_ns, MmsgRx, MmsgTx, RxMeta, TxGroup};

const PAYLOAD: usize = 172;
/// Bytes per receive slot.
const SLOT: usize = 2048;

/// One measured case: ns per send+receive pair.
type Case = Box<dyn Fn() -> io::Result<f64>>;

fn bound() -> io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// One datagram per call over `n` receiving sockets in turn; ns of thread
/// CPU per send+receive pair.
fn single(n: usize, packets: usize) -> io::Result<f64> {
    let tx = bound()?;
    let rx: Vec<UdpSocket> = (0..n).map(|_| bound()).collect::<io::Result<_>>()?;
    let dst: Vec<_> = rx
        .iter()
        .map(|s| s.local_addr())
        .collect::<io::Result<_>>()?;
    let msg = [0x80u8; PAYLOAD];
    let mut buf = [0u8; 2048];
    // Warm up: every socket once.
    for (s, d) in rx.iter().zip(&dst) {
        tx.send_to(&msg, d)?;
        let _ = s.recv_from(&mut buf);
    }
    let mut missed = 0usize;
    let t0 = thread_cpu_ns();
    for i in 0..packets {
        let k = i % n;
        tx.send_to(&msg, dst[k])?;
        if rx[k].recv_from(&mut buf).is_err() {
            missed += 1;
        }
    }
    let ns = thread_cpu_ns() - t0;
    if missed > 0 {
        eprintln!("udp-floor: {missed} datagrams were not queued at once (n = {n})");
    }
    Ok(ns as f64 / packets as f64)
}

/// `batch` datagrams per `sendmmsg` and per `recvmmsg` on one socket pair.
fn batched(batch: usize, packets: usize) -> io::Result<f64> {
    let tx = bound()?;
    let rx = bound()?;
    let dst = rx.local_addr()?;
    let out = vec![0x80u8; batch * SLOT];
    let spans: Vec<(usize, usize)> = (0..batch).map(|k| (k * SLOT, PAYLOAD)).collect();
    let groups: Vec<TxGroup> = (0..batch)
        .map(|k| TxGroup {
            first: k,
            count: 1,
            segment: 0,
            dest: dst,
        })
        .collect();
    let mut mtx = MmsgTx::new(batch);
    let mut mrx = MmsgRx::new(batch);
    let mut inp = vec![0u8; batch * SLOT];
    let mut meta = vec![RxMeta::default(); batch];
    let rounds = packets / batch;
    let mut got = 0usize;
    let t0 = thread_cpu_ns();
    for _ in 0..rounds {
        mtx.send(tx.as_raw_fd(), &out, &spans, &groups)
            .map_err(io::Error::other)?;
        got += mrx
            .recv(rx.as_raw_fd(), &mut inp, SLOT, SLOT, &mut meta)
            .unwrap_or(0);
    }
    let ns = thread_cpu_ns() - t0;
    if got < rounds * batch {
        eprintln!(
            "udp-floor: batched run received {got} of {}",
            rounds * batch
        );
    }
    Ok(ns as f64 / (rounds * batch) as f64)
}

/// Round trips between this thread and an echo thread; (p50, mean) µs.
fn round_trips(count: usize) -> io::Result<(f64, f64)> {
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let server = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(server.local_addr()?)?;
    server.connect(client.local_addr()?)?;
    let timeout = Some(std::time::Duration::from_secs(2));
    client.set_read_timeout(timeout)?;
    server.set_read_timeout(timeout)?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 2048];
        for _ in 0..count {
            let n = server.recv(&mut buf)?;
            server.send(&buf[..n])?;
        }
        Ok(())
    });
    let msg = [0x64u8; 300];
    let mut buf = [0u8; 2048];
    let mut us = Vec::with_capacity(count);
    for _ in 0..count {
        let t = std::time::Instant::now();
        client.send(&msg)?;
        client.recv(&mut buf)?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    us.sort_by(f64::total_cmp);
    Ok((us[us.len() / 2], mean))
}

fn main() -> io::Result<()> {
    let mut packets = 200_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--packets" => {
                packets = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&v: &usize| (1_000..=10_000_000).contains(&v))
                    .ok_or_else(|| io::Error::other("--packets takes 1000..=10000000"))?
            }
            _ => return Err(io::Error::other(format!("unknown argument {a}"))),
        }
    }
    // Median of five runs per case, interleaved.
    let cases: [(&str, Case); 3] = [
        (
            "1 socket, 1 datagram per call",
            Box::new(move || single(1, packets)),
        ),
        (
            "1 socket, 32 datagrams per sendmmsg/recvmmsg",
            Box::new(move || batched(32, packets)),
        ),
        (
            "2,000 sockets in turn, 1 datagram per call",
            Box::new(move || single(2000, packets)),
        ),
    ];
    let mut samples = vec![Vec::new(); cases.len()];
    for _ in 0..5 {
        for (i, (_, f)) in cases.iter().enumerate() {
            samples[i].push(f()?);
        }
    }
    println!("| case ({PAYLOAD}-byte datagrams, loopback) | CPU-ns per send + receive |");
    println!("|---|---|");
    for (i, (name, _)) in cases.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(f64::total_cmp);
        println!("| {name} | {:.0} |", s[s.len() / 2]);
    }
    let (p50, mean) = round_trips(20_000)?;
    println!();
    println!("| request/response between two threads (300-byte datagrams, loopback) | p50 µs | mean µs |");
    println!("|---|---|---|");
    println!("| one round trip | {p50:.1} | {mean:.1} |");
    Ok(())
}
