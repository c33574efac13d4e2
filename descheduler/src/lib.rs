//! Tidal's load-aware descheduler.
//!
//! One run is snapshot → plan → execute. The plan ([`plan::plan`]) is a pure,
//! deterministic function of a [`model::ClusterSnapshot`], the [`policy::Policy`] and
//! the workloads still cooling down from earlier runs: it decides which pods leave
//! which hot nodes and where each would land, checked with the same scorer the
//! scheduler extender uses, and never spends more disruption than the guards allow.

pub mod config;
pub mod cooldown;
pub mod execute;
pub mod kube_error;
pub mod model;
pub mod plan;
pub mod policy;
pub mod report;
pub mod run;
pub mod slim;
pub mod snapshot;
