//! The YAML trace file: a cluster's nodes and its workloads' usage over time.
//!
//! ```yaml
//! duration: 3d          # how long to replay (3d, 12h, 90m)
//! step: 1m              # simulation step, whole seconds (default 1m)
//! seed: 7               # default 0
//! nodes:                # a pool of count > 1 expands to <name>-1 .. <name>-<count>
//!   - {name: pool-a, count: 40, cpu: "16", memory: 64Gi, pods: 110}
//! workloads:
//!   - namespace: shop
//!     name: api
//!     kind: Deployment  # Deployment | StatefulSet | DaemonSet | CronJob
//!     replicas: 10
//!     requests: {cpu: "2", memory: 4Gi}
//!     usage:            # per replica
//!       cpu: {csv: shapes/web.csv, mean: 1500m, shift: 2h, jitter: 0.1}
//!       memory: 3Gi
//!     pdb: {maxUnavailable: 1}
//!     hpa: {min: 2, max: 20, target_cpu_utilization: 70}
//! ```
//!
//! Rules beyond the syntax:
//! - quantities are Kubernetes quantities (`"2"`, `500m`, `64Gi`) and never negative;
//!   usage is in cores for CPU and bytes for memory;
//! - a usage `csv` (`ts,value` lines, Unix seconds; a path relative to the trace file)
//!   is averaged into the step: the slot of a sample is counted in steps from the first
//!   sample, each slot takes the mean of its samples and an empty slot the previous
//!   slot's value. The curve covers the CSV's span (last sample plus one sample
//!   interval, the median spacing), so a day sampled every 5 minutes loops every
//!   1440 steps at `step: 1m`. `mean` rescales the curve to that mean, `scale`
//!   multiplies it, `shift` delays it (rounded to whole steps), `jitter` adds per-replica
//!   noise; without `csv`, `mean` is a constant (with `jitter`, a noisy one);
//! - durations become steps, rounded up; `schedule_every` and `run_for` are required
//!   for a CronJob and refused for other kinds;
//! - a pool with `count` 1 (the default) keeps its name; node names and workload
//!   `namespace/name` pairs are unique.
//!
//! Every error names the file, the field (`workloads[1].requests.cpu`), its line and
//! what to write instead.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Taint, Toleration};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tidal_core::quantity::Quantity;
use tidal_core::resources::{PodLimits, Resources};
use tidal_predictor::csv::{CsvError, parse_csv};

use super::{Amount, Cron, HpaSpec, Kind, NodeSpec, Pdb, Shape, Trace, WorkloadSpec};

/// More steps than this is surely a unit mistake (19 years at 1m), and would take hours.
const MAX_STEPS: u128 = 10_000_000;
/// Nodes after pool expansion.
const MAX_NODES: u64 = 100_000;
/// Replicas (or pods per CronJob run, or HPA maximum) of one workload.
const MAX_REPLICAS: u32 = 100_000;
/// Where every "see ..." hint points.
const EXAMPLE: &str = "examples/simulate/trace.yaml";
/// Marks a sub-field at the start of a message from a whole-mapping check, so the
/// error names (and finds the line of) the field itself: `\u{1}hpa.min\u{1}message`.
const FIELD_MARK: char = '\u{1}';

/// Why a trace cannot be used: the file, the field, its line, what is wrong and what to
/// write instead.
///
/// Displays as `trace.yaml: workloads[1].requests.cpu (line 14): "2x" is not a
/// quantity; write cores like "2" or "500m"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TraceError(Box<Details>);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Details {
    file: Option<PathBuf>,
    field: Option<String>,
    line: Option<usize>,
    message: String,
    csv: Option<PathBuf>,
    csv_line: Option<usize>,
}

impl TraceError {
    /// An error about the trace as a whole (no field, no line).
    pub fn new(message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            message: message.into(),
            ..Details::default()
        }))
    }

    fn at(field: Option<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        let mut error = Self::new(message);
        error.0.field = field;
        error.0.line = line;
        error
    }

    /// The same error, said of `file` (what [`load`] adds to [`parse`]'s errors).
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.0.file = Some(file.into());
        self
    }

    /// The trace file, when the trace came from one.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }

    /// The field at fault, as a path: `workloads[1].requests.cpu`.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// The 1-based line of the trace file the error is about.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// What is wrong and what to write instead, without the file, field and line.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// For an error in a usage CSV: the CSV file, as resolved from the trace's directory.
    pub fn csv_path(&self) -> Option<&Path> {
        self.0.csv.as_deref()
    }

    /// For an error in a usage CSV: the 1-based line of the CSV at fault.
    pub fn csv_line(&self) -> Option<usize> {
        self.0.csv_line
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = &self.0;
        let place = match (&error.field, error.line) {
            (Some(field), Some(line)) => Some(format!("{field} (line {line})")),
            (Some(field), None) => Some(field.clone()),
            (None, Some(line)) => Some(format!("line {line}")),
            (None, None) => None,
        };
        match (&error.file, place) {
            (Some(file), Some(place)) if error.field.is_none() => {
                write!(f, "{} ({place}): {}", file.display(), error.message)
            }
            (Some(file), Some(place)) => {
                write!(f, "{}: {place}: {}", file.display(), error.message)
            }
            (Some(file), None) => write!(f, "{}: {}", file.display(), error.message),
            (None, Some(place)) => write!(f, "{place}: {}", error.message),
            (None, None) => f.write_str(&error.message),
        }
    }
}

/// Reads and validates a YAML trace; relative CSV paths are resolved from `base_dir`.
/// Errors name the field and line but no file (see [`load`]).
pub fn parse(text: &str, base_dir: &Path) -> Result<Trace, TraceError> {
    let blank = text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    });
    if blank {
        return Err(TraceError::new(format!(
            "the trace is empty; write duration:, nodes: and workloads: (see {EXAMPLE})"
        )));
    }
    let Checked(file): Checked<TraceFile> =
        serde_yaml::from_str(text).map_err(|e| yaml_error(&e, text))?;
    Builder {
        text,
        base_dir,
        curves: HashMap::new(),
    }
    .build(file)
}

/// Reads the trace file at `path` (CSV paths relative to its directory); errors name
/// the file.
pub fn load(path: &Path) -> Result<Trace, TraceError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        TraceError::new(format!("cannot read the trace: {e}; check the path")).in_file(path)
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, base_dir).map_err(|e| e.in_file(path))
}

// ---------------------------------------------------------------------------------
// The file's shape, as deserialized. Leaf values are checked as they are read (so
// serde_yaml reports the field and line); whole-mapping rules run in `Check`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceFile {
    duration: PositiveDuration,
    #[serde(default)]
    step: Option<StepDuration>,
    #[serde(default)]
    seed: u64,
    /// The hot-node threshold; the replay takes it from its own options.
    #[serde(default)]
    #[allow(dead_code)]
    hot: Option<f64>,
    nodes: Vec<Checked<NodeFile>>,
    #[serde(default)]
    workloads: Vec<Checked<WorkloadFile>>,
}

impl Check for TraceFile {
    const EXPECTING: &'static str = "a trace: a mapping with duration:, nodes: and workloads:";

    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    name: String,
    #[serde(default)]
    count: Option<Positive>,
    cpu: Q<Cpu>,
    memory: Q<Memory>,
    #[serde(default)]
    pods: Option<Positive>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Vec<Checked<TaintFile>>,
}

impl Check for NodeFile {
    const EXPECTING: &'static str =
        "a node pool like {name: pool-a, count: 10, cpu: \"16\", memory: 64Gi}";

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err(sub(
                "name",
                "the node name is empty; write one, e.g. name: pool-a",
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, Default, Clone, Copy)]
enum KindFile {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
    CronJob,
}

impl From<KindFile> for Kind {
    fn from(kind: KindFile) -> Self {
        match kind {
            KindFile::Deployment => Kind::Deployment,
            KindFile::StatefulSet => Kind::StatefulSet,
            KindFile::DaemonSet => Kind::DaemonSet,
            KindFile::CronJob => Kind::CronJob,
        }
    }
}

fn default_namespace() -> String {
    "default".to_owned()
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default = "default_namespace")]
    namespace: String,
    name: String,
    #[serde(default)]
    kind: KindFile,
    #[serde(default = "one")]
    replicas: u32,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    requests: Checked<ResourcesFile>,
    #[serde(default)]
    limits: Checked<ResourcesFile>,
    usage: Checked<UsageFile>,
    #[serde(default)]
    pdb: Option<Checked<PdbFile>>,
    #[serde(default)]
    restart_every: Option<PositiveDuration>,
    #[serde(default)]
    hpa: Option<Checked<HpaFile>>,
    #[serde(default)]
    schedule_every: Option<PositiveDuration>,
    #[serde(default)]
    run_for: Option<PositiveDuration>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    tolerations: Vec<Checked<TolerationFile>>,
}

impl Check for WorkloadFile {
    const EXPECTING: &'static str = "a workload like {namespace: shop, name: api, replicas: 3, \
         requests: {cpu: \"1\", memory: 1Gi}, usage: {cpu: 500m, memory: 1Gi}}";

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err(sub(
                "name",
                "the workload name is empty; write one, e.g. name: api",
            ));
        }
        if self.namespace.trim().is_empty() {
            return Err(sub(
                "namespace",
                "the namespace is empty; write one, e.g. namespace: shop (or leave it out for \"default\")",
            ));
        }
        if self.replicas > MAX_REPLICAS {
            return Err(sub(
                "replicas",
                format!(
                    "{} replicas is more than the simulator handles ({MAX_REPLICAS}); write fewer",
                    self.replicas
                ),
            ));
        }
        let kind = Kind::from(self.kind);
        if kind == Kind::CronJob {
            for (field, value) in [
                ("schedule_every", &self.schedule_every),
                ("run_for", &self.run_for),
            ] {
                if value.is_none() {
                    return Err(sub(
                        field,
                        format!(
                            "a CronJob needs schedule_every and run_for; add e.g. \
                             schedule_every: 2h and run_for: 30m (missing {field})"
                        ),
                    ));
                }
            }
            if self.restart_every.is_some() {
                return Err(sub(
                    "restart_every",
                    "restart_every does not apply to a CronJob (its pods are recreated every run); remove it",
                ));
            }
        } else {
            for (field, value) in [
                ("schedule_every", &self.schedule_every),
                ("run_for", &self.run_for),
            ] {
                if value.is_some() {
                    return Err(sub(
                        field,
                        format!(
                            "{field} only applies to kind: CronJob, and this is a {}; \
                             remove it or set kind: CronJob",
                            kind.as_str()
                        ),
                    ));
                }
            }
        }
        if self.hpa.is_some() && matches!(kind, Kind::DaemonSet | Kind::CronJob) {
            return Err(sub(
                "hpa",
                format!(
                    "an HPA scales a Deployment or a StatefulSet, not a {}; remove hpa or change the kind",
                    kind.as_str()
                ),
            ));
        }
        if let Some(Checked(hpa)) = &self.hpa
            && hpa.max > MAX_REPLICAS
        {
            return Err(sub(
                "hpa.max",
                format!(
                    "max {} is more than the simulator handles ({MAX_REPLICAS}); write fewer",
                    hpa.max
                ),
            ));
        }
        let (Checked(requests), Checked(limits)) = (&self.requests, &self.limits);
        if let (Some(request), Some(limit)) = (&requests.cpu, &limits.cpu)
            && !limit.0.is_zero()
            && request.0 > limit.0
        {
            return Err(sub(
                "limits.cpu",
                format!(
                    "the CPU limit {} is below the request {}, which Kubernetes refuses; \
                     raise the limit or lower the request",
                    limit.0, request.0
                ),
            ));
        }
        if let (Some(request), Some(limit)) = (&requests.memory, &limits.memory)
            && !limit.0.is_zero()
            && request.0 > limit.0
        {
            return Err(sub(
                "limits.memory",
                format!(
                    "the memory limit {} is below the request {}, which Kubernetes refuses; \
                     raise the limit or lower the request",
                    limit.0, request.0
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResourcesFile {
    #[serde(default)]
    cpu: Option<Q<Cpu>>,
    #[serde(default)]
    memory: Option<Q<Memory>>,
}

impl Check for ResourcesFile {
    const EXPECTING: &'static str = "resources like {cpu: \"2\", memory: 4Gi}";

    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageFile {
    cpu: Usage<Cpu>,
    memory: Usage<Memory>,
}

impl Check for UsageFile {
    const EXPECTING: &'static str = "usage per replica like {cpu: 500m, memory: 1Gi} or {cpu: {csv: shapes/web.csv, mean: 500m}, memory: 1Gi}";

    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Deserialize, Clone, Copy)]
enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl Effect {
    fn as_str(self) -> &'static str {
        match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint, as in Kubernetes (`timeAdded` is accepted and dropped).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaintFile {
    key: String,
    #[serde(default)]
    value: Option<String>,
    effect: Effect,
    #[serde(default, rename = "timeAdded")]
    #[allow(dead_code)]
    time_added: Option<IgnoredAny>,
}

impl Check for TaintFile {
    const EXPECTING: &'static str =
        "a taint like {key: dedicated, value: batch, effect: NoSchedule}";

    fn check(&self) -> Result<(), String> {
        if self.key.trim().is_empty() {
            return Err(sub(
                "key",
                "the taint key is empty; write one, e.g. key: dedicated",
            ));
        }
        Ok(())
    }
}

impl From<&TaintFile> for Taint {
    fn from(taint: &TaintFile) -> Self {
        Taint {
            key: taint.key.clone(),
            value: taint.value.clone(),
            effect: taint.effect.as_str().to_owned(),
            time_added: None,
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Operator {
    Equal,
    Exists,
}

/// A pod toleration, as in Kubernetes (camelCase keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TolerationFile {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    operator: Option<Operator>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    effect: Option<Effect>,
    #[serde(default, rename = "tolerationSeconds")]
    toleration_seconds: Option<i64>,
}

impl Check for TolerationFile {
    const EXPECTING: &'static str =
        "a toleration like {key: dedicated, operator: Equal, value: batch, effect: NoSchedule}";

    fn check(&self) -> Result<(), String> {
        let exists = self.operator == Some(Operator::Exists);
        if exists && self.value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(sub(
                "value",
                "an Exists toleration matches any value; remove value or write operator: Equal",
            ));
        }
        if !exists && self.key.as_deref().is_none_or(str::is_empty) {
            return Err(sub(
                "key",
                "a toleration without a key must have operator: Exists (it tolerates every taint); \
                 write a key or operator: Exists",
            ));
        }
        Ok(())
    }
}

impl From<&TolerationFile> for Toleration {
    fn from(toleration: &TolerationFile) -> Self {
        Toleration {
            key: toleration.key.clone(),
            operator: toleration.operator.map(|o| {
                match o {
                    Operator::Equal => "Equal",
                    Operator::Exists => "Exists",
                }
                .to_owned()
            }),
            value: toleration.value.clone(),
            effect: toleration.effect.map(|e| e.as_str().to_owned()),
            toleration_seconds: toleration.toleration_seconds,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PdbFile {
    #[serde(default, rename = "minAvailable", alias = "min_available")]
    min_available: Option<AmountFile>,
    #[serde(default, rename = "maxUnavailable", alias = "max_unavailable")]
    max_unavailable: Option<AmountFile>,
}

impl Check for PdbFile {
    const EXPECTING: &'static str =
        "a PodDisruptionBudget like {maxUnavailable: 1} or {minAvailable: \"50%\"}";

    fn check(&self) -> Result<(), String> {
        match (&self.min_available, &self.max_unavailable) {
            (Some(_), Some(_)) => Err(
                "a PDB has either minAvailable or maxUnavailable, not both; keep one".to_owned(),
            ),
            (None, None) => Err(
                "a PDB needs minAvailable or maxUnavailable; write e.g. {maxUnavailable: 1}"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HpaFile {
    #[serde(default = "one")]
    min: u32,
    max: u32,
    #[serde(default = "default_target")]
    target_cpu_utilization: f64,
}

fn default_target() -> f64 {
    80.0
}

impl Check for HpaFile {
    const EXPECTING: &'static str = "an HPA like {min: 2, max: 20, target_cpu_utilization: 70}";

    fn check(&self) -> Result<(), String> {
        if self.min < 1 {
            return Err(sub(
                "min",
                "min is 0; an HPA keeps at least 1 replica: write min: 1 or more",
            ));
        }
        if self.min > self.max {
            return Err(sub(
                "min",
                format!(
                    "min {} is above max {}; write min ≤ max",
                    self.min, self.max
                ),
            ));
        }
        let target = self.target_cpu_utilization;
        if !(target > 0.0 && target <= 100.0) {
            return Err(sub(
                "target_cpu_utilization",
                format!(
                    "{target} is not a percentage in (0, 100]; write the target CPU \
                     utilization of the requests in percent, e.g. 70"
                ),
            ));
        }
        Ok(())
    }
}

/// A whole-mapping rule; its error may name a sub-field with [`sub`].
trait Check {
    /// What the mapping should look like, for "invalid type" errors.
    const EXPECTING: &'static str;

    fn check(&self) -> Result<(), String>;
}

/// An error message about `field`, a sub-field of the mapping being checked.
fn sub(field: &str, message: impl fmt::Display) -> String {
    format!("{FIELD_MARK}{field}{FIELD_MARK}{message}")
}

/// A mapping checked by [`Check`] while serde_yaml still knows where it is, so the
/// error carries the mapping's path and line.
#[derive(Default)]
struct Checked<T>(T);

impl<'de, T: Deserialize<'de> + Check> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Check> Visitor<'de> for CheckedVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                let value = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                value.check().map_err(de::Error::custom)?;
                Ok(value)
            }
        }

        deserializer
            .deserialize_map(CheckedVisitor(PhantomData))
            .map(Checked)
    }
}

/// What a quantity measures: how to read it and what to suggest.
trait Unit {
    const HINT: &'static str;
}

struct Cpu;
struct Memory;

impl Unit for Cpu {
    const HINT: &'static str = "write cores like \"2\" or \"500m\"";
}

impl Unit for Memory {
    const HINT: &'static str = "write bytes like \"4Gi\", \"512Mi\" or \"1G\"";
}

/// A non-negative Kubernetes quantity of unit `U`, from a string or a bare number.
struct Q<U>(Quantity, PhantomData<U>);

fn parse_quantity<U: Unit>(text: &str) -> Result<Quantity, String> {
    let quantity: Quantity = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a quantity; {}", U::HINT))?;
    if quantity.as_nanos() < 0 {
        return Err(format!(
            "{text:?} is negative; a quantity is 0 or more: {}",
            U::HINT
        ));
    }
    Ok(quantity)
}

struct QuantityVisitor<U>(PhantomData<U>);

impl<U: Unit> Visitor<'_> for QuantityVisitor<U> {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a quantity; {}", U::HINT)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        parse_quantity::<U>(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        self.visit_str(&v.to_string())
    }
}

impl<'de, U: Unit> Deserialize<'de> for Q<U> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(QuantityVisitor::<U>(PhantomData))
            .map(|q| Q(q, PhantomData))
    }
}

/// Usage per replica: a constant quantity, or a curve.
enum Usage<U: Unit> {
    Constant(Quantity),
    Curve(CurveFile<U>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
struct CurveFile<U: Unit> {
    #[serde(default)]
    csv: Option<String>,
    #[serde(default)]
    mean: Option<Q<U>>,
    #[serde(default)]
    scale: Option<Factor>,
    #[serde(default)]
    shift: Option<AnyDuration>,
    #[serde(default)]
    jitter: Option<Fraction>,
}

impl<U: Unit> CurveFile<U> {
    fn check(&self) -> Result<(), String> {
        if self.mean.is_some() && self.scale.is_some() {
            return Err(sub(
                "scale",
                "mean and scale both set the curve's level; keep one (mean: the average \
                 to rescale to, scale: a factor)",
            ));
        }
        if self.csv.is_none() {
            if self.mean.is_none() {
                return Err(format!(
                    "a usage curve needs csv (a ts,value file) or mean (a constant); write \
                     e.g. {{csv: shapes/web.csv, mean: 500m}} or a plain quantity ({})",
                    U::HINT
                ));
            }
            for (field, set) in [
                ("scale", self.scale.is_some()),
                ("shift", self.shift.is_some()),
            ] {
                if set {
                    return Err(sub(
                        field,
                        format!("{field} needs a csv curve; remove it or add csv: <file>"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl<'de, U: Unit> Deserialize<'de> for Usage<U> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UsageVisitor<U>(PhantomData<U>);

        impl<'de, U: Unit> Visitor<'de> for UsageVisitor<U> {
            type Value = Usage<U>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a quantity ({}) or a curve like {{csv: shapes/web.csv, mean: 500m, jitter: 0.1}}",
                    U::HINT
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_quantity::<U>(v)
                    .map(Usage::Constant)
                    .map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let curve =
                    CurveFile::<U>::deserialize(de::value::MapAccessDeserializer::new(map))?;
                curve.check().map_err(de::Error::custom)?;
                Ok(Usage::Curve(curve))
            }
        }

        deserializer.deserialize_any(UsageVisitor(PhantomData))
    }
}

/// A PDB amount: a count or a percentage (`"50%"`).
struct AmountFile(Amount);

impl<'de> Deserialize<'de> for AmountFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;

        const HINT: &str = "write a count like 1 or a percentage like \"50%\"";

        impl Visitor<'_> for AmountVisitor {
            type Value = Amount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(HINT)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                u32::try_from(v)
                    .map(Amount::Count)
                    .map_err(|_| E::custom(format!("{v} is too large; {HINT}")))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative; {HINT}"))),
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                let text = v.trim();
                let bad = || E::custom(format!("{v:?} is not a count or a percentage; {HINT}"));
                match text.strip_suffix('%') {
                    Some(percent) => {
                        let percent: u32 = percent.trim().parse().map_err(|_| bad())?;
                        if percent > 100 {
                            return Err(E::custom(format!("{v:?} is over 100 %; {HINT}")));
                        }
                        Ok(Amount::Percent(percent))
                    }
                    None => text.parse().map(Amount::Count).map_err(|_| bad()),
                }
            }
        }

        deserializer.deserialize_any(AmountVisitor).map(AmountFile)
    }
}

/// How a duration field accepts zero.
#[derive(Clone, Copy, PartialEq)]
enum DurationRule {
    /// 0 is fine (`shift`).
    Any,
    /// More than zero.
    Positive,
    /// More than zero, whole seconds (`step`: CSV timestamps are in seconds).
    Step,
}

const DURATION_HINT: &str = "write a duration like \"3d\", \"12h\", \"90m\" or \"30s\"";

struct DurationVisitor(DurationRule);

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DURATION_HINT)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let duration = humantime::parse_duration(v.trim())
            .map_err(|_| E::custom(format!("{v:?} is not a duration; {DURATION_HINT}")))?;
        if self.0 != DurationRule::Any && duration.is_zero() {
            return Err(E::custom(format!(
                "{v:?} is zero; it must be at least one step: {DURATION_HINT}"
            )));
        }
        if self.0 == DurationRule::Step && duration.subsec_nanos() != 0 {
            return Err(E::custom(format!(
                "{v:?} is not a whole number of seconds; write a step like \"1m\" or \"30s\""
            )));
        }
        Ok(duration)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        if v == 0 && self.0 == DurationRule::Any {
            return Ok(Duration::ZERO);
        }
        Err(E::custom(format!("{v} has no unit; {DURATION_HINT}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!("{v} has no unit; {DURATION_HINT}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!("{v} has no unit; {DURATION_HINT}")))
    }
}

macro_rules! duration_field {
    ($name:ident, $rule:expr) => {
        struct $name(Duration);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer
                    .deserialize_any(DurationVisitor($rule))
                    .map($name)
            }
        }
    };
}

duration_field!(AnyDuration, DurationRule::Any);
duration_field!(PositiveDuration, DurationRule::Positive);
duration_field!(StepDuration, DurationRule::Step);

/// A number read from an integer or a float, checked by `accept`.
fn number<'de, D: Deserializer<'de>>(
    deserializer: D,
    expecting: &'static str,
    accept: fn(f64) -> bool,
) -> Result<f64, D::Error> {
    struct NumberVisitor {
        expecting: &'static str,
        accept: fn(f64) -> bool,
    }

    impl Visitor<'_> for NumberVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            if (self.accept)(v) {
                Ok(v)
            } else {
                Err(E::custom(format!(
                    "{v} is out of range; {}",
                    self.expecting
                )))
            }
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }
    }

    deserializer.deserialize_any(NumberVisitor { expecting, accept })
}

/// `jitter`: a fraction in [0, 1].
struct Fraction(f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        number(
            deserializer,
            "write a fraction in [0, 1], e.g. 0.1 for ±10 %",
            |v| (0.0..=1.0).contains(&v),
        )
        .map(Fraction)
    }
}

/// `scale`: a finite factor, 0 or more.
struct Factor(f64);

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        number(deserializer, "write a factor of 0 or more, e.g. 1.5", |v| {
            v.is_finite() && v >= 0.0
        })
        .map(Factor)
    }
}

/// A count of at least 1.
struct Positive(u32);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PositiveVisitor;

        impl Visitor<'_> for PositiveVisitor {
            type Value = u32;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number, 1 or more")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
                match u32::try_from(v) {
                    Ok(0) => Err(E::custom("0 is not allowed here; write 1 or more")),
                    Ok(v) => Ok(v),
                    Err(_) => Err(E::custom(format!(
                        "{v} is too large; write a smaller count"
                    ))),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative; write 1 or more"))),
                }
            }
        }

        // Checked inside the visitor, so serde_yaml still knows the field and line.
        deserializer.deserialize_u32(PositiveVisitor).map(Positive)
    }
}

// ---------------------------------------------------------------------------------
// From the file's shape to the trace.

struct Builder<'a> {
    text: &'a str,
    base_dir: &'a Path,
    /// Step-averaged CSV curves by resolved path (many workloads share a shape).
    curves: HashMap<PathBuf, Vec<f64>>,
}

impl Builder<'_> {
    fn error(&self, field: String, message: impl Into<String>) -> TraceError {
        let line = locate(self.text, &field);
        TraceError::at(Some(field), line, message)
    }

    fn build(mut self, file: TraceFile) -> Result<Trace, TraceError> {
        let step = file.step.map_or(Duration::from_secs(60), |s| s.0);
        let steps = self.steps(file.duration.0, step, "duration".to_owned())?;
        if file.nodes.is_empty() {
            return Err(self.error(
                "nodes".to_owned(),
                "the trace has no nodes; add a pool, e.g. - {name: pool-a, count: 10, cpu: \"16\", memory: 64Gi}",
            ));
        }
        let nodes = self.nodes(&file.nodes)?;
        let mut workloads = Vec::with_capacity(file.workloads.len());
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for (index, Checked(workload)) in file.workloads.iter().enumerate() {
            let key = (workload.namespace.clone(), workload.name.clone());
            if let Some(first) = seen.insert(key, index) {
                return Err(self.error(
                    format!("workloads[{index}].name"),
                    format!(
                        "{}/{} is already workloads[{first}]; give each workload of a namespace its own name",
                        workload.namespace, workload.name
                    ),
                ));
            }
            workloads.push(self.workload(index, workload, step)?);
        }
        Ok(Trace {
            step,
            steps,
            seed: file.seed,
            nodes,
            workloads,
            placement: None,
        })
    }

    /// `duration` in steps, rounded up.
    fn steps(
        &self,
        duration: Duration,
        step: Duration,
        field: String,
    ) -> Result<usize, TraceError> {
        let steps = duration.as_nanos().div_ceil(step.as_nanos().max(1));
        if steps > MAX_STEPS {
            return Err(self.error(
                field,
                format!(
                    "{} is {steps} steps of {}, more than {MAX_STEPS}; write a shorter duration or a longer step",
                    humantime::format_duration(duration),
                    humantime::format_duration(step)
                ),
            ));
        }
        // At most MAX_STEPS, so it fits.
        Ok(steps.max(1) as usize)
    }

    fn nodes(&self, pools: &[Checked<NodeFile>]) -> Result<Vec<NodeSpec>, TraceError> {
        let total: u64 = pools
            .iter()
            .map(|Checked(pool)| u64::from(pool.count.as_ref().map_or(1, |c| c.0)))
            .sum();
        if total > MAX_NODES {
            return Err(self.error(
                "nodes".to_owned(),
                format!(
                    "the pools add up to {total} nodes, more than {MAX_NODES}; write smaller counts"
                ),
            ));
        }
        let mut nodes = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, Checked(pool)) in pools.iter().enumerate() {
            let count = pool.count.as_ref().map_or(1, |c| c.0);
            let names: Vec<String> = if count == 1 {
                vec![pool.name.clone()]
            } else {
                (1..=count).map(|i| format!("{}-{i}", pool.name)).collect()
            };
            for name in names {
                if let Some(first) = seen.insert(name.clone(), index) {
                    let expansion = |index: usize| {
                        pools
                            .get(index)
                            .and_then(|Checked(p)| p.count.as_ref().map(|c| (&p.name, c.0)))
                            .filter(|&(_, count)| count > 1)
                            .map_or(String::new(), |(name, count)| {
                                format!(" (nodes[{index}] expands to {name}-1 .. {name}-{count})")
                            })
                    };
                    let expansion = if first == index {
                        expansion(index)
                    } else {
                        format!("{}{}", expansion(first), expansion(index))
                    };
                    return Err(self.error(
                        format!("nodes[{index}].name"),
                        format!(
                            "node name {name:?} is already used by nodes[{first}]{expansion}; give each pool its own name"
                        ),
                    ));
                }
                nodes.push(NodeSpec {
                    name,
                    allocatable: Resources {
                        cpu_milli: pool.cpu.0.milli_value_ceil(),
                        memory_bytes: pool.memory.0.value_ceil(),
                    },
                    max_pods: pool.pods.as_ref().map_or(110, |p| p.0),
                    labels: pool.labels.clone(),
                    taints: pool.taints.iter().map(|Checked(t)| t.into()).collect(),
                });
            }
        }
        Ok(nodes)
    }

    fn workload(
        &mut self,
        index: usize,
        w: &WorkloadFile,
        step: Duration,
    ) -> Result<WorkloadSpec, TraceError> {
        let field = |name: &str| format!("workloads[{index}].{name}");
        let in_steps =
            |d: &Option<PositiveDuration>, name: &str| -> Result<Option<usize>, TraceError> {
                d.as_ref()
                    .map(|d| self.steps(d.0, step, field(name)))
                    .transpose()
            };
        let restart_every = in_steps(&w.restart_every, "restart_every")?;
        let cron = match (
            in_steps(&w.schedule_every, "schedule_every")?,
            in_steps(&w.run_for, "run_for")?,
        ) {
            (Some(every), Some(run_for)) => Some(Cron { every, run_for }),
            _ => None,
        };
        let Checked(usage) = &w.usage;
        let cpu = self.shape(&usage.cpu, step, &field("usage.cpu"))?;
        let memory = self.shape(&usage.memory, step, &field("usage.memory"))?;
        let (Checked(requests), Checked(limits)) = (&w.requests, &w.limits);
        let nonzero = |q: &Option<Q<Cpu>>| q.as_ref().filter(|q| !q.0.is_zero()).map(|q| q.0);
        let nonzero_memory =
            |q: &Option<Q<Memory>>| q.as_ref().filter(|q| !q.0.is_zero()).map(|q| q.0);
        Ok(WorkloadSpec {
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            kind: w.kind.into(),
            replicas: w.replicas,
            priority: w.priority,
            requests: Resources {
                cpu_milli: requests.cpu.as_ref().map_or(0, |q| q.0.milli_value_ceil()),
                memory_bytes: requests.memory.as_ref().map_or(0, |q| q.0.value_ceil()),
            },
            limits: PodLimits {
                cpu_milli: nonzero(&limits.cpu).map(Quantity::milli_value_ceil),
                memory_bytes: nonzero_memory(&limits.memory).map(Quantity::value_ceil),
            },
            cpu,
            memory,
            pdb: w.pdb.as_ref().and_then(|Checked(pdb)| {
                match (&pdb.min_available, &pdb.max_unavailable) {
                    (Some(a), _) => Some(Pdb::MinAvailable(a.0)),
                    (None, Some(a)) => Some(Pdb::MaxUnavailable(a.0)),
                    (None, None) => None,
                }
            }),
            restart_every,
            hpa: w.hpa.as_ref().map(|Checked(hpa)| HpaSpec {
                min: hpa.min,
                max: hpa.max,
                target_cpu_utilization: hpa.target_cpu_utilization / 100.0,
            }),
            cron,
            node_selector: w.node_selector.clone(),
            tolerations: w.tolerations.iter().map(|Checked(t)| t.into()).collect(),
        })
    }

    fn shape<U: Unit>(
        &mut self,
        usage: &Usage<U>,
        step: Duration,
        field: &str,
    ) -> Result<Shape, TraceError> {
        let curve = match usage {
            Usage::Constant(q) => return Ok(Shape::constant(q.as_f64())),
            Usage::Curve(curve) => curve,
        };
        let jitter = curve.jitter.as_ref().map_or(0.0, |j| j.0);
        let Some(csv) = &curve.csv else {
            let mean = curve.mean.as_ref().map_or(0.0, |m| m.0.as_f64());
            return Ok(Shape::new(vec![mean as f32], jitter));
        };
        let mut values = self.csv_curve(csv, step, &format!("{field}.csv"))?;
        if let Some(scale) = &curve.scale {
            values.iter_mut().for_each(|v| *v *= scale.0);
        }
        if let Some(mean) = &curve.mean {
            let target = mean.0.as_f64();
            let current = values.iter().sum::<f64>() / values.len() as f64;
            if current > 0.0 {
                values.iter_mut().for_each(|v| *v *= target / current);
            } else if target > 0.0 {
                return Err(self.error(
                    format!("{field}.mean"),
                    format!(
                        "the curve in {csv} is 0 throughout, so it cannot be rescaled to mean {}; \
                         use a constant instead, or a CSV with usage in it",
                        mean.0
                    ),
                ));
            }
        }
        if let Some(shift) = &curve.shift {
            let len = values.len();
            let by = (shift.0.as_secs_f64() / step.as_secs_f64()).round();
            // `by` is finite and non-negative; reduced modulo the curve's length.
            let by = (by % len as f64) as usize;
            values.rotate_right(by);
        }
        Ok(Shape::new(
            values.into_iter().map(|v| v as f32).collect(),
            jitter,
        ))
    }

    /// The CSV at `csv` (relative to the trace's directory), averaged into the step.
    fn csv_curve(
        &mut self,
        csv: &str,
        step: Duration,
        field: &str,
    ) -> Result<Vec<f64>, TraceError> {
        let path = self.base_dir.join(csv);
        if let Some(values) = self.curves.get(&path) {
            return Ok(values.clone());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.error(
                field.to_owned(),
                format!(
                    "cannot read {}: {e}; a csv path is relative to the trace file's directory",
                    path.display()
                ),
            )
        })?;
        let csv_error = |line: Option<usize>, message: String| {
            let mut error = self.error(field.to_owned(), format!("{}: {message}", path.display()));
            error.0.csv = Some(path.clone());
            error.0.csv_line = line;
            error
        };
        let samples = parse_csv(&text).map_err(|e: CsvError| csv_error(e.line(), e.to_string()))?;
        if let Some(index) = samples.iter().position(|&(_, v)| v < 0.0) {
            let line = data_lines(&text).get(index).copied();
            let at = line.map_or(String::new(), |l| format!("line {l}: "));
            return Err(csv_error(
                line,
                format!(
                    "{at}value {} is negative; usage is 0 or more (leave the value empty for a missing sample)",
                    samples[index].1
                ),
            ));
        }
        let values = resample(&samples, step.as_secs().max(1)).map_err(|m| csv_error(None, m))?;
        self.curves.insert(path, values.clone());
        Ok(values)
    }
}

/// Samples averaged into `step`-second slots counted from the first sample; an empty
/// slot repeats the previous one (the first non-empty one at the start). The slots
/// cover the samples' span plus one sample interval (the median spacing).
fn resample(samples: &[(i64, f64)], step: u64) -> Result<Vec<f64>, String> {
    let Some(&(first, _)) = samples.first() else {
        return Err("no samples; expected ts,value with Unix seconds".to_owned());
    };
    let step = i128::from(step.max(1));
    let mut gaps: Vec<i64> = samples.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    let interval = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    let last = samples.last().map_or(first, |s| s.0);
    let span = i128::from(last) - i128::from(first) + i128::from(interval);
    let slots = span.max(1).div_euclid(step) + i128::from(span.max(1) % step != 0);
    if slots > MAX_STEPS as i128 {
        return Err(format!(
            "the samples span {slots} steps, more than {MAX_STEPS}; use a longer step or a shorter CSV"
        ));
    }
    // At most MAX_STEPS.
    let slots = slots as usize;
    let mut sums = vec![0.0; slots];
    let mut counts = vec![0u32; slots];
    for &(ts, value) in samples {
        if value.is_nan() {
            continue;
        }
        // Timestamps increase, so the offset is non-negative and below the span.
        let slot = ((i128::from(ts) - i128::from(first)) / step) as usize;
        if let (Some(sum), Some(count)) = (sums.get_mut(slot), counts.get_mut(slot)) {
            *sum += value;
            *count += 1;
        }
    }
    let Some(first_filled) = counts.iter().position(|&c| c > 0) else {
        return Err("every value is missing (empty or NaN); expected usage values".to_owned());
    };
    let mut previous = sums[first_filled] / f64::from(counts[first_filled]);
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(&sum, &count)| {
            if count > 0 {
                previous = sum / f64::from(count);
            }
            previous
        })
        .collect())
}

/// The 1-based line of each sample of a CSV that `parse_csv` accepted, in order
/// (its rules: blank and `#` lines skipped, a header only on the first content line).
fn data_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut first = true;
    for (index, line) in text.lines().enumerate() {
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let header = first
            && content
                .split(',')
                .all(|field| field.trim().parse::<f64>().is_err());
        first = false;
        if !header {
            lines.push(index + 1);
        }
    }
    lines
}

// ---------------------------------------------------------------------------------
// Errors: serde_yaml's messages made specific, and lines found for any field path.

fn yaml_error(error: &serde_yaml::Error, text: &str) -> TraceError {
    let location = error.location();
    let mut display = error.to_string();
    if let Some(location) = &location {
        let at = format!(" at line {} column {}", location.line(), location.column());
        display = display.replacen(&at, "", 1);
    }
    let line = location.as_ref().map(|l| l.line());
    let (path, message) = match display.split_once(": ") {
        Some((path, message)) if is_path(path) => (Some(path.to_owned()), message.to_owned()),
        _ => (None, display),
    };
    let (sub_field, message) = explain(&message);
    let (field, line) = match sub_field {
        Some(sub_field) => {
            let field = match path {
                Some(path) => format!("{path}.{sub_field}"),
                None => sub_field,
            };
            let line = locate(text, &field).or(line);
            (Some(field), line)
        }
        None => (path, line),
    };
    TraceError::at(field, line, message)
}

/// Whether `text` is a serde_yaml path (`workloads[1].requests`), not a message.
fn is_path(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | ',' | FIELD_MARK))
}

/// A serde message made specific: the sub-field it is about, if any, and what to
/// write instead.
fn explain(message: &str) -> (Option<String>, String) {
    if let Some(rest) = message.strip_prefix(FIELD_MARK)
        && let Some((field, message)) = rest.split_once(FIELD_MARK)
    {
        return (Some(field.to_owned()), message.to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, expected)) = rest.split_once('`')
    {
        let choices = backticked(expected);
        let message = match closest(name, &choices) {
            Some(best) => format!(
                "unknown field `{name}`: did you mean `{best}`? (the fields here: {})",
                choices.join(", ")
            ),
            None if choices.is_empty() => format!("unknown field `{name}`; remove it"),
            None => format!(
                "unknown field `{name}`; write one of {} (or remove it)",
                choices.join(", ")
            ),
        };
        return (Some(name.to_owned()), message);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((name, expected)) = rest.split_once('`')
    {
        let choices = backticked(expected);
        let message = match closest(name, &choices) {
            Some(best) => format!(
                "unknown value `{name}`: did you mean `{best}`? (write one of {})",
                choices.join(", ")
            ),
            None => format!(
                "unknown value `{name}`; write one of {}",
                choices.join(", ")
            ),
        };
        return (None, message);
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        let example = match name {
            "duration" => "duration: 3d".to_owned(),
            "nodes" => "nodes: [{name: pool-a, count: 10, cpu: \"16\", memory: 64Gi}]".to_owned(),
            "name" => "name: api".to_owned(),
            "cpu" => "cpu: \"2\"".to_owned(),
            "memory" => "memory: 4Gi".to_owned(),
            "usage" => "usage: {cpu: 500m, memory: 1Gi}".to_owned(),
            "max" => "max: 10".to_owned(),
            "key" => "key: dedicated".to_owned(),
            "effect" => "effect: NoSchedule".to_owned(),
            other => format!("{other}: ... (see {EXAMPLE})"),
        };
        return (
            None,
            format!("missing field `{name}`; add it, e.g. {example}"),
        );
    }
    if message.starts_with("EOF while parsing") {
        return (
            None,
            format!("the trace is empty; write duration:, nodes: and workloads: (see {EXAMPLE})"),
        );
    }
    let mut message = message.to_owned();
    for (from, to) in [
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        (
            "expected a string",
            "expected a string (quote values like \"true\" or \"1.0\")",
        ),
        (
            "expected a sequence",
            "expected a list (write [] or one `- item` per line)",
        ),
        (
            "expected a map",
            "expected a mapping (`key: value` lines or {key: value})",
        ),
    ] {
        if message.ends_with(from) {
            message = format!("{}{to}", &message[..message.len() - from.len()]);
        }
    }
    if message.contains("while parsing") || message.contains("while scanning") {
        message.push_str("; this is YAML syntax: check the indentation, colons and quotes");
    }
    (None, message)
}

/// The names between backticks in serde's "expected one of `a`, `b`".
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The choice closest to a misspelt `name`, if close enough to be a likely typo.
fn closest<'a>(name: &str, choices: &[&'a str]) -> Option<&'a str> {
    let name = name.to_lowercase();
    choices
        .iter()
        .map(|&choice| (edit_distance(&name, &choice.to_lowercase()), choice))
        .filter(|&(distance, choice)| distance <= 2.max(choice.len() / 4))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, choice)| choice)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// One step of a field path.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `workloads[1].usage.cpu` as segments; `None` if it is not such a path.
fn segments(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(tail) = rest.strip_prefix('[') {
            let (index, after) = tail.split_once(']')?;
            out.push(Segment::Index(index.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// The 1-based line of the field at `path` in the YAML `text` (of its key, or of the
/// item for a list index), found by serde_yaml itself: a probe walks the document to
/// the field and fails there, and the failure carries the position.
fn locate(text: &str, path: &str) -> Option<usize> {
    let segments = segments(path)?;
    let error = Probe(&segments)
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .err()?;
    if error.to_string().contains(PROBE_FOUND) {
        error.location().map(|l| l.line())
    } else {
        None
    }
}

const PROBE_FOUND: &str = "\u{0}probe: found";

fn found<E: de::Error>() -> E {
    E::custom(PROBE_FOUND)
}

struct Probe<'a, 'p>(&'p [Segment<'a>]);

impl<'de> DeserializeSeed<'de> for Probe<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => deserializer.deserialize_any(Found),
            Some((Segment::Key(key), rest)) => deserializer.deserialize_map(InMap { key, rest }),
            Some((Segment::Index(index), rest)) => deserializer.deserialize_seq(InSeq {
                index: *index,
                rest,
            }),
        }
    }
}

/// Fails on whatever value it meets, so the error has that value's position.
struct Found;

impl<'de> Visitor<'de> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PROBE_FOUND)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(found())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(found())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(found())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(found())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(found())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(found())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(found())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(found())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(found())
    }
}

struct InMap<'a, 'p> {
    key: &'a str,
    rest: &'p [Segment<'a>],
}

impl<'de> Visitor<'de> for InMap<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let last = self.rest.is_empty();
        while let Some(matched) = map.next_key_seed(KeyIs {
            key: self.key,
            last,
        })? {
            if matched {
                return map.next_value_seed(Probe(self.rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom("not found"))
    }
}

/// Deserializes a key: whether it is `key`, failing (at the key) if it is and is the
/// end of the path.
struct KeyIs<'a> {
    key: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.key, self.last) {
            (true, true) => Err(found()),
            (matched, _) => Ok(matched),
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

struct InSeq<'a, 'p> {
    index: usize,
    rest: &'p [Segment<'a>],
}

impl<'de> Visitor<'de> for InSeq<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("not found"));
            }
        }
        seq.next_element_seed(Probe(self.rest))?;
        Err(de::Error::custom("not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_averages_and_holds() {
        // 30-second samples into 1-minute steps: pairs averaged.
        let samples = [(100, 1.0), (130, 3.0), (160, 5.0), (190, 7.0)];
        assert_eq!(resample(&samples, 60), Ok(vec![2.0, 6.0]));
        // 5-minute samples into 2-minute steps: some slots empty, holding the previous.
        let samples = [(0, 1.0), (300, 2.0), (600, 3.0)];
        // Span 900 s (two gaps of 300 plus one interval): 8 slots at 0, 120, .., 840;
        // 300 s falls in slot 2, 600 s in slot 5.
        assert_eq!(
            resample(&samples, 120),
            Ok(vec![1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0])
        );
        // A missing first sample takes the first present one.
        let samples = [(0, f64::NAN), (60, 4.0), (120, 6.0)];
        assert_eq!(resample(&samples, 60), Ok(vec![4.0, 4.0, 6.0]));
        // One sample: a one-step constant.
        assert_eq!(resample(&[(5, 2.5)], 60), Ok(vec![2.5]));
        assert!(resample(&[(0, f64::NAN)], 60).is_err());
    }

    #[test]
    fn data_lines_follow_parse_csv() {
        let text = "# comment\nts,value\n\n0,1\n60,2\n# x\n120,3\n";
        assert_eq!(data_lines(text), vec![4, 5, 7]);
        assert_eq!(data_lines("0,1\n60,2\n"), vec![1, 2]);
    }

    #[test]
    fn paths_split_into_segments() {
        assert_eq!(
            segments("workloads[1].usage.cpu"),
            Some(vec![
                Segment::Key("workloads"),
                Segment::Index(1),
                Segment::Key("usage"),
                Segment::Key("cpu")
            ])
        );
        assert_eq!(segments("a[x]"), None);
    }

    #[test]
    fn locate_finds_keys_and_items() {
        let text = "a: 1\nlist:\n  - name: x\n    v: {k: 2}\n  - name: y\n    v:\n      k: 3\n";
        assert_eq!(locate(text, "a"), Some(1));
        assert_eq!(locate(text, "list"), Some(2));
        assert_eq!(locate(text, "list[0]"), Some(3));
        assert_eq!(locate(text, "list[0].v.k"), Some(4));
        assert_eq!(locate(text, "list[1]"), Some(5));
        assert_eq!(locate(text, "list[1].v.k"), Some(7));
        assert_eq!(locate(text, "list[2]"), None);
        assert_eq!(locate(text, "list[1].nope"), None);
    }

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(closest("replica", &["name", "replicas"]), Some("replicas"));
        assert_eq!(closest("zzz", &["name", "replicas"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
