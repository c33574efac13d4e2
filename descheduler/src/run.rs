//! One descheduler run: snapshot → plan → record intent → execute → remember, with the
//! failure rules of the design: Prometheus down means no node has fresh load and nothing
//! moves; the API server unreachable, or the intent not recorded, means nothing is evicted;
//! an answer that is no verdict on a pod stops the run where it is.

use std::collections::HashMap;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tidal_core::load::{self, LoadConfig, LoadSnapshot};
use tidal_core::prometheus::PrometheusClient;
use tidal_core::scoring::Scorer;
use tidal_core::usage::{fetch_pod_usage, fetch_sustained};

use crate::config::DeschedulerConfig;
use crate::cooldown::CooldownStore;
use crate::execute::{Attempt, ExecuteOptions, Outcome, Target, execute};
use crate::kube_error;
use crate::plan::{Plan, plan};
use crate::snapshot::{Figures, assemble, list_objects};

/// What a run did, for the report.
#[derive(Debug)]
pub struct RunReport {
    pub at: SystemTime,
    pub dry_run: bool,
    pub plan: Plan,
    pub attempts: Vec<Attempt>,
    /// Why the run stopped before attempting every planned eviction.
    pub stopped: Option<String>,
    /// Things that went wrong without stopping the run (Prometheus queries, events, state).
    pub warnings: Vec<String>,
}

/// A failure before any eviction was attempted: nothing was changed. Each carries a
/// sentence from [`kube_error::describe`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the cluster: {0}; nothing was evicted")]
    Listing(String),
    #[error(
        "cannot read or record the cooldown state: {0}; nothing was evicted, since moved workloads could not be remembered"
    )]
    State(String),
}

pub struct Inputs<'a> {
    /// Must not retry 429s itself (see [`crate::execute`]).
    pub kube: &'a kube::Client,
    /// The API server's address, for messages.
    pub server: &'a str,
    pub prometheus: &'a PrometheusClient,
    pub load: &'a LoadConfig,
    pub config: &'a DeschedulerConfig,
    /// The extender's scorer, so a pod is never sent where the extender would refuse it.
    pub scorer: &'a Scorer,
}

pub async fn run_once(inputs: &Inputs<'_>, dry_run: bool) -> Result<RunReport, RunError> {
    let Inputs {
        kube,
        server,
        prometheus,
        load,
        config,
        scorer,
    } = *inputs;
    let mut warnings = Vec::new();
    let objects = list_objects(kube).await.map_err(|e| {
        RunError::Listing(kube_error::describe(&e.source, server, "list", &e.resource))
    })?;
    let figures = gather_figures(prometheus, load, config, &mut warnings).await;
    let store = CooldownStore {
        namespace: config.state.namespace.clone(),
        name: config.state.config_map.clone(),
    };
    let cooldowns = store.load(kube).await.map_err(|e| {
        let config_map = format!("configmaps/{}", store.name);
        RunError::State(kube_error::describe(&e, server, "get", &config_map))
    })?;

    let now = SystemTime::now();
    let snapshot = assemble(objects, &figures, now);
    let plan = plan(&snapshot, &config.policy, scorer, &cooldowns);

    let targets: Vec<Target> = plan
        .evictions
        .iter()
        .map(|e| Target {
            pod: e.pod.clone(),
            uid: e.uid.clone(),
        })
        .collect();
    // Intent first: every workload about to lose a pod is on cooldown before the first
    // eviction, so a run killed mid-way cannot leave the next run free to move it again.
    if !dry_run && !plan.evictions.is_empty() {
        let planned = plan.evictions.iter().filter_map(|e| e.workload.clone());
        store
            .save(
                kube,
                cooldowns.clone(),
                planned,
                now,
                config.policy.cooldown,
            )
            .await
            .map_err(|e| {
                let config_map = format!("configmaps/{}", store.name);
                RunError::State(kube_error::describe(&e, server, "patch", &config_map))
            })?;
    }
    let options = ExecuteOptions {
        dry_run,
        grace_period_seconds: config.eviction.grace_period_seconds,
        evictions_per_second: config.eviction.per_second,
    };
    let (attempts, stopped) = match execute(kube, &targets, &options).await {
        Ok(attempts) => (attempts, None),
        Err(stopped) => {
            let cause = kube_error::describe(&stopped.source, server, "create", "pods/eviction");
            let why = format!("{stopped}: {cause}");
            (stopped.done, Some(why))
        }
    };

    if !dry_run {
        let evicted: HashMap<_, _> = plan.evictions.iter().map(|e| (&e.pod, e)).collect();
        let moved = attempts
            .iter()
            .filter(|a| a.outcome == Outcome::Evicted)
            .filter_map(|a| evicted.get(&a.pod).and_then(|e| e.workload.clone()));
        // Now only what really moved: a refused eviction's workload is free again.
        if let Err(e) = store
            .save(kube, cooldowns, moved, now, config.policy.cooldown)
            .await
        {
            warnings.push(format!(
                "could not narrow the cooldowns in ConfigMap {}/{} to the evictions that happened ({e}): every planned workload stays on cooldown",
                store.namespace, store.name
            ));
        }
        publish_events(kube, &plan, &attempts, &mut warnings).await;
    }
    Ok(RunReport {
        at: now,
        dry_run,
        plan,
        attempts,
        stopped,
        warnings,
    })
}

/// Reads the three Prometheus inputs. A failure leaves that input empty, which the
/// planner reads as "unknown": no node without fresh load and no pod without known
/// usage is ever moved.
async fn gather_figures(
    prometheus: &PrometheusClient,
    load_config: &LoadConfig,
    config: &DeschedulerConfig,
    warnings: &mut Vec<String>,
) -> Figures {
    let (sustained, recent, usage) = tokio::join!(
        fetch_sustained(prometheus, &load_config.node_label, &config.sustained),
        load::fetch(prometheus, load_config),
        fetch_pod_usage(prometheus, &config.pod_usage),
    );
    let mut warn = |what: &str, e: &dyn std::fmt::Display| {
        warnings.push(format!(
            "{what} unavailable ({e}): nodes or pods that need it are left alone"
        ));
    };
    Figures {
        sustained: sustained.unwrap_or_else(|e| {
            warn("sustained node load", &e);
            HashMap::new()
        }),
        recent: recent.unwrap_or_else(|e| {
            warn("recent node load", &e);
            LoadSnapshot::default()
        }),
        pod_usage: usage.unwrap_or_else(|e| {
            warn("pod usage", &e);
            HashMap::new()
        }),
    }
}

/// A Kubernetes Event on each evicted pod saying why, for `kubectl describe`.
async fn publish_events(
    kube: &kube::Client,
    plan: &Plan,
    attempts: &[Attempt],
    warnings: &mut Vec<String>,
) {
    let reporter = Reporter {
        controller: "tidal-descheduler".to_string(),
        instance: std::env::var("HOSTNAME").ok(),
    };
    let recorder = Recorder::new(kube.clone(), reporter);
    for eviction in &plan.evictions {
        if !attempts
            .iter()
            .any(|a| a.pod == eviction.pod && a.outcome == Outcome::Evicted)
        {
            continue;
        }
        let event = Event {
            type_: EventType::Normal,
            reason: "Descheduled".to_string(),
            note: Some(format!(
                "Evicted by tidal-descheduler to relieve hot node {} ({}); expected to land on {}",
                eviction.from, eviction.reason, eviction.to
            )),
            action: "Evict".to_string(),
            secondary: None,
        };
        let reference = ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            namespace: Some(eviction.pod.namespace.clone()),
            name: Some(eviction.pod.name.clone()),
            uid: Some(eviction.uid.clone()),
            ..ObjectReference::default()
        };
        if let Err(e) = recorder.publish(&event, &reference).await {
            warnings.push(format!(
                "could not record an event for {} ({e})",
                eviction.pod
            ));
        }
    }
}
