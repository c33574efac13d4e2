//! Test fixtures for Tidal: a real Prometheus and VictoriaMetrics on loopback filled with
//! synthetic cluster metrics, a fake Prometheus answering crafted samples, an in-process fake
//! Kubernetes API server, Kubernetes objects, in-memory load snapshots, and a stand-in for
//! kube-scheduler's extender calls.

pub mod chromium;
pub mod fake_apiserver;
pub mod fake_prometheus;
pub mod fuzz;
pub mod metrics;
pub mod objects;
pub mod prometheus;
pub mod realistic;
pub mod scheduler;
pub mod snapshot;
pub mod tsdb;
pub mod victoria;
