//! The AF_XDP backend's frame parser over arbitrary bytes
//! (`dataplane::fuzz_xdp_frame`): Ethernet, IPv4/IPv6 and UDP headers of a
//! frame that reached the XSK. Nothing may panic; a frame that parses must
//! give a payload inside the frame, and the headers the backend writes for
//! the reply must parse again to the same addresses and length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart::dataplane::fuzz_xdp_frame(data);
});
