//! Prometheus answers that carry no usable load — NaN, infinities, negative or absurd
//! values, samples stamped in the future, nothing at all — are failed refreshes: the last
//! good load is kept and goes stale as documented, and readiness, metrics and the debug
//! view say so. A bad figure costs only its own node's load.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tidal_core::load::{Figure, LoadConfig};
use tidal_testkit::fake_prometheus::{self, FakePrometheus, FakeSample, Fault};
use tidal_testkit::objects;

const GB: f64 = 1e9;

/// A 4-core, 16 GB node with `busy` cores busy and 4 GB in use.
fn healthy(prometheus: &FakePrometheus, nodes: &[(&str, f64)]) {
    let each = |value: &dyn Fn(f64) -> f64| -> Vec<FakeSample> {
        let sample = |&(name, busy): &(&str, f64)| FakeSample::new(name, value(busy));
        nodes.iter().map(sample).collect()
    };
    prometheus.set(Figure::CpuAverage, each(&|busy| busy));
    prometheus.set(Figure::CpuPeak, each(&|busy| busy));
    prometheus.set(Figure::MemoryAverage, each(&|_| 4.0 * GB));
    prometheus.set(Figure::MemoryPeak, each(&|_| 4.0 * GB));
    prometheus.set(Figure::CpuCapacity, each(&|_| 4.0));
    prometheus.set(Figure::MemoryCapacity, each(&|_| 16.0 * GB));
}

/// An extender without cluster access on `prometheus`, its load stale after `max_age`.
async fn extender(
    prometheus: &FakePrometheus,
    max_age: Duration,
) -> anyhow::Result<common::RunningExtender> {
    let load = LoadConfig {
        max_age,
        queries: fake_prometheus::queries(),
        ..common::load_config()
    };
    common::start(prometheus.url(), None, load).await
}

async fn metric(ext: &common::RunningExtender, name: &str) -> anyhow::Result<f64> {
    let (_, text) = ext.get("/metrics").await?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok());
    value.ok_or_else(|| anyhow::anyhow!("no {name} in\n{text}"))
}

async fn prioritize(ext: &common::RunningExtender, nodes: &[&str]) -> anyhow::Result<Vec<i64>> {
    let pod = objects::pod("shop", "web-1", "100m", "64Mi")?;
    let args = json!({"Pod": pod, "Nodes": null, "NodeNames": nodes});
    let url = format!("{}/prioritize", ext.prefix());
    let answer: Value = ext.http.post(url).json(&args).send().await?.json().await?;
    let scores = answer.as_array().into_iter().flatten();
    Ok(scores.filter_map(|s| s["Score"].as_i64()).collect())
}

async fn wait_for_refresh_errors(
    ext: &common::RunningExtender,
    at_least: f64,
) -> anyhow::Result<()> {
    let errors = "tidal_extender_load_refresh_errors_total";
    common::wait_until("a failed refresh", Duration::from_secs(20), || async {
        Ok(metric(ext, errors).await? >= at_least)
    })
    .await
}

#[tokio::test]
async fn answers_without_a_usable_load_are_failed_refreshes() -> anyhow::Result<()> {
    let nan = FakeSample::new("node-a", "NaN");
    let cases: [(&str, Vec<FakeSample>); 6] = [
        ("NaN", vec![nan.clone()]),
        ("+Inf", vec![FakeSample::new("node-a", "+Inf")]),
        ("negative", vec![FakeSample::new("node-a", "-1")]),
        ("absurd", vec![FakeSample::new("node-a", "1e308")]),
        (
            "future",
            vec![FakeSample::new("node-a", "1").stamped(3600.0)],
        ),
        ("empty", vec![]),
    ];
    for (case, samples) in cases {
        let prometheus = FakePrometheus::start().await?;
        prometheus.set_all(&samples);
        let ext = extender(&prometheus, Duration::from_secs(2)).await?;
        wait_for_refresh_errors(&ext, 1.0).await?;

        let (status, ready) = ext.get("/readyz").await?;
        assert_eq!(status, 200, "{case}");
        assert!(
            ready.starts_with("ready, degraded (fail-open): no load yet; last error: Prometheus"),
            "{case}: {ready}"
        );
        assert_eq!(
            metric(&ext, "tidal_extender_load_refreshes_total").await?,
            0.0
        );
        assert_eq!(
            metric(&ext, "tidal_extender_load_age_seconds").await?,
            f64::INFINITY,
            "{case}"
        );
        let invalid = metric(&ext, "tidal_extender_load_invalid_samples_total").await?;
        assert_eq!(invalid >= 6.0, !samples.is_empty(), "{case}: {invalid}");
        let debug = ext.debug().await?;
        assert_ne!(debug["load"]["health"], "fresh", "{case}: {debug}");
        assert_eq!(prioritize(&ext, &["node-a"]).await?, [5], "{case}");
        ext.shutdown().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_bad_answer_keeps_the_last_good_load_until_it_is_stale() -> anyhow::Result<()> {
    let prometheus = FakePrometheus::start().await?;
    healthy(&prometheus, &[("node-a", 0.4), ("node-b", 2.4)]);
    let ext = extender(&prometheus, Duration::from_secs(4)).await?;
    common::wait_until("the first refresh", Duration::from_secs(20), || async {
        Ok(ext.get("/readyz").await? == (200, "ready\n".to_string()))
    })
    .await?;
    let nodes = ["node-a", "node-b"];
    let good = prioritize(&ext, &nodes).await?;
    assert!(good[0] > good[1], "{good:?}");

    prometheus.set_all(&[
        FakeSample::new("node-a", "NaN"),
        FakeSample::new("node-b", "NaN"),
    ]);
    wait_for_refresh_errors(&ext, 1.0).await?;
    assert_eq!(
        prioritize(&ext, &nodes).await?,
        good,
        "the last good load still counts"
    );
    let (_, ready) = ext.get("/readyz").await?;
    assert!(ready.contains("the last refresh failed"), "{ready}");
    let debug = ext.debug().await?;
    let error = debug["load"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("node-a cpu_average=NaN (not finite)"),
        "{debug}"
    );

    common::wait_until(
        "the last good load is stale",
        Duration::from_secs(20),
        || async {
            let (_, ready) = ext.get("/readyz").await?;
            Ok(ready.starts_with("ready, degraded (fail-open): load is"))
        },
    )
    .await?;
    assert!(metric(&ext, "tidal_extender_load_age_seconds").await? > 4.0);
    assert_eq!(prioritize(&ext, &nodes).await?, [5, 5]);
    ext.shutdown().await
}

#[tokio::test]
async fn an_absurd_figure_costs_only_its_own_node_its_load() -> anyhow::Result<()> {
    let prometheus = FakePrometheus::start().await?;
    let nodes = [("node-a", 0.4), ("node-b", 0.4), ("node-c", 0.4)];
    healthy(&prometheus, &nodes);
    // Beyond any machine; and ten times node-c's 4 cores.
    let average = [("node-a", "0.4"), ("node-b", "1e308"), ("node-c", "0.4")];
    let peak = [("node-a", "0.4"), ("node-b", "0.4"), ("node-c", "40")];
    let samples = |figures: &[(&str, &str)]| -> Vec<FakeSample> {
        figures
            .iter()
            .map(|(n, v)| FakeSample::new(*n, v))
            .collect()
    };
    prometheus.set(Figure::CpuAverage, samples(&average));
    prometheus.set(Figure::CpuPeak, samples(&peak));
    let ext = extender(&prometheus, Duration::from_secs(2)).await?;
    common::wait_until("the first refresh", Duration::from_secs(20), || async {
        Ok(ext.get("/readyz").await? == (200, "ready\n".to_string()))
    })
    .await?;

    let names = ["node-a", "node-b", "node-c"];
    let pod = objects::pod("shop", "web-1", "100m", "64Mi")?;
    let args = json!({"Pod": pod, "Nodes": null, "NodeNames": names});
    let url = format!("{}/filter", ext.prefix());
    let filtered: Value = ext.http.post(url).json(&args).send().await?.json().await?;
    assert_eq!(filtered["NodeNames"], json!(names), "{filtered}");
    assert_eq!(filtered["FailedNodes"], json!({}), "{filtered}");
    let scores = prioritize(&ext, &names).await?;
    assert!(scores[0] > 5 && scores[1..] == [5, 5], "{scores:?}");

    assert!(metric(&ext, "tidal_extender_load_invalid_samples_total").await? >= 2.0);
    let debug = ext.debug().await?;
    let invalid: Vec<(&str, &str)> = debug["load"]["invalid_samples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["identity"].as_str()?, s["figure"].as_str()?)))
        .collect();
    assert!(invalid.contains(&("node-b", "cpu_average")), "{debug}");
    assert!(invalid.contains(&("node-c", "cpu_peak")), "{debug}");
    assert_eq!(debug["load"]["health"], "fresh");
    ext.shutdown().await
}

/// A backend that answers slowly, with 5xx, garbage, the wrong result type or a connection
/// cut mid-body: each is a failed refresh that readiness and the error counter show within a
/// refresh or two, the last good load keeps deciding, and the next good answer recovers
/// without a restart.
#[tokio::test]
async fn backend_faults_are_failed_refreshes_and_recover() -> anyhow::Result<()> {
    let prometheus = FakePrometheus::start().await?;
    healthy(&prometheus, &[("node-a", 0.4), ("node-b", 2.4)]);
    // A long max_age: the last good load stays fresh through each fault.
    let ext = extender(&prometheus, Duration::from_secs(120)).await?;
    let ready = || async { Ok(ext.get("/readyz").await? == (200, "ready\n".to_string())) };
    common::wait_until("the first refresh", Duration::from_secs(20), ready).await?;
    let nodes = ["node-a", "node-b"];
    let good = prioritize(&ext, &nodes).await?;
    assert!(good[0] > good[1], "{good:?}");
    let faults = [
        // The extender's client gives up after 2 s.
        Fault::Slow(Duration::from_secs(3)),
        Fault::Status(503),
        Fault::Status(500),
        Fault::Garbage,
        Fault::WrongType,
        Fault::ResetMidBody,
    ];
    let errors = "tidal_extender_load_refresh_errors_total";
    for fault in faults {
        let before = metric(&ext, errors).await?;
        prometheus.set_fault(Some(fault));
        wait_for_refresh_errors(&ext, before + 1.0).await?;
        let (status, text) = ext.get("/readyz").await?;
        assert_eq!(status, 200, "{fault:?}");
        assert!(
            text.contains("the last refresh failed"),
            "{fault:?}: {text}"
        );
        assert_eq!(prioritize(&ext, &nodes).await?, good, "{fault:?}");
        prometheus.set_fault(None);
        common::wait_until("recovery", Duration::from_secs(20), ready).await?;
    }
    ext.shutdown().await
}
