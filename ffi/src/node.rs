//! The embedding API: a whole media node inside the C program.
//!
//! `rampart_node_start` starts the same node as `rampart run`
//! (`rampart::control::Node::start`): data-plane workers, port pool, the
//! HTTP/JSON control API and the timeout reaper. Calls are created, updated,
//! queried and deleted with the JSON documents of the HTTP API
//! (`docs/api.md`), by the node's call service itself
//! (`rampart::control::embedded`: the same code the HTTP handlers run, no
//! socket, no HTTP), so an embedded node behaves exactly as a standalone
//! one; its calls are listed with origin `embedded`.
//!
//! Every answer is a JSON document in a string the caller frees with
//! `rampart_string_free`: the API's answer on `RAMPART_OK`, its error
//! document `{"error": {"code", "message"}}` on `RAMPART_ERR_API`.

use std::ffi::{c_char, CString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rampart::config::Config;
use rampart::control::embedded::{self, Answer};
use rampart::control::{Node, NodeHandle, StartError};
use rampart::dataplane::LegId;

use crate::rampart_status::{self, *};
use crate::{guard, guard_value, ptr};

/// A running media node. Opaque; created by `rampart_node_start`, stopped
/// and freed by `rampart_node_stop`. Its request functions may be called
/// from several threads at once.
pub struct rampart_node {
    handle: Option<NodeHandle>,
    addr_text: CString,
}

/// Builds the node's configuration: `toml` parsed as a `rampart.toml`;
/// without `[api] listen` the embedded node's API takes a free loopback
/// port (127.0.0.1:0) rather than the standalone default 127.0.0.1:2223.
fn config_from(toml_text: &str) -> Result<Config, String> {
    let mut config =
        Config::from_toml_str(toml_text, "rampart_node_start").map_err(|e| e.to_string())?;
    let table: toml::Table = toml_text
        .parse()
        .map_err(|e: toml::de::Error| e.to_string())?;
    let listen_given = table
        .get("api")
        .and_then(|a| a.as_table())
        .is_some_and(|a| a.contains_key("listen"));
    if !listen_given {
        config.api.listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    }
    Ok(config)
}

/// Starts a node from a TOML configuration (the `rampart.toml` format;
/// NULL or `""`: every default). Without `[api] listen` the node's HTTP API
/// listens on a free loopback port (see `rampart_node_api_addr`).
///
/// On success `*node_out` holds the node. On error it is NULL and, if
/// `error_out` is not NULL, `*error_out` receives a message to free with
/// `rampart_string_free` (`RAMPART_ERR_NODE_CONFIG`: bad TOML or values;
/// `RAMPART_ERR_NODE_START`: sockets or threads).
#[no_mangle]
pub extern "C" fn rampart_node_start(
    config_toml: *const c_char,
    node_out: *mut *mut rampart_node,
    error_out: *mut *mut c_char,
) -> rampart_status {
    ptr::write_opt(error_out, std::ptr::null_mut());
    let mut message = None;
    let st = guard(|| {
        ptr::write(node_out, std::ptr::null_mut())?;
        let text = if config_toml.is_null() {
            ""
        } else {
            ptr::str(config_toml)?
        };
        let config = config_from(text).map_err(|m| {
            message = Some(m);
            RAMPART_ERR_NODE_CONFIG
        })?;
        let handle = Node::start(config).map_err(|e| {
            let st = match e {
                StartError::Config(_) => RAMPART_ERR_NODE_CONFIG,
                _ => RAMPART_ERR_NODE_START,
            };
            message = Some(e.to_string());
            st
        })?;
        let addr = handle.api_addr();
        let addr_text = CString::new(addr.to_string()).map_err(|_| RAMPART_ERR_INTERNAL)?;
        ptr::write(
            node_out,
            ptr::into_raw(rampart_node {
                handle: Some(handle),
                addr_text,
            }),
        )
    });
    if let Some(m) = message {
        ptr::write_opt(error_out, ptr::string_into_raw(m));
    }
    st
}

/// Stops the node (the API finishes the requests in flight, every call
/// ends, the workers exit) and frees it. NULL is ignored. No other call may
/// use the node during or after this one.
#[no_mangle]
pub extern "C" fn rampart_node_stop(node: *mut rampart_node) {
    guard_value((), || {
        if let Some(mut n) = ptr::from_raw(node) {
            if let Some(h) = n.handle.take() {
                h.shutdown();
            }
        }
    });
}

/// The address of the node's HTTP API, `"ip:port"`, owned by the node
/// (valid until `rampart_node_stop`); NULL if `node` is NULL.
#[no_mangle]
pub extern "C" fn rampart_node_api_addr(node: *const rampart_node) -> *const c_char {
    guard_value(std::ptr::null(), || {
        ptr::obj(node).map_or(std::ptr::null(), |n| n.addr_text.as_ptr())
    })
}

/// Runs one request on the node and maps its answer.
fn call(
    node: *const rampart_node,
    request: impl FnOnce(&NodeHandle) -> Result<Answer, rampart_status>,
    http_status_out: *mut u16,
    response_out: *mut *mut c_char,
) -> rampart_status {
    ptr::write_opt(http_status_out, 0);
    guard(|| {
        ptr::write(response_out, std::ptr::null_mut())?;
        let n = ptr::obj(node)?;
        let h = n.handle.as_ref().ok_or(RAMPART_ERR_NODE_IO)?;
        let r = request(h)?;
        ptr::write_opt(http_status_out, r.status);
        let ok = r.ok();
        ptr::write(response_out, ptr::string_into_raw(r.body))?;
        if ok {
            Ok(())
        } else {
            Err(RAMPART_ERR_API)
        }
    })
}

/// A call id argument: a non-empty string.
fn call_id<'a>(call_id: *const c_char) -> Result<&'a str, rampart_status> {
    let id = ptr::str(call_id)?;
    if id.is_empty() {
        return Err(RAMPART_ERR_INVALID_ARGUMENT);
    }
    Ok(id)
}

/// Creates a call: `request_json` is the body of `POST /calls` (two legs;
/// see docs/api.md). `*response_out` receives the answer, which carries the
/// keys the node generated (the only place they leave the node).
#[no_mangle]
pub extern "C" fn rampart_node_create_call(
    node: *const rampart_node,
    request_json: *const c_char,
    response_out: *mut *mut c_char,
) -> rampart_status {
    call(
        node,
        |h| Ok(embedded::create_call(h.shared(), ptr::str(request_json)?)),
        std::ptr::null_mut(),
        response_out,
    )
}

/// Updates one leg (0 or 1) of a call: `request_json` is the body of
/// `PATCH /calls/{id}/legs/{leg}` (new remote, latch mode, rekey).
#[no_mangle]
pub extern "C" fn rampart_node_update_leg(
    node: *const rampart_node,
    call_id: *const c_char,
    leg: u32,
    request_json: *const c_char,
    response_out: *mut *mut c_char,
) -> rampart_status {
    call(
        node,
        |h| {
            let leg = match leg {
                0 => LegId::A,
                1 => LegId::B,
                _ => return Err(RAMPART_ERR_INVALID_ARGUMENT),
            };
            let id = self::call_id(call_id)?;
            let body = ptr::str(request_json)?;
            Ok(embedded::update_leg(h.shared(), id, leg, body))
        },
        std::ptr::null_mut(),
        response_out,
    )
}

/// Ends a call; the answer is the call with its final stats
/// (`DELETE /calls/{id}`).
#[no_mangle]
pub extern "C" fn rampart_node_delete_call(
    node: *const rampart_node,
    call_id: *const c_char,
    response_out: *mut *mut c_char,
) -> rampart_status {
    call(
        node,
        |h| Ok(embedded::delete_call(h.shared(), self::call_id(call_id)?)),
        std::ptr::null_mut(),
        response_out,
    )
}

/// One call with per-leg stats (`GET /calls/{id}`); no keys.
#[no_mangle]
pub extern "C" fn rampart_node_get_call(
    node: *const rampart_node,
    call_id: *const c_char,
    response_out: *mut *mut c_char,
) -> rampart_status {
    call(
        node,
        |h| Ok(embedded::get_call(h.shared(), self::call_id(call_id)?)),
        std::ptr::null_mut(),
        response_out,
    )
}

/// Every call (`GET /calls`); no keys.
#[no_mangle]
pub extern "C" fn rampart_node_list_calls(
    node: *const rampart_node,
    response_out: *mut *mut c_char,
) -> rampart_status {
    call(
        node,
        |h| Ok(embedded::list_calls(h.shared())),
        std::ptr::null_mut(),
        response_out,
    )
}

/// Any request to the node's API, served in process by the API's router
/// (no socket) (`"GET"`, `"/health"`; `"GET"`,
/// `"/metrics"`, ...). `body` may be NULL. `*http_status_out` (if not
/// NULL) receives the HTTP status; `*response_out` the answer's body.
/// Returns `RAMPART_OK` for a 2xx status, `RAMPART_ERR_API` otherwise.
#[no_mangle]
pub extern "C" fn rampart_node_request(
    node: *const rampart_node,
    method: *const c_char,
    path: *const c_char,
    body: *const c_char,
    http_status_out: *mut u16,
    response_out: *mut *mut c_char,
) -> rampart_status {
    let m = match ptr::str(method) {
        Ok(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => m,
        Ok(_) => return RAMPART_ERR_INVALID_ARGUMENT,
        Err(e) => return e,
    };
    call(
        node,
        |h| {
            let p = ptr::str(path)?;
            if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(RAMPART_ERR_INVALID_ARGUMENT);
            }
            let body = if body.is_null() {
                None
            } else {
                Some(ptr::str(body)?)
            };
            Ok(h.request(m, p, body))
        },
        http_status_out,
        response_out,
    )
}

/// Frees a string librampart returned through a `char **` argument.
/// NULL is ignored.
#[no_mangle]
pub extern "C" fn rampart_string_free(s: *mut c_char) {
    guard_value((), || ptr::string_free(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_api_defaults_to_a_free_loopback_port() {
        let c = config_from("").unwrap();
        assert_eq!(c.api.listen.port(), 0);
        let c = config_from("[api]\nlisten = \"127.0.0.1:2299\"\n").unwrap();
        assert_eq!(c.api.listen.port(), 2299);
        assert!(config_from("[media]\nbogus = 1\n").is_err());
    }

    fn text(p: *mut c_char) -> String {
        let s = ptr::str(p).unwrap().to_string();
        rampart_string_free(p);
        s
    }

    #[test]
    fn embedded_calls_go_to_the_service_without_http() {
        let cfg = CString::new("[media]\nport_min = 45400\nport_max = 45499\n").unwrap();
        let mut node = std::ptr::null_mut();
        assert_eq!(
            rampart_node_start(cfg.as_ptr(), &mut node, std::ptr::null_mut()),
            RAMPART_OK
        );
        let req =
            CString::new(r#"{"call_id":"emb-1","legs":[{"mode":"rtp"},{"mode":"rtp"}]}"#).unwrap();
        let mut out = std::ptr::null_mut();
        assert_eq!(
            rampart_node_create_call(node, req.as_ptr(), &mut out),
            RAMPART_OK
        );
        let created = text(out);
        assert!(created.contains("emb-1"), "{created}");
        // Listed with its origin, by the list function and by any request.
        assert_eq!(rampart_node_list_calls(node, &mut out), RAMPART_OK);
        let list = text(out);
        assert!(list.contains(r#""origin":"embedded""#), "{list}");
        let (m, p) = (
            CString::new("GET").unwrap(),
            CString::new("/calls").unwrap(),
        );
        let mut status = 0u16;
        assert_eq!(
            rampart_node_request(
                node,
                m.as_ptr(),
                p.as_ptr(),
                std::ptr::null(),
                &mut status,
                &mut out
            ),
            RAMPART_OK
        );
        assert_eq!(status, 200);
        assert!(text(out).contains(r#""origin":"embedded""#));
        // Errors carry the API's document.
        let id = CString::new("no-such-call").unwrap();
        assert_eq!(
            rampart_node_get_call(node, id.as_ptr(), &mut out),
            RAMPART_ERR_API
        );
        assert!(text(out).contains("unknown_call"));
        let id = CString::new("emb-1").unwrap();
        assert_eq!(
            rampart_node_delete_call(node, id.as_ptr(), &mut out),
            RAMPART_OK
        );
        assert!(text(out).contains(r#""ended":"deleted""#));
        rampart_node_stop(node);
    }
}
