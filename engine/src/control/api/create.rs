//! Creating a call: each leg's request checked and decided by the policy,
//! keys taken or generated, ports bound, flows installed, the call stored.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::control::calls::webrtc::{self, allowed_profiles, dtls_fits, WebrtcLeg};
use crate::control::sdp::webrtc::Setup;
use crate::dataplane::{CallFlows, LegCounters, LegFlows, LegId, RtpSocket};
use crate::dtls::{Fingerprint, Role};
use crate::policy::{
    CallSecurityState, LegDecision, Media, Policy as SecurityPolicy, SecurityMode,
};
use crate::srtp::Suite;

use super::super::calls::install;
use super::super::calls::now_ms;
use super::super::calls::{blocking, AdmitError, Origin};
use super::super::keys::{self, KeyText};
use super::super::ports::{BoundPorts, PortError};
use super::super::security::{mode_of_suite, LegWho};
use super::super::shared::Shared;
use super::record::{
    add_policy_json, forward_mode, leg_json, Call, Family, KeyState, Leg, LegKeys, LegMode,
    LegPolicy,
};
use super::requests::{CreateCall, KeyAnswer, LegRequest};
use super::{ApiError, ApiJson};

/// A leg's parsed request, keys resolved, policy decided.
struct LegPlan {
    req: LegRequest,
    mode: LegMode,
    /// ICE and DTLS-SRTP with the leg's peer.
    webrtc: WebrtcLeg,
    keys: Option<(LegKeys, bool, bool)>, // keys, inbound generated, outbound generated
    address: IpAddr,
    replay_window: usize,
    policy: LegPolicy,
    warnings: Vec<String>,
    /// BUNDLE: the leg joins another call's leg (no port of its own).
    bundle: Option<super::bundle::BundlePlan>,
}

fn policy_refused(i: usize, m: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "policy_refused",
        format!("leg {i}: {m}"),
    )
}

/// A call id must be usable as one URL path segment as it is: 1-128 of
/// `A-Z a-z 0-9 - _ . @ : +` (no escaping needed), and not made of dots
/// only (`.` and `..` are dot-segments that clients normalise away, so
/// `/calls/..` could never reach the call).
fn valid_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:+".contains(&b))
        && !id.bytes().all(|b| b == b'.')
}

/// What a leg's request says before policy: its media address, replay
/// window and the suite asked for; every request-shape error is here.
fn check_leg_request(
    s: &Shared,
    i: usize,
    req: &LegRequest,
) -> Result<(IpAddr, usize, Option<Suite>), ApiError> {
    let family_ok = |a: &IpAddr| match req.family {
        Family::Ipv4 => a.is_ipv4(),
        Family::Ipv6 => a.is_ipv6(),
    };
    let address = *s
        .config
        .media
        .addresses
        .iter()
        .find(|a| family_ok(a))
        .ok_or_else(|| {
            ApiError::bad(
                "family_unavailable",
                format!(
                    "leg {i}: no {} media address is configured on this node",
                    match req.family {
                        Family::Ipv4 => "IPv4",
                        Family::Ipv6 => "IPv6",
                    }
                ),
            )
        })?;
    for (what, r) in [("remote", req.remote), ("remote_rtcp", req.remote_rtcp)] {
        if let Some(r) = r {
            if !family_ok(&r.ip()) {
                return Err(ApiError::bad(
                    "invalid_request",
                    format!("leg {i}: {what} {r} is not of the leg's family"),
                ));
            }
        }
    }
    let replay_window = req.replay_window.unwrap_or(s.config.srtp.replay_window);
    if !(crate::srtp::MIN_REPLAY_WINDOW..=crate::srtp::MAX_REPLAY_WINDOW).contains(&replay_window) {
        return Err(ApiError::bad(
            "invalid_request",
            format!(
                "leg {i}: replay_window must be {}..={}",
                crate::srtp::MIN_REPLAY_WINDOW,
                crate::srtp::MAX_REPLAY_WINDOW
            ),
        ));
    }
    let keyed = req.keys.is_some() || req.suite.is_some();
    check_webrtc_request(s, i, req, keyed)?;
    if req.mode == Some(LegMode::Rtp) && keyed {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {i}: mode \"rtp\" takes no suite or keys"),
        ));
    }
    // The suite asked for, parsed first so that a typo is reported as one.
    let asked_suite = match req.suite.as_deref() {
        None => None,
        Some(name) => Some(Suite::from_name(name).map_err(|_| {
            let known: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
            ApiError::bad(
                "invalid_suite",
                format!(
                    "leg {i}: unknown suite {name:?}; known: {}",
                    known.join(", ")
                ),
            )
        })?),
    };
    if req.security == Some(SecurityMode::Nonsecure) && keyed {
        return Err(ApiError::bad(
            "invalid_request",
            format!("leg {i}: a nonsecure leg takes no suite or keys"),
        ));
    }
    req.check_header_protection(i)?;
    Ok((address, replay_window, asked_suite))
}

/// The ICE and DTLS options of a leg's request: DTLS is mode `dtls`, with
/// no keys or suite of its own, on a node with WebRTC on.
fn check_webrtc_request(
    s: &Shared,
    i: usize,
    req: &LegRequest,
    keyed: bool,
) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad("invalid_request", format!("leg {i}: {m}"));
    if (req.dtls.is_some() || req.ice.is_some()) && s.webrtc.is_none() {
        return Err(ApiError::bad(
            "webrtc_disabled",
            format!(
                "leg {i}: ICE and DTLS-SRTP are disabled on this node ([webrtc] enabled = false)"
            ),
        ));
    }
    match (&req.dtls, req.mode) {
        (Some(_), Some(LegMode::Rtp | LegMode::Srtp)) => {
            return Err(bad("dtls is for mode \"dtls\" (leave out mode)".into()))
        }
        (None, Some(LegMode::Dtls)) => {
            return Err(bad(
                "mode \"dtls\" needs dtls.fingerprint (the peer's)".into()
            ))
        }
        (Some(_), _) if keyed => {
            return Err(bad(
                "a DTLS-SRTP leg takes no suite or keys: the handshake makes them".into(),
            ))
        }
        _ => {}
    }
    if let Some(d) = &req.dtls {
        if Fingerprint::parse_sdp(&d.fingerprint).is_none() {
            return Err(bad(
                "dtls.fingerprint must be \"sha-256 XX:XX:...\" (32 bytes)".into(),
            ));
        }
        if let Some(v) = &d.setup {
            if Setup::parse(v).is_none() {
                return Err(bad(format!(
                    "dtls.setup must be actpass, active or passive, not {v:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The WebRTC state of a leg as its request asks: Rampart's ICE-lite
/// credentials and the peer's ufrag; the peer's fingerprint, and the
/// role opposite its `a=setup` (passive when it leaves the choice); the
/// DTLS-SRTP profiles `media` allows.
fn webrtc_leg(req: &LegRequest, media: &Media) -> Result<WebrtcLeg, ApiError> {
    let mut w = WebrtcLeg::default();
    if let Some(ice) = &req.ice {
        w.ensure_ice()
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
        w.peer_ufrag.clone_from(&ice.ufrag);
    }
    if let Some(d) = &req.dtls {
        let setup = d.setup.as_deref().and_then(Setup::parse);
        w.dtls = true;
        w.peer_fingerprint = Fingerprint::parse_sdp(&d.fingerprint);
        w.peer_setup = setup;
        w.role = Some(match setup {
            Some(Setup::Passive) => Role::Active,
            _ => Role::Passive,
        });
        w.profiles = allowed_profiles(media);
    }
    Ok(w)
}

/// A leg's keys (and whether each was generated) under what policy
/// decided: none for plain RTP, else the suite asked for if policy allows
/// it, or policy's first.
fn leg_keys(
    i: usize,
    req: &LegRequest,
    (asked_suite, policy_requires_cryptex): (Option<Suite>, bool),
    decision: &LegDecision,
    warnings: &mut Vec<String>,
) -> Result<Option<(LegKeys, bool, bool)>, ApiError> {
    let suite = match (asked_suite, &decision.media) {
        (_, Media::Rtp) => {
            if req.keys.is_some() || req.suite.is_some() {
                warnings.push(format!(
                    "leg {i}: the leg is plain RTP, so the suite and keys given were ignored"
                ));
            }
            return Ok(None);
        }
        (Some(su), m) if m.allows(su) => su,
        (Some(su), _) => {
            return Err(policy_refused(
                i,
                format!(
                    "suite {} is not allowed for an {} leg (see [security] srtp_suites \
                     and authenticated_media)",
                    su.name(),
                    decision.security
                ),
            ))
        }
        (None, Media::Srtp(v)) => v.first().copied().unwrap_or(Suite::AesCm128HmacSha1_80),
        (None, _) => Media::NULL_SUITE,
    };
    if req.mode == Some(LegMode::Rtp) {
        return Err(ApiError::bad(
            "invalid_request",
            format!(
                "leg {i}: mode \"rtp\", but policy gives an {} leg SRTP ({}); leave \
                 out mode or ask for security \"nonsecure\"",
                decision.security,
                suite.name()
            ),
        ));
    }
    let kr = req.keys.as_ref();
    let key = |dir: &str, t: Option<&KeyText>| {
        keys::from_text(suite, &t.cloned().unwrap_or_default())
            .map_err(|e| ApiError::bad("invalid_key", format!("leg {i} {dir} key: {e}")))
    };
    if policy_requires_cryptex && !req.cryptex {
        return Err(policy_refused(
            i,
            "security policy requires cryptex (RFC 9335) on SRTP legs: give \"cryptex\": true \
             ([security] require_cryptex)"
                .to_string(),
        ));
    }
    let (inbound, gi) = key("inbound", kr.and_then(|k| k.inbound.as_ref()))?;
    let (outbound, go) = key("outbound", kr.and_then(|k| k.outbound.as_ref()))?;
    let keys = LegKeys {
        suite,
        inbound: KeyState::new(inbound),
        outbound: KeyState::new(outbound),
        cryptex: req.cryptex,
        encrypted_extensions: req.extension_ids(),
    };
    Ok(Some((keys, gi, go)))
}

fn plan_leg(
    s: &Shared,
    policy: &SecurityPolicy,
    i: usize,
    req: LegRequest,
) -> Result<LegPlan, ApiError> {
    let (address, replay_window, asked_suite) = check_leg_request(s, i, &req)?;
    // A bundled leg is the DTLS-SRTP leg it joins, to policy too.
    let bundled = match req.bundle {
        Some(_) => Some(super::bundle::resolve(s, i, &req, address)?),
        None => None,
    };
    // The mode asked for: explicit, or what the media request implies.
    let dtls = req.dtls.is_some() || bundled.is_some();
    let default_mode = if dtls { LegMode::Dtls } else { LegMode::Srtp };
    let requested = match (req.security, req.mode.unwrap_or(default_mode)) {
        (Some(m), _) => m,
        (None, LegMode::Rtp) => SecurityMode::Nonsecure,
        // Every DTLS-SRTP profile encrypts.
        (None, LegMode::Dtls) => SecurityMode::Encrypted,
        (None, LegMode::Srtp) => asked_suite
            .map(mode_of_suite)
            .unwrap_or(SecurityMode::Encrypted),
    };
    let null_ok = req.null_cipher || asked_suite == Some(Media::NULL_SUITE);
    let who = LegWho {
        device: req.device.clone(),
        kind: req.kind,
        security: req.security,
    };
    let decision = who
        .decide(policy, requested, null_ok)
        .map_err(|m| policy_refused(i, m))?;
    let mut warnings: Vec<String> = decision
        .warning
        .iter()
        .map(|w| format!("leg {i}: {w}"))
        .collect();
    if dtls && !dtls_fits(&decision.media) {
        return Err(policy_refused(
            i,
            format!(
                "a DTLS-SRTP leg cannot be an {} leg (policy allows it no DTLS-SRTP profile)",
                decision.security
            ),
        ));
    }
    let keys = if dtls {
        None
    } else {
        leg_keys(
            i,
            &req,
            (asked_suite, policy.require_cryptex()),
            &decision,
            &mut warnings,
        )?
    };
    let (webrtc, bundle) = match bundled {
        Some((plan, webrtc)) => (webrtc, Some(plan)),
        None => (webrtc_leg(&req, &decision.media)?, None),
    };
    Ok(LegPlan {
        req,
        mode: match (dtls, keys.is_some()) {
            (true, _) => LegMode::Dtls,
            (false, true) => LegMode::Srtp,
            (false, false) => LegMode::Rtp,
        },
        webrtc,
        keys,
        address,
        replay_window,
        policy: LegPolicy {
            who,
            requested,
            security: decision.security,
        },
        warnings,
        bundle,
    })
}

/// Counts and logs a refused create.
pub(crate) fn refuse(s: &Shared, e: ApiError) -> ApiError {
    let t = &s.totals;
    match e.code {
        "call_limit" => &t.refused_limit,
        "ports_exhausted" => &t.refused_ports,
        "policy_refused" => &t.refused_policy,
        _ => &t.refused_invalid,
    }
    .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(code = e.code, status = e.status.as_u16(), reason = %e.message, "call refused");
    e
}

pub(super) async fn create_call(
    State(s): State<Arc<Shared>>,
    body: Result<ApiJson<CreateCall>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(body) = body.map_err(|e| refuse(&s, e))?;
    let answer = blocking(|| create(&s, body, Origin::Http)).map_err(|e| refuse(&s, e))?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// Creates a call from a `POST /calls` body (the HTTP API's and
/// librampart's one create path); the answer carries the keys.
pub(crate) fn create(s: &Shared, body: CreateCall, origin: Origin) -> Result<Value, ApiError> {
    if body.legs.len() != 2 {
        return Err(ApiError::bad(
            "invalid_request",
            format!("a call has exactly 2 legs, got {}", body.legs.len()),
        ));
    }
    let id = match body.call_id {
        Some(id) if !valid_call_id(&id) => {
            return Err(ApiError::bad(
                "invalid_request",
                "call_id must be 1-128 characters of A-Z a-z 0-9 - _ . @ : +, and not dots \
                 only (`.` and `..` cannot be reached by URL)",
            ))
        }
        Some(id) => id,
        None => {
            let mut b = [0u8; 8];
            keys::random_bytes(&mut b).map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
            keys::to_hex(&b)
        }
    };
    let mut legs_req = body.legs.into_iter();
    let (ra, rb) = (legs_req.next(), legs_req.next());
    let (Some(ra), Some(rb)) = (ra, rb) else {
        return Err(ApiError::bad(
            "invalid_request",
            "a call has exactly 2 legs",
        ));
    };
    // Both legs are decided under one policy generation.
    let (mut plans, generation) = {
        let policy = s.security.policy();
        (
            [plan_leg(s, &policy, 0, ra)?, plan_leg(s, &policy, 1, rb)?],
            policy.generation(),
        )
    };
    if body.passthrough {
        let [a, b] = &mut plans;
        match (&mut a.keys, &mut b.keys) {
            (Some(ka), Some(kb)) if ka.0.suite == kb.0.suite => {
                // Each leg's peer decrypts what the other's peer encrypted.
                if a.req
                    .keys
                    .as_ref()
                    .and_then(|k| k.outbound.as_ref())
                    .is_some()
                    || b.req
                        .keys
                        .as_ref()
                        .and_then(|k| k.outbound.as_ref())
                        .is_some()
                {
                    return Err(ApiError::bad(
                        "invalid_request",
                        "passthrough: give only inbound keys; each leg's outbound key is the other leg's inbound key",
                    ));
                }
                ka.0.outbound = kb.0.inbound.clone();
                ka.2 = kb.1;
                kb.0.outbound = ka.0.inbound.clone();
                kb.2 = ka.1;
            }
            _ => {
                return Err(ApiError::bad(
                    "invalid_request",
                    "passthrough needs two SRTP legs with the same suite",
                ))
            }
        }
    }
    if let Some(why) = s.new_call_refusal() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_accepting_calls",
            why,
        ));
    }
    s.calls.admit(&id).map_err(|e| match e {
        AdmitError::Limit(n) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "call_limit",
            format!("the node runs its maximum of {n} calls"),
        ),
        AdmitError::Exists => ApiError::new(
            StatusCode::CONFLICT,
            "call_exists",
            format!("a call with id {id:?} exists"),
        ),
    })?;
    let dp_id = s.calls.alloc_dp_id();
    build_and_start(s, &id, dp_id, generation, plans, origin).inspect_err(|_| s.calls.abandon(&id))
}

/// Binds both legs' ports, or none (a bundled leg has none of its own).
fn bind_ports(s: &Shared, plans: &[LegPlan; 2]) -> Result<Vec<Option<BoundPorts>>, ApiError> {
    let mut bound: Vec<Option<BoundPorts>> = Vec::with_capacity(2);
    let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
    for p in plans {
        if p.bundle.is_some() {
            bound.push(None);
            continue;
        }
        match pool.allocate(p.address, p.req.rtcp_mux) {
            Ok(b) => bound.push(Some(b)),
            Err(e) => {
                for b in bound.iter().flatten() {
                    pool.release(b.rtp_addr);
                }
                return Err(match e {
                    PortError::Exhausted { .. } => ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ports_exhausted",
                        e.to_string(),
                    ),
                    PortError::UnknownAddress(_) => {
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                    }
                });
            }
        }
    }
    Ok(bound)
}

/// Each leg's record and flows on its bound ports.
fn legs_and_flows(
    plans: &[LegPlan; 2],
    bound: Vec<Option<BoundPorts>>,
) -> Result<([Leg; 2], [LegFlows; 2]), ApiError> {
    let keys = [
        plans[0].keys.as_ref().map(|k| &k.0),
        plans[1].keys.as_ref().map(|k| &k.0),
    ];
    let forward = [
        forward_mode(keys[0], keys[1]),
        forward_mode(keys[1], keys[0]),
    ];
    let mut flows = Vec::with_capacity(2);
    let mut legs = Vec::with_capacity(2);
    for (i, (p, b)) in plans.iter().zip(bound).enumerate() {
        // A bundled leg runs on its owner's socket.
        let (local_rtp, local_rtcp, rtp, rtcp): (_, _, RtpSocket, _) = match (b, &p.bundle) {
            (Some(b), _) => (
                b.rtp_addr,
                b.rtcp
                    .as_ref()
                    .and_then(|r| r.local_addr().ok())
                    .unwrap_or(b.rtp_addr),
                b.rtp.into(),
                b.rtcp,
            ),
            (None, Some(bp)) => (
                bp.owner_local,
                bp.owner_local,
                RtpSocket::Bundled {
                    owner: bp.owner_dp,
                    payload_types: bp.reference.payload_types.clone(),
                },
                None,
            ),
            (None, None) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "a leg without a port",
                ))
            }
        };
        let leg = Leg {
            mode: p.mode,
            family: p.req.family,
            local_rtp,
            local_rtcp,
            rtcp_mux: p.req.rtcp_mux,
            remote_rtp: p.req.remote,
            remote_rtcp: p.req.remote_rtcp,
            latch: p.req.latch,
            forward: forward[i],
            replay_window: p.replay_window,
            keys: p.keys.as_ref().map(|k| k.0.clone()),
            webrtc: p.webrtc.clone(),
            bundle: p.bundle.as_ref().map(|bp| bp.reference.clone()),
            counters: LegCounters::new(),
        };
        let mut f = install::leg_flows(
            &leg.wanted(),
            rtp,
            rtcp,
            p.replay_window,
            leg.counters.clone(),
        )
        .map_err(|e| ApiError::bad("invalid_key", e.to_string()))?;
        if leg.webrtc.dtls {
            // Keys nobody knows until the handshake: nothing relays before.
            let internal = |e: crate::dataplane::DataPlaneError| ApiError::dataplane(e);
            f.srtp_in = Some(crate::webrtc::placeholder().map_err(internal)?);
            f.srtp_out = Some(crate::webrtc::placeholder().map_err(internal)?);
        }
        flows.push(f);
        legs.push(leg);
    }
    match (<[Leg; 2]>::try_from(legs), <[LegFlows; 2]>::try_from(flows)) {
        (Ok(legs), Ok(flows)) => Ok((legs, flows)),
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "leg count",
        )),
    }
}

/// The create answer: the one place keys leave the node.
fn created_answer(call: &Call, plans: &[LegPlan; 2], generation: u64) -> Value {
    let legs_json: Vec<Value> = call
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let keys = plans[i].keys.as_ref().map(|(k, gi, go)| {
                json!({
                    "inbound": KeyAnswer { text: keys::to_text(&k.inbound.current), generated: *gi },
                    "outbound": KeyAnswer { text: keys::to_text(&k.outbound.current), generated: *go },
                })
            });
            let mut v = leg_json(i, l, keys, false);
            add_policy_json(&mut v, &call.policy[i]);
            v
        })
        .collect();
    let warnings: Vec<&String> = plans.iter().flat_map(|p| p.warnings.iter()).collect();
    for w in &warnings {
        tracing::warn!(call_id = %call.id, warning = %w, "call created with a policy warning");
    }
    let mut answer = json!({
        "call_id": call.id,
        "security": call.security(),
        "policy_generation": generation,
        "legs": legs_json,
    });
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    answer
}

/// Rampart's side of each WebRTC leg, for the client's SDP: its ICE-lite
/// credentials and candidate, the node's fingerprint and the `a=setup`
/// Rampart takes. (The ICE password leaves the node here only.)
fn add_webrtc_answer(s: &Shared, call: &Call, answer: &mut Value) {
    let fp = s.dtls_fingerprint();
    for (i, l) in call.legs.iter().enumerate() {
        let w = &l.webrtc;
        if !w.active() {
            continue;
        }
        answer["legs"][i]["webrtc"] = json!({
            "ice": w.ice.as_ref().map(|c| json!({
                "ufrag": c.ufrag,
                "pwd": c.pwd,
                "lite": true,
                "candidates": [format!("{} {}", l.local_rtp.ip(), l.local_rtp.port())],
            })),
            "dtls": w.dtls.then(|| json!({
                "fingerprint": fp.map(|f| f.to_string()),
                "setup": w.role.map(|r| Setup::of_role(r).as_str()),
            })),
        });
    }
}

fn build_and_start(
    s: &Shared,
    id: &str,
    dp_id: u64,
    generation: u64,
    plans: [LegPlan; 2],
    origin: Origin,
) -> Result<Value, ApiError> {
    let bound = bind_ports(s, &plans)?;
    let local: Vec<SocketAddr> = bound.iter().flatten().map(|b| b.rtp_addr).collect();
    let release = || {
        let mut pool = s.ports.lock().unwrap_or_else(|e| e.into_inner());
        for a in &local {
            pool.release(*a);
        }
    };
    let (mut legs, flows) = legs_and_flows(&plans, bound).inspect_err(|_| release())?;
    if let Err(e) = s.with_dataplane(|dp| {
        dp.add_call(CallFlows {
            id: dp_id,
            legs: flows,
        })
    }) {
        release();
        return Err(ApiError::dataplane(e));
    }
    for ((leg, id), p) in legs.iter_mut().zip(LegId::BOTH).zip(&plans) {
        let remote = leg.remote_rtp;
        let started = match (&p.bundle, &s.webrtc) {
            (Some(bp), Some(w)) => blocking(|| w.join_bundle(bp.owner_dp, bp.owner_leg, dp_id))
                .map_err(|e| format!("data plane: {e}")),
            (Some(_), None) => Err("WebRTC is disabled on this node".into()),
            (None, _) => webrtc::sync_transport(s, dp_id, id, &mut leg.webrtc, remote),
        };
        if let Err(e) = started {
            if let Some(w) = &s.webrtc {
                w.remove_call(dp_id);
            }
            let _ = s.with_dataplane(|dp| dp.remove_call(dp_id));
            release();
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e,
            ));
        }
    }
    let mut security = CallSecurityState::new(generation);
    for (i, p) in plans.iter().enumerate() {
        let old = security.status();
        let change = security.leg_settled(i, p.policy.security);
        s.security.note(id, old, change);
    }
    let call = Call {
        id: id.to_string(),
        origin,
        dp_id,
        created_ms: now_ms(),
        legs,
        policy: [plans[0].policy.clone(), plans[1].policy.clone()],
        security,
        bundle_members: Vec::new(),
    };
    let mut answer = created_answer(&call, &plans, generation);
    add_webrtc_answer(s, &call, &mut answer);
    let leg = |l: &Leg| {
        format!(
            "{:?} {} {} {:?}",
            l.mode,
            l.suite().map(|s| s.name()).unwrap_or("-"),
            l.local_rtp,
            l.forward
        )
    };
    tracing::info!(
        call_id = %call.id,
        origin = origin.as_str(),
        security = call.security().as_str(),
        leg_a = %leg(&call.legs[0]),
        leg_b = %leg(&call.legs[1]),
        "call created"
    );
    s.totals.created.fetch_add(1, Ordering::Relaxed);
    s.calls.commit(id, origin, Box::new(call));
    for bp in plans.iter().filter_map(|p| p.bundle.as_ref()) {
        super::bundle::note_member(s, &bp.reference.call_id, id);
    }
    Ok(answer)
}
