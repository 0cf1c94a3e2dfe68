//! The XDP steering program and the `bpf(2)` calls that load, feed and
//! attach it.
//!
//! Why the program is generated here, in Rust, instead of compiled from C
//! or from a `bpfel` Rust crate: a fresh machine that builds Rampart has
//! only the Rust toolchain. clang with the BPF target, `bpf-linker`, a
//! nightly toolchain with `rust-src`, or libelf headers cannot be assumed,
//! and a checked-in prebuilt object could not be proven to match its
//! source without them (`docs/xdp-spike.md` §1). The program is about forty
//! instructions, so a tiny assembler ([`Asm`]) and raw `bpf(2)` calls
//! through `libc` are smaller than any loader crate, need no BTF, and the
//! exact instruction words are pinned by a golden unit test.
//!
//! What the program does ([`steer_program`]): Ethernet without VLAN tag →
//! IPv4 (IHL = 5, not a fragment, protocol UDP) or IPv6 (next header UDP)
//! → the UDP destination port is looked up in the `ports` hash map. A hit
//! whose value (the owning rx queue) equals `ctx->rx_queue_index` is
//! redirected into the XSKMAP slot of that queue, with `XDP_PASS` as the
//! fallback when no socket sits there. Everything else, including a hit
//! owned by another queue, is `XDP_PASS`: the leg's kernel socket gets it,
//! correct but slower.
//!
//! Every file descriptor is an [`OwnedFd`]: dropping a [`BpfMap`] or an
//! [`XdpProgram`] releases it, and dropping an [`XdpLink`] detaches the
//! program, so a crashed relay never leaves a program behind that
//! swallows media.
//!
//! The instruction encoding is little-endian (`struct bpf_insn` with
//! `dst_reg` in the low nibble); [`XdpProgram::load`] refuses to run on
//! a big-endian host instead of loading a wrong program.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `enum bpf_cmd` values used here (linux/bpf.h).
mod cmd {
    /// `BPF_MAP_CREATE`.
    pub(super) const MAP_CREATE: u32 = 0;
    /// `BPF_MAP_UPDATE_ELEM`.
    pub(super) const MAP_UPDATE_ELEM: u32 = 2;
    /// `BPF_MAP_DELETE_ELEM`.
    pub(super) const MAP_DELETE_ELEM: u32 = 3;
    /// `BPF_PROG_LOAD`.
    pub(super) const PROG_LOAD: u32 = 5;
    /// `BPF_PROG_TEST_RUN` (the verdict tests).
    #[cfg(test)]
    pub(super) const PROG_TEST_RUN: u32 = 10;
    /// `BPF_LINK_CREATE` (kernel ≥ 5.9 for XDP).
    pub(super) const LINK_CREATE: u32 = 28;
}

/// `BPF_MAP_TYPE_HASH`.
const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_XSKMAP`.
const MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_PROG_TYPE_XDP`.
const PROG_TYPE_XDP: u32 = 6;
/// `BPF_XDP`, the attach type of an XDP program on a device.
const ATTACH_TYPE_XDP: u32 = 37;
/// `BPF_ANY`: create or replace a map element.
const BPF_ANY: u64 = 0;

/// The XDP verdict `XDP_PASS`: hand the frame to the kernel stack.
pub const XDP_PASS: u32 = 2;
/// The XDP verdict `XDP_REDIRECT`: the frame went to the redirect target.
#[cfg(test)]
pub const XDP_REDIRECT: u32 = 4;

/// `XDP_FLAGS_SKB_MODE`: generic XDP, after the skb is built.
const XDP_FLAGS_SKB_MODE: u32 = 2;
/// `XDP_FLAGS_DRV_MODE`: native XDP, in the driver.
const XDP_FLAGS_DRV_MODE: u32 = 4;

/// The license string the program declares. The steering program calls
/// no GPL-only helper, so it carries the project's own license.
const LICENSE: &[u8] = b"Apache-2.0\0";
/// Bytes of verifier log kept when a load fails (the tail: the verifier
/// prints the reason last).
const LOG_TAIL: usize = 4096;

/// Attribute block of `BPF_MAP_CREATE` (the leading fields of
/// `union bpf_attr`; the kernel zero-fills the rest).
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// Attribute block of `BPF_MAP_UPDATE_ELEM` / `BPF_MAP_DELETE_ELEM`.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// Attribute block of `BPF_PROG_LOAD`, up to `expected_attach_type`.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Attribute block of `BPF_PROG_TEST_RUN`, up to `ctx_out`: it holds every
/// field the kernel writes back (`retval`, `data_size_out`, `duration`,
/// `ctx_size_out`).
#[repr(C)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
}

/// Attribute block of `BPF_LINK_CREATE` for a device target.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

// The layouts above must match linux/bpf.h exactly and have no padding
// (the kernel reads every byte and insists that unknown ones be zero):
// each size is the sum of the struct's fields, and the fields past an
// 8-byte boundary sit where the header puts them.
const _: () = assert!(size_of::<MapCreateAttr>() == 7 * 4 + 16);
const _: () = assert!(offset_of!(MapCreateAttr, map_name) == 28);
const _: () = assert!(size_of::<MapElemAttr>() == 2 * 4 + 3 * 8);
const _: () = assert!(offset_of!(MapElemAttr, key) == 8);
const _: () = assert!(size_of::<ProgLoadAttr>() == 8 * 4 + 3 * 8 + 16);
const _: () = assert!(offset_of!(ProgLoadAttr, log_buf) == 32);
const _: () = assert!(offset_of!(ProgLoadAttr, prog_name) == 48);
const _: () = assert!(offset_of!(ProgLoadAttr, expected_attach_type) == 68);
const _: () = assert!(size_of::<TestRunAttr>() == 8 * 4 + 4 * 8);
const _: () = assert!(offset_of!(TestRunAttr, data_in) == 16);
const _: () = assert!(offset_of!(TestRunAttr, repeat) == 32);
const _: () = assert!(offset_of!(TestRunAttr, ctx_in) == 48);
const _: () = assert!(size_of::<LinkCreateAttr>() == 4 * 4);

/// A `bpf(2)` attribute block.
///
/// # Safety
///
/// Implementors are `#[repr(C)]` structs without padding that match the
/// leading fields of `union bpf_attr` for their command, and contain
/// every field the kernel writes back for that command.
unsafe trait BpfAttr {}
// SAFETY: each of these is a padding-free #[repr(C)] prefix of
// `union bpf_attr` for its command (sizes asserted above).
unsafe impl BpfAttr for MapCreateAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for MapElemAttr {}
// SAFETY: as above; the kernel writes back only `log_true_size`, past
// this struct, and only when the given size covers it.
unsafe impl BpfAttr for ProgLoadAttr {}
// SAFETY: as above; every written-back field is inside the struct.
unsafe impl BpfAttr for TestRunAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for LinkCreateAttr {}

/// `bpf(cmd, attr, sizeof attr)`: the non-negative result (an fd for the
/// commands that create one, else 0) or the OS error.
fn sys_bpf<A: BpfAttr>(cmd: u32, attr: &mut A) -> io::Result<i32> {
    // SAFETY: `attr` is a live, exclusively borrowed, fully initialised
    // attribute block of exactly `size_of::<A>()` bytes (BpfAttr's
    // contract), so the kernel reads and writes only inside it. Any
    // pointers it carries were set by our callers to buffers that outlive
    // this call and are at least as long as the kernel will access: the
    // lengths passed alongside, or the map's key/value size (checked in
    // `BpfMap::check_len`).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            (attr as *mut A).cast::<libc::c_void>(),
            size_of::<A>() as libc::c_long,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

/// `bpf(2)` for a command that creates an object: its new fd.
fn sys_bpf_fd<A: BpfAttr>(cmd: u32, attr: &mut A) -> io::Result<OwnedFd> {
    let fd = sys_bpf(cmd, attr)?;
    // SAFETY: for these commands a non-negative result is a file
    // descriptor the kernel just created for us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A NUL-terminated object name of at most 15 bytes, as the kernel wants it.
fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

/// A BPF map: the port map or the XSKMAP the steering program reads.
#[derive(Debug)]
pub struct BpfMap {
    fd: OwnedFd,
    /// Bytes of a key: the kernel reads this many behind a key pointer.
    key_size: usize,
    /// Bytes of a value: the kernel reads this many behind a value pointer.
    value_size: usize,
}

impl BpfMap {
    /// Creates a map named `name` (the OS error as it came: its errno
    /// says why).
    fn create(ty: u32, key: u32, value: u32, max: u32, name: &str) -> io::Result<BpfMap> {
        let mut attr = MapCreateAttr {
            map_type: ty,
            key_size: key,
            value_size: value,
            max_entries: max,
            map_flags: 0,
            inner_map_fd: 0,
            numa_node: 0,
            map_name: obj_name(name),
        };
        Ok(BpfMap {
            fd: sys_bpf_fd(cmd::MAP_CREATE, &mut attr)?,
            key_size: key as usize,
            value_size: value as usize,
        })
    }

    /// Hash map: UDP destination port (u16, network byte order as the key
    /// bytes) → owner rx queue (u32, native byte order).
    pub fn port_map(max_entries: u32) -> io::Result<BpfMap> {
        BpfMap::create(MAP_TYPE_HASH, 2, 4, max_entries, "rampart_ports")
    }

    /// `BPF_MAP_TYPE_XSKMAP` with `queues` entries, indexed by rx queue.
    pub fn xsk_map(queues: u32) -> io::Result<BpfMap> {
        BpfMap::create(MAP_TYPE_XSKMAP, 4, 4, queues, "rampart_xsks")
    }

    /// The kernel reads exactly the map's key (value) size behind a key
    /// (value) pointer, so a slice of another length must not reach it.
    fn check_len(&self, key: &[u8], value: Option<&[u8]>) -> io::Result<()> {
        if key.len() != self.key_size || value.is_some_and(|v| v.len() != self.value_size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "key or value size does not match this map",
            ));
        }
        Ok(())
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`.
    fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.check_len(key, Some(value))?;
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            pad: 0,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags: BPF_ANY,
        };
        sys_bpf(cmd::MAP_UPDATE_ELEM, &mut attr).map(drop)
    }

    /// `BPF_MAP_DELETE_ELEM`; a key that is not there is fine.
    fn delete(&self, key: &[u8]) -> io::Result<()> {
        self.check_len(key, None)?;
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            pad: 0,
            key: key.as_ptr() as u64,
            value: 0,
            flags: 0,
        };
        match sys_bpf(cmd::MAP_DELETE_ELEM, &mut attr) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Steers UDP destination `port` to the XSK of rx queue `owner_queue`
    /// (port map only: elsewhere `InvalidInput`).
    pub fn set_port(&self, port: u16, owner_queue: u32) -> io::Result<()> {
        self.update(&port.to_be_bytes(), &owner_queue.to_ne_bytes())
    }

    /// Stops steering `port` (port map only); a port that was not set is
    /// fine.
    pub fn remove_port(&self, port: u16) -> io::Result<()> {
        self.delete(&port.to_be_bytes())
    }

    /// Puts the AF_XDP socket `xsk_fd` into slot `queue` (XSKMAP only).
    /// The map holds its own reference to the socket; a socket that is
    /// not AF_XDP is `EOPNOTSUPP`, a slot past the end `E2BIG`.
    pub fn set_xsk(&self, queue: u32, xsk_fd: RawFd) -> io::Result<()> {
        self.update(&queue.to_ne_bytes(), &(xsk_fd as u32).to_ne_bytes())
    }

    /// Empties slot `queue` (XSKMAP only); an empty slot is fine.
    pub fn clear_xsk(&self, queue: u32) -> io::Result<()> {
        self.delete(&queue.to_ne_bytes())
    }
}

impl AsFd for BpfMap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for BpfMap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// eBPF registers.
mod reg {
    /// Return value, and helper results.
    pub(super) const R0: u8 = 0;
    /// First argument (the context on entry).
    pub(super) const R1: u8 = 1;
    /// Second argument.
    pub(super) const R2: u8 = 2;
    /// Third argument.
    pub(super) const R3: u8 = 3;
    /// Scratch.
    pub(super) const R4: u8 = 4;
    /// Scratch.
    pub(super) const R5: u8 = 5;
    /// Callee-saved: kept across helper calls.
    pub(super) const R6: u8 = 6;
    /// Read-only frame pointer (the stack grows down from it).
    pub(super) const R10: u8 = 10;
}

/// eBPF opcodes used by the steering program (class | size/op | mode/src).
mod op {
    /// `r_dst = r_src` (64-bit).
    pub(super) const MOV64_X: u8 = 0x07 | 0xb0 | 0x08;
    /// `r_dst = imm` (64-bit).
    pub(super) const MOV64_K: u8 = 0x07 | 0xb0;
    /// `r_dst += imm` (64-bit).
    pub(super) const ADD64_K: u8 = 0x07;
    /// `r_dst &= imm` (64-bit).
    pub(super) const AND64_K: u8 = 0x07 | 0x50;
    /// `r_dst = *(u32 *)(r_src + off)`.
    pub(super) const LDX_W: u8 = 0x01 | 0x60;
    /// `r_dst = *(u16 *)(r_src + off)`.
    pub(super) const LDX_H: u8 = 0x01 | 0x60 | 0x08;
    /// `r_dst = *(u8 *)(r_src + off)`.
    pub(super) const LDX_B: u8 = 0x01 | 0x60 | 0x10;
    /// `*(u16 *)(r_dst + off) = r_src`.
    pub(super) const STX_H: u8 = 0x03 | 0x60 | 0x08;
    /// `r_dst = imm64` (two slots); with `src = 1` the imm is a map fd.
    pub(super) const LD_IMM64: u8 = 0x18;
    /// `goto +off`.
    pub(super) const JA: u8 = 0x05;
    /// `if r_dst == imm goto +off`.
    pub(super) const JEQ_K: u8 = 0x05 | 0x10;
    /// `if r_dst > r_src goto +off` (unsigned).
    pub(super) const JGT_X: u8 = 0x05 | 0x20 | 0x08;
    /// `if r_dst != imm goto +off`.
    pub(super) const JNE_K: u8 = 0x05 | 0x50;
    /// `if r_dst != r_src goto +off`.
    pub(super) const JNE_X: u8 = 0x05 | 0x50 | 0x08;
    /// Call helper number `imm`.
    pub(super) const CALL: u8 = 0x05 | 0x80;
    /// Return `r0`.
    pub(super) const EXIT: u8 = 0x05 | 0x90;
}

/// `BPF_PSEUDO_MAP_FD`: the `src` of an `LD_IMM64` whose imm is a map fd.
const PSEUDO_MAP_FD: u8 = 1;
/// Helper `bpf_map_lookup_elem(map, key)`.
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
/// Helper `bpf_redirect_map(map, key, flags)`.
const HELPER_REDIRECT_MAP: i32 = 51;

/// One `struct bpf_insn` as a little-endian 64-bit word: opcode, then
/// `dst_reg` (low nibble) and `src_reg` (high nibble), the 16-bit offset
/// and the 32-bit immediate.
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from((dst & 0xf) | ((src & 0xf) << 4)) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// A jump target of an [`Asm`], bound to a position with [`Asm::bind`].
#[derive(Clone, Copy, Debug)]
pub struct Label(usize);

/// A minimal eBPF assembler: emits instruction words, resolves jumps to
/// labels (forward or backward) in [`Asm::finish`].
#[derive(Default)]
pub struct Asm {
    /// Instruction words emitted so far.
    insns: Vec<u64>,
    /// Where each label was bound (`None`: not yet).
    labels: Vec<Option<usize>>,
    /// Jumps whose offset is filled in by `finish`: (instruction, target).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    /// A new label, to be bound later.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` (a label of this assembler) to the next instruction.
    pub fn bind(&mut self, l: Label) {
        let here = self.insns.len();
        if let Some(slot) = self.labels.get_mut(l.0) {
            *slot = Some(here);
        }
    }

    /// Emits one instruction.
    pub fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(insn(code, dst, src, off, imm));
    }

    /// Emits a jump instruction to `to`.
    pub fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.op(code, dst, src, 0, imm);
    }

    /// Emits `dst = map` (the two-slot `LD_IMM64` with a map fd).
    pub fn ld_map_fd(&mut self, dst: u8, map_fd: RawFd) {
        self.op(op::LD_IMM64, dst, PSEUDO_MAP_FD, 0, map_fd);
        self.op(0, 0, 0, 0, 0);
    }

    /// The finished program, or `None` if a jump's label was never bound
    /// or lies out of a jump's reach.
    pub fn finish(mut self) -> Option<Vec<u64>> {
        for &(at, Label(l)) in &self.fixups {
            let target = (*self.labels.get(l)?)?;
            let off = i16::try_from(target as i64 - (at as i64 + 1)).ok()?;
            let w = &mut self.insns[at];
            *w = (*w & !(0xffff << 16)) | (u64::from(off as u16) << 16);
        }
        Some(self.insns)
    }
}

/// Ethernet + IPv4 (no options) + UDP header bytes.
const V4_HEADERS: i32 = 14 + 20 + 8;
/// Ethernet + IPv6 + UDP header bytes.
const V6_HEADERS: i32 = 14 + 40 + 8;
/// `IPPROTO_UDP`.
const IPPROTO_UDP: i32 = 17;

/// A 16-bit big-endian wire field as a native `LDX_H` load sees it.
fn wire16(v: u16) -> i32 {
    i32::from(u16::from_ne_bytes(v.to_be_bytes()))
}

/// The steering program (see the module doc), with `ports_fd` (the port
/// map) and `xsks_fd` (the XSKMAP) built into its map loads.
pub fn steer_program(ports_fd: RawFd, xsks_fd: RawFd) -> Vec<u64> {
    use op::*;
    use reg::*;
    let mut a = Asm::default();
    let pass = a.label();
    let v4 = a.label();
    let lookup = a.label();

    a.op(MOV64_X, R6, R1, 0, 0); // r6 = ctx (kept across calls)
    a.op(LDX_W, R2, R1, 0, 0); // r2 = ctx->data
    a.op(LDX_W, R3, R1, 4, 0); // r3 = ctx->data_end
    a.op(MOV64_X, R4, R2, 0, 0);
    a.op(ADD64_K, R4, 0, 0, V4_HEADERS);
    a.jump(JGT_X, R4, R3, 0, pass); // shorter than eth + ip4 + udp
    a.op(LDX_H, R5, R2, 12, 0); // ethertype
    a.jump(JEQ_K, R5, 0, wire16(0x0800), v4);
    a.jump(JNE_K, R5, 0, wire16(0x86dd), pass); // VLAN, ARP, ...: pass

    // IPv6: the next header must be UDP (no extension headers).
    a.op(MOV64_X, R4, R2, 0, 0);
    a.op(ADD64_K, R4, 0, 0, V6_HEADERS);
    a.jump(JGT_X, R4, R3, 0, pass);
    a.op(LDX_B, R5, R2, 14 + 6, 0); // next header
    a.jump(JNE_K, R5, 0, IPPROTO_UDP, pass);
    a.op(LDX_H, R5, R2, 14 + 40 + 2, 0); // UDP destination port
    a.jump(JA, 0, 0, 0, lookup);

    // IPv4: version 4, IHL 5, not a fragment, protocol UDP.
    a.bind(v4);
    a.op(LDX_B, R5, R2, 14, 0); // version | IHL
    a.jump(JNE_K, R5, 0, 0x45, pass);
    a.op(LDX_H, R4, R2, 14 + 6, 0); // flags | fragment offset
    a.op(AND64_K, R4, 0, 0, wire16(0x3fff)); // MF | offset
    a.jump(JNE_K, R4, 0, 0, pass);
    a.op(LDX_B, R5, R2, 14 + 9, 0); // protocol
    a.jump(JNE_K, R5, 0, IPPROTO_UDP, pass);
    a.op(LDX_H, R5, R2, 14 + 20 + 2, 0); // UDP destination port

    // r5 = the port as its wire bytes: look it up in `ports`.
    a.bind(lookup);
    a.op(STX_H, R10, R5, -2, 0); // key on the stack
    a.op(MOV64_X, R2, R10, 0, 0);
    a.op(ADD64_K, R2, 0, 0, -2); // r2 = &key
    a.ld_map_fd(R1, ports_fd);
    a.op(CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM);
    a.jump(JEQ_K, R0, 0, 0, pass); // not ours
    a.op(LDX_W, R1, R0, 0, 0); // owner queue
    a.op(LDX_W, R2, R6, 16, 0); // ctx->rx_queue_index
    a.jump(JNE_X, R1, R2, 0, pass); // another queue's: kernel socket
    a.ld_map_fd(R1, xsks_fd);
    a.op(MOV64_K, R3, 0, 0, XDP_PASS as i32); // no socket in the slot: pass
    a.op(CALL, 0, 0, 0, HELPER_REDIRECT_MAP);
    a.op(EXIT, 0, 0, 0, 0);

    a.bind(pass);
    a.op(MOV64_K, R0, 0, 0, XDP_PASS as i32);
    a.op(EXIT, 0, 0, 0, 0);
    // Every label above is bound and every jump is short: the program is
    // fixed (only the fds vary), and the golden test pins its words.
    a.finish().unwrap_or_default()
}

/// The last `max` bytes of a NUL-terminated verifier log, cut at a line
/// start, without trailing whitespace.
fn log_tail(log: &[u8], max: usize) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    let tail = tail.find('\n').map_or(tail, |nl| &tail[nl + 1..]);
    format!("...\n{tail}")
}

/// The loaded steering program.
#[derive(Debug)]
pub struct XdpProgram {
    fd: OwnedFd,
}

impl XdpProgram {
    /// Loads the steering program over `ports` and `xsks`; the error
    /// carries the tail of the verifier log.
    pub fn load(ports: &BpfMap, xsks: &BpfMap) -> io::Result<XdpProgram> {
        if cfg!(target_endian = "big") {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the XDP steering program is encoded for little-endian hosts",
            ));
        }
        XdpProgram::load_insns(&steer_program(ports.as_raw_fd(), xsks.as_raw_fd()))
    }

    /// Loads `insns` as an XDP program (the error carries the verifier log).
    fn load_insns(insns: &[u64]) -> io::Result<XdpProgram> {
        let load = |log: &mut [u8]| {
            let mut attr = ProgLoadAttr {
                prog_type: PROG_TYPE_XDP,
                insn_cnt: insns.len() as u32,
                insns: insns.as_ptr() as u64,
                license: LICENSE.as_ptr() as u64,
                log_level: u32::from(!log.is_empty()),
                log_size: log.len() as u32,
                log_buf: if log.is_empty() {
                    0
                } else {
                    log.as_mut_ptr() as u64
                },
                kern_version: 0,
                prog_flags: 0,
                prog_name: obj_name("rampart_steer"),
                prog_ifindex: 0,
                expected_attach_type: ATTACH_TYPE_XDP,
            };
            sys_bpf_fd(cmd::PROG_LOAD, &mut attr)
        };
        // Quietly first; on failure once more with the verifier's log.
        let err = match load(&mut []) {
            Ok(fd) => return Ok(XdpProgram { fd }),
            Err(e) => e,
        };
        let mut log = vec![0u8; 1 << 20];
        if let Ok(fd) = load(&mut log) {
            return Ok(XdpProgram { fd });
        }
        let tail = log_tail(&log, LOG_TAIL);
        let tail = if tail.is_empty() {
            "(empty)".to_string()
        } else {
            tail
        };
        Err(io::Error::new(
            err.kind(),
            format!("loading the XDP program: {err}; verifier log:\n{tail}"),
        ))
    }

    /// `BPF_PROG_TEST_RUN` on one frame (rx queue 0, no device): the XDP
    /// verdict ([`XDP_PASS`], [`XDP_REDIRECT`], ...). The kernel only
    /// reports a redirect, it performs none. Frames shorter than an
    /// Ethernet header are refused by the kernel (`EINVAL`).
    #[cfg(test)]
    pub fn test_run(&self, frame: &[u8]) -> io::Result<u32> {
        self.run(frame, &[])
    }

    /// `BPF_PROG_TEST_RUN` with the raw bytes of a `struct xdp_md` context
    /// (empty: none).
    #[cfg(test)]
    fn run(&self, data: &[u8], ctx: &[u8]) -> io::Result<u32> {
        let too_big = |_| io::Error::from(io::ErrorKind::InvalidInput);
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            retval: 0,
            data_size_in: u32::try_from(data.len()).map_err(too_big)?,
            data_size_out: 0,
            data_in: data.as_ptr() as u64,
            data_out: 0,
            repeat: 1,
            duration: 0,
            ctx_size_in: u32::try_from(ctx.len()).map_err(too_big)?,
            ctx_size_out: 0,
            ctx_in: if ctx.is_empty() {
                0
            } else {
                ctx.as_ptr() as u64
            },
            ctx_out: 0,
        };
        sys_bpf(cmd::PROG_TEST_RUN, &mut attr)?;
        Ok(attr.retval)
    }
}

impl AsFd for XdpProgram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// How the program is attached to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`), before any skb exists.
    Native,
    /// After the skb is built (`XDP_FLAGS_SKB_MODE`); works on any device.
    Generic,
}

impl XdpMode {
    /// The `XDP_FLAGS_*` value of this mode.
    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }
}

/// The program attached to a device through a `bpf_link`; dropping it
/// (or the process dying) detaches the program.
#[derive(Debug)]
pub struct XdpLink {
    fd: OwnedFd,
}

impl XdpLink {
    /// Attaches `prog` to device `ifindex` in `mode` (`BPF_LINK_CREATE`,
    /// kernel ≥ 5.9). The OS error comes back as it is, so a probe can
    /// tell why: `EOPNOTSUPP` (no native XDP in this driver), `EBUSY`
    /// (another XDP program is attached), `EPERM`, `ENODEV`.
    pub fn attach(prog: &XdpProgram, ifindex: u32, mode: XdpMode) -> io::Result<XdpLink> {
        let mut attr = LinkCreateAttr {
            prog_fd: prog.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: ATTACH_TYPE_XDP,
            flags: mode.flags(),
        };
        Ok(XdpLink {
            fd: sys_bpf_fd(cmd::LINK_CREATE, &mut attr)?,
        })
    }
}

impl AsFd for XdpLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// Port owned by rx queue 0 (the queue `test_run` reports).
    const KNOWN: u16 = 4000;
    /// Port owned by rx queue 1.
    const OTHER_QUEUE: u16 = 4002;
    /// Port not in the map.
    const UNKNOWN: u16 = 4004;
    /// Every (port, owner queue) the rig puts in the port map.
    const OWNERS: [(u16, u32); 2] = [(KNOWN, 0), (OTHER_QUEUE, 1)];

    /// Unwraps a kernel call a test needs, or fails with a clear message;
    /// with `RAMPART_XDP_ALLOW_SKIP=1`, a refusal skips the test (`None`).
    fn need<T>(what: &str, r: io::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) if std::env::var_os("RAMPART_XDP_ALLOW_SKIP").is_some_and(|v| v == "1") => {
                eprintln!("SKIPPED (RAMPART_XDP_ALLOW_SKIP=1): {what}: {e}");
                None
            }
            Err(e) => panic!(
                "{what}: {e}\nThe BPF tests need root (CAP_BPF, CAP_NET_ADMIN) and a kernel \
                 with XDP BPF_PROG_TEST_RUN and BPF_LINK_CREATE (>= 5.9). Set \
                 RAMPART_XDP_ALLOW_SKIP=1 to skip them where the kernel refuses."
            ),
        }
    }

    /// An unbound AF_XDP socket: the XSKMAP accepts it, which is all
    /// `test_run` needs to report a redirect.
    fn xsk_socket() -> io::Result<OwnedFd> {
        // SAFETY: socket takes no pointers; a non-negative result is a new
        // fd that we own.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket just returned this fd; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Maps, the loaded program, and an XSK in slot 0.
    struct Rig {
        ports: BpfMap,
        xsks: BpfMap,
        prog: XdpProgram,
        xsk: OwnedFd,
    }

    fn rig() -> Option<Rig> {
        let ports = need("BPF_MAP_CREATE (hash)", BpfMap::port_map(64))?;
        let xsks = need("BPF_MAP_CREATE (xskmap)", BpfMap::xsk_map(4))?;
        let prog = need("BPF_PROG_LOAD", XdpProgram::load(&ports, &xsks))?;
        let xsk = need("socket(AF_XDP)", xsk_socket())?;
        need("XSKMAP update", xsks.set_xsk(0, xsk.as_raw_fd()))?;
        for (port, queue) in OWNERS {
            ports.set_port(port, queue).expect("set_port");
        }
        Some(Rig {
            ports,
            xsks,
            prog,
            xsk,
        })
    }

    impl Rig {
        fn verdict(&self, frame: &[u8]) -> u32 {
            self.prog.test_run(frame).expect("BPF_PROG_TEST_RUN")
        }
    }

    /// An Ethernet header with `ethertype`.
    fn eth(ethertype: u16) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// A UDP header and 12 payload bytes, to `dport`.
    fn udp(dport: u16) -> Vec<u8> {
        let mut u = vec![0x13, 0x88]; // source port 5000
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&20u16.to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(&[0x80; 12]);
        u
    }

    /// An IPv4 header (IHL 5, DF) for `proto` and `l4` bytes behind it.
    fn ipv4(proto: u8, l4: usize) -> Vec<u8> {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&(20 + l4 as u16).to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
        h.extend_from_slice(&[198, 51, 100, 1, 198, 51, 100, 2]);
        h
    }

    /// An IPv6 header with next header `nh` and `l4` payload bytes.
    fn ipv6(nh: u8, l4: usize) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(l4 as u16).to_be_bytes());
        h.extend_from_slice(&[nh, 64]);
        for last in [1u8, 2] {
            h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            h.extend_from_slice(&[0; 11]);
            h.push(last);
        }
        h
    }

    fn v4_udp(dport: u16) -> Vec<u8> {
        let u = udp(dport);
        [eth(0x0800), ipv4(17, u.len()), u].concat()
    }

    fn v6_udp(dport: u16) -> Vec<u8> {
        let u = udp(dport);
        [eth(0x86dd), ipv6(17, u.len()), u].concat()
    }

    /// The verdict the program must give, written independently of it:
    /// REDIRECT only for a UDP frame (IPv4 without options or fragment,
    /// or IPv6 with UDP as next header) to a port owned by `rx_queue`,
    /// when that queue's XSK slot is filled; PASS for everything else.
    fn model(f: &[u8], owners: &[(u16, u32)], rx_queue: u32, slot_filled: bool) -> u32 {
        let be = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
        if f.len() < 42 {
            return XDP_PASS;
        }
        let dport = match be(12) {
            0x0800 if f[14] == 0x45 && be(20) & 0x3fff == 0 && f[23] == 17 => be(36),
            0x86dd if f.len() >= 62 && f[20] == 17 => be(56),
            _ => return XDP_PASS,
        };
        match owners.iter().find(|(p, _)| *p == dport) {
            Some(&(_, q)) if q == rx_queue && slot_filled => XDP_REDIRECT,
            _ => XDP_PASS,
        }
    }

    /// The program, word by word, for ports fd 0x11 and xsks fd 0x22.
    /// A change here must be deliberate: update the listing with it.
    #[test]
    fn steer_program_matches_golden_listing() {
        #[rustfmt::skip]
        const GOLDEN: [u64; 41] = [
            0x0000_0000_0000_16bf, //  0 r6 = r1 (ctx)
            0x0000_0000_0000_1261, //  1 r2 = ctx->data
            0x0000_0000_0004_1361, //  2 r3 = ctx->data_end
            0x0000_0000_0000_24bf, //  3 r4 = r2
            0x0000_002a_0000_0407, //  4 r4 += 42 (eth + ip4 + udp)
            0x0000_0000_0021_342d, //  5 if r4 > r3 goto 39 (pass)
            0x0000_0000_000c_2569, //  6 r5 = *(u16 *)(r2 + 12) ethertype
            0x0000_0008_0008_0515, //  7 if r5 == 0x0800 (wire) goto 16 (v4)
            0x0000_dd86_001e_0555, //  8 if r5 != 0x86dd (wire) goto 39
            0x0000_0000_0000_24bf, //  9 r4 = r2
            0x0000_003e_0000_0407, // 10 r4 += 62 (eth + ip6 + udp)
            0x0000_0000_001b_342d, // 11 if r4 > r3 goto 39
            0x0000_0000_0014_2571, // 12 r5 = *(u8 *)(r2 + 20) next header
            0x0000_0011_0019_0555, // 13 if r5 != 17 goto 39
            0x0000_0000_0038_2569, // 14 r5 = *(u16 *)(r2 + 56) udp dport
            0x0000_0000_0008_0005, // 15 goto 24 (lookup)
            0x0000_0000_000e_2571, // 16 v4: r5 = *(u8 *)(r2 + 14) ver/ihl
            0x0000_0045_0015_0555, // 17 if r5 != 0x45 goto 39
            0x0000_0000_0014_2469, // 18 r4 = *(u16 *)(r2 + 20) flags/frag
            0x0000_ff3f_0000_0457, // 19 r4 &= 0x3fff (wire): MF | offset
            0x0000_0000_0012_0455, // 20 if r4 != 0 goto 39
            0x0000_0000_0017_2571, // 21 r5 = *(u8 *)(r2 + 23) protocol
            0x0000_0011_0010_0555, // 22 if r5 != 17 goto 39
            0x0000_0000_0024_2569, // 23 r5 = *(u16 *)(r2 + 36) udp dport
            0x0000_0000_fffe_5a6b, // 24 lookup: *(u16 *)(r10 - 2) = r5
            0x0000_0000_0000_a2bf, // 25 r2 = r10
            0xffff_fffe_0000_0207, // 26 r2 += -2 (&key)
            0x0000_0011_0000_1118, // 27 r1 = map fd 0x11 (ports) ...
            0x0000_0000_0000_0000, // 28 ... second half of ld_imm64
            0x0000_0001_0000_0085, // 29 call bpf_map_lookup_elem
            0x0000_0000_0008_0015, // 30 if r0 == 0 goto 39
            0x0000_0000_0000_0161, // 31 r1 = *(u32 *)(r0 + 0) owner queue
            0x0000_0000_0010_6261, // 32 r2 = ctx->rx_queue_index
            0x0000_0000_0005_215d, // 33 if r1 != r2 goto 39
            0x0000_0022_0000_1118, // 34 r1 = map fd 0x22 (xsks) ...
            0x0000_0000_0000_0000, // 35 ... second half of ld_imm64
            0x0000_0002_0000_03b7, // 36 r3 = XDP_PASS (fallback flag)
            0x0000_0033_0000_0085, // 37 call bpf_redirect_map
            0x0000_0000_0000_0095, // 38 exit
            0x0000_0002_0000_00b7, // 39 pass: r0 = XDP_PASS
            0x0000_0000_0000_0095, // 40 exit
        ];
        let got = steer_program(0x11, 0x22);
        for (i, (g, w)) in got.iter().zip(GOLDEN.iter()).enumerate() {
            assert_eq!(g, w, "instruction {i}: got {g:#018x}, listing {w:#018x}");
        }
        assert_eq!(got.len(), GOLDEN.len(), "instruction count");
    }

    #[test]
    fn asm_resolves_labels_and_rejects_unbound_ones() {
        let mut a = Asm::default();
        let back = a.label();
        let fwd = a.label();
        a.bind(back);
        a.jump(op::JA, 0, 0, 0, fwd); // 0: +1
        a.op(op::EXIT, 0, 0, 0, 0); // 1
        a.bind(fwd);
        a.jump(op::JA, 0, 0, 0, back); // 2: -3
        let w = a.finish().expect("all bound");
        assert_eq!(w[0], insn(op::JA, 0, 0, 1, 0));
        assert_eq!(w[2], insn(op::JA, 0, 0, -3, 0));

        let mut a = Asm::default();
        let nowhere = a.label();
        a.jump(op::JA, 0, 0, 0, nowhere);
        assert!(a.finish().is_none());
    }

    #[test]
    fn log_tail_keeps_the_last_whole_lines() {
        let log = b"first line\nsecond line\nthird\n\n\0garbage";
        assert_eq!(log_tail(log, 100), "first line\nsecond line\nthird");
        assert_eq!(log_tail(log, 14), "...\nthird");
        assert_eq!(log_tail(b"\0", 10), "");
    }

    /// A program the verifier must refuse (a packet read without a bounds
    /// check): the error carries the verifier's reason.
    #[test]
    fn load_error_carries_the_verifier_log() {
        let good = [
            insn(op::MOV64_K, reg::R0, 0, 0, XDP_PASS as i32),
            insn(op::EXIT, 0, 0, 0, 0),
        ];
        // Loading at all must work, so the failure below is the verifier's.
        if need("BPF_PROG_LOAD", XdpProgram::load_insns(&good)).is_none() {
            return;
        }
        let bad = [
            insn(op::LDX_W, reg::R2, reg::R1, 0, 0),
            insn(op::LDX_B, reg::R0, reg::R2, 0, 0),
            insn(op::EXIT, 0, 0, 0, 0),
        ];
        let err = XdpProgram::load_insns(&bad).expect_err("the verifier must refuse");
        let msg = err.to_string();
        assert!(
            msg.contains("verifier log:") && msg.contains("invalid access to packet"),
            "{msg}"
        );
    }

    #[test]
    fn verdict_pass_for_everything_not_steered() {
        let Some(rig) = rig() else { return };
        let known = v4_udp(KNOWN);
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("non-IP (0x88b5)", [eth(0x88b5), vec![0; 46]].concat()),
            ("ARP", [eth(0x0806), vec![0; 46]].concat()),
            ("ICMP", [eth(0x0800), ipv4(1, 28), vec![8; 28]].concat()),
            ("IPv4 TCP to the known port", {
                let mut f = known.clone();
                f[23] = 6;
                f
            }),
            ("IPv4 UDP to an unknown port", v4_udp(UNKNOWN)),
            ("IPv6 UDP to an unknown port", v6_udp(UNKNOWN)),
            ("IPv4 fragment with MF", {
                let mut f = known.clone();
                f[20] = 0x20;
                f
            }),
            ("IPv4 fragment with offset (high bits)", {
                let mut f = known.clone();
                f[20] = 0x01;
                f
            }),
            ("IPv4 fragment with offset (low byte)", {
                let mut f = known.clone();
                f[21] = 0x01;
                f
            }),
            ("IPv4 with options (IHL 6)", {
                let u = udp(KNOWN);
                let mut ip = ipv4(17, u.len() + 4);
                ip[0] = 0x46;
                ip.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
                [eth(0x0800), ip, u].concat()
            }),
            ("IPv6 with a hop-by-hop extension header", {
                let u = udp(KNOWN);
                let hbh = [17, 0, 1, 4, 0, 0, 0, 0]; // next: UDP, PadN
                [eth(0x86dd), ipv6(0, u.len() + 8), hbh.to_vec(), u].concat()
            }),
            ("VLAN-tagged IPv4 UDP to the known port", {
                let mut f = eth(0x8100);
                f.extend_from_slice(&[0, 5]); // VID 5
                f.extend_from_slice(&known[12..]);
                f
            }),
            ("IPv4 version 6 nibble with ethertype IPv4", {
                let mut f = known.clone();
                f[14] = 0x65;
                f
            }),
        ];
        for n in [14, 20, 41] {
            cases.push(("short IPv4 frame", known[..n].to_vec()));
        }
        cases.push(("short IPv6 frame (61 bytes)", v6_udp(KNOWN)[..61].to_vec()));
        for (what, frame) in &cases {
            assert_eq!(
                rig.verdict(frame),
                XDP_PASS,
                "{what} ({} bytes)",
                frame.len()
            );
        }
        // Below an Ethernet header the kernel refuses to run XDP at all;
        // should a kernel ever run it, the program must pass.
        for n in [0, 13] {
            match rig.prog.test_run(&known[..n]) {
                Ok(v) => assert_eq!(v, XDP_PASS, "{n}-byte frame"),
                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{n}-byte frame"),
            }
        }
    }

    #[test]
    fn verdict_redirect_for_udp_to_a_port_of_queue_0() {
        let Some(rig) = rig() else { return };
        // Padded to the Ethernet minimum, as on the wire.
        let mut v4 = v4_udp(KNOWN);
        v4.resize(60, 0);
        let v6 = v6_udp(KNOWN);
        assert_eq!(rig.verdict(&v4), XDP_REDIRECT, "IPv4");
        assert_eq!(rig.verdict(&v6), XDP_REDIRECT, "IPv6");
        // Exactly the headers, no payload.
        assert_eq!(
            rig.verdict(&v4_udp(KNOWN)[..42]),
            XDP_REDIRECT,
            "v4 headers only"
        );
        assert_eq!(
            rig.verdict(&v6_udp(KNOWN)[..62]),
            XDP_REDIRECT,
            "v6 headers only"
        );

        // Owned by queue 1, but test_run receives on queue 0: the kernel
        // socket gets it.
        assert_eq!(
            rig.verdict(&v4_udp(OTHER_QUEUE)),
            XDP_PASS,
            "v4, queue 1's port"
        );
        assert_eq!(
            rig.verdict(&v6_udp(OTHER_QUEUE)),
            XDP_PASS,
            "v6, queue 1's port"
        );

        // No socket in the slot: the fallback flag makes it a PASS.
        rig.xsks.clear_xsk(0).expect("clear_xsk");
        rig.xsks.clear_xsk(0).expect("clearing an empty slot");
        assert_eq!(rig.verdict(&v4), XDP_PASS, "empty XSK slot");
        rig.xsks.set_xsk(0, rig.xsk.as_raw_fd()).expect("set_xsk");
        assert_eq!(rig.verdict(&v4), XDP_REDIRECT, "XSK back in the slot");

        // A removed port goes back to the kernel; removing twice is fine.
        rig.ports.remove_port(KNOWN).expect("remove_port");
        rig.ports
            .remove_port(KNOWN)
            .expect("remove_port of an absent port");
        assert_eq!(rig.verdict(&v4), XDP_PASS, "removed port (v4)");
        assert_eq!(rig.verdict(&v6), XDP_PASS, "removed port (v6)");
        rig.ports.set_port(KNOWN, 0).expect("set_port");
        assert_eq!(rig.verdict(&v6), XDP_REDIRECT, "port set again");
    }

    #[test]
    fn map_misuse_is_an_error() {
        let Some(rig) = rig() else { return };
        // A UDP socket is not an XSK.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        let err = rig
            .xsks
            .set_xsk(1, udp.as_raw_fd())
            .expect_err("non-XSK fd");
        assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
        // Slot past the map's end.
        let err = rig
            .xsks
            .set_xsk(4, rig.xsk.as_raw_fd())
            .expect_err("slot 4 of 4");
        assert_eq!(err.raw_os_error(), Some(libc::E2BIG), "{err}");
        // The wrong map: key sizes differ, refused before the kernel.
        for err in [
            rig.xsks
                .set_port(KNOWN, 0)
                .expect_err("set_port on the XSKMAP"),
            rig.xsks
                .remove_port(KNOWN)
                .expect_err("remove_port on the XSKMAP"),
            rig.ports
                .clear_xsk(0)
                .expect_err("clear_xsk on the port map"),
        ] {
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        let err = BpfMap::xsk_map(0).expect_err("zero entries");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    }

    /// Runs `f` on a thread moved into a fresh, unnamed network namespace
    /// (gone when the thread ends); `ip` commands it runs live there too.
    fn in_private_netns<T: Send>(f: impl FnOnce() -> Option<T> + Send) -> Option<T> {
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only
                // this thread into a new network namespace.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    need::<()>("unshare(CLONE_NEWNET)", Err(io::Error::last_os_error()))?;
                }
                f()
            });
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Runs `ip args...`; its stdout, or an error with its stderr.
    fn ip(args: &[&str]) -> io::Result<String> {
        let out = Command::new("ip").args(args).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A veth pair `rxs0`/`rxs1` with `queues` rx queues, both up; the
    /// ifindex of `rxs0`.
    fn veth(queues: u32) -> Option<u32> {
        let q = queues.to_string();
        let add = [
            "link",
            "add",
            "rxs0",
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "rxs1",
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
        ];
        need("ip link add (veth)", ip(&add))?;
        need("ip link set up", ip(&["link", "set", "rxs0", "up"]))?;
        need("ip link set up", ip(&["link", "set", "rxs1", "up"]))?;
        let show = need("ip link show", ip(&["-o", "link", "show", "rxs0"]))?;
        show.split(':').next()?.trim().parse().ok()
    }

    /// `struct xdp_md` bytes for a test run of `len` bytes received on
    /// (`ifindex`, `queue`).
    fn xdp_md(len: usize, ifindex: u32, queue: u32) -> Vec<u8> {
        [0, len as u32, 0, ifindex, queue, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect()
    }

    /// The owner compare uses the receiving queue: with a device that has
    /// 4 rx queues, a port is redirected on its owner's queue only.
    #[test]
    fn verdict_follows_the_receiving_rx_queue() {
        in_private_netns(|| {
            let ifindex = veth(4)?;
            let rig = rig()?;
            need("XSKMAP update", rig.xsks.set_xsk(1, rig.xsk.as_raw_fd()))?;
            let on = |frame: &[u8], queue: u32| {
                let ctx = xdp_md(frame.len(), ifindex, queue);
                rig.prog.run(frame, &ctx).expect("test run on a queue")
            };
            for frame in [v4_udp(KNOWN), v6_udp(KNOWN)] {
                assert_eq!(on(&frame, 0), XDP_REDIRECT, "queue 0 owns KNOWN");
                assert_eq!(on(&frame, 1), XDP_PASS, "queue 1 does not own KNOWN");
            }
            for frame in [v4_udp(OTHER_QUEUE), v6_udp(OTHER_QUEUE)] {
                assert_eq!(on(&frame, 1), XDP_REDIRECT, "queue 1 owns OTHER_QUEUE");
                assert_eq!(on(&frame, 0), XDP_PASS, "queue 0 does not own it");
            }
            // Queue 2 owns a port but has no XSK: fallback to PASS.
            rig.ports.set_port(UNKNOWN, 2).expect("set_port");
            assert_eq!(on(&v4_udp(UNKNOWN), 2), XDP_PASS, "empty slot 2");
            Some(())
        });
    }

    /// `XdpLink::attach` in both modes on veth: `ip link` shows the
    /// program in the asked mode, a second attach is refused while the
    /// first link lives, and dropping the link detaches it.
    #[test]
    fn attach_native_and_generic_and_drop_detaches() {
        in_private_netns(|| {
            let ifindex = veth(1)?;
            let rig = rig()?;
            let shown = || ip(&["link", "show", "rxs0"]).expect("ip link show");
            for (mode, word) in [(XdpMode::Generic, "xdpgeneric"), (XdpMode::Native, "xdp")] {
                let link = need("BPF_LINK_CREATE", XdpLink::attach(&rig.prog, ifindex, mode))?;
                let s = shown();
                assert!(
                    s.split_whitespace().any(|w| w == word) && s.contains("prog/xdp"),
                    "{mode:?}: {s}"
                );
                if mode == XdpMode::Native {
                    assert!(!s.contains("xdpgeneric"), "{s}");
                }
                let again = XdpLink::attach(&rig.prog, ifindex, mode).expect_err("attached twice");
                assert_eq!(again.raw_os_error(), Some(libc::EBUSY), "{again}");
                drop(link);
                let s = shown();
                assert!(!s.contains("prog/xdp"), "{mode:?} still attached: {s}");
            }
            Some(())
        });
    }

    /// Frames from random bytes, nudged towards the interesting shapes
    /// (ethertype, IHL, protocol, fragment field, a known port), must get
    /// exactly the model's verdict: never anything but PASS unless they
    /// are UDP to a port this queue owns.
    /// Overwrites `f[at..]` with `bytes` where the frame is long enough.
    fn put(f: &mut [u8], at: usize, bytes: &[u8]) {
        if let Some(dst) = f.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    #[test]
    fn random_frames_pass_unless_udp_to_a_known_port() {
        let Some(rig) = rig() else { return };
        // Each nudge is drawn from a list where the steered shape is
        // likely, so that near-misses (one field off) are common too.
        let ethertypes = [
            None,
            Some(0x0800u16),
            Some(0x0800),
            Some(0x86dd),
            Some(0x86dd),
            Some(0x8100),
        ];
        // IPv4 flags and fragment offset, as wire bytes.
        let frag_fields = [
            None,
            Some([0x40, 0]),
            Some([0, 0]),
            Some([0x20, 0]),
            Some([0x01, 0]),
            Some([0, 0x01]),
            Some([0x80, 0]),
        ];
        let ports = [
            None,
            Some(KNOWN),
            Some(KNOWN),
            Some(OTHER_QUEUE),
            Some(UNKNOWN),
        ];
        let frames = (
            proptest::collection::vec(any::<u8>(), 14..=96),
            proptest::sample::select(ethertypes.to_vec()),
            proptest::bool::weighted(0.8),
            proptest::bool::weighted(0.8),
            proptest::sample::select(frag_fields.to_vec()),
            proptest::sample::select(ports.to_vec()),
        )
            .prop_map(|(mut f, ethertype, shape, proto, frag, port)| {
                if let Some(t) = ethertype {
                    put(&mut f, 12, &t.to_be_bytes());
                }
                let (proto_at, port_at) = if ethertype == Some(0x86dd) {
                    (20, 56)
                } else {
                    (23, 36)
                };
                if ethertype == Some(0x0800) {
                    if shape {
                        put(&mut f, 14, &[0x45]);
                    }
                    if let Some(field) = frag {
                        put(&mut f, 20, &field);
                    }
                }
                if proto {
                    put(&mut f, proto_at, &[17]);
                }
                if let Some(p) = port {
                    put(&mut f, port_at, &p.to_be_bytes());
                }
                f
            });
        let config = proptest::test_runner::Config {
            cases: 4096,
            failure_persistence: None,
            ..Default::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config);
        let redirects = std::cell::Cell::new(0u32);
        let result = runner.run(&frames, |f| {
            let got = rig.prog.test_run(&f).expect("BPF_PROG_TEST_RUN");
            let want = model(&f, &OWNERS, 0, true);
            redirects.set(redirects.get() + u32::from(got == XDP_REDIRECT));
            prop_assert_eq!(got, want, "frame {:02x?}", f);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        // The generator does reach the redirect path.
        let redirects = redirects.get();
        assert!(redirects > 50, "only {redirects} redirects in 4096 frames");
    }
}
