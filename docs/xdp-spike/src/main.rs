mod bpf;
mod xsk;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn cpu_stat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse().unwrap(), f[12].parse().unwrap()) // utime, stime in ticks
}
fn rusage_us() -> u64 {
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    (r.ru_utime.tv_sec * 1_000_000
        + r.ru_utime.tv_usec
        + r.ru_stime.tv_sec * 1_000_000
        + r.ru_stime.tv_usec) as u64
}
/// machine-wide jiffies: (busy incl. softirq, softirq)
fn sys_stat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    let l: Vec<u64> = s
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    (l[0] + l[1] + l[2] + l[5] + l[6], l[6])
}
struct Meter {
    t: Instant,
    st: (u64, u64),
    ru: u64,
    sys: (u64, u64),
}
impl Meter {
    fn start() -> Meter {
        Meter {
            t: Instant::now(),
            st: cpu_stat(),
            ru: rusage_us(),
            sys: sys_stat(),
        }
    }
    fn report(&self, what: &str, pkts: u64) {
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let st = cpu_stat();
        let (u, s) = (
            (st.0 - self.st.0) as f64 / tck,
            (st.1 - self.st.1) as f64 / tck,
        );
        let ru = (rusage_us() - self.ru) as f64 / 1e6;
        let sy = sys_stat();
        let (busy, si) = (
            (sy.0 - self.sys.0) as f64 / tck,
            (sy.1 - self.sys.1) as f64 / tck,
        );
        let p = pkts.max(1) as f64;
        println!("{what}: pkts={pkts} wall={:.3}s | /proc/self/stat utime={u:.2}s stime={s:.2}s => {:.2} us/pkt | getrusage {:.3}s => {:.2} us/pkt | machine busy {busy:.2}s (softirq {si:.2}s) => {:.2} us/pkt",
            self.t.elapsed().as_secs_f64(), (u + s) * 1e6 / p, ru, ru * 1e6 / p, busy * 1e6 / p);
    }
}

fn csum_add(mut sum: u32, b: &[u8]) -> u32 {
    let mut i = 0;
    while i + 1 < b.len() {
        sum += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    if i < b.len() {
        sum += (b[i] as u32) << 8;
    }
    sum
}
fn csum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Echo in place: swap MACs, IPs, ports; UDP src port := reply_port. Full
/// IPv4 header and UDP checksums recomputed. Returns false if not UDP.
fn rewrite(p: &mut [u8], reply_port: u16) -> bool {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&p[0..6]);
    p.copy_within(6..12, 0);
    p[6..12].copy_from_slice(&mac);
    let et = u16::from_be_bytes([p[12], p[13]]);
    let (l4, pseudo) = match et {
        0x0800 => {
            let ihl = (p[14] & 15) as usize * 4;
            let mut a = [0u8; 4];
            a.copy_from_slice(&p[26..30]);
            p.copy_within(30..34, 26);
            p[30..34].copy_from_slice(&a);
            p[22] = 64; // ttl
            p[24] = 0;
            p[25] = 0;
            let c = csum_fold(csum_add(0, &p[14..14 + ihl]));
            p[24..26].copy_from_slice(&c.to_be_bytes());
            let ulen = u16::from_be_bytes([p[14 + ihl + 4], p[14 + ihl + 5]]) as usize;
            let s = csum_add(csum_add(17 + ulen as u32, &p[26..30]), &p[30..34]);
            (14 + ihl, s)
        }
        0x86dd => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&p[22..38]);
            p.copy_within(38..54, 22);
            p[38..54].copy_from_slice(&a);
            p[21] = 64;
            let ulen = u16::from_be_bytes([p[58], p[59]]) as usize;
            (54, csum_add(17 + ulen as u32, &p[22..54]))
        }
        _ => return false,
    };
    let sp = [p[l4], p[l4 + 1]];
    p[l4 + 2..l4 + 4].copy_from_slice(&sp);
    p[l4..l4 + 2].copy_from_slice(&reply_port.to_be_bytes());
    p[l4 + 6] = 0;
    p[l4 + 7] = 0;
    let ulen = u16::from_be_bytes([p[l4 + 4], p[l4 + 5]]) as usize;
    let mut c = csum_fold(csum_add(pseudo, &p[l4..l4 + ulen]));
    if c == 0 {
        c = 0xffff;
    }
    p[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
    true
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

fn xsk_echo(args: &[String]) {
    let ifname = &args[0];
    let port: u16 = args[1].parse().unwrap();
    let mode = args[2].as_str(); // drv | skb
    let bindmode = args[3].as_str(); // zc | copy | any
    let max: u64 = args[4].parse().unwrap();
    let secs: u64 = args[5].parse().unwrap();
    let ifi = ifindex(ifname);
    let queue: u32 = std::env::var("XSK_QUEUE")
        .ok()
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    println!("queue {queue}");
    println!("ifindex {ifname} = {ifi}");
    let ports = bpf::map_create(1, 2, 4, 65536).expect("hash map");
    let xsks = bpf::map_create(17, 4, 4, 64).expect("xskmap");
    let prog = bpf::steer_program(ports, xsks);
    println!("program: {} instructions", prog.len());
    let pfd = bpf::prog_load_xdp(&prog).expect("prog load");
    println!("prog loaded fd {pfd}");
    // self test with BPF_PROG_TEST_RUN before attaching
    let mut pkt = vec![0u8; 60];
    pkt[12] = 8;
    pkt[14] = 0x45;
    pkt[23] = 17;
    pkt[36..38].copy_from_slice(&port.to_be_bytes());
    println!(
        "test_run v4 udp:{port} before port added: verdict {:?} (2=PASS)",
        bpf::test_run(pfd, &pkt)
    );
    bpf::map_update(ports, &port.to_be_bytes(), &1u32.to_ne_bytes()).unwrap();
    println!("test_run v4 udp:{port} after port added (no xsk yet): verdict {:?} (2=PASS via fallback flag, 4=REDIRECT)", bpf::test_run(pfd, &pkt));
    let flags = if mode == "drv" { 4 } else { 2 };
    let link = match bpf::xdp_link(pfd, ifi, flags) {
        Ok(l) => {
            println!("attach mode={mode} flags={flags}: OK link fd {l}");
            l
        }
        Err(e) => {
            println!("attach mode={mode} flags={flags}: {e}");
            return;
        }
    };
    let tries: Vec<(&str, u16)> = match bindmode {
        "zc" => vec![("XDP_ZEROCOPY", 4)],
        "copy" => vec![("XDP_COPY", 2)],
        _ => vec![
            ("XDP_ZEROCOPY", 4),
            ("XDP_COPY", 2),
            ("flags=0 (kernel picks)", 0),
        ],
    };
    let mut sock = None;
    for (n, f) in tries {
        let mut r = xsk::Xsk::new(ifi, queue, f);
        let mut busy = 0;
        while busy < 40 && matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBUSY)) {
            busy += 1;
            std::thread::sleep(Duration::from_millis(50));
            r = xsk::Xsk::new(ifi, queue, f);
        }
        if busy > 0 {
            println!(
                "bind {n}: EBUSY {busy} times (queue still held by a closed socket), then {:?}",
                r.as_ref().map(|_| "ok").map_err(|e| e.to_string())
            );
        }
        match r {
            Ok(s) => {
                println!("bind {n}: OK");
                sock = Some(s);
                break;
            }
            Err(e) => println!("bind {n}: {e}"),
        }
    }
    let Some(x) = sock else { return };
    bpf::map_update(xsks, &queue.to_ne_bytes(), &x.fd.to_ne_bytes()).expect("xskmap update");
    println!("xskmap[{queue}] = xsk fd; ports[{port}] set; waiting (max {max} pkts, {secs}s)");
    // Verdicts through BPF_PROG_TEST_RUN with the XSK in place.
    let mut v6 = vec![0u8; 80];
    v6[12] = 0x86;
    v6[13] = 0xdd;
    v6[20] = 17;
    v6[56..58].copy_from_slice(&port.to_be_bytes());
    let mut frag = pkt.clone();
    frag[20] = 0x20; // MF
    let mut other = pkt.clone();
    other[36..38].copy_from_slice(&port.wrapping_add(1).to_be_bytes());
    let mut arp = pkt.clone();
    arp[12] = 8;
    arp[13] = 6;
    let mut v6ext = v6.clone();
    v6ext[20] = 0; // hop-by-hop options first
    for (name, p) in [
        ("v4 udp known port", &pkt),
        ("v6 udp known port", &v6),
        ("v4 MF fragment", &frag),
        ("v4 udp other port", &other),
        ("arp", &arp),
        ("v6 ext header", &v6ext),
        ("short (20 bytes)", &pkt[..20].to_vec()),
    ] {
        println!("test_run {name}: verdict {:?}", bpf::test_run(pfd, p));
    }
    println!("READY");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut m: Option<Meter> = None;
    let (mut got, mut sent, mut nonudp) = (0u64, 0u64, 0u64);
    let (mut kicks_total, mut batches) = (0u64, 0u64);
    while got < max && Instant::now() < deadline {
        x.recycle();
        let rp = x.rx.prod().load(Ordering::Acquire);
        let rc = x.rx.cons().load(Ordering::Relaxed);
        let n = rp.wrapping_sub(rc);
        if n == 0 {
            let mut pfd = libc::pollfd {
                fd: x.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            unsafe { libc::poll(&mut pfd, 1, 100) };
            continue;
        }
        if m.is_none() {
            m = Some(Meter::start());
        }
        let tp = x.tx.prod().load(Ordering::Relaxed);
        let mut k = 0u32;
        for i in 0..n {
            let d = unsafe { *x.rx.xdesc_at(rc.wrapping_add(i)) };
            let f = x.frame(d.addr, d.len as usize);
            if got == 0 {
                println!(
                    "first frame: addr {} len {} head {:02x?}",
                    d.addr,
                    d.len,
                    &f[..42.min(f.len())]
                );
            }
            got += 1;
            if rewrite(f, port) {
                unsafe {
                    *x.tx.xdesc_at(tp.wrapping_add(k)) = xsk::XdpDesc {
                        addr: d.addr,
                        len: d.len,
                        options: 0,
                    }
                };
                k += 1;
            } else {
                nonudp += 1;
                let fp = x.fill.prod().load(Ordering::Relaxed);
                unsafe { *x.fill.addr_at(fp) = d.addr };
                x.fill.prod().store(fp.wrapping_add(1), Ordering::Release);
            }
        }
        x.rx.cons().store(rp, Ordering::Release);
        x.tx.prod().store(tp.wrapping_add(k), Ordering::Release);
        sent += k as u64;
        // Copy mode: one sendto() transmits at most 32 frames
        // (the kernel's generic-xmit budget), so kick until the kernel has
        // consumed everything we queued.
        let want = tp.wrapping_add(k);
        let mut kicks = 0u32;
        loop {
            x.kick();
            kicks += 1;
            if x.tx.cons().load(Ordering::Acquire) == want || kicks > 64 {
                break;
            }
        }
        kicks_total += kicks as u64;
        batches += 1;
    }
    println!("xsk-echo: {batches} rx batches, {kicks_total} tx kicks (sendto calls)");
    // drain completions
    for _ in 0..100 {
        x.recycle();
        x.kick();
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(m) = m {
        m.report("xsk-echo", got);
    }
    println!("xsk-echo: rx {got}, tx {sent}, non-udp {nonudp}");
    let _ = bpf::map_delete(ports, &port.to_be_bytes());
    unsafe { libc::close(link) };
}

fn udp_echo(args: &[String]) {
    let s = UdpSocket::bind(&args[0]).unwrap();
    let max: u64 = args[1].parse().unwrap();
    let secs: u64 = args[2].parse().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    println!("READY");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 2048];
    let mut m: Option<Meter> = None;
    let mut got = 0u64;
    while got < max && Instant::now() < deadline {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            if m.is_none() {
                m = Some(Meter::start());
            }
            got += 1;
            let _ = s.send_to(&buf[..n], from);
        }
    }
    if let Some(m) = m {
        m.report("udp-echo", got);
    }
}

/// Sends `count` datagrams in windows of `win`, waits for the echoes.
fn client(args: &[String]) {
    let dst: SocketAddr = args[0].parse().unwrap();
    let count: u64 = args[1].parse().unwrap();
    let win: u64 = args[2].parse().unwrap();
    let secs: u64 = args[3].parse().unwrap();
    let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let s = UdpSocket::bind(bind).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let t = Instant::now();
    let (mut sent, mut got, mut bad) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    let mut first = true;
    let m = Meter::start();
    while sent < count && Instant::now() < deadline {
        let w = win.min(count - sent);
        for i in 0..w {
            let mut p = [0u8; 172]; // G.711 20 ms RTP-sized
            p[..8].copy_from_slice(&(sent + i).to_be_bytes());
            s.send_to(&p, dst).unwrap();
        }
        sent += w;
        let mut need = w;
        while need > 0 {
            match s.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if first {
                        println!("client: first reply {n} bytes from {from}");
                        first = false;
                    }
                    if n != 172 || buf[8..n].iter().any(|&b| b != 0) {
                        bad += 1
                    }
                    got += 1;
                    need -= 1;
                }
                Err(_) => break, // lost ones: move on
            }
        }
    }
    m.report("client", got);
    println!(
        "client: sent {sent} got {got} bad {bad} in {:.3}s",
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a[1].as_str() {
        "xsk-echo" => xsk_echo(&a[2..]),
        "udp-echo" => udp_echo(&a[2..]),
        "client" => client(&a[2..]),
        "channels" => channels(&a[2..]),
        "asm" => {
            for (i, w) in bpf::steer_program(3, 4).iter().enumerate() {
                println!("{i:2}: {w:016x}");
            }
        }
        _ => eprintln!("?"),
    }
}

/// ETHTOOL_GCHANNELS / ETHTOOL_SCHANNELS through SIOCETHTOOL (what `ethtool -l/-L` do).
fn channels(args: &[String]) {
    let mut ch = [0u32; 9];
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    let mut ifr = [0u8; 40];
    ifr[..args[0].len()].copy_from_slice(args[0].as_bytes());
    let doit = |ch: &mut [u32; 9], ifr: &mut [u8; 40]| {
        unsafe { *(ifr.as_mut_ptr().add(16) as *mut u64) = ch.as_mut_ptr() as u64 };
        let r = unsafe { libc::ioctl(fd, 0x8946, ifr.as_mut_ptr()) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    ch[0] = 0x3c;
    let r = doit(&mut ch, &mut ifr);
    println!(
        "GCHANNELS {:?}: max rx/tx/other/combined {:?} now rx/tx/other/combined {:?}",
        r,
        &ch[1..5],
        &ch[5..9]
    );
    if args.len() > 2 {
        ch[0] = 0x3d;
        ch[5] = args[1].parse().unwrap();
        ch[6] = args[2].parse().unwrap();
        let (rx, tx) = (ch[5], ch[6]);
        let r = doit(&mut ch, &mut ifr);
        println!("SCHANNELS rx {rx} tx {tx}: {r:?}");
        ch[0] = 0x3c;
        let r = doit(&mut ch, &mut ifr);
        println!(
            "GCHANNELS {:?}: now rx/tx/other/combined {:?}",
            r,
            &ch[5..9]
        );
    }
}
