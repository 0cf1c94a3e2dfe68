//! Gives the shared library its soname, `librampart.so.<ABI>`, so that C
//! programs linked against it record the ABI they were built for.

/// The ABI version: bumped on every incompatible change to `rampart.h`
/// (kept equal to `RAMPART_ABI_VERSION` in src/lib.rs by a unit test).
const ABI_VERSION: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=RAMPART_BUILD_ABI_VERSION={ABI_VERSION}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "solaris"
            | "illumos"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librampart.so.{ABI_VERSION}");
    } else if os == "macos" || os == "ios" {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/librampart.{ABI_VERSION}.dylib"
        );
    }
}
