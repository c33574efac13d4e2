//! The descheduler's load inputs from Prometheus: each node's *sustained* load and each
//! pod's real usage, every figure from one batched instant query covering all nodes or
//! all pods at once.
//!
//! "Sustained" is expressed in PromQL (`min_over_time` of the 5-minute average over a
//! window), so a descheduler run as a CronJob needs no memory between runs: a node is
//! sustained-hot only if it stayed hot for the whole window.
//!
//! Decoding follows [`crate::load`]: NaN, infinite and negative values are dropped, and
//! when two series map to one key the higher value wins (the safe side for a load
//! check). A node or pod with only one of its two figures is left out and listed as
//! incomplete: an unknown figure is never taken as 0.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, SystemTime};

use futures::future::join;
use serde::{Deserialize, Serialize};

use crate::load::{MAX_CPU_CORES, MAX_MEMORY_BYTES, Problem};
use crate::node_identity::strip_port;
use crate::prometheus::{PrometheusClient, PrometheusError, Sample, sample_time};

/// The descheduler's sustained node load (`sustained:` in its config section).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SustainedConfig {
    /// How long a load must last to count: the queries take the lowest 5-minute
    /// average over this window. Filled into `{window}` in the queries.
    #[serde(with = "crate::duration_text")]
    pub window: Duration,
    pub queries: SustainedQueries,
}

impl Default for SustainedConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            queries: SustainedQueries::default(),
        }
    }
}

/// PromQL for the sustained figures, over raw node-exporter series so no recording rules
/// are needed. `{node_label}` is replaced by the load section's `node_label` (every
/// result must carry that label) and `{window}` by [`SustainedConfig::window`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SustainedQueries {
    /// Busy cores: the lowest 5-minute average over the window.
    pub cpu: String,
    /// Bytes in use (total minus available): the lowest over the window.
    pub memory: String,
}

impl Default for SustainedQueries {
    fn default() -> Self {
        Self {
            cpu: r#"min_over_time((sum by ({node_label}) (rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m])))[{window}:1m])"#
                .to_string(),
            memory: "min_over_time((sum by ({node_label}) (node_memory_MemTotal_bytes - \
                     node_memory_MemAvailable_bytes))[{window}:1m])"
                .to_string(),
        }
    }
}

impl SustainedConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.window < Duration::from_secs(60) {
            return Err(format!(
                "sustained.window is {}; it must be at least 1m, the resolution of the default queries",
                humantime_serde::re::humantime::format_duration(self.window)
            ));
        }
        if self.window.subsec_nanos() != 0 {
            return Err(format!(
                "sustained.window is {}; it must be a whole number of seconds",
                humantime_serde::re::humantime::format_duration(self.window)
            ));
        }
        validate_queries("sustained.queries", &self.queries.cpu, &self.queries.memory)
    }

    /// The CPU and memory queries with `{node_label}` and `{window}` filled in.
    pub fn render(&self, node_label: &str) -> [String; 2] {
        let window = promql_duration(self.window);
        let fill = |q: &str| {
            q.replace("{node_label}", node_label)
                .replace("{window}", &window)
        };
        [fill(&self.queries.cpu), fill(&self.queries.memory)]
    }
}

/// A node's load, sustained over [`SustainedConfig::window`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SustainedLoad {
    /// Busy cores.
    pub cpu_cores: f64,
    /// Bytes in use.
    pub memory_bytes: f64,
    /// When Prometheus evaluated the figures (the older of the two).
    #[serde(with = "humantime_serde")]
    pub sampled_at: SystemTime,
}

/// Pod usage from cAdvisor (`pod_usage:` in the descheduler's config section).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodUsageConfig {
    pub queries: PodUsageQueries,
}

/// PromQL for each pod's usage. Every result must carry the labels `namespace` and `pod`.
///
/// The defaults read cAdvisor as kube-prometheus-stack scrapes it from the kubelet.
/// cAdvisor also reports each pod's own cgroup as a series with `container=""` (the sum
/// of its containers) and the pause container as `container="POD"` on older runtimes;
/// both are excluded, or every pod would count twice.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodUsageQueries {
    /// Cores used, averaged over the last 5 minutes.
    pub cpu: String,
    /// Working-set bytes, what the kubelet weighs for eviction and the OOM killer.
    pub memory: String,
}

impl Default for PodUsageQueries {
    fn default() -> Self {
        Self {
            cpu: r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!="", container!="POD"}[5m]))"#
                .to_string(),
            memory: r#"sum by (namespace, pod) (container_memory_working_set_bytes{container!="", container!="POD"})"#
                .to_string(),
        }
    }
}

impl PodUsageConfig {
    pub fn validate(&self) -> Result<(), String> {
        validate_queries("pod_usage.queries", &self.queries.cpu, &self.queries.memory)
    }
}

/// What one pod really uses.
///
/// Both figures are always known: a pod Prometheus reported only one figure for is left
/// out of [`fetch_pod_usage`]'s answer, like a pod it never saw. The planner must treat
/// a missing pod as "usage unknown": never as 0, which would plan an eviction that
/// relieves nothing and understate the load it adds to its destination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PodUsage {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// Figures decoded from a pair of query results.
#[derive(Debug, Clone)]
pub struct Decoded<K, V> {
    /// Keys with both figures.
    pub values: HashMap<K, V>,
    /// Keys with only one figure, sorted; they are not in `values`.
    pub incomplete: Vec<K>,
}

/// Sustained loads by series identity (the node label's value with any port stripped),
/// from the answers to the rendered CPU and memory queries.
pub fn decode_sustained(
    node_label: &str,
    cpu: &[Sample],
    memory: &[Sample],
    now: SystemTime,
) -> Decoded<String, SustainedLoad> {
    let key = |s: &Sample| s.labels.get(node_label).map(|v| strip_port(v).to_string());
    let cpu = highest_by(cpu, key, MAX_CPU_CORES, now);
    let memory = highest_by(memory, key, MAX_MEMORY_BYTES, now);
    pair_up(cpu, memory, |c, m| SustainedLoad {
        cpu_cores: c.1,
        memory_bytes: m.1,
        sampled_at: sample_time(c.0.min(m.0)),
    })
}

/// Pod usage by `(namespace, pod)`, from the answers to the CPU and memory queries.
pub fn decode_pod_usage(
    cpu: &[Sample],
    memory: &[Sample],
    now: SystemTime,
) -> Decoded<(String, String), PodUsage> {
    let key = |s: &Sample| {
        let namespace = s.labels.get("namespace")?;
        let pod = s.labels.get("pod")?;
        Some((namespace.clone(), pod.clone()))
    };
    let cpu = highest_by(cpu, key, MAX_CPU_CORES, now);
    let memory = highest_by(memory, key, MAX_MEMORY_BYTES, now);
    pair_up(cpu, memory, |c, m| PodUsage {
        cpu_cores: c.1,
        memory_bytes: m.1,
    })
}

/// Runs the two sustained-load queries for every node at once, concurrently and at the
/// same instant. `node_label` is the load section's (`load.node_label`). Nodes with only
/// one figure are logged and left out.
pub async fn fetch_sustained(
    client: &PrometheusClient,
    node_label: &str,
    config: &SustainedConfig,
) -> Result<HashMap<String, SustainedLoad>, PrometheusError> {
    let [cpu, memory] = config.render(node_label);
    let (cpu, memory) = query_pair(client, &cpu, &memory).await?;
    let decoded = decode_sustained(node_label, &cpu, &memory, SystemTime::now());
    if !decoded.incomplete.is_empty() {
        tracing::warn!(
            nodes = ?decoded.incomplete,
            "Prometheus reported only one of sustained CPU and memory for these series; their load is unknown"
        );
    }
    Ok(decoded.values)
}

/// Runs the two pod-usage queries for every pod at once, concurrently and at the same
/// instant. Pods with only one figure are logged and left out: see [`PodUsage`].
pub async fn fetch_pod_usage(
    client: &PrometheusClient,
    config: &PodUsageConfig,
) -> Result<HashMap<(String, String), PodUsage>, PrometheusError> {
    let (cpu, memory) = query_pair(client, &config.queries.cpu, &config.queries.memory).await?;
    let decoded = decode_pod_usage(&cpu, &memory, SystemTime::now());
    if !decoded.incomplete.is_empty() {
        let pods: Vec<String> = decoded
            .incomplete
            .iter()
            .map(|(namespace, pod)| format!("{namespace}/{pod}"))
            .collect();
        tracing::warn!(
            ?pods,
            "Prometheus reported only one of CPU and memory usage for these pods; their usage is unknown"
        );
    }
    Ok(decoded.values)
}

async fn query_pair(
    client: &PrometheusClient,
    cpu: &str,
    memory: &str,
) -> Result<(Vec<Sample>, Vec<Sample>), PrometheusError> {
    let at = Some(SystemTime::now());
    let (cpu, memory) = join(client.query(cpu, at), client.query(memory, at)).await;
    Ok((cpu?, memory?))
}

/// `(timestamp, value)` of the highest plausible sample per key: NaN, infinite, negative, above
/// `bound`, future- or badly stamped samples are left out, as the extender leaves them out of
/// its load (a bogus figure must not make a node hot, or a pod worth moving).
fn highest_by<K: Eq + Hash>(
    samples: &[Sample],
    key: impl Fn(&Sample) -> Option<K>,
    bound: f64,
    now: SystemTime,
) -> HashMap<K, (f64, f64)> {
    let mut out: HashMap<K, (f64, f64)> = HashMap::new();
    for sample in samples {
        if Problem::judge(sample, bound, now).is_some() {
            continue;
        }
        let Some(k) = key(sample) else {
            continue;
        };
        let point = (sample.timestamp, sample.value);
        out.entry(k)
            .and_modify(|p| {
                if point.1 > p.1 {
                    *p = point;
                }
            })
            .or_insert(point);
    }
    out
}

fn pair_up<K: Eq + Hash + Ord + Clone, V>(
    cpu: HashMap<K, (f64, f64)>,
    mut memory: HashMap<K, (f64, f64)>,
    make: impl Fn((f64, f64), (f64, f64)) -> V,
) -> Decoded<K, V> {
    let mut values = HashMap::with_capacity(cpu.len());
    let mut incomplete = Vec::new();
    for (k, c) in cpu {
        match memory.remove(&k) {
            Some(m) => {
                values.insert(k, make(c, m));
            }
            None => incomplete.push(k),
        }
    }
    incomplete.extend(memory.into_keys());
    incomplete.sort();
    Decoded { values, incomplete }
}

fn validate_queries(section: &str, cpu: &str, memory: &str) -> Result<(), String> {
    for (name, query) in [("cpu", cpu), ("memory", memory)] {
        if query.trim().is_empty() {
            return Err(format!("{section}.{name} must be a PromQL query"));
        }
    }
    Ok(())
}

/// A duration in PromQL syntax in its largest exact unit (`15m`, `1h`, `90s`), for
/// Prometheus versions that do not parse compound durations such as `1h30m`.
fn promql_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else if seconds > 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds > 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const AT: f64 = 1_700_000_000.0;

    /// A minute after the samples.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_060)
    }

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp: AT,
            value,
        }
    }

    fn node(instance: &str, value: f64) -> Sample {
        sample(&[("instance", instance)], value)
    }

    fn pod(namespace: &str, name: &str, value: f64) -> Sample {
        sample(&[("namespace", namespace), ("pod", name)], value)
    }

    #[test]
    fn default_queries_render_window_and_label() {
        let config = SustainedConfig::default();
        let [cpu, memory] = config.render("node");
        assert_eq!(
            cpu,
            r#"min_over_time((sum by (node) (rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m])))[15m:1m])"#
        );
        assert_eq!(
            memory,
            "min_over_time((sum by (node) (node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes))[15m:1m])"
        );
        let pods = PodUsageQueries::default();
        for q in [&pods.cpu, &pods.memory] {
            assert!(q.contains(r#"container!="""#) && q.contains(r#"container!="POD""#));
            assert!(q.starts_with("sum by (namespace, pod)"));
        }
    }

    #[test]
    fn windows_render_in_their_largest_exact_unit() {
        let secs = Duration::from_secs;
        assert_eq!(promql_duration(secs(900)), "15m");
        assert_eq!(promql_duration(secs(3600)), "1h");
        assert_eq!(promql_duration(secs(5400)), "90m");
        assert_eq!(promql_duration(secs(90)), "90s");
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_fields() {
        let config: SustainedConfig = serde_yaml::from_str("window: 30m").unwrap();
        assert_eq!(config.window, Duration::from_secs(1800));
        assert_eq!(config.queries, SustainedQueries::default());
        assert!(config.validate().is_ok());
        assert!(config.render("instance")[0].contains("[30m:1m]"));

        let config: SustainedConfig = serde_yaml::from_str("queries: {cpu: up}").unwrap();
        assert_eq!(config.queries.cpu, "up");
        assert_eq!(config.queries.memory, SustainedQueries::default().memory);

        assert!(serde_yaml::from_str::<SustainedConfig>("windw: 30m").is_err());
        assert!(serde_yaml::from_str::<PodUsageConfig>("queries: {cpus: x}").is_err());
        let pods: PodUsageConfig = serde_yaml::from_str("{}").unwrap();
        assert_eq!(pods, PodUsageConfig::default());
        assert!(pods.validate().is_ok());
    }

    #[test]
    fn validate_rejects_short_windows_and_empty_queries() {
        let short = SustainedConfig {
            window: Duration::from_secs(30),
            ..Default::default()
        };
        assert!(short.validate().unwrap_err().contains("at least 1m"));
        let fractional = SustainedConfig {
            window: Duration::from_millis(90_500),
            ..Default::default()
        };
        assert!(fractional.validate().unwrap_err().contains("whole number"));
        let mut empty = SustainedConfig::default();
        empty.queries.memory = " ".to_string();
        assert!(
            empty
                .validate()
                .unwrap_err()
                .contains("sustained.queries.memory")
        );
        let mut pods = PodUsageConfig::default();
        pods.queries.cpu.clear();
        assert!(
            pods.validate()
                .unwrap_err()
                .contains("pod_usage.queries.cpu")
        );
    }

    #[test]
    fn sustained_keys_by_identity_without_port() {
        let cpu = [node("10.0.0.1:9100", 3.6), node("node-b", 0.5)];
        let memory = [node("10.0.0.1:9100", 8e9), node("node-b", 1e9)];
        let d = decode_sustained("instance", &cpu, &memory, now());
        assert!(d.incomplete.is_empty());
        assert_eq!(d.values.len(), 2);
        let a = d.values["10.0.0.1"];
        assert_eq!((a.cpu_cores, a.memory_bytes), (3.6, 8e9));
        assert_eq!(
            a.sampled_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(d.values["node-b"].cpu_cores, 0.5);
    }

    #[test]
    fn sustained_drops_invalid_values_and_keeps_the_higher_duplicate() {
        let cpu = [
            node("10.0.0.1:9100", 1.0),
            node("10.0.0.1:9101", 2.0), // a second exporter on the same host
            node("10.0.0.2:9100", f64::NAN),
            node("10.0.0.3:9100", f64::INFINITY),
            node("10.0.0.4:9100", -1.0),
            node("10.0.0.5:9100", 0.0),
            sample(&[("node", "unlabelled")], 1.0),
        ];
        let memory = [
            node("10.0.0.1:9101", 5.0),
            node("10.0.0.1:9100", 7.0),
            node("10.0.0.2:9100", 1.0),
            node("10.0.0.3:9100", 1.0),
            node("10.0.0.4:9100", 1.0),
            node("10.0.0.5:9100", 1.0),
        ];
        let d = decode_sustained("instance", &cpu, &memory, now());
        let a = d.values["10.0.0.1"];
        assert_eq!((a.cpu_cores, a.memory_bytes), (2.0, 7.0));
        assert_eq!(d.values["10.0.0.5"].cpu_cores, 0.0, "0 is a real figure");
        assert_eq!(d.values.len(), 2);
        // CPU was invalid, so their load is unknown, not 0.
        assert_eq!(d.incomplete, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    }

    #[test]
    fn sustained_takes_the_older_sample_time() {
        let mut cpu = node("n", 1.0);
        cpu.timestamp = AT - 30.0;
        let d = decode_sustained("instance", &[cpu], &[node("n", 1.0)], now());
        assert_eq!(
            d.values["n"].sampled_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000 - 30)
        );
        let mut bad = node("m", 1.0);
        bad.timestamp = -5.0;
        let d = decode_sustained("instance", &[bad], &[node("m", 1.0)], now());
        assert!(
            !d.values.contains_key("m"),
            "a sample at no time is left out"
        );
        let mut future = node("f", 1.0);
        future.timestamp = AT + 3600.0;
        let mut absurd = node("f", 1e308);
        absurd.timestamp = AT;
        let d = decode_sustained("instance", &[future, absurd], &[node("f", 1.0)], now());
        assert!(!d.values.contains_key("f"), "{:?}", d.values);
    }

    #[test]
    fn pod_usage_needs_both_figures() {
        let cpu = [
            pod("shop", "web-0", 0.5),
            pod("shop", "web-1", 0.25),
            pod("shop", "cpu-only", 0.1),
            pod("shop", "nan", f64::NAN),
            sample(&[("pod", "no-namespace")], 1.0),
        ];
        let memory = [
            pod("shop", "web-0", 2e8),
            pod("shop", "web-1", 3e8),
            pod("shop", "nan", 1e8),
            pod("kube-system", "memory-only", 1e8),
            sample(&[("namespace", "shop")], 1.0),
        ];
        let d = decode_pod_usage(&cpu, &memory, now());
        let key = |ns: &str, p: &str| (ns.to_string(), p.to_string());
        assert_eq!(
            d.values[&key("shop", "web-0")],
            PodUsage {
                cpu_cores: 0.5,
                memory_bytes: 2e8
            }
        );
        assert_eq!(d.values[&key("shop", "web-1")].memory_bytes, 3e8);
        assert_eq!(d.values.len(), 2);
        assert_eq!(
            d.incomplete,
            [
                key("kube-system", "memory-only"),
                key("shop", "cpu-only"),
                key("shop", "nan"),
            ]
        );
    }

    #[test]
    fn pod_usage_duplicates_keep_the_higher_value() {
        // A custom query that is not aggregated by pod returns one series per container
        // or per scrape job; the higher figure is the safe side.
        let cpu = [pod("a", "p", 0.2), pod("a", "p", 0.7), pod("a", "p", -0.1)];
        let memory = [pod("a", "p", 9.0), pod("a", "p", 3.0)];
        let d = decode_pod_usage(&cpu, &memory, now());
        let usage = d.values[&("a".to_string(), "p".to_string())];
        assert_eq!((usage.cpu_cores, usage.memory_bytes), (0.7, 9.0));
    }
}
