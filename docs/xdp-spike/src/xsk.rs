//! A bare AF_XDP socket: UMEM, fill/completion/rx/tx rings. libc only.
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

pub const SOL_XDP: i32 = 283;
pub const FRAME: usize = 2048;
pub const NFRAMES: usize = 4096;
pub const RING: u32 = 2048;

#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
struct RingOff {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
struct MmapOffs {
    rx: RingOff,
    tx: RingOff,
    fr: RingOff,
    cr: RingOff,
}

pub struct Ring {
    prod: *const AtomicU32,
    cons: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
}
impl Ring {
    unsafe fn map(fd: i32, off: &RingOff, n: u32, esz: usize, pgoff: i64) -> io::Result<Ring> {
        let len = off.desc as usize + n as usize * esz;
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let b = p as *mut u8;
        unsafe {
            Ok(Ring {
                prod: b.add(off.producer as usize) as *const AtomicU32,
                cons: b.add(off.consumer as usize) as *const AtomicU32,
                desc: b.add(off.desc as usize),
                mask: n - 1,
            })
        }
    }
    pub fn prod(&self) -> &AtomicU32 {
        unsafe { &*self.prod }
    }
    pub fn cons(&self) -> &AtomicU32 {
        unsafe { &*self.cons }
    }
    pub fn addr_at(&self, i: u32) -> *mut u64 {
        unsafe { (self.desc as *mut u64).add((i & self.mask) as usize) }
    }
    pub fn xdesc_at(&self, i: u32) -> *mut XdpDesc {
        unsafe { (self.desc as *mut XdpDesc).add((i & self.mask) as usize) }
    }
}

#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

pub struct Xsk {
    pub fd: i32,
    pub umem: *mut u8,
    pub fill: Ring,
    pub comp: Ring,
    pub rx: Ring,
    pub tx: Ring,
}

fn so(fd: i32, opt: i32, v: *const libc::c_void, len: usize) -> io::Result<()> {
    if unsafe { libc::setsockopt(fd, SOL_XDP, opt, v, len as u32) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Xsk {
    /// bind flags: XDP_COPY=2, XDP_ZEROCOPY=4, XDP_USE_NEED_WAKEUP=8
    pub fn new(ifindex: u32, queue: u32, bind_flags: u16) -> io::Result<Xsk> {
        unsafe {
            let fd = libc::socket(44, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let size = FRAME * NFRAMES;
            let umem = libc::mmap(
                ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            );
            if umem == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            // struct xdp_umem_reg v1: addr, len, chunk_size, headroom
            let reg: [u64; 3] = [umem as u64, size as u64, FRAME as u64];
            so(fd, 4, reg.as_ptr() as *const _, 24)?;
            let n = RING;
            for opt in [5, 6, 2, 3] {
                so(fd, opt, &n as *const u32 as *const _, 4)?;
            }
            let mut off = MmapOffs::default();
            let mut ol = std::mem::size_of::<MmapOffs>() as u32;
            if libc::getsockopt(fd, SOL_XDP, 1, &mut off as *mut _ as *mut _, &mut ol) < 0 {
                return Err(io::Error::last_os_error());
            }
            let rx = Ring::map(fd, &off.rx, n, 16, 0)?;
            let tx = Ring::map(fd, &off.tx, n, 16, 0x8000_0000)?;
            let fill = Ring::map(fd, &off.fr, n, 8, 0x1_0000_0000)?;
            let comp = Ring::map(fd, &off.cr, n, 8, 0x1_8000_0000)?;
            // Hand the kernel the first half of the frames for receiving.
            for i in 0..n {
                *fill.addr_at(i) = i as u64 * FRAME as u64;
            }
            fill.prod().store(n, Ordering::Release);
            // struct sockaddr_xdp
            #[repr(C)]
            struct Sxdp {
                family: u16,
                flags: u16,
                ifindex: u32,
                queue: u32,
                shared: u32,
            }
            let sa = Sxdp {
                family: 44,
                flags: bind_flags,
                ifindex,
                queue,
                shared: 0,
            };
            if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, 16) < 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(Xsk {
                fd,
                umem: umem as *mut u8,
                fill,
                comp,
                rx,
                tx,
            })
        }
    }
    pub fn frame(&self, addr: u64, len: usize) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.umem.add(addr as usize), len) }
    }
    pub fn kick(&self) {
        unsafe { libc::sendto(self.fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0) };
    }
    /// Completed TX frames go back onto the fill ring.
    pub fn recycle(&self) -> u32 {
        let cp = self.comp.prod().load(Ordering::Acquire);
        let cc = self.comp.cons().load(Ordering::Relaxed);
        let n = cp.wrapping_sub(cc);
        if n == 0 {
            return 0;
        }
        let fp = self.fill.prod().load(Ordering::Relaxed);
        for k in 0..n {
            unsafe {
                *self.fill.addr_at(fp.wrapping_add(k)) = *self.comp.addr_at(cc.wrapping_add(k))
            };
        }
        self.fill
            .prod()
            .store(fp.wrapping_add(n), Ordering::Release);
        self.comp.cons().store(cp, Ordering::Release);
        n
    }
}
