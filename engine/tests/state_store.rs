//! The state store on a real Redis (started and stopped here, loopback
//! only): sealed call states and their ordered log survive a Redis
//! restart, and nothing the store holds contains a key byte.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart::control::store::redis::RedisStore;
use rampart::control::store::seal::{Kek, Keyring};
use rampart::control::store::{self, EventId, EventKind, StateStore};
use serde_json::json;

use support::redis::{free_port, Redis};

fn keyring() -> Keyring {
    Keyring::new(Kek::new(1, [0x42; 32]), Vec::new())
}

#[test]
fn sealed_calls_and_their_log_survive_a_redis_restart() {
    let dir = support::temp_dir("state-store-restart");
    let port = free_port();
    let redis = Redis::start(&dir, port);
    let st = RedisStore::new(&redis.url(), "rampart-test").unwrap();
    let keys = keyring();
    for id in ["a", "b", "c"] {
        store::save_call(&st, &keys, id, &json!({"call_id": id, "n": 1}), "t/1").unwrap();
    }
    st.delete_call("b", "t/1").unwrap();
    let log = st.events_after(&EventId::default(), 100).unwrap();
    let seen: Vec<(&str, EventKind)> = log.iter().map(|e| (e.call_id.as_str(), e.kind)).collect();
    assert_eq!(
        seen,
        [
            ("a", EventKind::Put),
            ("b", EventKind::Put),
            ("c", EventKind::Put),
            ("b", EventKind::Delete)
        ]
    );
    // Reading resumes after the last change seen.
    assert_eq!(st.events_after(&log[1].id, 100).unwrap(), log[2..].to_vec());

    // Redis restarts (same data directory): the store reconnects by
    // itself; nothing is lost.
    drop(redis);
    assert!(st.load_calls().is_err(), "Redis is down");
    let redis = Redis::start(&dir, port);
    let mut calls = store::load_calls(&st, &keys).unwrap();
    calls.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1["call_id"], "a");
    assert_eq!(calls[1].1["call_id"], "c");
    assert_eq!(st.events_after(&EventId::default(), 100).unwrap(), log);
    store::save_call(&st, &keys, "d", &json!({"call_id": "d"}), "t/1").unwrap();
    assert_eq!(st.events_after(&log[3].id, 100).unwrap().len(), 1);
    drop(redis);
}

#[test]
fn the_store_holds_no_key_bytes() {
    let dir = support::temp_dir("state-store-keys");
    let redis = Redis::start(&dir, free_port());
    let st = RedisStore::new(&redis.url(), "rampart-test").unwrap();
    let keys = keyring();
    // A real call's state, with its keys: an HTTP call through a node.
    let mut c = rampart::config::Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = 45800;
    c.media.port_max = 45899;
    let node = rampart::control::Node::start(c).unwrap();
    let answer = rampart::control::embedded::create_call(
        node.shared(),
        r#"{"call_id": "keyed", "legs": [{}, {"suite": "AEAD_AES_256_GCM"}]}"#,
    );
    assert!(answer.ok(), "{}", answer.body);
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let slot = node.shared().calls.get("keyed").unwrap();
    let snapshot = slot
        .command(|r| r.snapshot().unwrap())
        .expect("the call runs");
    store::save_call(&st, &keys, "keyed", &snapshot, "t/1").unwrap();
    // Every key the node issued for the call, as raw bytes and as text.
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for leg in answer["legs"].as_array().unwrap() {
        for dir in ["inbound", "outbound"] {
            let b64 = leg["keys"][dir]["key"].as_str().unwrap();
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            secrets.push(raw[..16].to_vec());
            secrets.push(b64.as_bytes()[..20].to_vec());
            let hex: String = raw.iter().map(|x| format!("{x:02x}")).collect();
            secrets.push(hex.as_bytes()[..24].to_vec());
        }
    }
    // The snapshot itself holds them (so the check below can fail) ...
    let plain = serde_json::to_vec(&snapshot).unwrap();
    assert!(secrets
        .iter()
        .any(|k| plain.windows(k.len()).any(|w| w == k)));
    // ... and neither Redis's memory nor its files do.
    let mut held: Vec<u8> = Vec::new();
    for (_, sealed) in st.load_calls().unwrap() {
        held.extend(sealed);
    }
    held.extend(redis.disk_bytes());
    for k in &secrets {
        assert!(
            !held.windows(k.len()).any(|w| w == &k[..]),
            "a key's bytes are in the store"
        );
    }
    // And the sealed state opens back to the snapshot.
    let back = store::load_calls(&st, &keys).unwrap();
    assert_eq!(back, vec![("keyed".to_string(), snapshot)]);
    node.shutdown();
}

/// A KEK file of mode 0600 in `dir`, and the keyring that reads it.
fn kek_file(dir: &Path) -> (PathBuf, Keyring) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("kek.hex");
    std::fs::write(&path, "5a".repeat(32)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (path, Keyring::new(Kek::new(1, [0x5a; 32]), Vec::new()))
}

#[test]
fn a_node_writes_call_state_before_it_answers() {
    use support::ng::{get, l, m_lines, ng_config, ok, phone_sockets, s, sdp, Ng, B};
    let dir = support::temp_dir("state-store-node");
    let port = free_port();
    let redis = Redis::start(&dir, port);
    let (kek, keys) = kek_file(&dir);
    let mut c = ng_config(46000, 1, "state-store-node");
    c.store.url = Some(redis.url());
    c.store.prefix = "node-test".into();
    c.store.kek_file = Some(kek);
    c.store.kek_id = 1;
    let node = rampart::control::Node::start(c).expect("node starts");
    let mut ng = Ng::new(node.info().ng.udp.unwrap());
    let st = RedisStore::new(&redis.url(), "node-test").unwrap();
    let items = |cmd: &str, sdp: &str| -> Vec<(&'static str, B)> {
        let mut v = vec![
            ("sdp", s(sdp)),
            ("rampart-device", s(support::TEST_DEVICE)),
            ("call-id", s("stored-call")),
            ("received-from", l(&["IP4", "127.0.0.1"])),
            ("from-tag", s("tag-a")),
        ];
        if cmd == "answer" {
            v.push(("to-tag", s("tag-b")));
        }
        v.push(("command", s(cmd)));
        v
    };
    let [a_rtp, a_rtcp] = phone_sockets(Duration::from_secs(1));
    let [b_rtp, b_rtcp] = phone_sockets(Duration::from_secs(1));
    ok(&ng.req(&items(
        "offer",
        &sdp(1, &[m_lines("audio", "RTP/AVP", "0", &a_rtp, &a_rtcp)]),
    )));
    // The offer's reply came after its state was stored.
    let stored = store::load_calls(&st, &keys).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "stored-call");
    assert_eq!(stored[0].1["call"]["tags"][0], "tag-a");
    ok(&ng.req(&items(
        "answer",
        &sdp(1, &[m_lines("audio", "RTP/AVP", "0", &b_rtp, &b_rtcp)]),
    )));
    let stored = store::load_calls(&st, &keys).unwrap();
    assert_eq!(
        stored[0].1["call"]["tags"][1], "tag-b",
        "the answer is stored too"
    );
    // A query changes nothing and writes nothing.
    let before = st.events_after(&EventId::default(), 100).unwrap().len();
    ok(&ng.req(&[("command", s("query")), ("call-id", s("stored-call"))]));
    assert_eq!(
        st.events_after(&EventId::default(), 100).unwrap().len(),
        before
    );
    // Redis goes away: signalling goes on, the failure is counted.
    drop(redis);
    let r = ng.req(&[("command", s("query")), ("call-id", s("stored-call"))]);
    assert_eq!(get(&r, "result"), "ok");
    ok(&ng.req(&items(
        "offer",
        &sdp(2, &[m_lines("audio", "RTP/AVP", "0", &a_rtp, &a_rtcp)]),
    )));
    let health = support::http_get(node.info().api_addr, "/health");
    let body = &health[health.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let health: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert!(
        health["store"]["failed"].as_u64().unwrap_or(0) >= 1,
        "{health}"
    );
    // Back: the next change writes the whole call again; the end removes it.
    let redis = Redis::start(&dir, port);
    ok(&ng.req(&items(
        "answer",
        &sdp(2, &[m_lines("audio", "RTP/AVP", "0", &b_rtp, &b_rtcp)]),
    )));
    assert_eq!(store::load_calls(&st, &keys).unwrap().len(), 1);
    ok(&ng.req(&[
        ("command", s("delete")),
        ("call-id", s("stored-call")),
        ("delete delay", B::I(0)),
    ]));
    assert!(
        st.load_calls().unwrap().is_empty(),
        "an ended call leaves the store"
    );
    let log = st.events_after(&EventId::default(), 100).unwrap();
    assert_eq!(log.last().map(|e| e.kind), Some(EventKind::Delete));
    node.shutdown();
    drop(redis);
}
