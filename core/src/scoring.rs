//! The load-aware scorer: one pure function that gives a node's filter verdict and
//! its 0..10 score. The extender, the descheduler's "where would this pod land"
//! check and the benches all call it, so they never disagree.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::estimate::Estimate;
use crate::load::{Capacity, NodeLoad};

/// The highest score the scheduler accepts from an extender (`MaxExtenderPriority`).
pub const MAX_SCORE: u8 = 10;
/// The score of a node whose load is unknown under fail-open: neither favoured nor shunned.
pub const NEUTRAL_SCORE: u8 = 5;

/// Upper bounds on a resource's load, as fractions of the node's allocatable.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Bound on the recent (5-minute) average.
    pub average: f64,
    /// Bound on the recent (1-hour) peak.
    pub peak: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    pub cpu: Limits,
    pub memory: Limits,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            cpu: Limits {
                average: 0.65,
                peak: 0.80,
            },
            memory: Limits {
                average: 0.80,
                peak: 0.90,
            },
        }
    }
}

/// How the score weighs resources, and how much of a resource's load is its peak.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub cpu: f64,
    pub memory: f64,
    /// Share of the peak in the load a score is computed from; the rest is the average.
    pub peak: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            cpu: 1.0,
            memory: 1.0,
            peak: 0.5,
        }
    }
}

/// What to do with a node whose load is missing or older than `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingMetrics {
    /// The node passes with a neutral score: a Prometheus outage never blocks scheduling.
    #[default]
    FailOpen,
    /// The node is filtered out until its load is known again.
    FailClosed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scorer {
    pub thresholds: Thresholds,
    pub weights: Weights,
    pub max_age: Duration,
    pub on_missing: MissingMetrics,
}

/// Everything the scorer needs to know about one node.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    pub load: Option<&'a NodeLoad>,
    /// Allocatable from Kubernetes; node-exporter's capacity is the fallback.
    pub allocatable: Option<Capacity>,
    /// Estimated usage of pods bound since the load was sampled.
    pub pending: Estimate,
}

/// Projected load as fractions of allocatable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Projection {
    pub cpu_average: f64,
    pub cpu_peak: f64,
    pub memory_average: f64,
    pub memory_peak: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    pub fits: bool,
    /// Why the node failed, or why it passed without a load check.
    pub reason: Option<Reason>,
    pub score: u8,
    /// The score before rounding, as a fraction: breaks ties between equal scores.
    pub headroom: f64,
    pub projection: Option<Projection>,
}

/// Why a verdict is what it is. Kept as data and only put into words when shown,
/// because the extender answers for thousands of nodes per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// The projected load breaks at least one threshold.
    Overloaded {
        projection: Projection,
        thresholds: Thresholds,
        extra: Estimate,
    },
    /// Prometheus reported nothing for the node.
    NoLoad(MissingMetrics),
    /// The load is older than `max_age`.
    Stale {
        age: Duration,
        max_age: Duration,
        policy: MissingMetrics,
    },
    /// Neither allocatable nor node-exporter's capacity is known.
    NoSize(MissingMetrics),
}

impl Reason {
    /// Appends the reason in words. Written without `format!` because a filter call can
    /// explain hundreds of nodes, and the formatting machinery dominated its cost.
    pub fn write_to(&self, out: &mut String) {
        let mut number = itoa::Buffer::new();
        let mut int = |out: &mut String, v: i64| out.push_str(number.format(v));
        match *self {
            Reason::Overloaded {
                projection: p,
                thresholds: t,
                extra,
            } => {
                let checks = [
                    ("cpu average ", p.cpu_average, t.cpu.average),
                    ("cpu peak ", p.cpu_peak, t.cpu.peak),
                    ("memory average ", p.memory_average, t.memory.average),
                    ("memory peak ", p.memory_peak, t.memory.peak),
                ];
                let mut sep = "";
                for (name, value, limit) in checks.into_iter().filter(|&(_, v, l)| !within(v, l)) {
                    out.push_str(sep);
                    out.push_str(name);
                    int(out, percent(value));
                    out.push_str("% > ");
                    int(out, percent(limit));
                    out.push('%');
                    sep = ", ";
                }
                out.push_str(" (incl. ");
                int(out, (extra.cpu_cores * 1000.0).round() as i64);
                out.push_str("m cpu, ");
                int(out, (extra.memory_bytes / (1024.0 * 1024.0)).round() as i64);
                out.push_str("Mi est. for new pods)");
            }
            Reason::NoLoad(policy) => {
                out.push_str("no load from Prometheus for this node (");
                out.push_str(policy.as_str());
                out.push(')');
            }
            Reason::Stale {
                age,
                max_age,
                policy,
            } => {
                out.push_str("load is stale: sampled ");
                int(out, age.as_secs().try_into().unwrap_or(i64::MAX));
                out.push_str("s ago, max_age is ");
                int(out, max_age.as_secs().try_into().unwrap_or(i64::MAX));
                out.push_str("s (");
                out.push_str(policy.as_str());
                out.push(')');
            }
            Reason::NoSize(policy) => {
                out.push_str("node size unknown: no allocatable and no node-exporter capacity (");
                out.push_str(policy.as_str());
                out.push(')');
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(96);
        self.write_to(&mut text);
        f.write_str(&text)
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(96);
        self.write_to(&mut text);
        serializer.serialize_str(&text)
    }
}

impl MissingMetrics {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingMetrics::FailOpen => "fail-open",
            MissingMetrics::FailClosed => "fail-closed",
        }
    }
}

impl fmt::Display for MissingMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a projected fraction is within its limit; a NaN projection is not.
fn within(value: f64, limit: f64) -> bool {
    value <= limit
}

fn percent(fraction: f64) -> i64 {
    // Saturating cast: a NaN or absurd fraction still prints a number.
    (fraction * 100.0).round() as i64
}

impl Scorer {
    pub fn validate(&self) -> Result<(), String> {
        let fraction = |name: &str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(format!("{name} is {v}; it must be a fraction in (0, 1]"))
            }
        };
        fraction("thresholds.cpu.average", self.thresholds.cpu.average)?;
        fraction("thresholds.cpu.peak", self.thresholds.cpu.peak)?;
        fraction("thresholds.memory.average", self.thresholds.memory.average)?;
        fraction("thresholds.memory.peak", self.thresholds.memory.peak)?;
        let w = self.weights;
        let finite = w.cpu.is_finite() && w.memory.is_finite();
        if !(finite && w.cpu >= 0.0 && w.memory >= 0.0 && w.cpu + w.memory > 0.0) {
            return Err(format!(
                "weights.cpu ({}) and weights.memory ({}) must be finite, non-negative, not both 0",
                w.cpu, w.memory
            ));
        }
        if !(0.0..=1.0).contains(&w.peak) {
            return Err(format!("weights.peak is {}; it must be in [0, 1]", w.peak));
        }
        Ok(())
    }

    /// Judges a node for an incoming pod whose estimated usage is `incoming`.
    pub fn evaluate(&self, now: SystemTime, node: NodeView<'_>, incoming: Estimate) -> Verdict {
        let policy = self.on_missing;
        let Some(load) = node.load else {
            return self.unknown(Reason::NoLoad(policy));
        };
        let age = now.duration_since(load.sampled_at).unwrap_or_default();
        if age > self.max_age {
            return self.unknown(Reason::Stale {
                age,
                max_age: self.max_age,
                policy,
            });
        }
        let size = node
            .allocatable
            .filter(Capacity::is_usable)
            .or(load.capacity.filter(Capacity::is_usable));
        let Some(capacity) = size else {
            return self.unknown(Reason::NoSize(policy));
        };
        let extra = node.pending + incoming;
        let cpu = |v: f64| (v + extra.cpu_cores) / capacity.cpu_cores;
        let mem = |v: f64| (v + extra.memory_bytes) / capacity.memory_bytes;
        let p = Projection {
            cpu_average: cpu(load.cpu_cores.average),
            cpu_peak: cpu(load.cpu_cores.peak),
            memory_average: mem(load.memory_bytes.average),
            memory_peak: mem(load.memory_bytes.peak),
        };
        let fits = !self.breaks_a_threshold(&p);
        let headroom = self.headroom(&p);
        Verdict {
            fits,
            reason: (!fits).then_some(Reason::Overloaded {
                projection: p,
                thresholds: self.thresholds,
                extra,
            }),
            score: to_score(headroom),
            headroom,
            projection: Some(p),
        }
    }

    fn unknown(&self, reason: Reason) -> Verdict {
        let fits = self.on_missing == MissingMetrics::FailOpen;
        let score = if fits { NEUTRAL_SCORE } else { 0 };
        Verdict {
            fits,
            reason: Some(reason),
            score,
            headroom: f64::from(score) / f64::from(MAX_SCORE),
            projection: None,
        }
    }

    fn breaks_a_threshold(&self, p: &Projection) -> bool {
        let t = &self.thresholds;
        !(within(p.cpu_average, t.cpu.average)
            && within(p.cpu_peak, t.cpu.peak)
            && within(p.memory_average, t.memory.average)
            && within(p.memory_peak, t.memory.peak))
    }

    /// Weighted headroom in [0, 1]: 1 is an idle node, 0 a full one.
    fn headroom(&self, p: &Projection) -> f64 {
        let w = self.weights;
        let blend = |avg: f64, peak: f64| (1.0 - w.peak) * avg + w.peak * peak;
        let free = |load: f64| (1.0 - load).clamp(0.0, 1.0);
        let weighted = w.cpu * free(blend(p.cpu_average, p.cpu_peak))
            + w.memory * free(blend(p.memory_average, p.memory_peak));
        let headroom = weighted / (w.cpu + w.memory);
        // NaN (from weights that validate() would reject) must still land in range.
        if headroom.is_nan() {
            0.0
        } else {
            headroom.clamp(0.0, 1.0)
        }
    }
}

fn to_score(headroom: f64) -> u8 {
    (headroom * f64::from(MAX_SCORE)).round() as u8
}
