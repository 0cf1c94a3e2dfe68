//! The AF_XDP backend: frames to and from an XSK, bypassing the kernel's UDP stack.

pub(crate) mod frame;
