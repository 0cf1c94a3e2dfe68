//! The ABI is libsrtp 2.5's: `tests/c/layout.c` prints struct sizes and
//! field offsets, enum and macro values, what every policy setter and
//! profile helper writes, and a few calls' statuses. Compiled against the
//! system libsrtp2 (Debian's 2.5) and against the drop-in's header and
//! library, the two outputs must be identical line for line; and the Rust
//! `#[repr(C)]` structs (`rampart_srtp2::abi`) must have the C offsets.

mod common;

use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::process::Command;

use rampart_srtp2::abi::*;

fn run_layout(tag: &str, include: &[String], libs: &[String]) -> String {
    let dir = common::stage("layout");
    let exe = dir.join(format!("layout-{tag}"));
    let mut args = include.to_vec();
    args.extend_from_slice(libs);
    common::compile(
        &[common::manifest_dir().join("tests/c/layout.c")],
        &exe,
        &args,
    );
    let out = Command::new(&exe).output().expect("run layout");
    assert!(out.status.success(), "{tag}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn drop_in() -> String {
    let dir = common::stage("layout");
    let lib = dir.join("lib");
    run_layout(
        "drop-in",
        &[format!(
            "-I{}",
            common::manifest_dir().join("include").display()
        )],
        &[
            format!("-L{}", lib.display()),
            "-lrampart-srtp2".into(),
            format!("-Wl,-rpath,{}", lib.display()),
        ],
    )
}

#[test]
fn the_abi_is_libsrtp_2_5s() {
    let Some(real) = common::real_or_skip() else {
        return;
    };
    let include = real.include.parent().expect("<includedir>/srtp2");
    let theirs = run_layout(
        "libsrtp2",
        &[format!("-I{}", include.display())],
        &real.libs,
    );
    let ours = drop_in();
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    assert!(t.len() > 120, "layout printed too little:\n{theirs}");
    assert_eq!(t.len(), o.len(), "libsrtp2:\n{theirs}\ndrop-in:\n{ours}");
    let differ: Vec<String> = t
        .iter()
        .zip(&o)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("libsrtp2: {a}\ndrop-in : {b}"))
        .collect();
    assert!(differ.is_empty(), "the ABI differs:\n{}", differ.join("\n"));
}

#[test]
fn the_rust_structs_have_the_c_layout() {
    let out = drop_in();
    let c: HashMap<&str, usize> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("sizeof" | "offsetof"), Some(name), Some(v)) => Some((name, v.parse().ok()?)),
                _ => None,
            }
        })
        .collect();
    let rust: [(&str, usize); 30] = [
        ("srtp_policy_t", size_of::<srtp_policy_t>()),
        ("srtp_policy_t.ssrc", offset_of!(srtp_policy_t, ssrc)),
        ("srtp_policy_t.rtp", offset_of!(srtp_policy_t, rtp)),
        ("srtp_policy_t.rtcp", offset_of!(srtp_policy_t, rtcp)),
        ("srtp_policy_t.key", offset_of!(srtp_policy_t, key)),
        ("srtp_policy_t.keys", offset_of!(srtp_policy_t, keys)),
        (
            "srtp_policy_t.num_master_keys",
            offset_of!(srtp_policy_t, num_master_keys),
        ),
        (
            "srtp_policy_t.deprecated_ekt",
            offset_of!(srtp_policy_t, deprecated_ekt),
        ),
        (
            "srtp_policy_t.window_size",
            offset_of!(srtp_policy_t, window_size),
        ),
        (
            "srtp_policy_t.allow_repeat_tx",
            offset_of!(srtp_policy_t, allow_repeat_tx),
        ),
        (
            "srtp_policy_t.enc_xtn_hdr",
            offset_of!(srtp_policy_t, enc_xtn_hdr),
        ),
        (
            "srtp_policy_t.enc_xtn_hdr_count",
            offset_of!(srtp_policy_t, enc_xtn_hdr_count),
        ),
        ("srtp_policy_t.next", offset_of!(srtp_policy_t, next)),
        ("srtp_crypto_policy_t", size_of::<srtp_crypto_policy_t>()),
        (
            "srtp_crypto_policy_t.cipher_type",
            offset_of!(srtp_crypto_policy_t, cipher_type),
        ),
        (
            "srtp_crypto_policy_t.cipher_key_len",
            offset_of!(srtp_crypto_policy_t, cipher_key_len),
        ),
        (
            "srtp_crypto_policy_t.auth_type",
            offset_of!(srtp_crypto_policy_t, auth_type),
        ),
        (
            "srtp_crypto_policy_t.auth_key_len",
            offset_of!(srtp_crypto_policy_t, auth_key_len),
        ),
        (
            "srtp_crypto_policy_t.auth_tag_len",
            offset_of!(srtp_crypto_policy_t, auth_tag_len),
        ),
        (
            "srtp_crypto_policy_t.sec_serv",
            offset_of!(srtp_crypto_policy_t, sec_serv),
        ),
        ("srtp_ssrc_t", size_of::<srtp_ssrc_t>()),
        ("srtp_ssrc_t.type", offset_of!(srtp_ssrc_t, r#type)),
        ("srtp_ssrc_t.value", offset_of!(srtp_ssrc_t, value)),
        ("srtp_master_key_t", size_of::<srtp_master_key_t>()),
        ("srtp_master_key_t.key", offset_of!(srtp_master_key_t, key)),
        (
            "srtp_master_key_t.mki_id",
            offset_of!(srtp_master_key_t, mki_id),
        ),
        (
            "srtp_master_key_t.mki_size",
            offset_of!(srtp_master_key_t, mki_size),
        ),
        ("srtp_event_data_t", size_of::<srtp_event_data_t>()),
        (
            "srtp_event_data_t.ssrc",
            offset_of!(srtp_event_data_t, ssrc),
        ),
        (
            "srtp_event_data_t.event",
            offset_of!(srtp_event_data_t, event),
        ),
    ];
    for (name, r) in rust {
        assert_eq!(
            c.get(name),
            Some(&r),
            "{name}: C says {:?}, Rust {r}",
            c.get(name)
        );
    }
}
