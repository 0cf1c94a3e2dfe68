//! The control plane (issue 3): being built.
