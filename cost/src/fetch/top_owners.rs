//! The per-step cores of the pod owners of the `top` costliest workloads: the only owners
//! pre-scaling compares, so the only ones fetched per step. Ranking them needs the allocation,
//! so they come after everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError};

use super::promql::{Exprs, names_regex};
use super::write_points;
use crate::CostConfig;
use crate::allocate::{Workload, allocate, owner_workload};
use crate::summary::{Owner, Summary, owner, part_steps, parts};

/// The owners of the `config.top` costliest workloads: the ones pre-scaling compares.
fn top_owners(summary: &Summary, config: &CostConfig) -> BTreeSet<Owner> {
    let allocation = allocate(summary, &config.prices);
    let top: BTreeSet<&Workload> = allocation
        .workloads
        .iter()
        .take(config.top)
        .map(|w| &w.key)
        .collect();
    allocation
        .containers
        .iter()
        .filter(|c| top.contains(&c.workload))
        .map(|c| owner(&summary.owners, &c.key.namespace, &c.key.pod))
        .collect()
}

/// Adds to `summary` the per-step cores of the top workloads' owners, a range query per part
/// (none without owners). The store reads their namespaces only, and returns series for these
/// owners (and perhaps a few more, dropped here): what comes back does not grow with the pods.
pub(super) async fn add_cores(
    client: &PrometheusClient,
    config: &CostConfig,
    exprs: Exprs<'_>,
    summary: &mut Summary,
    progress: &ProgressBar,
) -> Result<(), PrometheusError> {
    let owners = top_owners(summary, config);
    if owners.is_empty() {
        return Ok(());
    }
    let mut controllers: BTreeMap<Workload, Vec<&str>> = BTreeMap::new();
    let mut pods = Vec::new();
    let namespaces: BTreeSet<&str> = owners.iter().map(|o| o.namespace.as_str()).collect();
    for o in &owners {
        if o.kind == "Pod" {
            pods.push(vec![o.name.as_str()]);
        } else {
            let workload = owner_workload(&summary.owners, o);
            controllers.entry(workload).or_default().push(&o.name);
        }
    }
    let namespaces = names_regex(namespaces.into_iter().map(|n| vec![n]));
    let promql = exprs
        .in_namespaces(&namespaces)
        .owner_cores(&names_regex(controllers.into_values()), &names_regex(pods));
    let tl = summary.timeline;
    let step = Duration::from_secs(exprs.step());
    let parts = parts(tl.steps, part_steps(tl));
    summary.queries += parts.len();
    let mut answers = futures::stream::iter(parts)
        .map(|(first, len)| {
            let (from, to) = (tl.time(first), tl.time(first + len - 1));
            let promql = &promql;
            async move {
                let (from, to) = (crate::prometheus_time(from), crate::prometheus_time(to));
                client.query_range(promql, from, to, step).await
            }
        })
        .buffered(config.concurrency.max(1));
    let tracks = &mut summary.steps.owner_used_cores;
    while let Some(series) = answers.next().await {
        progress.inc(1);
        for s in series? {
            let Some(name) = s.labels.get("owner_name") else {
                continue;
            };
            let owner = Owner {
                namespace: s.labels.get("namespace").cloned().unwrap_or_default(),
                kind: s.labels.get("owner_kind").cloned().unwrap_or("Pod".into()),
                name: name.clone(),
            };
            if owners.contains(&owner) {
                let track = tracks
                    .entry(owner)
                    .or_insert_with(|| vec![f64::NAN; tl.steps]);
                write_points(tl, &s, track);
            }
        }
    }
    Ok(())
}
