pub mod fake_apiserver;
pub mod metrics;
pub mod prometheus;
pub mod snapshot;
