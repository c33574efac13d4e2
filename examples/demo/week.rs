//! A week of a small shop's cluster in a real Prometheus: cAdvisor usage and kube-state-metrics
//! requests, owners and node capacity at 5-minute steps, for the forecast and the cost report.

use std::time::Duration;

use anyhow::Context as _;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile, unix_now};
use tidal_testkit::prometheus::Prometheus;

pub const DAY: i64 = 86_400;
const GIB: u64 = 1 << 30;

/// The running Prometheus and the end of its week (Unix seconds, on a 5-minute step).
pub async fn start() -> anyhow::Result<(Prometheus, i64)> {
    let end = unix_now() / 300 * 300;
    let hour = |t: i64| (t.rem_euclid(DAY)) as f64 / 3600.0;
    // Shop traffic peaks at 14:00 UTC; a nightly batch at 02:00; an API with no cycle.
    let shop = Profile::from_fn(move |t| {
        0.2 + 0.8 * (-(hour(t) - 14.0).powi(2) / 8.0).exp() + 0.03 * ((t / 300) % 7) as f64
    });
    let batch = Profile::from_fn(move |t| {
        if (2.0..4.0).contains(&hour(t)) {
            1.5
        } else {
            0.05
        }
    });
    let mut data = ClusterMetrics::new()
        .range(end - 7 * DAY, end)
        .step(Duration::from_secs(300))
        .node(
            Node::new("node-a", "10.0.1.11:9100")
                .cpus(8)
                .memory_bytes(32 * GIB),
        )
        .node(
            Node::new("node-b", "10.0.1.12:9100")
                .cpus(8)
                .memory_bytes(32 * GIB),
        );
    // (workload, replicas, CPU use, CPU request): the shop asks for its peak all day.
    let workloads = [("shop", 3, shop, 1.0), ("batch", 1, batch, 1.5)];
    for (workload, replicas, profile, request) in workloads {
        let rs = format!("{workload}-5d9c7");
        data = data.replica_set("demo", &rs, workload);
        for i in 0..replicas {
            data = data.pod(
                Pod::new(
                    "demo",
                    format!("{rs}-{i}"),
                    if i % 2 == 0 { "node-a" } else { "node-b" },
                )
                .owner("ReplicaSet", &rs)
                .container(
                    Container::new(workload)
                        .cpu(profile.clone())
                        .memory(1.5e9)
                        .requests(request, 2 * GIB),
                ),
            );
        }
    }
    data = data.replica_set("demo", "api-7f8b6", "api").pod(
        Pod::new("demo", "api-7f8b6-0", "node-b")
            .owner("ReplicaSet", "api-7f8b6")
            .container(
                Container::new("api")
                    .cpu(0.3)
                    .memory(0.8e9)
                    .requests(0.5, GIB),
            ),
    );
    let prometheus = Prometheus::start(&data.to_openmetrics())
        .await?
        .context("prometheus is not installed: run ./scripts/demo")?;
    Ok((prometheus, end))
}
