//! Reading calls' media checkpoints from the workers (for the state
//! store's takeover: `control::store::media`).

use std::time::Instant;

use super::{relay, Command, DataPlane, DataPlaneError};

impl DataPlane {
    /// Where calls' legs stand ([`relay::LegCheckpoint`]), by call id: the
    /// calls in `only` (asking only the workers that hold them), or every
    /// call. Read from each worker between two packets, waiting (bounded)
    /// for each; a worker that does not answer in time is left out.
    pub fn checkpoints(&self, only: Option<&[u64]>) -> Vec<relay::CallCheckpoint> {
        let mut asks: Vec<Option<Vec<u64>>> = match only {
            None => vec![None; self.workers.len()],
            Some(ids) => {
                let placement = self.placement();
                let mut per: Vec<Option<Vec<u64>>> = vec![None; self.workers.len()];
                for id in ids {
                    if let Some(&w) = placement.by_call.get(id) {
                        per[w].get_or_insert_with(Vec::new).push(*id);
                    }
                }
                per
            }
        };
        let deadline = Instant::now() + self.ack_timeout;
        let mut waits = Vec::with_capacity(self.workers.len());
        for (w, ask) in self.workers.iter().zip(asks.iter_mut()) {
            if only.is_some() && ask.is_none() {
                continue;
            }
            let (tx, rx) = crossbeam_channel::bounded(1);
            if w.commands
                .send_deadline(Command::Checkpoint(ask.take(), tx), deadline)
                .is_ok()
            {
                w.wake.wake();
                waits.push(rx);
            }
        }
        let mut out = Vec::new();
        for rx in waits {
            if let Ok(v) = rx.recv_deadline(deadline) {
                out.extend(v);
            }
        }
        out
    }

    /// Removes a call (the worker closes its sockets) and returns where
    /// its legs stood after its last packet.
    pub fn remove_call_checkpointed(
        &self,
        call_id: u64,
    ) -> Result<[relay::LegCheckpoint; 2], DataPlaneError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.remove(call_id, Some(tx))?;
        rx.try_recv()
            .map_err(|_| DataPlaneError::UnknownCall(call_id))
    }
}
