//! The media port pool: even RTP ports and their odd RTCP neighbours, per
//! local address.
//!
//! Why a pool instead of binding port 0: signalling puts the RTCP port at
//! RTP + 1 (RFC 3550 §11) unless rtcp-mux is negotiated, operators firewall
//! a known range, and running out of ports must be a distinct, reported
//! condition rather than a random bind error. Allocation walks the range
//! round-robin from where it last stopped, so a port just freed is the last
//! one reused (late packets of an ended call do not land in a new one).
//! Ports another process holds are skipped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Sockets bound for one leg.
pub struct BoundPorts {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (RTP + 1), `None` with rtcp-mux.
    pub rtcp: Option<UdpSocket>,
    /// The local RTP address.
    pub rtp_addr: SocketAddr,
}

/// Why no ports could be had.
#[derive(Debug)]
pub enum PortError {
    /// Every even/odd pair of the range is in use (or held by others).
    Exhausted {
        /// The local address.
        address: IpAddr,
    },
    /// The address is not one the pool serves.
    UnknownAddress(IpAddr),
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortError::Exhausted { address } => {
                write!(f, "no free media port pair left on {address}")
            }
            PortError::UnknownAddress(a) => write!(f, "{a} is not a configured media address"),
        }
    }
}

struct AddressPool {
    used: Vec<bool>, // per pair slot
    /// Per pair slot: held by an offer not answered yet.
    unanswered: Vec<bool>,
    used_count: usize,
    unanswered_count: usize,
    cursor: usize,
}

/// Port pair slots per address over one range.
pub struct PortPool {
    first_even: u16,
    slots: usize,
    pools: HashMap<IpAddr, AddressPool>,
}

/// Free/used pair counts of one address, for metrics.
#[derive(Debug, Clone)]
pub struct PoolUsage {
    /// The local address.
    pub address: IpAddr,
    /// Pair slots in use by calls.
    pub used: usize,
    /// Pair slots not in use.
    pub free: usize,
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Binds the RTP port `rtp` and its RTCP neighbour (RTP + 1) again, for a
/// pair the pool already reserved to a call whose sockets were closed.
pub fn bind_pair(rtp: SocketAddr) -> std::io::Result<BoundPorts> {
    let rtcp_port = rtp.port().checked_add(1).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no RTCP port above 65535")
    })?;
    let rtp_sock = bind_udp(rtp)?;
    let rtcp = bind_udp(SocketAddr::new(rtp.ip(), rtcp_port))?;
    Ok(BoundPorts {
        rtp: rtp_sock,
        rtcp: Some(rtcp),
        rtp_addr: rtp,
    })
}

impl PortPool {
    /// A pool over `port_min..=port_max` for each address.
    /// A range with no even/odd pair (port_min 65535, min > max) gives no
    /// slots: every allocation is refused, nothing wraps to port 0.
    pub fn new(addresses: &[IpAddr], port_min: u16, port_max: u16) -> PortPool {
        let first_even = port_min.checked_add(port_min % 2);
        let (first_even, slots) = match first_even {
            // Pairs (first_even + 2i, first_even + 2i + 1), all ≤ port_max.
            Some(e) if e < port_max => (e, usize::from(port_max - e).div_ceil(2)),
            _ => (u16::MAX, 0),
        };
        let pools = addresses
            .iter()
            .map(|a| {
                (
                    *a,
                    AddressPool {
                        used: vec![false; slots],
                        unanswered: vec![false; slots],
                        used_count: 0,
                        unanswered_count: 0,
                        cursor: 0,
                    },
                )
            })
            .collect();
        PortPool {
            first_even,
            slots,
            pools,
        }
    }

    /// Binds an even RTP port (and RTP + 1 unless `rtcp_mux`) on `address`.
    pub fn allocate(&mut self, address: IpAddr, rtcp_mux: bool) -> Result<BoundPorts, PortError> {
        self.allocate_as(address, rtcp_mux, false)
    }

    /// Like [`PortPool::allocate`], for an offer not answered yet: the pair
    /// counts against [`PortPool::unanswered_full`] until
    /// [`PortPool::confirm`] (the answer) or [`PortPool::release`].
    pub fn allocate_unanswered(
        &mut self,
        address: IpAddr,
        rtcp_mux: bool,
    ) -> Result<BoundPorts, PortError> {
        self.allocate_as(address, rtcp_mux, true)
    }

    /// `Some((held, limit))` when pairs held by unanswered offers on
    /// `address` have reached `percent` % of its pairs (at least one pair
    /// is always allowed): unanswered offers can never take the whole pool.
    pub fn unanswered_full(&self, address: IpAddr, percent: u32) -> Option<(usize, usize)> {
        let pool = self.pools.get(&address)?;
        let limit = (self.slots.saturating_mul(percent.min(100) as usize) / 100).max(1);
        (pool.unanswered_count >= limit).then_some((pool.unanswered_count, limit))
    }

    /// The offer holding the pair whose RTP port is `rtp` was answered.
    pub fn confirm(&mut self, rtp: SocketAddr) {
        if let Some(i) = self.slot_of(rtp) {
            if let Some(pool) = self.pools.get_mut(&rtp.ip()) {
                if pool.unanswered[i] {
                    pool.unanswered[i] = false;
                    pool.unanswered_count -= 1;
                }
            }
        }
    }

    fn slot_of(&self, rtp: SocketAddr) -> Option<usize> {
        let off = rtp.port().checked_sub(self.first_even)?;
        let i = usize::from(off / 2);
        (off % 2 == 0 && i < self.slots).then_some(i)
    }

    fn allocate_as(
        &mut self,
        address: IpAddr,
        rtcp_mux: bool,
        unanswered: bool,
    ) -> Result<BoundPorts, PortError> {
        let slots = self.slots;
        let first_even = self.first_even;
        let pool = self
            .pools
            .get_mut(&address)
            .ok_or(PortError::UnknownAddress(address))?;
        for step in 0..slots {
            let i = (pool.cursor + step) % slots;
            if pool.used[i] {
                continue;
            }
            let Some((port, rtcp_port)) = u16::try_from(i)
                .ok()
                .and_then(|i| i.checked_mul(2))
                .and_then(|o| first_even.checked_add(o))
                .and_then(|p| Some((p, p.checked_add(1)?)))
            else {
                continue;
            };
            let rtp_addr = SocketAddr::new(address, port);
            let Ok(rtp) = bind_udp(rtp_addr) else {
                continue;
            };
            let rtcp = if rtcp_mux {
                None
            } else {
                match bind_udp(SocketAddr::new(address, rtcp_port)) {
                    Ok(s) => Some(s),
                    Err(_) => continue,
                }
            };
            pool.used[i] = true;
            pool.used_count += 1;
            if unanswered {
                pool.unanswered[i] = true;
                pool.unanswered_count += 1;
            }
            pool.cursor = (i + 1) % slots;
            return Ok(BoundPorts {
                rtp,
                rtcp,
                rtp_addr,
            });
        }
        Err(PortError::Exhausted { address })
    }

    /// Binds the pair at `rtp` exactly (RTP, and RTCP on the next port
    /// unless `rtcp_mux`) for a call taken over from another node, and
    /// marks it used when it lies in this pool (a pair outside the pool,
    /// the other node's range, is only bound).
    pub fn take_exact(&mut self, rtp: SocketAddr, rtcp_mux: bool) -> std::io::Result<BoundPorts> {
        let bound = if rtcp_mux {
            BoundPorts {
                rtp: bind_udp(rtp)?,
                rtcp: None,
                rtp_addr: rtp,
            }
        } else {
            bind_pair(rtp)?
        };
        if let Some(i) = self.slot_of(rtp) {
            if let Some(pool) = self.pools.get_mut(&rtp.ip()) {
                if !pool.used[i] {
                    pool.used[i] = true;
                    pool.used_count += 1;
                }
            }
        }
        Ok(bound)
    }

    /// Returns the pair whose RTP port is `rtp` to the pool.
    pub fn release(&mut self, rtp: SocketAddr) {
        let Some(i) = self.slot_of(rtp) else { return };
        if let Some(pool) = self.pools.get_mut(&rtp.ip()) {
            if pool.used[i] {
                pool.used[i] = false;
                pool.used_count -= 1;
            }
            if pool.unanswered[i] {
                pool.unanswered[i] = false;
                pool.unanswered_count -= 1;
            }
        }
    }

    /// Usage per address, for metrics.
    pub fn usage(&self) -> Vec<PoolUsage> {
        let mut v: Vec<PoolUsage> = self
            .pools
            .iter()
            .map(|(a, p)| PoolUsage {
                address: *a,
                used: p.used_count,
                free: self.slots - p.used_count,
            })
            .collect();
        v.sort_by_key(|u| u.address);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn exhausts_and_releases() {
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // 2 pairs: 46950/46951 and 46952/46953.
        let mut p = PortPool::new(&[a], 46949, 46953);
        let x = p.allocate(a, false).unwrap();
        assert_eq!(x.rtp_addr.port() % 2, 0);
        assert!(x.rtcp.is_some());
        let y = p.allocate(a, true).unwrap();
        assert!(y.rtcp.is_none());
        assert!(matches!(
            p.allocate(a, false),
            Err(PortError::Exhausted { .. })
        ));
        assert_eq!(p.usage()[0].used, 2);
        drop(x.rtp);
        drop(x.rtcp);
        p.release(x.rtp_addr);
        assert_eq!(p.usage()[0].free, 1);
        assert!(p.allocate(a, false).is_ok());
    }

    #[test]
    fn unanswered_offers_cannot_take_the_whole_pool() {
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // 4 pairs: 46960..46967; unanswered offers may hold 50 % = 2.
        let mut p = PortPool::new(&[a], 46960, 46967);
        assert_eq!(p.unanswered_full(a, 50), None);
        let x = p.allocate_unanswered(a, true).unwrap();
        let y = p.allocate_unanswered(a, true).unwrap();
        assert_eq!(p.unanswered_full(a, 50), Some((2, 2)));
        // Answered: no longer counted; released: neither.
        p.confirm(x.rtp_addr);
        assert_eq!(p.unanswered_full(a, 50), None);
        drop(y.rtp);
        p.release(y.rtp_addr);
        assert_eq!(p.usage()[0].used, 1);
        assert_eq!(p.unanswered_full(a, 50), None);
        assert_eq!(p.unanswered_full(a, 0), None, "one pair is always allowed");
    }

    #[test]
    fn pool_at_the_top_of_the_port_space_never_wraps() {
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // No pair fits: nothing is handed out (never port 0 / RTCP 1).
        for (min, max) in [(65535, 65535), (65535, 1), (9, 3)] {
            let mut p = PortPool::new(&[a], min, max);
            assert!(matches!(
                p.allocate(a, false),
                Err(PortError::Exhausted { .. })
            ));
            assert_eq!(p.usage()[0].free, 0);
        }
        // The last pair of the port space.
        let mut p = PortPool::new(&[a], 65534, 65535);
        assert_eq!(p.usage()[0].free, 1);
        if let Ok(x) = p.allocate(a, false) {
            assert_eq!(x.rtp_addr.port(), 65534);
        }
    }
}
