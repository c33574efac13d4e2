//! Tidal's shared core.
//!
//! Everything here that makes a decision is a pure function over plain data
//! ([`load::LoadSnapshot`], [`resources::Resources`], [`scoring::Scorer`]); the
//! only I/O is the Prometheus client in [`prometheus`] and the refresh in
//! [`load`], so the extender, the descheduler and the benches share one model.

pub mod bytes_text;
pub mod duration_text;
pub mod estimate;
pub mod fit;
pub mod load;
pub mod node_identity;
pub mod prometheus;
pub mod quantity;
pub mod resources;
pub mod scoring;
pub mod usage;
