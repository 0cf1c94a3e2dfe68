//! Reading every call's media checkpoint from the workers (for the state
//! store's takeover: `control::store::media`).

use std::time::Instant;

use super::{relay, Command, DataPlane};

impl DataPlane {
    /// Where every call's legs stand ([`relay::LegCheckpoint`]), by call
    /// id: read from each worker between two packets, waiting (bounded)
    /// for each. A worker that does not answer in time is left out.
    pub fn checkpoints(&self) -> Vec<(u64, [relay::LegCheckpoint; 2])> {
        let mut waits = Vec::with_capacity(self.workers.len());
        let deadline = Instant::now() + self.ack_timeout;
        for w in &self.workers {
            let (tx, rx) = crossbeam_channel::bounded(1);
            if w.commands
                .send_deadline(Command::Checkpoint(tx), deadline)
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
}
