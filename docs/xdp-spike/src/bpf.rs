//! Raw bpf(2): maps, a hand-assembled XDP program, bpf_link attach. libc only.
use std::collections::HashMap;
use std::io;

pub fn bpf(cmd: i32, attr: &mut [u64; 18]) -> io::Result<i32> {
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 144u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}
fn put32(a: &mut [u64; 18], off: usize, v: u32) {
    unsafe { *((a.as_mut_ptr() as *mut u8).add(off) as *mut u32) = v }
}
fn put64(a: &mut [u64; 18], off: usize, v: u64) {
    unsafe { *((a.as_mut_ptr() as *mut u8).add(off) as *mut u64) = v }
}

pub fn map_create(ty: u32, key: u32, val: u32, max: u32) -> io::Result<i32> {
    let mut a = [0u64; 18];
    put32(&mut a, 0, ty);
    put32(&mut a, 4, key);
    put32(&mut a, 8, val);
    put32(&mut a, 12, max);
    bpf(0, &mut a)
}
pub fn map_update(fd: i32, key: &[u8], val: &[u8]) -> io::Result<()> {
    let mut a = [0u64; 18];
    put32(&mut a, 0, fd as u32);
    put64(&mut a, 8, key.as_ptr() as u64);
    put64(&mut a, 16, val.as_ptr() as u64);
    bpf(2, &mut a).map(|_| ())
}
pub fn map_delete(fd: i32, key: &[u8]) -> io::Result<()> {
    let mut a = [0u64; 18];
    put32(&mut a, 0, fd as u32);
    put64(&mut a, 8, key.as_ptr() as u64);
    bpf(3, &mut a).map(|_| ())
}

pub fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | (((dst | (src << 4)) as u64) << 8)
        | ((off as u16 as u64) << 16)
        | ((imm as u32 as u64) << 32)
}

#[derive(Default)]
pub struct Asm {
    pub insns: Vec<u64>,
    fix: Vec<(usize, &'static str)>,
    labels: HashMap<&'static str, usize>,
}
impl Asm {
    pub fn i(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(ins(code, dst, src, off, imm));
    }
    pub fn j(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: &'static str) {
        self.fix.push((self.insns.len(), to));
        self.i(code, dst, src, 0, imm);
    }
    pub fn label(&mut self, l: &'static str) {
        self.labels.insert(l, self.insns.len());
    }
    pub fn ld_map(&mut self, dst: u8, fd: i32) {
        self.i(0x18, dst, 1, 0, fd);
        self.i(0, 0, 0, 0, 0);
    }
    pub fn finish(mut self) -> Vec<u64> {
        for (at, l) in &self.fix {
            let off = (self.labels[l] as i64 - (*at as i64 + 1)) as i16;
            self.insns[*at] = (self.insns[*at] & !(0xffffu64 << 16)) | ((off as u16 as u64) << 16);
        }
        self.insns
    }
}

// opcodes
const MOVX: u8 = 0xbf;
const MOVK: u8 = 0xb7;
const ADDK: u8 = 0x07;
const ANDK: u8 = 0x57;
const LDXW: u8 = 0x61;
const LDXH: u8 = 0x69;
const LDXB: u8 = 0x71;
const STXH: u8 = 0x6b;
const JGTX: u8 = 0x2d;
const JEQK: u8 = 0x15;
const JNEK: u8 = 0x55;
const JA: u8 = 0x05;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

/// XDP: UDP (IPv4 without fragments / IPv6 with UDP as first next header)
/// whose destination port is a key of `ports` goes to xsks[rx_queue_index];
/// everything else XDP_PASS.
pub fn steer_program(ports_fd: i32, xsks_fd: i32) -> Vec<u64> {
    let mut a = Asm::default();
    a.i(MOVX, 6, 1, 0, 0); // r6 = ctx
    a.i(LDXW, 2, 1, 0, 0); // r2 = data
    a.i(LDXW, 3, 1, 4, 0); // r3 = data_end
    a.i(MOVX, 4, 2, 0, 0);
    a.i(ADDK, 4, 0, 0, 42); // eth+ip4+udp
    a.j(JGTX, 4, 3, 0, "pass");
    a.i(LDXH, 5, 2, 12, 0); // ethertype (BE bytes, LE load)
    a.j(JEQK, 5, 0, 0x0008, "v4");
    a.j(JNEK, 5, 0, 0xdd86u16 as i32, "pass");
    a.i(MOVX, 4, 2, 0, 0);
    a.i(ADDK, 4, 0, 0, 62); // eth+ip6+udp
    a.j(JGTX, 4, 3, 0, "pass");
    a.i(LDXB, 5, 2, 20, 0); // next header
    a.j(JNEK, 5, 0, 17, "pass");
    a.i(LDXH, 5, 2, 56, 0); // udp dst port
    a.j(JA, 0, 0, 0, "lookup");
    a.label("v4");
    a.i(LDXB, 5, 2, 14, 0);
    a.j(JNEK, 5, 0, 0x45, "pass"); // v4, no options
    a.i(LDXH, 4, 2, 20, 0); // flags+frag offset
    a.i(ANDK, 4, 0, 0, 0xff3f); // MF | offset
    a.j(JNEK, 4, 0, 0, "pass");
    a.i(LDXB, 5, 2, 23, 0);
    a.j(JNEK, 5, 0, 17, "pass");
    a.i(LDXH, 5, 2, 36, 0); // udp dst port
    a.label("lookup");
    a.i(STXH, 10, 5, -2, 0); // key on stack
    a.i(MOVX, 2, 10, 0, 0);
    a.i(ADDK, 2, 0, 0, -2);
    a.ld_map(1, ports_fd);
    a.i(CALL, 0, 0, 0, 1); // bpf_map_lookup_elem
    a.j(JEQK, 0, 0, 0, "pass");
    a.i(LDXW, 2, 6, 16, 0); // rx_queue_index
    a.ld_map(1, xsks_fd);
    a.i(MOVK, 3, 0, 0, 2); // flags: XDP_PASS if no socket
    a.i(CALL, 0, 0, 0, 51); // bpf_redirect_map
    a.i(EXIT, 0, 0, 0, 0);
    a.label("pass");
    a.i(MOVK, 0, 0, 0, 2);
    a.i(EXIT, 0, 0, 0, 0);
    a.finish()
}

pub fn prog_load_xdp(insns: &[u64]) -> io::Result<i32> {
    let mut log = vec![0u8; 65536];
    let lic = b"GPL\0";
    let mut a = [0u64; 18];
    put32(&mut a, 0, 6); // BPF_PROG_TYPE_XDP
    put32(&mut a, 4, insns.len() as u32);
    put64(&mut a, 8, insns.as_ptr() as u64);
    put64(&mut a, 16, lic.as_ptr() as u64);
    put32(&mut a, 24, 1);
    put32(&mut a, 28, log.len() as u32);
    put64(&mut a, 32, log.as_mut_ptr() as u64);
    put32(&mut a, 68, 37); // expected_attach_type BPF_XDP
    match bpf(5, &mut a) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            eprintln!("verifier log:\n{}", String::from_utf8_lossy(&log[..end]));
            Err(e)
        }
    }
}

/// BPF_LINK_CREATE, attach_type BPF_XDP; flags XDP_FLAGS_SKB_MODE=2, DRV_MODE=4.
pub fn xdp_link(prog: i32, ifindex: u32, flags: u32) -> io::Result<i32> {
    let mut a = [0u64; 18];
    put32(&mut a, 0, prog as u32);
    put32(&mut a, 4, ifindex);
    put32(&mut a, 8, 37);
    put32(&mut a, 12, flags);
    bpf(28, &mut a)
}

/// BPF_PROG_TEST_RUN: runs the program on a packet, returns the XDP verdict.
pub fn test_run(prog: i32, pkt: &[u8]) -> io::Result<u32> {
    let mut out = vec![0u8; 256];
    let mut a = [0u64; 18];
    put32(&mut a, 0, prog as u32);
    put32(&mut a, 8, pkt.len() as u32); // data_size_in
    put32(&mut a, 12, out.len() as u32); // data_size_out
    put64(&mut a, 16, pkt.as_ptr() as u64); // data_in
    put64(&mut a, 24, out.as_mut_ptr() as u64); // data_out
    put32(&mut a, 32, 1); // repeat
    bpf(10, &mut a)?;
    let v = a[0];
    Ok((v >> 32) as u32) // retval at offset 4
}
