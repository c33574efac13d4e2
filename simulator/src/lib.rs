//! Tidal's cluster simulator.
//!
//! Replays a trace (nodes, workloads, per-replica usage over time) step by step under
//! several policies on the same demand, from the same starting placement, and measures
//! what each did: hot node-minutes, evictions, spread, pending pods, under-provisioning.
//! The Tidal policies run the very scorer, estimator, anti-herding and planner the live
//! extender and descheduler run; the baselines are models of kube-scheduler's default
//! profile and the kubernetes-sigs descheduler's LowNodeUtilization, from their source.

pub mod cluster;
pub mod engine;
pub mod from_prometheus;
pub mod kube_scheduler;
pub mod lownodeutilization;
pub mod outcome;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod trace;
