//! Synthetic cluster metrics with the real series names and label sets of
//! node-exporter, cAdvisor (as scraped from the kubelet) and
//! kube-state-metrics, rendered as OpenMetrics text for
//! `promtool tsdb create-blocks-from openmetrics`.
//!
//! ```
//! use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile};
//!
//! let cluster = ClusterMetrics::new() // the last 2 hours ending now, one sample every 15 s
//!     .node(
//!         Node::new("node-a", "10.0.0.1:9100")
//!             .cpus(4)
//!             .busy(0.9)
//!             .memory_used(0.6)
//!             .exporter_label("node", "node-a"),
//!     )
//!     .pod(
//!         Pod::new("shop", "web-0", "node-a")
//!             .owner("ReplicaSet", "web-5d9c7")
//!             .container(Container::new("web").cpu(0.5).memory(200e6).requests(0.25, 256 << 20)),
//!     );
//! let text = cluster.to_openmetrics();
//! assert!(text.ends_with("# EOF\n"));
//! ```
//!
//! Times are whole Unix seconds: the OpenMetrics parser turns a timestamp into
//! milliseconds with `int64(seconds * 1000)`, which truncates fractions like
//! `.015` to the wrong millisecond.
//!
//! Counters start at 0 at `start`, as if every node and container had started
//! then, and grow by `rate(t) * step` per step, so `rate()` over a window
//! returns the configured value (averaged over the window).
//!
//! Size: one sample per series per step. A node is `4 * cpus + 9` series, a
//! pod 3 plus 3 per container, 2 more per container with requests and 2 with
//! limits; a ReplicaSet or Job is 1. With the defaults (2 h, 15 s: 481 points)
//! three 4-CPU nodes are 36,075 samples, about 6 MB of text, which promtool
//! turns into blocks in about 0.2 s. [`ClusterMetrics::sample_count`] gives the
//! exact figure. Data too large for one string (a week of a 100-node cluster is
//! about 14 GB of text) goes through [`ClusterMetrics::to_openmetrics_parts`].

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A value as a function of time (Unix seconds): a busy fraction, cores or bytes.
#[derive(Clone)]
pub struct Profile(Arc<dyn Fn(i64) -> f64 + Send + Sync>);

impl Profile {
    /// The same value at every instant.
    pub fn constant(value: f64) -> Self {
        Self::from_fn(move |_| value)
    }

    /// `peak` inside `window` (Unix seconds, end excluded), `base` elsewhere.
    pub fn spike(base: f64, peak: f64, window: Range<i64>) -> Self {
        Self::from_fn(move |t| if window.contains(&t) { peak } else { base })
    }

    /// Any deterministic function of Unix seconds.
    pub fn from_fn(f: impl Fn(i64) -> f64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The value at `t` (Unix seconds).
    pub fn at(&self, t: i64) -> f64 {
        (self.0)(t)
    }
}

impl From<f64> for Profile {
    fn from(value: f64) -> Self {
        Self::constant(value)
    }
}

/// A node seen by node-exporter (and by kube-state-metrics as a Kubernetes node).
#[derive(Clone)]
pub struct Node {
    name: String,
    instance: String,
    cpus: u32,
    memory_bytes: u64,
    allocatable: Option<(f64, u64)>,
    busy: Profile,
    memory_used: Profile,
    exporter_labels: Vec<(String, String)>,
    kube_labels: Vec<(String, String)>,
}

impl Node {
    /// A node named `name` (the Kubernetes node name) whose node-exporter
    /// target is `instance`, usually `IP:9100`. Defaults: 4 CPUs, 16 GiB,
    /// 20 % busy, 50 % of memory used.
    pub fn new(name: impl Into<String>, instance: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            instance: instance.into(),
            cpus: 4,
            memory_bytes: 16 << 30,
            allocatable: None,
            busy: Profile::constant(0.2),
            memory_used: Profile::constant(0.5),
            exporter_labels: Vec::new(),
            kube_labels: Vec::new(),
        }
    }

    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    /// `MemTotal`, and the node's memory capacity.
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Allocatable CPU cores and memory bytes; defaults to the capacity.
    pub fn allocatable(mut self, cores: f64, memory_bytes: u64) -> Self {
        self.allocatable = Some((cores, memory_bytes));
        self
    }

    /// Fraction (0..=1, clamped) of every CPU's time spent in `user` + `system`,
    /// i.e. what `rate(node_cpu_seconds_total{mode!="idle",mode!="iowait"})` measures.
    pub fn busy(mut self, fraction: impl Into<Profile>) -> Self {
        self.busy = fraction.into();
        self
    }

    /// Fraction (0..=1, clamped) of `MemTotal` that is not `MemAvailable`.
    pub fn memory_used(mut self, fraction: impl Into<Profile>) -> Self {
        self.memory_used = fraction.into();
        self
    }

    /// An extra label on the node-exporter series, e.g. `node="node-a"` as
    /// added by a relabelling rule.
    pub fn exporter_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.exporter_labels.push((name.into(), value.into()));
        self
    }

    /// A Kubernetes node label, exported by kube-state-metrics as
    /// `kube_node_labels{label_<sanitized name>=...}`. A real kube-state-metrics
    /// only exports labels listed in `--metric-labels-allowlist`.
    pub fn kube_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.kube_labels.push((name.into(), value.into()));
        self
    }

    fn ip(&self) -> &str {
        self.instance
            .rsplit_once(':')
            .map_or(self.instance.as_str(), |(ip, _port)| ip)
    }
}

/// A pod, seen by cAdvisor on its node and by kube-state-metrics.
#[derive(Clone)]
pub struct Pod {
    namespace: String,
    name: String,
    node: String,
    owner: Option<(String, String)>,
    containers: Vec<Container>,
    running: Option<Range<i64>>,
}

impl Pod {
    /// A pod running on the node named `node` (see [`Node::new`]).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        node: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            node: node.into(),
            owner: None,
            containers: Vec::new(),
            running: None,
        }
    }

    /// The pod exists only in `window` (Unix seconds, end excluded): outside it
    /// none of its series has a sample, as when a pod comes and goes, and its CPU
    /// counters start at 0 when it starts. Default: the whole range.
    pub fn running(mut self, window: Range<i64>) -> Self {
        self.running = Some(window);
        self
    }

    fn is_running(&self, t: i64) -> bool {
        self.running.as_ref().is_none_or(|w| w.contains(&t))
    }

    /// The controlling owner, e.g. `("ReplicaSet", "web-5d9c7")`. Without one
    /// the pod is bare and `kube_pod_owner` says `<none>`, as kube-state-metrics does.
    pub fn owner(mut self, kind: impl Into<String>, name: impl Into<String>) -> Self {
        self.owner = Some((kind.into(), name.into()));
        self
    }

    pub fn container(mut self, container: Container) -> Self {
        self.containers.push(container);
        self
    }

    /// Deterministic stand-in for the pod's UID.
    fn uid(&self) -> String {
        let h = |seed| fnv1a(seed, &[&self.namespace, &self.name]);
        let (a, b) = (h(1), h(2));
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// The cgroup path cAdvisor reports in `id` (cgroupfs driver layout).
    fn cgroup(&self) -> String {
        let qos = if self.containers.iter().any(|c| c.requests.is_some()) {
            "burstable"
        } else {
            "besteffort"
        };
        format!("/kubepods/{qos}/pod{}", self.uid())
    }
}

/// A container of a [`Pod`].
#[derive(Clone)]
pub struct Container {
    name: String,
    image: String,
    cpu_cores: Profile,
    memory_bytes: Profile,
    requests: Option<(f64, u64)>,
    limits: Option<(f64, u64)>,
}

impl Container {
    /// Defaults: image `registry.example/<name>:1.0`, 0.1 cores, 100 MB, no requests.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            image: format!("registry.example/{name}:1.0"),
            name,
            cpu_cores: Profile::constant(0.1),
            memory_bytes: Profile::constant(100e6),
            requests: None,
            limits: None,
        }
    }

    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = image.into();
        self
    }

    /// CPU used, in cores (the rate of `container_cpu_usage_seconds_total`).
    pub fn cpu(mut self, cores: impl Into<Profile>) -> Self {
        self.cpu_cores = cores.into();
        self
    }

    /// `container_memory_working_set_bytes`.
    pub fn memory(mut self, bytes: impl Into<Profile>) -> Self {
        self.memory_bytes = bytes.into();
        self
    }

    /// CPU (cores) and memory (bytes) requests.
    pub fn requests(mut self, cores: f64, memory_bytes: u64) -> Self {
        self.requests = Some((cores, memory_bytes));
        self
    }

    /// CPU (cores) and memory (bytes) limits.
    pub fn limits(mut self, cores: f64, memory_bytes: u64) -> Self {
        self.limits = Some((cores, memory_bytes));
        self
    }

    /// Deterministic stand-in for the 64-hex-digit container ID.
    fn id(&self, pod: &Pod) -> String {
        (0..4)
            .map(|seed| {
                format!(
                    "{:016x}",
                    fnv1a(seed, &[&pod.namespace, &pod.name, &self.name])
                )
            })
            .collect()
    }
}

/// The whole synthetic cluster over one time range.
#[derive(Clone)]
pub struct ClusterMetrics {
    start: i64,
    end: i64,
    step: i64,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    replica_sets: Vec<ReplicaSet>,
    jobs: Vec<Job>,
}

/// A ReplicaSet owned by a Deployment, for `kube_replicaset_owner`.
#[derive(Clone)]
struct ReplicaSet {
    namespace: String,
    name: String,
    deployment: String,
}

/// A Job created by a CronJob, for `kube_job_owner`.
#[derive(Clone)]
struct Job {
    namespace: String,
    name: String,
    cron_job: String,
}

impl Default for ClusterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterMetrics {
    /// The last 2 hours ending now (whole seconds), one sample every 15 s.
    pub fn new() -> Self {
        let end = unix_now();
        Self {
            start: end - 2 * 3600,
            end,
            step: 15,
            nodes: Vec::new(),
            pods: Vec::new(),
            replica_sets: Vec::new(),
            jobs: Vec::new(),
        }
    }

    /// Samples at `start`, `start + step`, ... up to `end` inclusive (Unix seconds).
    pub fn range(mut self, start: i64, end: i64) -> Self {
        assert!(start <= end, "range start {start} is after end {end}");
        self.start = start;
        self.end = end;
        self
    }

    /// Time between samples, the scrape interval; whole seconds, at least 1 s.
    pub fn step(mut self, step: Duration) -> Self {
        assert!(step.as_secs() >= 1, "step {step:?} is shorter than 1 s");
        self.step = step.as_secs() as i64;
        self
    }

    pub fn node(mut self, node: Node) -> Self {
        self.nodes.push(node);
        self
    }

    pub fn pod(mut self, pod: Pod) -> Self {
        self.pods.push(pod);
        self
    }

    /// A ReplicaSet `name` owned by Deployment `deployment`, as kube-state-metrics'
    /// `kube_replicaset_owner` reports it; pods point at it with
    /// `Pod::owner("ReplicaSet", name)`.
    pub fn replica_set(
        mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        deployment: impl Into<String>,
    ) -> Self {
        self.replica_sets.push(ReplicaSet {
            namespace: namespace.into(),
            name: name.into(),
            deployment: deployment.into(),
        });
        self
    }

    /// A Job `name` created by CronJob `cron_job`, as kube-state-metrics'
    /// `kube_job_owner` reports it; pods point at it with `Pod::owner("Job", name)`.
    pub fn job(
        mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        cron_job: impl Into<String>,
    ) -> Self {
        self.jobs.push(Job {
            namespace: namespace.into(),
            name: name.into(),
            cron_job: cron_job.into(),
        });
        self
    }

    /// Time of the first sample (Unix seconds).
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Time of the last sample (Unix seconds): `start` plus a whole number of
    /// steps, at most the configured end.
    pub fn end(&self) -> i64 {
        self.timestamps().last().unwrap_or(self.start)
    }

    /// Seconds between samples.
    pub fn step_secs(&self) -> i64 {
        self.step
    }

    /// Total number of samples [`Self::to_openmetrics`] writes.
    pub fn sample_count(&self) -> usize {
        self.families()
            .iter()
            .flat_map(|f| &f.series)
            .map(|(_, values)| values.iter().filter(|v| !v.is_nan()).count())
            .sum()
    }

    /// OpenMetrics text: one `# TYPE` line per family, then each series with
    /// its samples in time order, then `# EOF`. promtool needs per-series time
    /// order: its appender silently drops a sample older than the previous one
    /// of the same series. A family's samples are contiguous, as the format requires.
    pub fn to_openmetrics(&self) -> String {
        let times: Vec<i64> = self.timestamps().collect();
        render_document(&self.families(), &times, i64::MIN..i64::MAX)
    }

    /// The samples of [`Self::to_openmetrics`] cut into documents for
    /// consecutive time slices of `span`, aligned to multiples of `span` since
    /// the Unix epoch, for data too large for one string or file. promtool aligns
    /// its blocks the same way, so with `span` a multiple of its block duration
    /// the parts' blocks do not overlap. Values are computed once, up front
    /// (8 bytes per sample); each part is rendered when the iterator reaches it.
    pub fn to_openmetrics_parts(
        &self,
        span: Duration,
    ) -> impl ExactSizeIterator<Item = String> + use<> {
        let span = (span.as_secs() as i64).max(1);
        let times: Vec<i64> = self.timestamps().collect();
        let families = self.families();
        let slices: Vec<Range<i64>> = (self.start.div_euclid(span)..=self.end().div_euclid(span))
            .map(|k| k * span..(k + 1) * span)
            .collect();
        slices
            .into_iter()
            .map(move |slice| render_document(&families, &times, slice))
    }

    fn timestamps(&self) -> impl Iterator<Item = i64> + use<> {
        (self.start..=self.end).step_by(self.step as usize)
    }

    fn families(&self) -> Vec<Family> {
        let mut families = self.node_exporter();
        families.extend(self.cadvisor());
        families.extend(self.kube_state_metrics());
        families
    }

    fn node_exporter(&self) -> Vec<Family> {
        let mut cpu = Family::counter("node_cpu_seconds");
        let mut total = Family::gauge("node_memory_MemTotal_bytes");
        let mut available = Family::gauge("node_memory_MemAvailable_bytes");
        for node in &self.nodes {
            let target = |own: &[(&str, &str)]| {
                let mut labels = Labels::of(own);
                labels.extend(&[("instance", &node.instance), ("job", "node-exporter")]);
                for (name, value) in &node.exporter_labels {
                    labels.push(name, value);
                }
                labels
            };
            let busy = |t| node.busy.at(t).clamp(0.0, 1.0);
            for n in 0..node.cpus {
                let n = n.to_string();
                for mode in CpuMode::ALL {
                    let labels = target(&[("cpu", &n), ("mode", mode.name())]);
                    cpu.push(labels, self.counter(|t| mode.share(busy(t))));
                }
            }
            let bytes = node.memory_bytes as f64;
            total.push(target(&[]), self.gauge(|_| bytes));
            let free = |t| (bytes * (1.0 - node.memory_used.at(t).clamp(0.0, 1.0))).round();
            available.push(target(&[]), self.gauge(free));
        }
        vec![cpu, total, available]
    }

    /// As scraped by kube-prometheus-stack from the kubelet's
    /// `/metrics/cadvisor`: cAdvisor's own labels (`namespace`, `pod`,
    /// `container`, `id`, `image`, `name`) plus the target's `instance`
    /// (kubelet `IP:10250`), `job`, `metrics_path` and `node`.
    ///
    /// cAdvisor also reports each pod's cgroup as a series with `container=""`
    /// (and `image=""`, `name=""`), whose value is the sum over the pod's
    /// containers; Prometheus drops empty labels, so these series have no
    /// `container` label at all. Per-container queries must exclude them with
    /// `container!=""` or they count every pod twice.
    fn cadvisor(&self) -> Vec<Family> {
        let mut cpu = Family::counter("container_cpu_usage_seconds");
        let mut memory = Family::gauge("container_memory_working_set_bytes");
        for pod in &self.pods {
            let instance = self
                .nodes
                .iter()
                .find(|n| n.name == pod.node)
                .map_or_else(|| pod.node.clone(), |n| format!("{}:10250", n.ip()));
            let target = |container: &str, id: &str, image: &str, name: &str| {
                Labels::of(&[
                    ("namespace", &pod.namespace),
                    ("pod", &pod.name),
                    ("container", container),
                    ("id", id),
                    ("image", image),
                    ("name", name),
                    ("instance", &instance),
                    ("job", "kubelet"),
                    ("metrics_path", "/metrics/cadvisor"),
                    ("node", &pod.node),
                ])
            };
            let cgroup = pod.cgroup();
            for c in &pod.containers {
                let id = c.id(pod);
                let labels = target(&c.name, &format!("{cgroup}/{id}"), &c.image, &id);
                cpu.push(labels.clone(), self.pod_counter(pod, |t| c.cpu_cores.at(t)));
                memory.push(
                    labels,
                    self.pod_gauge(pod, |t| c.memory_bytes.at(t).round()),
                );
            }
            let pod_sum = |f: fn(&Container, i64) -> f64| {
                move |t| pod.containers.iter().map(|c| f(c, t)).sum::<f64>()
            };
            let labels = target("", &cgroup, "", "");
            cpu.push(
                labels.clone(),
                self.pod_counter(pod, pod_sum(|c, t| c.cpu_cores.at(t))),
            );
            memory.push(
                labels,
                self.pod_gauge(pod, pod_sum(|c, t| c.memory_bytes.at(t).round())),
            );
        }
        vec![cpu, memory]
    }

    /// As scraped by kube-prometheus-stack, which sets `honor_labels: true`:
    /// a series keeps its own `namespace`, `pod` and `container`, and where it
    /// has none (node series, `kube_pod_owner`) it gets kube-state-metrics'
    /// own pod's, e.g. `namespace="monitoring"`.
    fn kube_state_metrics(&self) -> Vec<Family> {
        let mut families = self.kube_nodes();
        families.extend(self.kube_pods());
        families.extend(self.kube_owners());
        families
    }

    /// Capacity and allocatable for the `cpu`, `memory` and `pods` resources
    /// only, and `kube_node_labels`.
    fn kube_nodes(&self) -> Vec<Family> {
        let mut allocatable = Family::gauge("kube_node_status_allocatable");
        let mut capacity = Family::gauge("kube_node_status_capacity");
        let mut node_labels = Family::gauge("kube_node_labels");
        let resources = |cores: f64, bytes: u64| {
            [
                ("cpu", "core", cores),
                ("memory", "byte", bytes as f64),
                ("pods", "integer", 110.0),
            ]
        };
        for node in &self.nodes {
            let full = (f64::from(node.cpus), node.memory_bytes);
            let (cores, bytes) = node.allocatable.unwrap_or(full);
            for (family, values) in [
                (&mut capacity, resources(full.0, full.1)),
                (&mut allocatable, resources(cores, bytes)),
            ] {
                for (resource, unit, value) in values {
                    let own = [
                        ("node", node.name.as_str()),
                        ("resource", resource),
                        ("unit", unit),
                    ];
                    family.push(ksm(&own), self.gauge(|_| value));
                }
            }
            let names: Vec<String> = node
                .kube_labels
                .iter()
                .map(|(k, _)| format!("label_{}", sanitize(k)))
                .collect();
            let values = node.kube_labels.iter().map(|(_, v)| v.as_str());
            let mut own = vec![("node", node.name.as_str())];
            own.extend(names.iter().map(String::as_str).zip(values));
            node_labels.push(ksm(&own), self.gauge(|_| 1.0));
        }
        vec![allocatable, capacity, node_labels]
    }

    /// `kube_replicaset_owner` (every ReplicaSet here is owned by a Deployment)
    /// and `kube_job_owner` (every Job here by a CronJob).
    fn kube_owners(&self) -> Vec<Family> {
        let owners = |family, object, kind, objects: Vec<[&str; 3]>| {
            let mut owner = Family::gauge(family);
            for [namespace, name, owner_name] in objects {
                let own = [
                    ("namespace", namespace),
                    (object, name),
                    ("owner_kind", kind),
                    ("owner_name", owner_name),
                    ("owner_is_controller", "true"),
                ];
                owner.push(ksm(&own), self.gauge(|_| 1.0));
            }
            owner
        };
        let replica_sets = self.replica_sets.iter();
        let jobs = self.jobs.iter();
        vec![
            owners(
                "kube_replicaset_owner",
                "replicaset",
                "Deployment",
                replica_sets
                    .map(|r| [r.namespace.as_str(), &r.name, &r.deployment])
                    .collect(),
            ),
            owners(
                "kube_job_owner",
                "job_name",
                "CronJob",
                jobs.map(|j| [j.namespace.as_str(), &j.name, &j.cron_job])
                    .collect(),
            ),
        ]
    }

    /// `kube_pod_owner`, `kube_pod_container_status_running`, and CPU and memory
    /// requests and limits of containers that have them, while the pod runs.
    fn kube_pods(&self) -> Vec<Family> {
        let mut requests = Family::gauge("kube_pod_container_resource_requests");
        let mut limits = Family::gauge("kube_pod_container_resource_limits");
        let mut owner = Family::gauge("kube_pod_owner");
        let mut running = Family::gauge("kube_pod_container_status_running");
        for pod in &self.pods {
            let uid = pod.uid();
            let pod_labels = [
                ("namespace", pod.namespace.as_str()),
                ("pod", &pod.name),
                ("uid", &uid),
            ];
            let (kind, name, controller) = match &pod.owner {
                Some((kind, name)) => (kind.as_str(), name.as_str(), "true"),
                None => ("<none>", "<none>", "<none>"),
            };
            let own = [
                ("owner_kind", kind),
                ("owner_name", name),
                ("owner_is_controller", controller),
            ];
            owner.push(
                ksm(&[&pod_labels[..], &own].concat()),
                self.pod_gauge(pod, |_| 1.0),
            );
            for c in &pod.containers {
                running.push(
                    ksm(&[&pod_labels[..], &[("container", c.name.as_str())]].concat()),
                    self.pod_gauge(pod, |_| 1.0),
                );
                for (family, amounts) in [(&mut requests, c.requests), (&mut limits, c.limits)] {
                    let Some((cores, bytes)) = amounts else {
                        continue;
                    };
                    for (resource, unit, value) in
                        [("cpu", "core", cores), ("memory", "byte", bytes as f64)]
                    {
                        let own = [
                            ("container", c.name.as_str()),
                            ("node", &pod.node),
                            ("resource", resource),
                            ("unit", unit),
                        ];
                        family.push(
                            ksm(&[&pod_labels[..], &own].concat()),
                            self.pod_gauge(pod, |_| value),
                        );
                    }
                }
            }
        }
        vec![requests, limits, owner, running]
    }

    fn gauge(&self, value: impl Fn(i64) -> f64) -> Vec<f64> {
        self.timestamps().map(value).collect()
    }

    /// A gauge of `pod`: `NaN` (no sample) while the pod is not running.
    fn pod_gauge(&self, pod: &Pod, value: impl Fn(i64) -> f64) -> Vec<f64> {
        self.timestamps()
            .map(|t| {
                if pod.is_running(t) {
                    value(t)
                } else {
                    f64::NAN
                }
            })
            .collect()
    }

    /// Integrates a per-second rate from 0 at `start` (left Riemann sum, so a
    /// constant rate gives an exactly linear counter).
    fn counter(&self, rate: impl Fn(i64) -> f64) -> Vec<f64> {
        self.counter_while(|_| true, rate)
    }

    /// A counter of `pod`, from 0 when it starts; no sample while it is not running.
    fn pod_counter(&self, pod: &Pod, rate: impl Fn(i64) -> f64) -> Vec<f64> {
        self.counter_while(|t| pod.is_running(t), rate)
    }

    fn counter_while(&self, alive: impl Fn(i64) -> bool, rate: impl Fn(i64) -> f64) -> Vec<f64> {
        let mut value = 0.0;
        self.timestamps()
            .map(|t| {
                if !alive(t) {
                    return f64::NAN;
                }
                let current = value;
                value += rate(t) * self.step as f64;
                current
            })
            .collect()
    }
}

/// The modes emitted for `node_cpu_seconds_total`; node-exporter also has
/// `irq`, `nice`, `softirq` and `steal`, always 0 here so left out.
#[derive(Clone, Copy)]
enum CpuMode {
    Idle,
    Iowait,
    System,
    User,
}

impl CpuMode {
    const ALL: [Self; 4] = [Self::Idle, Self::Iowait, Self::System, Self::User];

    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Iowait => "iowait",
            Self::System => "system",
            Self::User => "user",
        }
    }

    /// Seconds per second in this mode when `busy` of the time is user +
    /// system; 2 % of the rest waits on I/O. The shares sum to 1.
    fn share(self, busy: f64) -> f64 {
        match self {
            Self::Idle => (1.0 - busy) * 0.98,
            Self::Iowait => (1.0 - busy) * 0.02,
            Self::System => busy * 0.3,
            Self::User => busy * 0.7,
        }
    }
}

/// The target labels kube-prometheus-stack puts on every kube-state-metrics
/// series, overridden by the series' own (`honor_labels: true`).
fn ksm(own: &[(&str, &str)]) -> Labels {
    let target = [
        ("container", "kube-state-metrics"),
        ("endpoint", "http"),
        ("instance", "10.244.0.10:8080"),
        ("job", "kube-state-metrics"),
        ("namespace", "monitoring"),
        ("pod", "kube-state-metrics-6d4b7c9f8-x2x7q"),
        ("service", "kube-state-metrics"),
    ];
    let mut labels = Labels::of(own);
    for (name, value) in target {
        if !own.iter().any(|(n, _)| *n == name) {
            labels.push(name, value);
        }
    }
    labels
}

/// Label pairs, already escaped and joined: `a="1",b="2"`.
#[derive(Clone)]
struct Labels(String);

impl Labels {
    fn of(pairs: &[(&str, &str)]) -> Self {
        let mut labels = Self(String::new());
        labels.extend(pairs);
        labels
    }

    fn extend(&mut self, pairs: &[(&str, &str)]) {
        for (name, value) in pairs {
            self.push(name, value);
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(name);
        self.0.push_str("=\"");
        for ch in value.chars() {
            match ch {
                '\\' => self.0.push_str("\\\\"),
                '"' => self.0.push_str("\\\""),
                '\n' => self.0.push_str("\\n"),
                _ => self.0.push(ch),
            }
        }
        self.0.push('"');
    }
}

/// One metric family: a `# TYPE` line and its series.
struct Family {
    name: &'static str,
    kind: &'static str,
    /// Sample name: counters' samples carry `_total`, gauges' the family name.
    sample_name: String,
    series: Vec<(Labels, Vec<f64>)>,
}

impl Family {
    fn counter(name: &'static str) -> Self {
        Self {
            name,
            kind: "counter",
            sample_name: format!("{name}_total"),
            series: Vec::new(),
        }
    }

    fn gauge(name: &'static str) -> Self {
        Self {
            name,
            kind: "gauge",
            sample_name: name.to_owned(),
            series: Vec::new(),
        }
    }

    fn push(&mut self, labels: Labels, values: Vec<f64>) {
        self.series.push((labels, values));
    }

    /// The samples at `times[slice]`; `values` are indexed like `times`.
    fn render(&self, times: &[i64], slice: Range<usize>, out: &mut String) {
        if self.series.is_empty() {
            return;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, values) in &self.series {
            let values = &values[slice.clone()];
            // NaN marks "no sample": the series did not exist then.
            for (t, v) in times[slice.clone()]
                .iter()
                .zip(values)
                .filter(|(_, v)| !v.is_nan())
            {
                let _ = writeln!(out, "{}{{{}}} {v} {t}", self.sample_name, labels.0);
            }
        }
    }
}

/// One OpenMetrics document with the samples of `families` at `times` within `window`.
fn render_document(families: &[Family], times: &[i64], window: Range<i64>) -> String {
    let slice =
        times.partition_point(|t| *t < window.start)..times.partition_point(|t| *t < window.end);
    let mut out = String::new();
    for family in families {
        family.render(times, slice.clone(), &mut out);
    }
    out.push_str("# EOF\n");
    out
}

/// The current time in whole Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A Kubernetes label name as kube-state-metrics turns it into a Prometheus
/// label name: every character outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// FNV-1a over `parts` with a seed, for deterministic IDs.
fn fnv1a(seed: u64, parts: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for part in parts {
        for byte in part.bytes().chain([b'/']) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tiny_node_renders_exact_openmetrics() {
        let cluster = ClusterMetrics::new().range(1_000, 1_030).node(
            Node::new("n", "10.0.0.1:9100")
                .cpus(1)
                .memory_bytes(1000)
                .busy(0.5)
                .memory_used(0.25),
        );
        let text = cluster.to_openmetrics();
        let cpu: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("mode=\"user\""))
            .collect();
        assert_eq!(
            cpu,
            [
                r#"node_cpu_seconds_total{cpu="0",mode="user",instance="10.0.0.1:9100",job="node-exporter"} 0 1000"#,
                r#"node_cpu_seconds_total{cpu="0",mode="user",instance="10.0.0.1:9100",job="node-exporter"} 5.25 1015"#,
                r#"node_cpu_seconds_total{cpu="0",mode="user",instance="10.0.0.1:9100",job="node-exporter"} 10.5 1030"#,
            ]
        );
        let memory = text
            .split("# TYPE node_memory_MemTotal_bytes gauge\n")
            .nth(1)
            .and_then(|rest| rest.split("# TYPE kube_node_status_allocatable").next());
        assert_eq!(
            memory,
            Some(concat!(
                "node_memory_MemTotal_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 1000 1000\n",
                "node_memory_MemTotal_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 1000 1015\n",
                "node_memory_MemTotal_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 1000 1030\n",
                "# TYPE node_memory_MemAvailable_bytes gauge\n",
                "node_memory_MemAvailable_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 750 1000\n",
                "node_memory_MemAvailable_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 750 1015\n",
                "node_memory_MemAvailable_bytes{instance=\"10.0.0.1:9100\",job=\"node-exporter\"} 750 1030\n",
            ))
        );
        assert!(text.starts_with("# TYPE node_cpu_seconds counter\n"));
        assert!(text.ends_with("\n# EOF\n"));
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            cluster.sample_count()
        );
    }

    #[test]
    fn cpu_modes_add_up_to_one_second_per_second() {
        for busy in [0.0, 0.3, 1.0] {
            let total: f64 = CpuMode::ALL.iter().map(|m| m.share(busy)).sum();
            assert!((total - 1.0).abs() < 1e-12, "busy {busy}: {total}");
        }
    }

    #[test]
    fn pods_that_come_and_go_have_samples_only_while_running() {
        let cluster = ClusterMetrics::new()
            .range(0, 600)
            .step(Duration::from_secs(60))
            .replica_set("shop", "web-5d9c7", "web")
            .pod(
                Pod::new("shop", "web-0", "node-a")
                    .owner("ReplicaSet", "web-5d9c7")
                    .running(120..300)
                    .container(Container::new("web").cpu(0.5)),
            );
        let text = cluster.to_openmetrics();
        let times = |prefix: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            times("kube_pod_container_status_running{"),
            ["120", "180", "240"]
        );
        let cpu: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("container_cpu_usage_seconds_total{")
                    && l.contains("container=\"web\"")
            })
            .collect();
        assert_eq!(cpu.len(), 3);
        assert!(
            cpu[0].ends_with(" 0 120"),
            "counter restarts with the pod: {}",
            cpu[0]
        );
        assert!(text.contains(
            r#"kube_replicaset_owner{namespace="shop",replicaset="web-5d9c7",owner_kind="Deployment",owner_name="web",owner_is_controller="true""#
        ));
        assert_eq!(
            cluster.sample_count(),
            text.lines().filter(|l| !l.starts_with('#')).count()
        );
    }

    #[test]
    fn parts_hold_the_same_samples_cut_at_aligned_times() {
        let cluster = ClusterMetrics::new()
            .range(100, 1000)
            .step(Duration::from_secs(60))
            .node(Node::new("node-a", "10.0.0.1:9100").cpus(1))
            .pod(
                Pod::new("shop", "web-0", "node-a")
                    .running(400..700)
                    .container(Container::new("web")),
            );
        let samples = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        let parts: Vec<String> = cluster
            .to_openmetrics_parts(Duration::from_secs(300))
            .collect();
        assert_eq!(parts.len(), 4, "0..300, 300..600, 600..900, 900..1200");
        let mut joined = Vec::new();
        for (k, part) in parts.iter().enumerate() {
            assert!(part.ends_with("# EOF\n"), "{part}");
            for line in samples(part) {
                let t: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                assert!(
                    (k as i64 * 300..(k as i64 + 1) * 300).contains(&t),
                    "{line}"
                );
                joined.push(line);
            }
        }
        let mut whole = samples(&cluster.to_openmetrics());
        whole.sort();
        joined.sort();
        assert_eq!(joined, whole);
    }

    #[test]
    fn cron_job_owners_and_limits_use_kube_state_metrics_labels() {
        let text = ClusterMetrics::new()
            .range(0, 0)
            .job("batch", "report-28000", "report")
            .pod(
                Pod::new("batch", "report-28000-x7k2p", "node-a")
                    .owner("Job", "report-28000")
                    .container(Container::new("report").limits(1.0, 1 << 30)),
            )
            .to_openmetrics();
        assert!(text.contains(
            r#"kube_job_owner{namespace="batch",job_name="report-28000",owner_kind="CronJob",owner_name="report",owner_is_controller="true",container="kube-state-metrics""#
        ));
        let limit = text.lines().find(|l| {
            l.starts_with("kube_pod_container_resource_limits{")
                && l.contains("resource=\"memory\"")
        });
        let limit = limit.unwrap_or_default();
        assert!(
            limit.contains(r#"container="report",node="node-a",resource="memory",unit="byte""#),
            "{limit}"
        );
        assert!(limit.ends_with(" 1073741824 0"), "{limit}");
        assert!(
            !text.contains("kube_pod_container_resource_requests"),
            "no requests set"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let labels = Labels::of(&[("a", "x\"y\\z\nw")]);
        assert_eq!(labels.0, r#"a="x\"y\\z\nw""#);
    }

    #[test]
    fn pod_level_cadvisor_series_sums_containers_and_ksm_keeps_own_labels() {
        let cluster = ClusterMetrics::new()
            .range(0, 0)
            .node(Node::new("node-a", "10.0.0.1:9100"))
            .pod(
                Pod::new("shop", "web-0", "node-a")
                    .container(Container::new("app").memory(300.0).requests(0.5, 1 << 20))
                    .container(Container::new("sidecar").memory(100.0)),
            );
        let text = cluster.to_openmetrics();
        let pod_level = text.lines().find(|l| {
            l.starts_with("container_memory_working_set_bytes") && l.contains("container=\"\"")
        });
        let pod_level = pod_level.map(|l| l.split(' ').nth(1));
        assert_eq!(pod_level, Some(Some("400")));
        assert!(text.contains(r#"instance="10.0.0.1:10250",job="kubelet",metrics_path="/metrics/cadvisor",node="node-a""#));
        let request = text.lines().find(|l| {
            l.starts_with("kube_pod_container_resource_requests{") && l.contains("resource=\"cpu\"")
        });
        let request = request.unwrap_or_default();
        assert!(request.starts_with(
            r#"kube_pod_container_resource_requests{namespace="shop",pod="web-0",uid=""#
        ));
        assert!(request.contains(
            r#"container="app",node="node-a",resource="cpu",unit="core",endpoint="http""#
        ));
        assert!(text.contains(r#"owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>",container="kube-state-metrics""#));
    }
}
