//! Where an evicted pod would land: a cold node the scheduler would accept, that the
//! extender's scorer would accept, and that stays at or below target afterwards, so
//! the pod is not moved onto a node the next run would have to relieve (ping-pong).

use std::fmt::Write as _;
use std::time::SystemTime;

use tidal_core::estimate::Estimate;
use tidal_core::fit::pod_fits_node;
use tidal_core::load::Capacity;
use tidal_core::resources::Resources;
use tidal_core::scoring::{NodeView, Scorer};
use tidal_core::usage::PodUsage;

use super::classify::{Bounds, Load, NodeClass, pct, within};
use crate::model::{NodeState, PodState};
use crate::policy::Fractions;

/// Longest `NoDestination` detail, so one pod cannot flood a report.
const MAX_DETAIL: usize = 400;

/// One node as this run projects it.
pub(super) struct Projected<'a> {
    pub state: &'a NodeState,
    pub class: NodeClass,
    pub capacity: Option<Capacity>,
    /// Sustained load after the evictions planned so far; `None` without metrics.
    pub load: Option<Load>,
    /// Requests of the pods on the node plus those planned onto it.
    pub requested: Resources,
    /// Real usage of the pods planned onto it, which no metric shows yet.
    pub pending: Estimate,
}

impl Projected<'_> {
    fn shift(&mut self, usage: PodUsage, sign: f64) {
        if let Some(load) = &mut self.load {
            load.cpu_cores += sign * usage.cpu_cores;
            load.memory_bytes += sign * usage.memory_bytes;
        }
    }

    pub fn fractions(&self) -> Option<Fractions> {
        Some(self.load?.fractions(self.capacity?))
    }

    /// A pod leaves: the source sheds what it really uses. Its requests stay counted,
    /// which only matters for destinations, and a source is never one.
    pub fn release(&mut self, usage: PodUsage) {
        self.shift(usage, -1.0);
    }

    /// A pod arrives: its usage, its requests, and an estimate the metrics lack.
    pub fn receive(&mut self, pod: &PodState, usage: PodUsage) {
        self.shift(usage, 1.0);
        self.requested += pod.requests;
        self.pending += estimate(usage);
    }
}

pub(super) fn estimate(usage: PodUsage) -> Estimate {
    Estimate {
        cpu_cores: usage.cpu_cores,
        memory_bytes: usage.memory_bytes,
    }
}

/// A node that could take the pod, ranked by the scorer.
struct Pick {
    index: usize,
    score: u8,
    headroom: f64,
}

/// The best destination (highest score, then headroom, then name), or why there is none.
pub(super) fn choose(
    nodes: &[Projected<'_>],
    source: usize,
    pod: &PodState,
    usage: PodUsage,
    scorer: &Scorer,
    now: SystemTime,
    bounds: &Bounds,
) -> Result<usize, String> {
    let mut best: Option<Pick> = None;
    let mut why = String::new();
    for (index, node) in nodes.iter().enumerate() {
        if index == source || node.class != NodeClass::Cold {
            continue;
        }
        match judge(node, pod, usage, scorer, now, bounds) {
            Ok((score, headroom)) => {
                let better = best.as_ref().is_none_or(|b| {
                    (score, headroom).partial_cmp(&(b.score, b.headroom))
                        == Some(std::cmp::Ordering::Greater)
                });
                if better {
                    best = Some(Pick {
                        index,
                        score,
                        headroom,
                    });
                }
            }
            Err(reason) => note(&mut why, &node.state.name, &reason),
        }
    }
    match best {
        Some(b) => Ok(b.index),
        None if why.is_empty() => Err("no cold node".to_string()),
        None => Err(why),
    }
}

/// Score and headroom if the node can take the pod, else the first reason it cannot.
fn judge(
    node: &Projected<'_>,
    pod: &PodState,
    usage: PodUsage,
    scorer: &Scorer,
    now: SystemTime,
    bounds: &Bounds,
) -> Result<(u8, f64), String> {
    pod_fits_node(pod, node.state, node.requested).map_err(|m| m.to_string())?;
    let view = NodeView {
        load: node.state.recent.as_ref(),
        allocatable: node.capacity,
        pending: node.pending,
    };
    let verdict = scorer.evaluate(now, view, estimate(usage));
    if !verdict.fits {
        return Err(verdict
            .reason
            .map_or_else(|| "refused by the scorer".to_string(), |r| r.to_string()));
    }
    let (Some(load), Some(capacity)) = (node.load, node.capacity) else {
        return Err("no sustained load".to_string());
    };
    let after = Load {
        cpu_cores: load.cpu_cores + usage.cpu_cores,
        memory_bytes: load.memory_bytes + usage.memory_bytes,
    }
    .fractions(capacity);
    if !within(after, bounds.target) {
        return Err(format!(
            "would reach cpu {}%, memory {}% (target {}%, {}%)",
            pct(after.cpu),
            pct(after.memory),
            pct(bounds.target.cpu),
            pct(bounds.target.memory)
        ));
    }
    Ok((verdict.score, verdict.headroom))
}

/// Appends `node: reason`, stopping with an ellipsis once the detail is long enough.
fn note(why: &mut String, node: &str, reason: &str) {
    if why.len() >= MAX_DETAIL {
        return;
    }
    if !why.is_empty() {
        why.push_str("; ");
    }
    let _ = write!(why, "{node}: {reason}");
    if why.len() >= MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !why.is_char_boundary(cut) {
            cut -= 1;
        }
        why.truncate(cut);
        why.push('…');
    }
}
