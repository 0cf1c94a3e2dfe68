//! The Redis backend: one hash of sealed call states, one stream of
//! changes.
//!
//! Layout under a prefix (default `rampart`): `{prefix}:calls` is a hash
//! from call id to sealed state; `{prefix}:events` a stream whose entries
//! carry `op` (`put`, `delete`) and `call`. A write updates both in one
//! `MULTI`/`EXEC`, so the log never names a state the hash lacks.

use std::sync::Mutex;
use std::time::Duration;

use super::{Event, EventId, EventKind, StateStore, StoreError};

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Call state in a Redis server.
pub struct RedisStore {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    calls: String,
    events: String,
    timeout: Duration,
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

    fn write(
        &self,
        call_id: &str,
        kind: EventKind,
        sealed: Option<&[u8]>,
    ) -> Result<EventId, StoreError> {
        let (calls, events) = (&self.calls, &self.events);
        let (id,): (String,) = self.with(|c| {
            let mut p = redis::pipe();
            p.atomic();
            match sealed {
                Some(s) => p.cmd("HSET").arg(calls).arg(call_id).arg(s).ignore(),
                None => p.cmd("HDEL").arg(calls).arg(call_id).ignore(),
            };
            p.cmd("XADD")
                .arg(events)
                .arg("*")
                .arg("op")
                .arg(kind.as_str())
                .arg("call")
                .arg(call_id);
            p.query(c)
        })?;
        Ok(EventId(id))
    }
}

impl StateStore for RedisStore {
    fn put_call(&self, call_id: &str, sealed: &[u8]) -> Result<EventId, StoreError> {
        self.write(call_id, EventKind::Put, Some(sealed))
    }

    fn delete_call(&self, call_id: &str) -> Result<EventId, StoreError> {
        self.write(call_id, EventKind::Delete, None)
    }

    fn load_calls(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with(|c| redis::cmd("HGETALL").arg(&self.calls).query(c))
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
