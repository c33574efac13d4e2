//! `tidal simulate --from-prometheus --window 7d`: the trace of the user's own cluster,
//! built from its Prometheus history so the replay starts from the cluster as it was and
//! replays the demand it really saw.
//!
//! [`history`] reads the usage: per pod controller and step, the summed CPU (cAdvisor's counter
//! differenced per step, as the cost report does) and working set of its running pods and how
//! many they were, and per Job its running pods; owners are resolved ReplicaSet → Deployment
//! and Job → CronJob from kube-state-metrics. By default the store does this arithmetic, so
//! what crosses the wire grows with the controllers and the steps, not with the pods; with
//! `cost.aggregate_in: tidal`, Tidal does it a day at a time. Instant queries ([`start`]) add
//! one value per node, pod or container: the nodes' allocatable, capacity, labels and taints
//! and the pods running at the start, their nodes (`kube_pod_info`, else their requests'
//! `node` label), requests and limits as last reported, tolerations, and PDBs. [`assemble`]
//! turns these into the trace without I/O.
//!
//! What is approximated (each is said in a warning when it matters):
//! - one workload per controller; its replicas are its pods running at the window's start
//!   (no HPA is inferred), its requests and limits the largest of those pods' (summed over
//!   containers, as kube-state-metrics last reported them in the window), its priority 0;
//! - per-replica usage is the mean over the controller's running pods at each step;
//!   steps without data hold the last value seen (the first one before any);
//! - a CronJob runs every median gap between its Jobs' starts, for the median run length,
//!   with the median number of pods per Job, each using the mean of its pods' usage;
//! - the nodes are those of the window's start, with their zone and region labels and
//!   taints; workloads tolerate what their pods tolerated (`kube_pod_tolerations`) and
//!   the taints of the nodes they ran on; node selectors and affinity are unknown;
//! - kube-state-metrics does not export PDB selectors: a PDB goes to the workload of its
//!   namespace named like it, else to the one whose replica count is the PDB's expected
//!   pods, as `minAvailable: desired_healthy`.

mod assemble;
mod history;
mod start;

use std::time::{Duration, SystemTime};

use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError};
use tidal_cost::fetch::promql::Exprs;
use tidal_cost::render::utc;
use tidal_cost::{CostConfig, fetch};

use self::history::History;
use self::start::StartState;
use crate::trace::Trace;

/// The most steps a trace from Prometheus may have (a week at one minute is 10,080): every
/// workload's usage is held in memory for each step.
pub const MAX_STEPS: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("--step {0} is shorter than 1s; use a step of whole seconds, like 1m or 5m")]
    Step(String),
    #[error(
        "--window {window} is shorter than --step {step}; use a longer --window or a shorter --step"
    )]
    Window { window: String, step: String },
    #[error(
        "--window {window} at --step {step} is {steps} steps, more than {MAX_STEPS}; use a longer --step or a shorter --window"
    )]
    TooManySteps {
        window: String,
        step: String,
        steps: u64,
    },
    #[error("cannot read the cluster's history from Prometheus: {0}")]
    Prometheus(#[from] PrometheusError),
    #[error(
        "Prometheus has no kube-state-metrics or cAdvisor series from {from} to {to}: check that --window is within Prometheus's retention and that kube-state-metrics and the kubelets' cAdvisor endpoints are scraped"
    )]
    NoData { from: String, to: String },
    #[error(
        "Prometheus has no node series (kube_node_status_capacity, kube_node_status_allocatable) at {at}, so the replay has no nodes; install kube-state-metrics and have Prometheus scrape it"
    )]
    NoNodes { at: String },
    #[error(
        "nothing to replay: no pod running at {at} belongs to a Deployment, StatefulSet, DaemonSet or CronJob that can be replayed ({why})"
    )]
    NoWorkloads { at: String, why: String },
}

/// Builds the trace of the window of `window` ending at `end` (both aligned to whole steps,
/// as the cost report aligns them) at simulation step `step`, reading history as the cost
/// report's `cost` settings say (`aggregate_in`, `concurrency`). Returns the trace and what
/// the replay will lack or approximate; `progress` counts queries.
pub async fn build_trace(
    client: &PrometheusClient,
    cost: &CostConfig,
    end: SystemTime,
    (window, step): (Duration, Duration),
    progress: &ProgressBar,
) -> Result<(Trace, Vec<String>), BuildError> {
    let config = cost_config(cost, window, step)?;
    let tl = fetch::timeline(end, &config);
    let history = History::fetch(client, &config, tl, progress).await?;
    let Some(span @ (first, _)) = history.observed_span() else {
        return Err(BuildError::NoData {
            from: utc(tl.start),
            to: utc(tl.end()),
        });
    };
    let exprs = Exprs::new(tl.step_secs as u64, history.running_metric);
    let state = StartState::fetch(client, (tl, first), exprs, progress).await?;
    assemble::assemble(&history, &state, span)
}

/// The cost report's configuration `cost` for a fetch of `window` at the simulation step.
fn cost_config(
    cost: &CostConfig,
    window: Duration,
    step: Duration,
) -> Result<CostConfig, BuildError> {
    let human = |d: Duration| humantime::format_duration(d).to_string();
    let step_secs = step.as_secs();
    if step_secs == 0 {
        return Err(BuildError::Step(human(step)));
    }
    if window.as_secs() < step_secs {
        return Err(BuildError::Window {
            window: human(window),
            step: human(step),
        });
    }
    let steps = window.as_secs() / step_secs;
    if steps > MAX_STEPS {
        return Err(BuildError::TooManySteps {
            window: human(window),
            step: human(step),
            steps,
        });
    }
    Ok(CostConfig {
        window,
        resolution: Duration::from_secs(step_secs),
        ..cost.clone()
    })
}
