//! Carrying out evictions through the `policy/v1` Eviction API, one at a time, at a
//! bounded rate, reading every answer the way the API server means it.
//!
//! The client must not retry 429s by itself (kube 5 does by default: build it with
//! `default_retry = false`): a 429 here is a PodDisruptionBudget saying "not now",
//! and the right reaction is to skip the pod, not to wait and hammer the API.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

use crate::model::PodKey;

#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// Ask with `?dryRun=All`: the API server gives its real verdict and changes nothing.
    pub dry_run: bool,
    /// `deleteOptions.gracePeriodSeconds`; `None` keeps each pod's own.
    pub grace_period_seconds: Option<i64>,
    /// At most this many evictions per second.
    pub evictions_per_second: f64,
}

/// One pod to evict: the uid guards against evicting a new pod that took the name
/// (a StatefulSet's replacement) since the snapshot.
#[derive(Debug, Clone)]
pub struct Target {
    pub pod: PodKey,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Evicted,
    /// Dry run: the API server would have evicted it.
    WouldEvict,
    /// 429: a PodDisruptionBudget does not allow it now.
    Refused(String),
    /// 500: more than one PodDisruptionBudget selects the pod; the API cannot decide.
    SeveralBudgets(String),
    /// 404, or the uid no longer matches: the pod the plan meant is gone.
    Gone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub pod: PodKey,
    pub outcome: Outcome,
}

/// An answer the run cannot read as a verdict on one pod (the API server is down,
/// RBAC forbids evictions, …): the run stops there rather than guess.
#[derive(Debug, thiserror::Error)]
#[error("evicting {pod} failed; stopped with {remaining} eviction(s) not attempted")]
pub struct Stopped {
    pub pod: PodKey,
    pub remaining: usize,
    #[source]
    pub source: kube::Error,
    /// What was done before stopping.
    pub done: Vec<Attempt>,
}

/// Evicts `targets` in order, pausing between calls to honour the rate.
pub async fn execute(
    client: &kube::Client,
    targets: &[Target],
    options: &ExecuteOptions,
) -> Result<Vec<Attempt>, Box<Stopped>> {
    let pause = Duration::from_secs_f64(1.0 / options.evictions_per_second.max(0.001));
    let mut done = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        match evict(client, target, options).await {
            Ok(outcome) => done.push(Attempt {
                pod: target.pod.clone(),
                outcome,
            }),
            Err(source) => {
                return Err(Box::new(Stopped {
                    pod: target.pod.clone(),
                    remaining: targets.len() - i,
                    source,
                    done,
                }));
            }
        }
    }
    Ok(done)
}

async fn evict(
    client: &kube::Client,
    target: &Target,
    options: &ExecuteOptions,
) -> Result<Outcome, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &target.pod.namespace);
    let mut delete_options = json!({"preconditions": {"uid": target.uid}});
    if let Some(grace) = options.grace_period_seconds {
        delete_options["gracePeriodSeconds"] = json!(grace);
    }
    // Written by hand: kube's `evict` sends `delete_options` in snake case, which the
    // API server ignores, losing the grace period and the uid precondition.
    let eviction = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": target.pod.name, "namespace": target.pod.namespace},
        "deleteOptions": delete_options,
    });
    let params = PostParams {
        dry_run: options.dry_run,
        ..PostParams::default()
    };
    match pods
        .create_subresource::<_, Value>("eviction", &target.pod.name, &params, &eviction)
        .await
    {
        Ok(_) if options.dry_run => Ok(Outcome::WouldEvict),
        Ok(_) => Ok(Outcome::Evicted),
        Err(kube::Error::Api(status)) => match status.code {
            429 => Ok(Outcome::Refused(status.message)),
            404 => Ok(Outcome::Gone),
            // The uid precondition failed: a new pod has the name.
            409 => Ok(Outcome::Gone),
            500 if status.message.contains("more than one PodDisruptionBudget") => {
                Ok(Outcome::SeveralBudgets(status.message))
            }
            _ => Err(kube::Error::Api(status)),
        },
        Err(e) => Err(e),
    }
}
