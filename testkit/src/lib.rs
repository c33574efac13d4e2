//! Test fixtures for Tidal: a real Prometheus on loopback filled with synthetic
//! cluster metrics, a fake one answering crafted samples, an in-process fake Kubernetes
//! API server, Kubernetes objects, in-memory load snapshots, and a stand-in for
//! kube-scheduler's extender calls.

pub mod fake_apiserver;
pub mod fake_prometheus;
pub mod metrics;
pub mod objects;
pub mod prometheus;
pub mod scheduler;
pub mod snapshot;
