//! librampart, the C ABI: not built yet (issue 7).
