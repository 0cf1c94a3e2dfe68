//! One AF_XDP socket (XSK): its UMEM and its four rings.
//!
//! Why by hand: the crates that wrap AF_XDP (xsk-rs, libxdp) build C
//! libraries that need libelf headers and clang, and the node must build
//! with nothing but the Rust toolchain (`docs/xdp-spike.md` §1). The
//! protocol is small: a memory area (UMEM) cut into equal frames, and four
//! single-producer/single-consumer rings shared with the kernel:
//!
//! ```text
//! fill  (we produce frame addresses the kernel may receive into)
//! rx    (the kernel produces {addr, len} of received frames)
//! tx    (we produce {addr, len} of frames to send)
//! comp  (the kernel produces addresses of frames it has sent)
//! ```
//!
//! # Soundness argument
//!
//! - Every mapping (UMEM, four rings) is owned by a `Mapping` that unmaps
//!   it on drop, and lives as long as the [`Xsk`]; pointers into them never
//!   escape except as borrows of `&mut Xsk`.
//! - Ring indices: the producer and consumer words are `AtomicU32` at
//!   offsets the kernel reported (`XDP_MMAP_OFFSETS`), inside the mapping;
//!   descriptors are read/written at `index & mask` with `mask = size - 1`
//!   (sizes are powers of two, checked), so every access is in bounds.
//!   Ordering follows the kernel's contract (`Documentation/networking/af_xdp.rst`):
//!   load the other side's index with `Acquire`, publish ours with
//!   `Release`, after the descriptors are written / read.
//! - Frames: a frame is touched by user space only while user space owns
//!   it. Ownership is a value: the kernel hands frames over as [`RxFrame`]s
//!   (taken off the rx ring) and through the completion ring; the backend
//!   gets a mutable view of a frame only through an `RxFrame`, which is not
//!   `Clone` and is consumed when the frame goes back to the kernel
//!   ([`Xsk::send`]) or to the free list ([`Xsk::recycle`]). Addresses the
//!   kernel reports are checked against the UMEM's size before use, so even
//!   a wrong address cannot make a view outside the mapping.
//! - The free list holds at most `frames` addresses and is allocated once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cvt;

/// Bytes per UMEM frame (aligned mode needs a power of two ≥ 2048).
pub const FRAME_SIZE: usize = 2048;

/// How the socket binds to its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XskBind {
    /// The driver DMAs straight into the UMEM (`XDP_ZEROCOPY`).
    ZeroCopy,
    /// The kernel copies frames into and out of the UMEM (`XDP_COPY`).
    Copy,
}

/// Sizes for one socket.
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    /// UMEM frames (a power of two).
    pub frames: u32,
    /// Entries per ring (a power of two, at most `frames`).
    pub ring: u32,
    /// Zero-copy or copy.
    pub bind: XskBind,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frames: 8192,
            ring: 4096,
            bind: XskBind::Copy,
        }
    }
}

/// A memory mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched. The result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Mapping::checked(p, len)
    }

    fn ring(fd: RawFd, len: usize, pgoff: u64) -> io::Result<Mapping> {
        // SAFETY: maps the ring the kernel made for this socket at the
        // documented page offset; `len` is what the kernel's offsets plus
        // the ring size need. Checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        Mapping::checked(p, len)
    }

    fn checked(p: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast::<u8>())
            .map(|ptr| Mapping { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned null"))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region this value mapped; no borrow of
        // it outlives `self` (views are tied to `&mut Xsk`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: the mapping is plain memory owned by this value; moving it to
// another thread moves the ownership (the worker creates and uses it).
unsafe impl Send for Mapping {}

/// One ring: producer/consumer words and the descriptor array.
struct Ring {
    map: Mapping,
    producer: usize,
    consumer: usize,
    desc: usize,
    mask: u32,
    size: u32,
    /// Our side's index (producer for fill/tx, consumer for rx/comp).
    local: u32,
}

impl Ring {
    fn new(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        entry: usize,
        pgoff: u64,
    ) -> io::Result<Ring> {
        let len = off.desc as usize + size as usize * entry;
        let map = Mapping::ring(fd, len, pgoff)?;
        for o in [off.producer, off.consumer, off.flags] {
            if o as usize + 4 > len || !o.is_multiple_of(4) {
                return Err(io::Error::other("XDP ring offsets out of range"));
            }
        }
        if !off.desc.is_multiple_of(8) {
            return Err(io::Error::other("XDP ring descriptors misaligned"));
        }
        let mut r = Ring {
            map,
            producer: off.producer as usize,
            consumer: off.consumer as usize,
            desc: off.desc as usize,
            mask: size - 1,
            size,
            local: 0,
        };
        r.local =
            if pgoff == libc::XDP_UMEM_PGOFF_FILL_RING || pgoff == libc::XDP_PGOFF_TX_RING as u64 {
                r.word(r.producer).load(Ordering::Relaxed)
            } else {
                r.word(r.consumer).load(Ordering::Relaxed)
            };
        Ok(r)
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` was checked to be 4-aligned and inside the mapping
        // (`Ring::new`); the kernel updates the word concurrently, which is
        // what AtomicU32 is for; the borrow is tied to `self`.
        unsafe { &*self.map.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// Address-ring entry `i` (fill, completion: u64 each).
    fn addr_ptr(&self, i: u32) -> *mut u64 {
        // SAFETY: `i & mask` < size and the mapping holds `size` entries of
        // 8 bytes after `desc` (8-aligned, checked).
        unsafe {
            self.map
                .ptr
                .as_ptr()
                .add(self.desc)
                .cast::<u64>()
                .add((i & self.mask) as usize)
        }
    }

    /// Descriptor-ring entry `i` (rx, tx: `xdp_desc`, 16 bytes each).
    fn desc_ptr(&self, i: u32) -> *mut libc::xdp_desc {
        // SAFETY: as `addr_ptr`, with 16-byte entries.
        unsafe {
            self.map
                .ptr
                .as_ptr()
                .add(self.desc)
                .cast::<libc::xdp_desc>()
                .add((i & self.mask) as usize)
        }
    }
}

// SAFETY: as for Mapping; the ring is used by one thread at a time.
unsafe impl Send for Ring {}

/// A received frame, owned by user space until it is sent or recycled.
#[derive(Debug)]
pub struct RxFrame {
    /// UMEM address of the packet's first byte.
    addr: u64,
    /// Packet bytes.
    len: u32,
}

impl RxFrame {
    /// Packet length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a frame of no bytes (the kernel never delivers one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Counters the kernel keeps for the socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for reasons other than a full ring.
    pub rx_dropped: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_empty: u64,
    /// Invalid tx descriptors.
    pub tx_invalid: u64,
}

/// One AF_XDP socket bound to one (interface, queue).
pub struct Xsk {
    fill: Ring,
    comp: Ring,
    rx: Ring,
    tx: Ring,
    fd: OwnedFd,
    umem: Mapping,
    free: Vec<u64>,
    frames: u32,
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a pointer to a live `T` and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// libc's plain-data XDP structs (integers only: all-zero is a valid value).
trait PlainData: Sized {
    fn zeroed() -> Self {
        // SAFETY: implemented only for structs made of integers, for which
        // all-zero bytes are a valid value.
        unsafe { std::mem::zeroed() }
    }
}
impl PlainData for libc::xdp_mmap_offsets {}
impl PlainData for libc::xdp_statistics {}

/// `getsockopt(SOL_XDP, opt)` into a zeroed `T`; returns it and the bytes
/// the kernel wrote.
fn getsockopt<T: PlainData>(fd: RawFd, opt: libc::c_int) -> io::Result<(T, usize)> {
    let mut v = T::zeroed();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live `v` and
    // says how many it wrote.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, (&mut v as *mut T).cast(), &mut len) })?;
    Ok((v, len as usize))
}

impl Xsk {
    /// Makes a socket with its UMEM and rings and binds it to `queue` of
    /// `ifindex`. The fill ring is primed with half the frames; the rest
    /// are on the free list. `EBUSY` right after a previous socket on the
    /// same queue closed (the kernel releases it asynchronously) is retried
    /// for up to 2 s.
    pub fn new(ifindex: u32, queue: u32, cfg: &XskConfig) -> io::Result<Xsk> {
        if !cfg.frames.is_power_of_two() || !cfg.ring.is_power_of_two() || cfg.ring > cfg.frames {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "XSK sizes must be powers of two, ring ≤ frames",
            ));
        }
        // SAFETY: socket(2) with constant arguments; the fd is owned at once.
        let raw =
            cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Mapping::anonymous(cfg.frames as usize * FRAME_SIZE)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        for opt in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
            libc::XDP_TX_RING,
        ] {
            setsockopt(raw, opt, &cfg.ring)?;
        }
        let (off, len) = getsockopt::<libc::xdp_mmap_offsets>(raw, libc::XDP_MMAP_OFFSETS)?;
        if len != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::other("kernel without XDP ring flags (pre-5.4)"));
        }
        let rx = Ring::new(raw, &off.rx, cfg.ring, 16, libc::XDP_PGOFF_RX_RING as u64)?;
        let tx = Ring::new(raw, &off.tx, cfg.ring, 16, libc::XDP_PGOFF_TX_RING as u64)?;
        let fill = Ring::new(raw, &off.fr, cfg.ring, 8, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::new(
            raw,
            &off.cr,
            cfg.ring,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        let mut xsk = Xsk {
            fill,
            comp,
            rx,
            tx,
            fd,
            umem,
            free: Vec::with_capacity(cfg.frames as usize),
            frames: cfg.frames,
        };
        for i in (0..cfg.frames).rev() {
            xsk.free.push(u64::from(i) * FRAME_SIZE as u64);
        }
        xsk.refill();
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: match cfg.bind {
                XskBind::ZeroCopy => libc::XDP_ZEROCOPY,
                XskBind::Copy => libc::XDP_COPY,
            },
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        let mut tries = 0;
        loop {
            // SAFETY: passes a live sockaddr_xdp and its exact size.
            let r = unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            tries += 1;
            if e.raw_os_error() == Some(libc::EBUSY) && tries < 40 {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            return Err(e);
        }
        Ok(xsk)
    }

    /// The socket's fd (for epoll and the XSKMAP).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Moves frames from the free list onto the fill ring, as many as fit.
    pub fn refill(&mut self) -> u32 {
        let cons = self.fill.word(self.fill.consumer).load(Ordering::Acquire);
        let room = self.fill.size - self.fill.local.wrapping_sub(cons);
        let n = room.min(self.free.len() as u32);
        for k in 0..n {
            let addr = self.free.pop().unwrap_or(0);
            // SAFETY: entry `local + k` is ours to write: the kernel has
            // consumed up to `cons`, and `local + k - cons < size`.
            unsafe {
                self.fill
                    .addr_ptr(self.fill.local.wrapping_add(k))
                    .write(addr)
            };
        }
        if n > 0 {
            self.fill.local = self.fill.local.wrapping_add(n);
            self.fill
                .word(self.fill.producer)
                .store(self.fill.local, Ordering::Release);
        }
        n
    }

    /// How many received frames wait on the rx ring.
    pub fn rx_ready(&self) -> u32 {
        self.rx
            .word(self.rx.producer)
            .load(Ordering::Acquire)
            .wrapping_sub(self.rx.local)
            .min(self.rx.size)
    }

    /// Takes the next received frame off the rx ring (`None`: empty). A
    /// descriptor whose address or length lies outside the UMEM is dropped
    /// (its frame is lost, which the kernel never causes).
    pub fn rx_take(&mut self) -> Option<RxFrame> {
        loop {
            if self.rx_ready() == 0 {
                return None;
            }
            // SAFETY: the entry at `local` is published (producer >
            // local, read with Acquire above) and not yet released back.
            let d = unsafe { self.rx.desc_ptr(self.rx.local).read() };
            self.rx.local = self.rx.local.wrapping_add(1);
            self.rx
                .word(self.rx.consumer)
                .store(self.rx.local, Ordering::Release);
            if self.in_umem(d.addr, d.len as usize) {
                return Some(RxFrame {
                    addr: d.addr,
                    len: d.len,
                });
            }
        }
    }

    fn in_umem(&self, addr: u64, len: usize) -> bool {
        let base = addr & !(FRAME_SIZE as u64 - 1);
        (addr as usize)
            .checked_add(len)
            .is_some_and(|end| end <= base as usize + FRAME_SIZE && end <= self.umem.len)
    }

    /// The whole frame holding `f`, to read, and the offset of its packet
    /// in it (several may be read at once).
    pub fn frame(&self, f: &RxFrame) -> (&[u8], usize) {
        let base = (f.addr & !(FRAME_SIZE as u64 - 1)) as usize;
        let off = f.addr as usize - base;
        // SAFETY: as for `frame_mut`: the frame is in the UMEM and ours, so
        // the kernel does not write it; &self rules out a mutable view
        // (`frame_mut` takes &mut self) while this one lives.
        let s = unsafe { std::slice::from_raw_parts(self.umem.ptr.as_ptr().add(base), FRAME_SIZE) };
        (s, off)
    }

    /// The whole frame holding `f`, and the offset of its packet in it.
    pub fn frame_mut(&mut self, f: &RxFrame) -> (&mut [u8], usize) {
        let base = (f.addr & !(FRAME_SIZE as u64 - 1)) as usize;
        let off = f.addr as usize - base;
        // SAFETY: `in_umem` checked base + FRAME_SIZE <= umem.len when the
        // frame was taken; user space owns the frame (it came off the rx
        // ring and has not been given back), so the kernel does not touch
        // it; the borrow is tied to `&mut self`, so no other view exists.
        let s =
            unsafe { std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(base), FRAME_SIZE) };
        (s, off)
    }

    /// Puts a frame back on the free list (dropped, or not sent).
    pub fn recycle(&mut self, f: RxFrame) {
        if self.free.len() < self.frames as usize {
            self.free.push(f.addr & !(FRAME_SIZE as u64 - 1));
        }
    }

    /// Free slots on the tx ring.
    pub fn tx_room(&self) -> u32 {
        let cons = self.tx.word(self.tx.consumer).load(Ordering::Acquire);
        self.tx.size - self.tx.local.wrapping_sub(cons)
    }

    /// Queues bytes `[start, start + len)` of the frame for sending (made
    /// visible by [`Xsk::tx_publish`]). Gives the frame back if the ring is
    /// full or the span is outside the frame.
    pub fn send(&mut self, f: RxFrame, start: usize, len: usize) -> Result<(), RxFrame> {
        if start + len > FRAME_SIZE || len == 0 || self.tx_room() == 0 {
            return Err(f);
        }
        let base = f.addr & !(FRAME_SIZE as u64 - 1);
        let d = libc::xdp_desc {
            addr: base + start as u64,
            len: len as u32,
            options: 0,
        };
        // SAFETY: the entry at `local` is ours (tx_room > 0 above).
        unsafe { self.tx.desc_ptr(self.tx.local).write(d) };
        self.tx.local = self.tx.local.wrapping_add(1);
        Ok(())
    }

    /// Publishes the queued tx descriptors to the kernel.
    pub fn tx_publish(&mut self) {
        self.tx
            .word(self.tx.producer)
            .store(self.tx.local, Ordering::Release);
    }

    /// Tx descriptors the kernel has not consumed yet.
    pub fn tx_pending(&self) -> u32 {
        self.tx
            .local
            .wrapping_sub(self.tx.word(self.tx.consumer).load(Ordering::Acquire))
    }

    /// Tells the kernel to send what is on the tx ring. In copy mode one
    /// kick sends at most 32 frames (the kernel's batch): call until
    /// [`Xsk::tx_pending`] is 0. `EAGAIN`/`EBUSY`/`ENOBUFS` are not errors:
    /// the kernel is busy, the frames stay queued.
    pub fn kick(&self) -> io::Result<()> {
        // SAFETY: sendto with no buffer and no address only wakes the
        // kernel's tx path for this socket.
        let r = unsafe {
            libc::sendto(
                self.raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS) => Ok(()),
            _ => Err(e),
        }
    }

    /// Moves the frames the kernel has sent from the completion ring onto
    /// the free list; returns how many.
    pub fn reap(&mut self) -> u32 {
        let prod = self.comp.word(self.comp.producer).load(Ordering::Acquire);
        let n = prod.wrapping_sub(self.comp.local).min(self.comp.size);
        for k in 0..n {
            // SAFETY: entries in [local, prod) are published by the kernel.
            let addr = unsafe { self.comp.addr_ptr(self.comp.local.wrapping_add(k)).read() };
            if (addr as usize) < self.umem.len && self.free.len() < self.frames as usize {
                self.free.push(addr & !(FRAME_SIZE as u64 - 1));
            }
        }
        if n > 0 {
            self.comp.local = self.comp.local.wrapping_add(n);
            self.comp
                .word(self.comp.consumer)
                .store(self.comp.local, Ordering::Release);
        }
        n
    }

    /// The kernel's counters for this socket.
    pub fn stats(&self) -> io::Result<XskStats> {
        let (s, _) = getsockopt::<libc::xdp_statistics>(self.raw_fd(), libc::XDP_STATISTICS)?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_ring_full: s.rx_ring_full,
            rx_fill_empty: s.rx_fill_ring_empty_descs,
            tx_invalid: s.tx_invalid_descs,
        })
    }
}
