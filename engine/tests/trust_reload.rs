//! Reloading the trust list while the node runs: through the API, a list
//! without an agent ends that agent's open TLS connection and refuses its
//! new ones while the others go on; a bad, foreign-signed or older list is
//! refused and the one in force stays; SIGHUP to the `rampart` binary
//! reloads and the node keeps running.

use std::process::Command;
use std::time::{Duration, Instant};

use rampart::config::Config;
use rampart::control::{Node, NodeHandle};
use rampart::trust::secret::hex;
use rampart::trust::Role;
use serde_json::Value;

mod support;

use support::trust::{body_json, listed, read_some, request, Pki, Signer};
use support::Running;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A node whose API is served over TLS to the call agents of the trust list
/// at `dir/ctl.json`, which lists A and B (version 1).
struct Fixture {
    pki: Pki,
    signer: Signer,
    ctl: std::path::PathBuf,
    node: NodeHandle,
}

fn fixture(name: &str, port_min: u16) -> Fixture {
    let dir = support::temp_dir(name);
    let pki = Pki::new();
    let signer = Signer::new();
    let ctl = dir.join("ctl.json");
    signer.write(&ctl, 1, both(&pki));
    let [ca, cert, key] = pki.write_server_files(&dir);
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.api.tls_client_ca = Some(ca);
    c.api.tls_cert = Some(cert);
    c.api.tls_key = Some(key);
    c.media.port_min = port_min;
    c.media.port_max = port_min + 99;
    c.dataplane.workers = 1;
    c.security.trust_list = Some(ctl.clone());
    let node = Node::start(c).expect("node starts");
    assert!(node.info().api_tls);
    Fixture {
        pki,
        signer,
        ctl,
        node,
    }
}

fn both(p: &Pki) -> Vec<rampart::trust::CtlEntry> {
    vec![
        listed(Role::CallAgent, "kamailio-a", &p.agent_a),
        listed(Role::CallAgent, "kamailio-b", &p.agent_b),
    ]
}

fn only_a(p: &Pki) -> Vec<rampart::trust::CtlEntry> {
    vec![listed(Role::CallAgent, "kamailio-a", &p.agent_a)]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ok(r: &Result<String, String>) -> bool {
    matches!(r, Ok(t) if t.starts_with("HTTP/1.1 200"))
}

/// The value of a metric sample line `name` in a /metrics text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn assert_metric(text: &str, name: &str, want: u64) {
    assert_eq!(metric(text, name), Some(want), "{name} in {text}");
}

#[test]
fn reload_closes_connections_of_dropped_agents() {
    let f = fixture("trust-reload-api", 44300);
    let addr = f.node.api_addr();
    let rt = runtime();
    rt.block_on(async {
        // A and B connected, each served on a connection that stays open.
        let mut a = f.pki.connect(addr, &f.pki.agent_a).await.unwrap();
        let mut b = f.pki.connect(addr, &f.pki.agent_b).await.unwrap();
        let r = request(&mut a, "GET", "/health").await;
        assert!(ok(&r), "A refused: {r:?}");
        let r = request(&mut b, "GET", "/health").await;
        assert!(ok(&r), "B refused: {r:?}");

        // A new list without B, reloaded by A through the API.
        f.signer.write(&f.ctl, 2, only_a(&f.pki));
        let r = request(&mut a, "POST", "/policy/trust-list/reload")
            .await
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let report = body_json(&r);
        assert_eq!(report["old_version"], 1, "{report}");
        assert_eq!(report["new_version"], 2, "{report}");
        assert_eq!(report["changed"], true, "{report}");
        assert_eq!(report["added"], Value::Array(vec![]), "{report}");
        assert_eq!(
            report["removed"][0]["sha256"],
            hex(&f.pki.agent_b.sha256),
            "{report}"
        );
        assert_eq!(report["removed"][0]["role"], "call-agent", "{report}");
        assert_eq!(report["connections_closed"], 1, "{report}");

        // B's open connection is ended: it reads the end (or an error)
        // without sending anything more.
        let end = tokio::time::timeout(Duration::from_secs(5), read_some(&mut b))
            .await
            .expect("B's connection is still open after the reload");
        assert!(!matches!(&end, Ok(d) if !d.is_empty()), "B got {end:?}");
        let r = request(&mut b, "GET", "/health").await;
        assert!(r.is_err(), "B served on its old connection: {r:?}");

        // B cannot connect again (TLS 1.3: the refusal comes after the
        // client's handshake completes, so it shows on the request).
        let again = match f.pki.connect(addr, &f.pki.agent_b).await {
            Ok(mut s) => request(&mut s, "GET", "/health").await,
            Err(e) => Err(e),
        };
        assert!(again.is_err(), "B served after removal: {again:?}");

        // A's connection keeps working, and sees the new version.
        let r = request(&mut a, "GET", "/policy").await;
        assert!(ok(&r), "A's connection broke: {r:?}");
        assert_eq!(body_json(&r.unwrap())["trust_list_version"], 2);
        let m = request(&mut a, "GET", "/metrics").await.unwrap();
        assert_metric(&m, "rampart_trust_list_version", 2);
        assert_metric(&m, "rampart_trust_list_reloads_total{result=\"ok\"}", 1);
        assert_metric(&m, "rampart_trust_list_connections_closed_total", 1);
    });
    f.node.shutdown();
}

/// `POST /policy/trust-list/reload` in process: status and JSON body.
fn reload(node: &NodeHandle) -> (u16, Value) {
    let a = node.request("POST", "/policy/trust-list/reload", None);
    (a.status, serde_json::from_str(&a.body).unwrap())
}

/// A reload that must be refused with this status and error code; its
/// answer.
fn refused(node: &NodeHandle, status: u16, code: &str) -> (u16, Value) {
    let r = reload(node);
    assert_eq!(
        (r.0, r.1["error"]["code"].as_str()),
        (status, Some(code)),
        "{r:?}"
    );
    r
}

fn version(node: &NodeHandle) -> Value {
    let a = node.request("GET", "/policy", None);
    serde_json::from_str::<Value>(&a.body).unwrap()["trust_list_version"].clone()
}

#[test]
fn bad_or_older_lists_are_refused_and_the_list_in_force_stays() {
    let f = fixture("trust-reload-bad", 44400);
    let node = &f.node;

    // Not a trust list.
    std::fs::write(&f.ctl, "not json").unwrap();
    refused(node, 422, "trust_list_invalid");
    assert_eq!(version(node), 1);

    // Signed by tokens the list in force does not register.
    Signer::new().write(&f.ctl, 2, only_a(&f.pki));
    let r = refused(node, 422, "trust_list_invalid");
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a token of the last accepted"),
        "{r:?}"
    );
    assert_eq!(version(node), 1);

    // A missing file.
    std::fs::remove_file(&f.ctl).unwrap();
    refused(node, 422, "trust_list_unreadable");
    assert_eq!(version(node), 1);

    // A good version 3 goes in; reloading it again changes nothing.
    f.signer.write(&f.ctl, 3, only_a(&f.pki));
    let r = reload(node);
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(version(node), 3);
    let r = reload(node);
    assert_eq!((r.0, &r.1["changed"]), (200, &Value::Bool(false)), "{r:?}");

    // Older (version 2, B back in) and a reused version: refused, and B
    // stays out.
    f.signer.write(&f.ctl, 2, both(&f.pki));
    refused(node, 409, "trust_list_rollback");
    f.signer.write(&f.ctl, 3, both(&f.pki));
    refused(node, 409, "trust_list_rollback");
    assert_eq!(version(node), 3);
    let b = runtime().block_on(async {
        let mut s = f.pki.connect(node.api_addr(), &f.pki.agent_b).await?;
        request(&mut s, "GET", "/health").await
    });
    assert!(b.is_err(), "B served after a refused rollback: {b:?}");

    let m = node.request("GET", "/metrics", None).body;
    assert_metric(&m, "rampart_trust_list_reloads_total{result=\"failed\"}", 5);
    assert_metric(&m, "rampart_trust_list_reloads_total{result=\"ok\"}", 2);
    f.node.shutdown();
}

#[test]
fn reload_without_a_configured_list_is_refused() {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.media.port_min = 44500;
    c.media.port_max = 44599;
    c.dataplane.workers = 1;
    let node = Node::start(c).unwrap();
    let r = reload(&node);
    assert_eq!(r.0, 409, "{r:?}");
    assert_eq!(r.1["error"]["code"], "trust_list_not_configured", "{r:?}");
    node.shutdown();
}

#[test]
fn sighup_reloads_the_trust_list_of_the_binary() {
    let dir = support::temp_dir("trust-reload-hup");
    let pki = Pki::new();
    let signer = Signer::new();
    let ctl = dir.join("ctl.json");
    signer.write(&ctl, 1, both(&pki));
    let config = dir.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nlisten = \"127.0.0.1:0\"\n[media]\nport_min = 44600\nport_max = 44699\n\
             [dataplane]\nworkers = 1\n[security]\ntrust_list = {:?}\n",
            ctl.display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--config"])
        .arg(&config)
        .env_remove("RAMPART_CONFIG");
    let (mut node, line) = Running::start(cmd);
    let api = support::start_line_api(&line);
    let policy = || body_json(&support::http_get(api, "/policy"))["trust_list_version"].clone();
    assert_eq!(policy(), 1);

    signer.write(&ctl, 2, only_a(&pki));
    let hup = |pid: u32| {
        let s = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(s.success());
    };
    hup(node.0.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while policy() != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        assert!(node.alive(), "the node exited on SIGHUP");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A refused reload (older version) keeps the node and the list.
    signer.write(&ctl, 1, both(&pki));
    hup(node.0.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = "rampart_trust_list_reloads_total{result=\"failed\"}";
    while metric(&support::http_get(api, "/metrics"), failed) != Some(1) {
        assert!(
            Instant::now() < deadline,
            "the refused reload was not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(node.alive());
    assert_eq!(policy(), 2);
}
