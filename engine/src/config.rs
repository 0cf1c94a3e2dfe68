//! Node configuration (issue 3): being built.
