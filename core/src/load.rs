//! Real node load from Prometheus: a handful of batched instant queries per refresh,
//! each covering every node at once, never one query per node.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::node_identity::{IdentityMap, NodeInfo, strip_port};
use crate::prometheus::{PrometheusClient, PrometheusError, Sample, sample_time};
use crate::resources::Resources;

/// The `load:` config section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadConfig {
    /// The series label that identifies a node: `instance` (node-exporter's default,
    /// often `IP:port`) or a label such as `node` that carries the node name.
    pub node_label: String,
    /// A load sampled longer ago than this is stale.
    #[serde(with = "crate::duration_text")]
    pub max_age: Duration,
    pub queries: LoadQueries,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            node_label: "instance".to_string(),
            max_age: Duration::from_secs(60),
            queries: LoadQueries::default(),
        }
    }
}

/// PromQL for each figure, over raw node-exporter series so no recording rules are
/// needed. `{node_label}` is replaced by `load.node_label`; every result must carry it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadQueries {
    /// Busy cores, averaged over the last 5 minutes.
    pub cpu_average: String,
    /// The highest 5-minute average of busy cores over the last hour.
    pub cpu_peak: String,
    /// Bytes in use (total minus available), averaged over the last 5 minutes.
    pub memory_average: String,
    /// The highest bytes in use over the last hour.
    pub memory_peak: String,
    /// Cores of the machine; used only when the node's allocatable is unknown.
    pub cpu_capacity: String,
    /// Memory of the machine; used only when the node's allocatable is unknown.
    pub memory_capacity: String,
}

const CPU_BUSY: &str = r#"sum by ({node_label}) (rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m]))"#;
const MEMORY_USED: &str =
    "sum by ({node_label}) (node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)";

impl Default for LoadQueries {
    fn default() -> Self {
        Self {
            cpu_average: CPU_BUSY.to_string(),
            cpu_peak: format!("max_over_time(({CPU_BUSY})[1h:1m])"),
            memory_average: "sum by ({node_label}) (node_memory_MemTotal_bytes - \
                             avg_over_time(node_memory_MemAvailable_bytes[5m]))"
                .to_string(),
            memory_peak: format!("max_over_time(({MEMORY_USED})[1h:1m])"),
            cpu_capacity: r#"count by ({node_label}) (node_cpu_seconds_total{mode="idle"})"#
                .to_string(),
            memory_capacity: "sum by ({node_label}) (node_memory_MemTotal_bytes)".to_string(),
        }
    }
}

impl LoadConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_age.is_zero() {
            return Err("load.max_age must be more than 0".to_string());
        }
        if self.node_label.is_empty() {
            return Err("load.node_label must name a series label, e.g. instance".to_string());
        }
        Ok(())
    }
}

impl LoadQueries {
    /// The queries of one refresh, in a fixed order, with the label filled in.
    pub fn render(&self, node_label: &str) -> [(Figure, String); 6] {
        let fill = |q: &str| q.replace("{node_label}", node_label);
        [
            (Figure::CpuAverage, fill(&self.cpu_average)),
            (Figure::CpuPeak, fill(&self.cpu_peak)),
            (Figure::MemoryAverage, fill(&self.memory_average)),
            (Figure::MemoryPeak, fill(&self.memory_peak)),
            (Figure::CpuCapacity, fill(&self.cpu_capacity)),
            (Figure::MemoryCapacity, fill(&self.memory_capacity)),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    CpuAverage,
    CpuPeak,
    MemoryAverage,
    MemoryPeak,
    CpuCapacity,
    MemoryCapacity,
}

impl Figure {
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::CpuAverage => "cpu_average",
            Figure::CpuPeak => "cpu_peak",
            Figure::MemoryAverage => "memory_average",
            Figure::MemoryPeak => "memory_peak",
            Figure::CpuCapacity => "cpu_capacity",
            Figure::MemoryCapacity => "memory_capacity",
        }
    }

    /// More than any machine has: a figure above it is garbage whatever the node's size.
    fn absolute_bound(self) -> f64 {
        match self {
            Figure::CpuAverage | Figure::CpuPeak | Figure::CpuCapacity => MAX_CPU_CORES,
            Figure::MemoryAverage | Figure::MemoryPeak | Figure::MemoryCapacity => MAX_MEMORY_BYTES,
        }
    }
}

/// The largest machines have a few thousand cores and tens of TiB; these bounds are far
/// above, so they only catch garbage (`1e308`, a unit mix-up) when the node's size is unknown.
pub const MAX_CPU_CORES: f64 = 1e5;
pub const MAX_MEMORY_BYTES: f64 = 1e16;

/// A load figure above this many times the node's size is not a measurement of that
/// node: usage cannot exceed the machine, whose allocatable is a bit less than its capacity.
pub const PLAUSIBLE_FACTOR: f64 = 4.0;

/// How far past our clock a sample may be stamped. Prometheus stamps an instant query's
/// samples with the evaluation time we ask for, so a later stamp is a broken backend or
/// clock; taken as it is, its load would look fresh forever.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(10);

/// Why a sample is not taken as a load figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// NaN or infinite.
    NotFinite,
    Negative,
    /// Above [`MAX_CPU_CORES`] / [`MAX_MEMORY_BYTES`], or [`PLAUSIBLE_FACTOR`] times the node's size.
    Implausible,
    /// Stamped more than [`MAX_CLOCK_SKEW`] ahead of our clock.
    Future,
    /// Stamped at a time that is no time (NaN, before 1970).
    BadTimestamp,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::NotFinite => "not finite",
            Problem::Negative => "negative",
            Problem::Implausible => "implausible",
            Problem::Future => "stamped in the future",
            Problem::BadTimestamp => "bad timestamp",
        }
    }

    /// What is wrong with a sample of `figure`, judged at `now`; `None` if nothing.
    fn of(figure: Figure, sample: &Sample, now: SystemTime) -> Option<Self> {
        Self::judge(sample, figure.absolute_bound(), now)
    }

    /// What is wrong with a sample that may not exceed `bound`, judged at `now`.
    pub(crate) fn judge(sample: &Sample, bound: f64, now: SystemTime) -> Option<Self> {
        let value = sample.value;
        let stamp = sample.timestamp;
        if !value.is_finite() {
            Some(Problem::NotFinite)
        } else if value < 0.0 {
            Some(Problem::Negative)
        } else if value > bound {
            Some(Problem::Implausible)
        } else if !(stamp.is_finite() && stamp > 0.0) {
            Some(Problem::BadTimestamp)
        } else if sample_time(stamp) > now + MAX_CLOCK_SKEW {
            Some(Problem::Future)
        } else {
            None
        }
    }
}

/// A sample left out of the load, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvalidSample {
    /// The series identity (node label value, port stripped).
    pub identity: String,
    pub figure: Figure,
    /// NaN and infinities serialize as `null`.
    pub value: f64,
    pub problem: Problem,
}

impl fmt::Display for InvalidSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}={} ({})",
            self.identity,
            self.figure.as_str(),
            self.value,
            self.problem.as_str()
        )
    }
}

/// Recent average and recent peak of one resource, in its unit (cores or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    pub average: f64,
    pub peak: f64,
}

/// One node's measured load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLoad {
    pub cpu_cores: Usage,
    pub memory_bytes: Usage,
    /// The machine's size as node-exporter sees it, when it reported one.
    pub capacity: Option<Capacity>,
    /// When Prometheus evaluated the figures.
    #[serde(with = "humantime_serde")]
    pub sampled_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacity {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

impl Capacity {
    pub fn from_resources(r: Resources) -> Self {
        Self {
            cpu_cores: r.cpu_milli as f64 / 1000.0,
            memory_bytes: r.memory_bytes as f64,
        }
    }

    /// Whether loads can be measured against it: both sizes above 0.
    pub fn is_usable(&self) -> bool {
        self.cpu_cores > 0.0 && self.memory_bytes > 0.0
    }
}

impl NodeLoad {
    /// The figures above [`PLAUSIBLE_FACTOR`] times `size`: none of them can be this node's usage.
    pub fn implausible(&self, size: Capacity) -> impl Iterator<Item = (Figure, f64)> {
        let cpu = self.cpu_cores;
        let memory = self.memory_bytes;
        [
            (Figure::CpuAverage, cpu.average, size.cpu_cores),
            (Figure::CpuPeak, cpu.peak, size.cpu_cores),
            (Figure::MemoryAverage, memory.average, size.memory_bytes),
            (Figure::MemoryPeak, memory.peak, size.memory_bytes),
        ]
        .into_iter()
        .filter(|&(_, value, size)| value > PLAUSIBLE_FACTOR * size)
        .map(|(figure, value, _)| (figure, value))
    }
}

/// The load of every node Prometheus reported, keyed by series identity (the node
/// label's value with any port stripped).
#[derive(Debug, Clone, Default)]
pub struct LoadSnapshot {
    by_identity: HashMap<String, NodeLoad, foldhash::fast::RandomState>,
    /// Identities that reported some figures but not both averages, and so have no load.
    pub incomplete: Vec<String>,
    /// Samples left out as impossible: an identity that loses an average to this has no load.
    pub invalid: Vec<InvalidSample>,
}

impl LoadSnapshot {
    /// Builds a snapshot from the results of one refresh's queries, received at `now`.
    /// Impossible samples are left out and listed in `invalid`.
    pub fn from_samples(
        node_label: &str,
        results: &[(Figure, Vec<Sample>)],
        now: SystemTime,
    ) -> Self {
        let mut figures: HashMap<&str, HashMap<Figure, (f64, f64)>> = HashMap::new();
        let mut invalid = Vec::new();
        for (figure, samples) in results {
            for sample in samples {
                let Some(identity) = sample.labels.get(node_label) else {
                    continue;
                };
                let identity = strip_port(identity);
                if let Some(problem) = Problem::of(*figure, sample, now) {
                    invalid.push(InvalidSample {
                        identity: identity.to_string(),
                        figure: *figure,
                        value: sample.value,
                        problem,
                    });
                    continue;
                }
                // Two series of one host (exporters on two ports) map to one identity: keep
                // the higher figure, the safe side for a load check.
                let slot = figures.entry(identity).or_default().entry(*figure);
                let value = (sample.timestamp, sample.value);
                slot.and_modify(|v| {
                    if value.1 > v.1 {
                        *v = value;
                    }
                })
                .or_insert(value);
            }
        }
        let mut snapshot = Self {
            invalid,
            ..Self::default()
        };
        for (identity, f) in figures {
            let (Some(&(cpu_at, cpu)), Some(&(mem_at, mem))) =
                (f.get(&Figure::CpuAverage), f.get(&Figure::MemoryAverage))
            else {
                snapshot.incomplete.push(identity.to_string());
                continue;
            };
            // A node younger than the peak window may have no peak yet: its average is all we know.
            let peak =
                |figure, average: f64| f.get(&figure).map_or(average, |&(_, v)| v.max(average));
            let capacity = match (f.get(&Figure::CpuCapacity), f.get(&Figure::MemoryCapacity)) {
                (Some(&(_, cpu_cores)), Some(&(_, memory_bytes))) => Some(Capacity {
                    cpu_cores,
                    memory_bytes,
                }),
                _ => None,
            };
            let load = NodeLoad {
                cpu_cores: Usage {
                    average: cpu,
                    peak: peak(Figure::CpuPeak, cpu),
                },
                memory_bytes: Usage {
                    average: mem,
                    peak: peak(Figure::MemoryPeak, mem),
                },
                capacity,
                sampled_at: sample_time(cpu_at.min(mem_at)),
            };
            snapshot.by_identity.insert(identity.to_string(), load);
        }
        snapshot.incomplete.sort();
        snapshot
    }

    /// A snapshot of loads already keyed by node identity: what a refresh would have
    /// built, for callers that compute load themselves (the simulator).
    pub fn from_loads(loads: impl IntoIterator<Item = (String, NodeLoad)>) -> Self {
        Self {
            by_identity: loads.into_iter().collect(),
            incomplete: Vec::new(),
            invalid: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_identity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// Takes a load out, e.g. one found implausible for its node's size.
    pub fn remove(&mut self, identity: &str) -> Option<NodeLoad> {
        self.by_identity.remove(identity)
    }

    /// Every load with its series identity.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &NodeLoad)> {
        self.by_identity.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The load of a node, found by its name or one of its InternalIPs.
    pub fn for_node(&self, node: &NodeInfo) -> Option<&NodeLoad> {
        self.by_identity
            .get(&node.name)
            .or_else(|| node.addresses.iter().find_map(|a| self.by_identity.get(a)))
    }

    /// Series identities that match no known node, sorted. Empty when no node is known,
    /// since then there is nothing to compare against.
    pub fn unmapped(&self, nodes: &IdentityMap) -> Vec<String> {
        if nodes.is_empty() {
            return Vec::new();
        }
        let mut unmapped: Vec<String> = self
            .by_identity
            .keys()
            .filter(|identity| nodes.resolve(identity).is_none())
            .cloned()
            .collect();
        unmapped.sort();
        unmapped
    }
}

/// Runs one refresh: the six queries concurrently, evaluated at the same instant.
pub async fn fetch(
    client: &PrometheusClient,
    config: &LoadConfig,
) -> Result<LoadSnapshot, PrometheusError> {
    let at = SystemTime::now();
    let queries = config.queries.render(&config.node_label);
    let answers = join_all(queries.iter().map(|(_, q)| client.query(q, Some(at)))).await;
    let mut results = Vec::with_capacity(queries.len());
    for ((figure, _), answer) in queries.iter().zip(answers) {
        match answer {
            Ok(samples) => results.push((*figure, samples)),
            // Capacity only backs up a missing allocatable: its failure must not cost the load.
            Err(e) if matches!(figure, Figure::CpuCapacity | Figure::MemoryCapacity) => {
                tracing::warn!(error = %e, "node capacity query failed; using allocatable only");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(LoadSnapshot::from_samples(
        &config.node_label,
        &results,
        SystemTime::now(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn now() -> SystemTime {
        sample_time(NOW)
    }

    fn sample(instance: &str, timestamp: f64, value: f64) -> Sample {
        Sample {
            labels: BTreeMap::from([("instance".to_string(), instance.to_string())]),
            timestamp,
            value,
        }
    }

    /// Both averages of one node: CPU as given, memory a sound sample.
    fn results(cpu: Sample) -> Vec<(Figure, Vec<Sample>)> {
        let memory = sample(&cpu.labels["instance"], NOW, 4e9);
        vec![
            (Figure::CpuAverage, vec![cpu]),
            (Figure::MemoryAverage, vec![memory]),
        ]
    }

    #[test]
    fn impossible_samples_are_left_out_and_listed() {
        let cases = [
            (NOW, f64::NAN, Problem::NotFinite),
            (NOW, f64::INFINITY, Problem::NotFinite),
            (NOW, -0.5, Problem::Negative),
            (NOW, 1e308, Problem::Implausible),
            (NOW + 3600.0, 0.5, Problem::Future),
            (f64::NAN, 0.5, Problem::BadTimestamp),
            (-5.0, 0.5, Problem::BadTimestamp),
        ];
        for (timestamp, value, problem) in cases {
            let snapshot = LoadSnapshot::from_samples(
                "instance",
                &results(sample("n:9100", timestamp, value)),
                now(),
            );
            assert!(snapshot.is_empty(), "{value} at {timestamp}");
            assert_eq!(snapshot.invalid.len(), 1, "{value} at {timestamp}");
            let invalid = &snapshot.invalid[0];
            assert_eq!(
                (invalid.identity.as_str(), invalid.figure),
                ("n", Figure::CpuAverage)
            );
            assert_eq!(invalid.problem, problem, "{value} at {timestamp}");
        }
    }

    #[test]
    fn a_small_clock_skew_is_tolerated() {
        let ahead = NOW + MAX_CLOCK_SKEW.as_secs_f64() - 1.0;
        let snapshot =
            LoadSnapshot::from_samples("instance", &results(sample("n", ahead, 0.5)), now());
        assert_eq!(snapshot.len(), 1);
        assert!(snapshot.invalid.is_empty());
    }

    #[test]
    fn figures_beyond_four_times_the_size_are_implausible() {
        let load = NodeLoad {
            cpu_cores: Usage {
                average: 2.0,
                peak: 17.0,
            },
            memory_bytes: Usage {
                average: 1e9,
                peak: 2e9,
            },
            capacity: None,
            sampled_at: UNIX_EPOCH,
        };
        let size = Capacity {
            cpu_cores: 4.0,
            memory_bytes: 16e9,
        };
        let implausible: Vec<_> = load.implausible(size).collect();
        assert_eq!(implausible, [(Figure::CpuPeak, 17.0)]);
    }
}
