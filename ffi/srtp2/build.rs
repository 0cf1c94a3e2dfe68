//! Gives the shared library its soname: `librampart-srtp2.so.1` (the `1`
//! is libsrtp2's ABI), or `libsrtp2.so.1` when built with
//! `RAMPART_SRTP2_SONAME=libsrtp2.so.1` (`make -C ffi/srtp2
//! install-as-libsrtp2`), so programs linked against libsrtp2 load it
//! under libsrtp2's own name.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RAMPART_SRTP2_SONAME");
    let soname =
        std::env::var("RAMPART_SRTP2_SONAME").unwrap_or_else(|_| "librampart-srtp2.so.1".into());
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os.ends_with("bsd") || os == "android" || os == "dragonfly" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
}
