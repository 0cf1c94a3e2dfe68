//! Classified outcomes of failed calls: what the callers decide on, so no
//! errno value travels above this crate.
//!
//! A relay that fails to send one datagram drops it and goes on; what
//! differs is *why*, because the why picks the counter and, for a GSO send,
//! whether to give up GSO on the socket. [`SendError`] names those cases.

use std::fmt;
use std::io;

/// Why a send (`sendmmsg`, `sendto`, an io_uring send) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The socket's send buffer is full (`EAGAIN`/`EWOULDBLOCK`).
    WouldBlock,
    /// The device queue or the kernel's buffers are full (`ENOBUFS`).
    NoBuffers,
    /// A signal arrived before anything was sent (`EINTR`); try again.
    Interrupted,
    /// The datagram is longer than the path or the socket takes
    /// (`EMSGSIZE`).
    MessageTooBig,
    /// The device failed the send (`EIO`), as some do for a GSO send they
    /// cannot segment.
    DeviceError,
    /// The kernel rejected the request's shape (`EINVAL`), e.g. a GSO
    /// segment size the socket does not allow.
    InvalidRequest,
    /// An earlier datagram drew an ICMP "port unreachable"
    /// (`ECONNREFUSED`).
    ConnectionRefused,
    /// No route to the destination (`EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// Anything else.
    Fatal(io::Error),
}

impl SendError {
    /// Classifies an `errno` value (positive; an io_uring result is its
    /// negation).
    pub fn from_errno(errno: i32) -> SendError {
        match errno {
            libc::EAGAIN => SendError::WouldBlock,
            libc::ENOBUFS => SendError::NoBuffers,
            libc::EINTR => SendError::Interrupted,
            libc::EMSGSIZE => SendError::MessageTooBig,
            libc::EIO => SendError::DeviceError,
            libc::EINVAL => SendError::InvalidRequest,
            libc::ECONNREFUSED => SendError::ConnectionRefused,
            libc::EHOSTUNREACH | libc::ENETUNREACH => SendError::Unreachable,
            _ => SendError::Fatal(io::Error::from_raw_os_error(errno)),
        }
    }

    /// The error of the call that just failed (`errno`).
    pub(crate) fn last() -> SendError {
        SendError::from(io::Error::last_os_error())
    }

    /// The sender is congested (socket buffer or device queue full): the
    /// datagram is dropped for overload, and the next ones may go.
    pub fn is_congestion(&self) -> bool {
        matches!(self, SendError::WouldBlock | SendError::NoBuffers)
    }

    /// The kernel or device refused a GSO send as such (`EIO`, `EINVAL`,
    /// `EMSGSIZE`): the same datagrams may go one by one.
    pub fn refuses_gso(&self) -> bool {
        matches!(
            self,
            SendError::DeviceError | SendError::InvalidRequest | SendError::MessageTooBig
        )
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> SendError {
        match e.raw_os_error() {
            Some(errno) => SendError::from_errno(errno),
            None => SendError::Fatal(e),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::WouldBlock => f.write_str("send buffer full"),
            SendError::NoBuffers => f.write_str("no buffer space (device queue full)"),
            SendError::Interrupted => f.write_str("interrupted"),
            SendError::MessageTooBig => f.write_str("message too big"),
            SendError::DeviceError => f.write_str("device I/O error"),
            SendError::InvalidRequest => f.write_str("invalid request"),
            SendError::ConnectionRefused => f.write_str("connection refused"),
            SendError::Unreachable => f.write_str("destination unreachable"),
            SendError::Fatal(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Fatal(e) => Some(e),
            _ => None,
        }
    }
}

/// The symbolic name of the errno behind `e` for the set-up calls whose
/// failure says why a backend cannot run here (`EPERM`: no privilege,
/// `EOPNOTSUPP`: the driver lacks it, ...); any other error as it prints.
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP".into(),
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EINVAL) => "EINVAL".into(),
        Some(libc::EBUSY) => "EBUSY".into(),
        Some(libc::ENOMEM) => "ENOMEM".into(),
        Some(libc::ENODEV) => "ENODEV".into(),
        Some(libc::EAFNOSUPPORT) => "EAFNOSUPPORT".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_classify() {
        assert!(SendError::from_errno(libc::EAGAIN).is_congestion());
        assert!(SendError::from_errno(libc::EWOULDBLOCK).is_congestion());
        assert!(SendError::from_errno(libc::ENOBUFS).is_congestion());
        for e in [libc::EIO, libc::EINVAL, libc::EMSGSIZE] {
            let c = SendError::from_errno(e);
            assert!(c.refuses_gso() && !c.is_congestion(), "{e}");
        }
        let refused = SendError::from(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(matches!(refused, SendError::ConnectionRefused));
        assert!(!refused.is_congestion() && !refused.refuses_gso());
        let other = SendError::from_errno(libc::EBADF);
        assert!(matches!(&other, SendError::Fatal(e) if e.raw_os_error() == Some(libc::EBADF)));
        assert!(std::error::Error::source(&other).is_some());
        let custom = SendError::from(io::Error::other("x"));
        assert_eq!(custom.to_string(), "x");
    }

    #[test]
    fn errno_names() {
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(libc::EPERM)),
            "EPERM"
        );
        assert_eq!(errno_name(&io::Error::other("why")), "why");
    }
}
