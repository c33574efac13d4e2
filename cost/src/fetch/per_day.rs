//! The report's inputs reduced by Tidal, a day at a time: each part's per-step series pulled
//! as [`super::per_step`] pulls them, reduced as [`Summary::from_dataset`] reduces them, and
//! dropped before the next part is pulled. Parts combine as the store's do: sums add, peaks and
//! daily percentiles take the highest, the later part's latest values win.
//!
//! A single Prometheus evaluates each query on one core, and the store's aggregation evaluates
//! every container's per-step expressions a dozen times a day; pulling them once is several
//! times sooner there, for one day of every container's series held at a time.

use std::collections::{BTreeMap, HashMap};

use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError};

use super::per_step::pull_parts;
use super::promql::Exprs;
use super::{Fetched, Instants, Metric, clip_to_data, top_owners};
use crate::summary::{ContainerTotals, StepTotals, Summary, part_steps, parts};
use crate::{ContainerKey, CostConfig, NodeData, Timeline, Track};

/// [`super::fetch`] with the arithmetic done by Tidal.
pub(super) async fn fetch(
    client: &PrometheusClient,
    config: &CostConfig,
    asked: Timeline,
    progress: &ProgressBar,
) -> Result<Summary, PrometheusError> {
    let (tl, probes) = clip_to_data(client, asked, progress).await?;
    // And the top owners' cores, one query a part.
    let owner_queries = parts(tl.steps, part_steps(tl)).len();
    progress.set_length((Instants::COUNT + owner_queries) as u64);
    let instants = Instants::fetch(client, tl, progress).await?;
    let percentiles = config.rightsizing.percentiles();
    let mut merged = Merged::new(tl);
    let pulled = pull_parts(client, config, tl, progress, |first, part, store| {
        for m in &store.seen {
            if !merged.seen.contains(m) {
                merged.seen.push(*m);
            }
        }
        let data = store.finish(part, &instants, 0);
        merged.add(first, Summary::from_dataset(&data, percentiles));
    })
    .await?;
    let queries = probes + Instants::COUNT + pulled;
    let running_metric = merged.seen.contains(&Metric::Running);
    let mut summary = merged.fetched().summarize(asked, instants, queries);
    let exprs = Exprs::new(tl.step_secs as u64, running_metric);
    top_owners::add_cores(client, config, exprs, &mut summary, progress).await?;
    Ok(summary)
}

/// Parts' summaries combined into the window's.
struct Merged {
    tl: Timeline,
    seen: Vec<Metric>,
    containers: HashMap<ContainerKey, ContainerTotals>,
    nodes: BTreeMap<String, NodeData>,
    steps: StepTotals,
}

impl Merged {
    fn new(tl: Timeline) -> Self {
        Self {
            tl,
            seen: Vec::new(),
            containers: HashMap::new(),
            nodes: BTreeMap::new(),
            steps: StepTotals {
                used_cores: vec![f64::NAN; tl.steps],
                used_bytes: vec![f64::NAN; tl.steps],
                ..StepTotals::default()
            },
        }
    }

    /// Adds the summary of the part starting at step `first`. Its owners' tracks are dropped:
    /// the top owners' come from the store at the end.
    fn add(&mut self, first: usize, part: Summary) {
        for c in part.containers {
            match self.containers.get_mut(&c.key) {
                Some(total) => total.absorb(c),
                None => {
                    self.containers.insert(c.key.clone(), c);
                }
            }
        }
        let steps = self.tl.steps;
        let empty = || vec![f64::NAN; steps];
        place(&mut self.steps.used_cores, first, &part.steps.used_cores);
        place(&mut self.steps.used_bytes, first, &part.steps.used_bytes);
        for (ns, (cpu, memory)) in part.steps.namespace_charged {
            let (c, m) = self
                .steps
                .namespace_charged
                .entry(ns)
                .or_insert_with(|| (empty(), empty()));
            place(c, first, &cpu);
            place(m, first, &memory);
        }
        for n in part.nodes {
            let node = self
                .nodes
                .entry(n.name.clone())
                .or_insert_with(|| NodeData {
                    name: n.name.clone(),
                    cpu_cores: empty(),
                    memory_bytes: empty(),
                    labels: None,
                });
            place(&mut node.cpu_cores, first, &n.cpu_cores);
            place(&mut node.memory_bytes, first, &n.memory_bytes);
        }
    }

    fn fetched(self) -> Fetched {
        Fetched {
            tl: self.tl,
            seen: self.seen,
            containers: self.containers.into_values().collect(),
            nodes: self.nodes.into_values().collect(),
            steps: self.steps,
        }
    }
}

/// Copies a part's track into the window's, from step `first` on.
fn place(window: &mut Track, first: usize, part: &Track) {
    for (slot, &v) in window.iter_mut().skip(first).zip(part) {
        *slot = v;
    }
}
