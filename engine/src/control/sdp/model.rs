//! The typed values the SDP accessors return and take: connection
//! addresses and media directions. Parsed on demand from the raw lines.

use std::net::IpAddr;

use super::line::clean_token;

/// The address type of a connection address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    /// The SDP token: `IP4` or `IP6`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }

    /// The address type of an IP address.
    pub fn of(ip: IpAddr) -> AddrType {
        match ip {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }

    pub(super) fn parse(s: &str) -> Option<AddrType> {
        if s.eq_ignore_ascii_case("IP4") {
            Some(AddrType::Ip4)
        } else if s.eq_ignore_ascii_case("IP6") {
            Some(AddrType::Ip6)
        } else {
            None
        }
    }
}

/// An `IN` connection address, as in `c=`, `o=` and `a=rtcp`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub addr_type: AddrType,
    /// The address as written (an IP literal, `0.0.0.0`, or a host name),
    /// without a multicast `/ttl` or `/count` suffix.
    pub address: String,
}

impl Connection {
    /// The connection for an IP address.
    pub fn new(ip: IpAddr) -> Connection {
        Connection {
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
        }
    }

    /// The address as an IP address, if it is an IP literal of the stated
    /// type (not a host name).
    pub fn ip(&self) -> Option<IpAddr> {
        let ip: IpAddr = self.address.parse().ok()?;
        (AddrType::of(ip) == self.addr_type).then_some(ip)
    }

    /// Whether the address is the "hold" address `0.0.0.0` (RFC 2543 style)
    /// or the IPv6 unspecified address.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

impl From<IpAddr> for Connection {
    fn from(ip: IpAddr) -> Connection {
        Connection::new(ip)
    }
}

impl core::fmt::Display for Connection {
    /// `IN IP4 192.0.2.1`: the three fields of `c=`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "IN {} {}",
            self.addr_type.as_str(),
            clean_token(&self.address)
        )
    }
}

/// A media direction attribute (RFC 3264).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name: `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute, if it is one.
    pub fn from_name(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.as_str()))
    }

    /// The direction seen from the other side: `sendonly` ↔ `recvonly`.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}
