//! The Redis backend: one hash of sealed call states, one stream of
//! changes.
//!
//! Layout under a prefix (default `rampart`): `{prefix}:calls` is a hash
//! from call id to sealed state; `{prefix}:owners` from call id to the
//! owner token of the node serving it; `{prefix}:media` from call id to
//! its sealed media checkpoint; `{prefix}:nodes` from node id to its
//! heartbeat record; `{prefix}:events` a stream whose entries carry `op`
//! (`put`, `delete`, `adopt`, `release`), `call` and `node`.
//!
//! Every write is one Lua script, so it is atomic and fenced: the script
//! checks the call's owner and refuses a writer that is not it (a node
//! that was cut off while another adopted its calls), and the log never
//! names a state the hash lacks.

use std::sync::Mutex;
use std::time::Duration;

use super::{Event, EventId, EventKind, StateStore, StoreError, StoredCall};

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Call state in a Redis server.
pub struct RedisStore {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    calls: String,
    owners: String,
    media: String,
    nodes: String,
    events: String,
    timeout: Duration,
}

/// Writes a state (KEYS calls, owners, events; ARGV call, sealed, me).
const PUT: &str = r"
local o = redis.call('HGET', KEYS[2], ARGV[1])
if o and o ~= ARGV[3] then return 'fenced:' .. o end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 'ok:' .. redis.call('XADD', KEYS[3], '*', 'op', 'put', 'call', ARGV[1], 'node', ARGV[3])
";

/// Removes a call (KEYS calls, owners, media, events; ARGV call, me).
const DELETE: &str = r"
local o = redis.call('HGET', KEYS[2], ARGV[1])
if o and o ~= ARGV[2] then return 'fenced:' .. o end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 'ok:' .. redis.call('XADD', KEYS[4], '*', 'op', 'delete', 'call', ARGV[1], 'node', ARGV[2])
";

/// Writes a media checkpoint (KEYS owners, media; ARGV call, sealed, me).
const MEDIA: &str = r"
local o = redis.call('HGET', KEYS[1], ARGV[1])
if o ~= ARGV[3] then return 'fenced:' .. (o or '') end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'ok:'
";

/// Compare-and-set of an owner (KEYS calls, owners, events; ARGV call,
/// expected, me): only a call whose state exists.
const CLAIM: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'lost:' end
local o = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if o ~= ARGV[2] then return 'lost:' .. o end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 'ok:' .. redis.call('XADD', KEYS[3], '*', 'op', 'adopt', 'call', ARGV[1], 'node', ARGV[3])
";

/// Hands a call off (KEYS owners, events; ARGV call, me).
const RELEASE: &str = r"
local o = redis.call('HGET', KEYS[1], ARGV[1])
if o ~= ARGV[2] then return 'lost:' .. (o or '') end
redis.call('HSET', KEYS[1], ARGV[1], '')
return 'ok:' .. redis.call('XADD', KEYS[2], '*', 'op', 'release', 'call', ARGV[1], 'node', ARGV[2])
";

/// A script's answer: `ok:<rest>`, `fenced:<owner>` or `lost:<owner>`.
fn outcome(r: String) -> Result<Result<String, String>, StoreError> {
    if let Some(rest) = r.strip_prefix("ok:") {
        Ok(Ok(rest.to_string()))
    } else if let Some(o) = r
        .strip_prefix("fenced:")
        .or_else(|| r.strip_prefix("lost:"))
    {
        Ok(Err(o.to_string()))
    } else {
        Err(StoreError::Corrupt(format!("script answered {r:?}")))
    }
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db`) under `prefix`. Connects
    /// on first use and again after a failure.
    pub fn new(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        Ok(RedisStore {
            client,
            conn: Mutex::new(None),
            calls: format!("{prefix}:calls"),
            owners: format!("{prefix}:owners"),
            media: format!("{prefix}:media"),
            nodes: format!("{prefix}:nodes"),
            events: format!("{prefix}:events"),
            timeout: Duration::from_secs(2),
        })
    }

    /// Runs `f` on a connection. A connection the server dropped (a
    /// restarted Redis) is replaced and `f` tried once more; any other
    /// failure drops the connection so the next call reconnects. (A retried
    /// write may log its change twice; a state is written whole, so that
    /// is harmless.)
    fn with<R>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, StoreError> {
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut retried = false;
        loop {
            if g.is_none() {
                let c = self
                    .client
                    .get_connection_with_timeout(self.timeout)
                    .map_err(backend)?;
                c.set_read_timeout(Some(self.timeout)).map_err(backend)?;
                c.set_write_timeout(Some(self.timeout)).map_err(backend)?;
                *g = Some(c);
            }
            let Some(c) = g.as_mut() else {
                return Err(StoreError::Backend("no connection".into()));
            };
            match f(c) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    *g = None;
                    let dropped = e.is_connection_dropped() || e.is_io_error();
                    if retried || !dropped {
                        return Err(backend(e));
                    }
                    retried = true;
                }
            }
        }
    }

    fn eval(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<String, StoreError> {
        self.with(|c| {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(script).arg(keys.len());
            for k in keys {
                cmd.arg(*k);
            }
            for a in args {
                cmd.arg(*a);
            }
            cmd.query(c)
        })
    }
}

impl StateStore for RedisStore {
    fn put_call(&self, call_id: &str, sealed: &[u8], owner: &str) -> Result<EventId, StoreError> {
        let keys = [self.calls.as_str(), &self.owners, &self.events];
        let r = self.eval(PUT, &keys, &[call_id.as_bytes(), sealed, owner.as_bytes()])?;
        outcome(r)?.map(EventId).map_err(StoreError::Fenced)
    }

    fn delete_call(&self, call_id: &str, owner: &str) -> Result<EventId, StoreError> {
        let keys = [self.calls.as_str(), &self.owners, &self.media, &self.events];
        let r = self.eval(DELETE, &keys, &[call_id.as_bytes(), owner.as_bytes()])?;
        outcome(r)?.map(EventId).map_err(StoreError::Fenced)
    }

    fn put_media(&self, items: &[(String, Vec<u8>)], owner: &str) -> Vec<Result<(), StoreError>> {
        if items.is_empty() {
            return Vec::new();
        }
        // One round trip for every call's checkpoint.
        let answers: Result<Vec<String>, StoreError> = self.with(|c| {
            let mut p = redis::pipe();
            for (id, sealed) in items {
                p.cmd("EVAL")
                    .arg(MEDIA)
                    .arg(2)
                    .arg(&self.owners)
                    .arg(&self.media)
                    .arg(id)
                    .arg(sealed.as_slice())
                    .arg(owner);
            }
            p.query(c)
        });
        match answers {
            Ok(v) => v
                .into_iter()
                .map(|r| outcome(r)?.map(|_| ()).map_err(StoreError::Fenced))
                .collect(),
            Err(e) => {
                let why = match e {
                    StoreError::Backend(m) => m,
                    other => other.to_string(),
                };
                items
                    .iter()
                    .map(|_| Err(StoreError::Backend(why.clone())))
                    .collect()
            }
        }
    }

    fn load_call(&self, call_id: &str) -> Result<StoredCall, StoreError> {
        let (state, media, owner): (Option<Vec<u8>>, Option<Vec<u8>>, Option<String>) =
            self.with(|c| {
                redis::pipe()
                    .cmd("HGET")
                    .arg(&self.calls)
                    .arg(call_id)
                    .cmd("HGET")
                    .arg(&self.media)
                    .arg(call_id)
                    .cmd("HGET")
                    .arg(&self.owners)
                    .arg(call_id)
                    .query(c)
            })?;
        Ok(StoredCall {
            state,
            media,
            owner,
        })
    }

    fn load_calls(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with(|c| redis::cmd("HGETALL").arg(&self.calls).query(c))
    }

    fn owners(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| redis::cmd("HGETALL").arg(&self.owners).query(c))
    }

    fn claim(&self, call_id: &str, expected: &str, me: &str) -> Result<bool, StoreError> {
        let keys = [self.calls.as_str(), &self.owners, &self.events];
        let r = self.eval(
            CLAIM,
            &keys,
            &[call_id.as_bytes(), expected.as_bytes(), me.as_bytes()],
        )?;
        Ok(outcome(r)?.is_ok())
    }

    fn release(&self, call_id: &str, me: &str) -> Result<bool, StoreError> {
        let keys = [self.owners.as_str(), &self.events];
        let r = self.eval(RELEASE, &keys, &[call_id.as_bytes(), me.as_bytes()])?;
        Ok(outcome(r)?.is_ok())
    }

    fn heartbeat(&self, node_id: &str, info: &str) -> Result<(), StoreError> {
        self.with(|c| {
            redis::cmd("HSET")
                .arg(&self.nodes)
                .arg(node_id)
                .arg(info)
                .query::<()>(c)
        })
    }

    fn nodes(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| redis::cmd("HGETALL").arg(&self.nodes).query(c))
    }

    fn events_after(&self, after: &EventId, max: usize) -> Result<Vec<Event>, StoreError> {
        // `(id` is exclusive (Redis 6.2 and later); `-` is the start.
        let start = if after.0.is_empty() {
            "-".to_string()
        } else {
            format!("({}", after.0)
        };
        let raw: Vec<(String, Vec<(String, String)>)> = self.with(|c| {
            redis::cmd("XRANGE")
                .arg(&self.events)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(max.max(1))
                .query(c)
        })?;
        raw.into_iter()
            .map(|(id, fields)| {
                let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let kind = match get("op").as_deref() {
                    Some("put") => EventKind::Put,
                    Some("delete") => EventKind::Delete,
                    Some("adopt") => EventKind::Adopt,
                    Some("release") => EventKind::Release,
                    other => return Err(StoreError::Corrupt(format!("event {id}: op {other:?}"))),
                };
                let call_id = get("call")
                    .ok_or_else(|| StoreError::Corrupt(format!("event {id}: no call")))?;
                Ok(Event {
                    id: EventId(id),
                    call_id,
                    kind,
                })
            })
            .collect()
    }
}
