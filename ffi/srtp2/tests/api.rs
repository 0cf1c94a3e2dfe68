//! What the drop-in promises beyond libsrtp's behaviour, through its C
//! API (`tests/c/api.c`): protect writes only the trailer it reports (an
//! exact-size heap buffer, checked by valgrind and by canary bytes); NULL
//! sessions, policies, buffers and length pointers are refused with
//! `srtp_err_status_bad_param` (libsrtp crashes); the event handler sees a
//! stream used both ways; re-adding a stream replaces it; ROC set/get in
//! host order, removal in network order; a second template, an
//! unauthenticated policy and SRTCP on an RTCP-less stream are refused;
//! no leak. Also linked statically against `librampart_srtp2.a`. And
//! `srtp_set_stream_use_cryptex` (libsrtp 2.8's RFC 9335 switch) against
//! RFC 9335's packets (`tests/c/cryptex.c`).

mod common;

use std::process::Command;

fn run(exe: &std::path::Path) {
    let mut cmd = common::command(exe, common::valgrind(), "definite");
    let out = cmd.output().expect("run api");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("api: ok"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_c_api_keeps_its_promises() {
    let dir = common::stage("api");
    let lib = dir.join("lib");
    let exe = dir.join("api");
    common::compile(
        &[common::manifest_dir().join("tests/c/api.c")],
        &exe,
        &[
            format!("-I{}", common::manifest_dir().join("include").display()),
            format!("-L{}", lib.display()),
            "-lrampart-srtp2".into(),
            format!("-Wl,-rpath,{}", lib.display()),
        ],
    );
    run(&exe);
}

#[test]
fn the_static_library_links_and_runs() {
    let dir = common::stage("api-static");
    let exe = dir.join("api-static");
    let a = common::profile_dir().join("deps/librampart_srtp2.a");
    let a = if a.exists() {
        a
    } else {
        common::profile_dir().join("librampart_srtp2.a")
    };
    common::compile(
        &[common::manifest_dir().join("tests/c/api.c")],
        &exe,
        &[
            format!("-I{}", common::manifest_dir().join("include").display()),
            a.display().to_string(),
            // The SRTP core lives in the engine crate, which links OpenSSL
            // (for DTLS) too: librampart-srtp2.pc's Libs.private.
            "-lssl".into(),
            "-lcrypto".into(),
            "-lpthread".into(),
            "-ldl".into(),
            "-lm".into(),
        ],
    );
    let out = Command::new(&exe).output().expect("run api-static");
    assert!(out.status.success(), "{out:?}");
}

/// `srtp_set_stream_use_cryptex` (`tests/c/cryptex.c`): RFC 9335's
/// packets byte for byte through the C API, on a stream and on a
/// template; its refusals.
#[test]
fn cryptex_through_the_c_api() {
    let dir = common::stage("cryptex");
    let lib = dir.join("lib");
    let exe = dir.join("cryptex");
    common::compile(
        &[common::manifest_dir().join("tests/c/cryptex.c")],
        &exe,
        &[
            format!("-I{}", common::manifest_dir().join("include").display()),
            format!("-L{}", lib.display()),
            "-lrampart-srtp2".into(),
            format!("-Wl,-rpath,{}", lib.display()),
        ],
    );
    let out = Command::new(&exe).output().expect("run cryptex");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("cryptex: ok"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
