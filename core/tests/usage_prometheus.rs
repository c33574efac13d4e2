//! The descheduler's load inputs against a real Prometheus and a real VictoriaMetrics filled
//! with synthetic node-exporter and cAdvisor series: sustained node load is the minimum of the
//! 5-minute average over the window, and pod usage counts each container once. Skips a store
//! that is not installed, unless TIDAL_REQUIRE_PROMETHEUS=1.

use std::error::Error;
use std::time::{Duration, SystemTime};

use tidal_core::load::{self, LoadConfig};
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_core::usage::{
    PodUsageConfig, SustainedConfig, decode_pod_usage, fetch_pod_usage, fetch_sustained,
};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile};
use tidal_testkit::tsdb::{self, Tsdb};

type TestResult = Result<(), Box<dyn Error>>;

const GIB: u64 = 1 << 30;

fn assert_close(what: &str, actual: f64, expected: f64) {
    let tolerance = 1e-6 * expected.abs().max(1e-9);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected}"
    );
}

/// node-a (10.0.0.1, 4 CPUs, 16 GiB): 90 % busy and 60 % of memory used for the whole
/// two hours, except 8 minutes centred ten minutes ago at 30 % busy and 25 % used.
/// node-b (10.0.0.2, 8 CPUs, 32 GiB): steadily 80 % busy, 50 % used.
/// Two pods with known container usage.
fn cluster() -> ClusterMetrics {
    let cluster = ClusterMetrics::new();
    let end = cluster.end();
    let dip = end - 14 * 60..end - 6 * 60;
    cluster
        .node(
            Node::new("node-a", "10.0.0.1:9100")
                .cpus(4)
                .memory_bytes(16 * GIB)
                .busy(Profile::spike(0.9, 0.3, dip.clone()))
                .memory_used(Profile::spike(0.6, 0.25, dip))
                .exporter_label("node", "node-a"),
        )
        .node(
            Node::new("node-b", "10.0.0.2:9100")
                .cpus(8)
                .memory_bytes(32 * GIB)
                .busy(0.8)
                .memory_used(0.5)
                .exporter_label("node", "node-b"),
        )
        .pod(
            Pod::new("shop", "web-0", "node-a")
                .owner("ReplicaSet", "web-5d9c7")
                .container(Container::new("app").cpu(0.5).memory(200e6))
                .container(Container::new("proxy").cpu(0.05).memory(30e6)),
        )
        .pod(
            Pod::new("shop", "db-0", "node-b")
                .owner("StatefulSet", "db")
                .container(Container::new("postgres").cpu(1.25).memory(1.5e9)),
        )
}

fn client(store: &Tsdb) -> Result<PrometheusClient, Box<dyn Error>> {
    eprintln!("checking against {}", store.name());
    Ok(PrometheusClient::new(&PrometheusConfig {
        url: store.url(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    })?)
}

#[tokio::test]
async fn sustained_load_is_the_minimum_over_the_window() -> TestResult {
    for store in tsdb::start_all(&cluster().to_openmetrics()).await? {
        sustained_load_on(&store).await?;
    }
    Ok(())
}

async fn sustained_load_on(store: &Tsdb) -> TestResult {
    let client = client(store)?;
    let config = SustainedConfig::default();
    let before = SystemTime::now();

    let by_instance = fetch_sustained(&client, "instance", &config).await?;
    assert_eq!(by_instance.len(), 2, "{by_instance:?}");
    let a = by_instance["10.0.0.1"];
    // The dip ten minutes ago is inside the 15-minute window: the minimum reflects it.
    assert_close("node-a sustained cpu", a.cpu_cores, 0.3 * 4.0);
    assert_close(
        "node-a sustained memory",
        a.memory_bytes,
        0.25 * (16 * GIB) as f64,
    );
    let b = by_instance["10.0.0.2"];
    assert_close("node-b sustained cpu", b.cpu_cores, 0.8 * 8.0);
    assert_close(
        "node-b sustained memory",
        b.memory_bytes,
        0.5 * (32 * GIB) as f64,
    );
    for load in [a, b] {
        let age = before
            .duration_since(load.sampled_at)
            .unwrap_or(Duration::ZERO);
        assert!(age < Duration::from_secs(60), "sampled {age:?} ago");
    }

    // The extender's recent average on the same data is back at 90 % busy, so the
    // descheduler's figure really is the sustained one.
    let recent = load::fetch(&client, &LoadConfig::default()).await?;
    let (_, now) = recent
        .iter()
        .find(|(identity, _)| *identity == "10.0.0.1")
        .ok_or("node-a has no recent load")?;
    assert_close("node-a recent cpu", now.cpu_cores.average, 0.9 * 4.0);

    // A 1-minute window of 5-minute averages looks back under 6 minutes, all after the
    // dip ended: it sees only the steady 90 %.
    let short = SustainedConfig {
        window: Duration::from_secs(60),
        ..Default::default()
    };
    let short = fetch_sustained(&client, "instance", &short).await?;
    assert_close("node-a 1m cpu", short["10.0.0.1"].cpu_cores, 0.9 * 4.0);

    // Keyed by a label that carries the node name.
    let by_node = fetch_sustained(&client, "node", &config).await?;
    let mut names: Vec<&str> = by_node.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["node-a", "node-b"]);
    assert_close("node-b by name", by_node["node-b"].cpu_cores, 6.4);
    Ok(())
}

#[tokio::test]
async fn pod_usage_counts_each_container_once() -> TestResult {
    for store in tsdb::start_all(&cluster().to_openmetrics()).await? {
        pod_usage_on(&store).await?;
    }
    Ok(())
}

async fn pod_usage_on(store: &Tsdb) -> TestResult {
    let client = client(store)?;
    let usage = fetch_pod_usage(&client, &PodUsageConfig::default()).await?;
    assert_eq!(usage.len(), 2, "{usage:?}");
    let key = |pod: &str| ("shop".to_string(), pod.to_string());
    let web = usage[&key("web-0")];
    assert_close("web-0 cpu", web.cpu_cores, 0.55);
    assert_close("web-0 memory", web.memory_bytes, 230e6);
    let db = usage[&key("db-0")];
    assert_close("db-0 cpu", db.cpu_cores, 1.25);
    assert_close("db-0 memory", db.memory_bytes, 1.5e9);

    // The pod-level cgroup series (no `container` label) is really there: without the
    // filter every pod counts twice.
    let naive_cpu = client
        .query(
            "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[5m]))",
            None,
        )
        .await?;
    let naive_memory = client
        .query(
            "sum by (namespace, pod) (container_memory_working_set_bytes)",
            None,
        )
        .await?;
    let naive = decode_pod_usage(&naive_cpu, &naive_memory, SystemTime::now()).values;
    assert_close("unfiltered web-0 cpu", naive[&key("web-0")].cpu_cores, 1.1);
    assert_close(
        "unfiltered db-0 memory",
        naive[&key("db-0")].memory_bytes,
        3e9,
    );
    Ok(())
}
