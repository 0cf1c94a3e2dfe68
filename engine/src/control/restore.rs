//! A stored call back to a running record: the one place that knows every
//! record type (`ng_call`, `api::record`) for the takeover loop
//! (`control::ha`), which knows none of them.

use serde_json::Value;

use super::calls::{CallRecord, CallService, Origin};
use super::store::media::MediaCheckpoint;

/// A record from its stored form (`{"origin", "call"}`), running on this
/// node.
pub fn restore_record(
    s: &CallService,
    state: &Value,
    media: Option<&MediaCheckpoint>,
) -> Result<Box<dyn CallRecord>, String> {
    let origin: Origin =
        serde_json::from_value(state["origin"].clone()).map_err(|e| format!("origin: {e}"))?;
    match origin {
        Origin::Ng => {
            let mut c: super::ng_call::NgCall = serde_json::from_value(state["call"].clone())
                .map_err(|e| format!("ng call: {e}"))?;
            c.restore(s, media).map_err(|e| e.to_string())?;
            Ok(Box::new(c))
        }
        Origin::Http | Origin::Embedded => {
            let mut c: super::api::record::Call =
                serde_json::from_value(state["call"].clone()).map_err(|e| format!("call: {e}"))?;
            c.restore(s, media)?;
            Ok(Box::new(c))
        }
    }
}
