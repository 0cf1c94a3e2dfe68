//! Where call state is kept beyond one node: sealed call snapshots and an
//! ordered, replayable log of their changes (issue #13's foundation).
//!
//! Why a trait: the node writes each call's state ([`CallRecord::snapshot`],
//! sealed by [`seal::Keyring`]) and reads back what other nodes wrote,
//! without caring which store holds it; Redis is the first backend
//! ([`redis::RedisStore`]). Why a log and not notifications: a standby
//! that reconnects must see every change it missed, in order. Redis
//! Streams give that (each change has an id; reading resumes after the
//! last id seen), where pub/sub loses what was sent while a subscriber was
//! away.
//!
//! [`CallRecord::snapshot`]: super::calls::CallRecord::snapshot

pub mod media;
pub mod persist;
pub mod redis;
pub mod seal;

/// Why the store could not do something.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or refused the command.
    Backend(String),
    /// A record could not be sealed or opened.
    Seal(seal::SealError),
    /// A stored record or event is not what this node writes.
    Corrupt(String),
    /// The call belongs to another node (the owner named here): this node
    /// may no longer write it or serve it.
    Fenced(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Backend(m) => write!(f, "state store: {m}"),
            StoreError::Seal(e) => write!(f, "state store: {e}"),
            StoreError::Corrupt(m) => write!(f, "state store: corrupt entry: {m}"),
            StoreError::Fenced(o) => write!(f, "state store: the call belongs to {o:?}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Seal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<seal::SealError> for StoreError {
    fn from(e: seal::SealError) -> StoreError {
        StoreError::Seal(e)
    }
}

/// The position of a change in the store's log (opaque, ordered).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct EventId(pub String);

/// One change in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Where it is in the log.
    pub id: EventId,
    /// The call it concerns.
    pub call_id: String,
    /// What happened.
    pub kind: EventKind,
}

/// What a change did to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Its state was written (created or changed).
    Put,
    /// It ended.
    Delete,
    /// A node took it over.
    Adopt,
    /// Its node handed it off (a drain): the next node to claim it serves
    /// it.
    Release,
}

impl EventKind {
    /// The name in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Put => "put",
            EventKind::Delete => "delete",
            EventKind::Adopt => "adopt",
            EventKind::Release => "release",
        }
    }
}

/// One call as the store holds it.
#[derive(Clone, Debug, Default)]
pub struct StoredCall {
    /// Its sealed state.
    pub state: Option<Vec<u8>>,
    /// Its sealed media checkpoint.
    pub media: Option<Vec<u8>>,
    /// The owner token of the node serving it (`node/instance`), empty
    /// when it was handed off, `None` when none was ever written.
    pub owner: Option<String>,
}

/// A store of sealed call snapshots, their owners, media checkpoints, the
/// nodes' heartbeats and the log of changes.
///
/// Ownership is fenced: every write names the writer's owner token
/// (`node_id/instance`), and the store refuses ([`StoreError::Fenced`]) a
/// write to a call another token owns. A node takes a call over only by
/// [`StateStore::claim`], a compare-and-set on the owner.
pub trait StateStore: Send + Sync {
    /// Writes a call's sealed state and logs the change, atomically; the
    /// call becomes `owner`'s if it had no owner.
    fn put_call(&self, call_id: &str, sealed: &[u8], owner: &str) -> Result<EventId, StoreError>;
    /// Removes a call (state, owner, media) and logs its end, atomically.
    fn delete_call(&self, call_id: &str, owner: &str) -> Result<EventId, StoreError>;
    /// Writes sealed media checkpoints of calls `owner` owns; one result
    /// per call, in order.
    fn put_media(&self, items: &[(String, Vec<u8>)], owner: &str) -> Vec<Result<(), StoreError>>;
    /// One call, if the store has anything of it.
    fn load_call(&self, call_id: &str) -> Result<StoredCall, StoreError>;
    /// Every stored call's sealed state.
    fn load_calls(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Every call's owner token.
    fn owners(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Makes `me` the owner of `call_id` if its owner is still `expected`
    /// (empty: handed off or never owned). Returns whether it did.
    fn claim(&self, call_id: &str, expected: &str, me: &str) -> Result<bool, StoreError>;
    /// Hands `call_id` off (owner emptied) if `me` owns it.
    fn release(&self, call_id: &str, me: &str) -> Result<bool, StoreError>;
    /// Writes this node's heartbeat record (`info`, JSON).
    fn heartbeat(&self, node_id: &str, info: &str) -> Result<(), StoreError>;
    /// Every node's heartbeat record.
    fn nodes(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Changes after `after` (all with the default id), oldest first, at
    /// most `max`.
    fn events_after(&self, after: &EventId, max: usize) -> Result<Vec<Event>, StoreError>;
}

/// Writes `snapshot` of call `call_id`, sealed with `keys`, to `store`.
pub fn save_call(
    store: &dyn StateStore,
    keys: &seal::Keyring,
    call_id: &str,
    snapshot: &serde_json::Value,
    owner: &str,
) -> Result<EventId, StoreError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(snapshot).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    );
    let sealed = keys.seal(call_id, &plain)?;
    store.put_call(call_id, &sealed, owner)
}

/// The associated data a call's media checkpoint is sealed under (not the
/// call's state's: one cannot stand in for the other).
pub fn media_aad(call_id: &str) -> String {
    format!("media:{call_id}")
}

/// Every stored call, opened with `keys`.
pub fn load_calls(
    store: &dyn StateStore,
    keys: &seal::Keyring,
) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
    store
        .load_calls()?
        .into_iter()
        .map(|(id, sealed)| {
            let plain = keys.open(&id, &sealed)?;
            let v = serde_json::from_slice(&plain)
                .map_err(|e| StoreError::Corrupt(format!("call {id}: {e}")))?;
            Ok((id, v))
        })
        .collect()
}
