//! The per-core relay data plane (issue 3): being built.
