//! The ng request path on arbitrary bytes: the cookie split, the bencode
//! scan in one go and resumed in pieces (same verdict, linear work), the
//! decode and the command parse (`rampart::control::ng::fuzz_ng_request`).
//! Nothing may panic or recurse on the input: `flags=flags=...` nesting,
//! oversized flag lists and hostile keys all end in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rampart::control::ng::fuzz_ng_request(data));
