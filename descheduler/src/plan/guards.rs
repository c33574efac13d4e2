//! What may never be evicted, and how much disruption one run may spend.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use tidal_core::usage::PodUsage;

use crate::model::{Budget, Owner, PodState, Replicas, StringMap, WorkloadRef};
use crate::policy::Policy;

/// Why a pod on a hot node stays where it is.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason {
    /// One pod per node by design: evicting it moves nothing.
    DaemonSet {
        name: String,
    },
    /// A static pod's mirror: the API cannot move it.
    Mirror,
    /// No controller would recreate it.
    Bare,
    Protected {
        priority: i32,
        protected: i32,
    },
    OptedOut {
        annotation: String,
    },
    /// Its `emptyDir`/`hostPath` data would be lost.
    LocalStorage {
        volume: String,
    },
    TooYoung {
        age: Duration,
        min: Duration,
    },
    Cooldown {
        workload: WorkloadRef,
        remaining: Duration,
    },
    SingleReplica {
        desired: i32,
    },
    /// The workload's replica counts are not in the snapshot, so the floor cannot be checked.
    ReplicasUnknown {
        workload: WorkloadRef,
    },
    AvailabilityFloor {
        ready: i32,
        planned: u32,
        desired: i32,
        floor: f64,
    },
    /// The Eviction API refuses pods covered by more than one budget (500).
    SeveralBudgets {
        names: Vec<String>,
    },
    BudgetExhausted {
        budget: String,
        allowed: i32,
    },
    /// Without real usage neither the relief nor the load on a destination is known.
    UsageUnknown,
    PerNodeLimit {
        max: u32,
    },
    PerNamespaceLimit {
        max: u32,
    },
    PerWorkloadLimit {
        max: u32,
    },
    TotalLimit {
        max: u32,
    },
    /// No cold node could take the pod; `detail` says why, node by node (capped).
    NoDestination {
        detail: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DaemonSet { name } => write!(f, "owned by DaemonSet {name}"),
            Self::Mirror => f.write_str("static (mirror) pod"),
            Self::Bare => f.write_str("no controller would recreate it"),
            Self::Protected {
                priority,
                protected,
            } => write!(f, "priority {priority} >= protected {protected}"),
            Self::OptedOut { annotation } => write!(f, "opted out ({annotation}=true)"),
            Self::LocalStorage { volume } => write!(f, "local storage in volume {volume}"),
            Self::TooYoung { age, min } => {
                write!(
                    f,
                    "started {}s ago, min age {}s",
                    age.as_secs(),
                    min.as_secs()
                )
            }
            Self::Cooldown {
                workload,
                remaining,
            } => write!(f, "{workload} cooling down for {}s", remaining.as_secs()),
            Self::SingleReplica { desired } => write!(f, "workload has {desired} replica(s)"),
            Self::ReplicasUnknown { workload } => write!(f, "replicas of {workload} unknown"),
            Self::AvailabilityFloor {
                ready,
                planned,
                desired,
                floor,
            } => write!(
                f,
                "{ready} of {desired} ready, {planned} already planned: would go below floor {floor}"
            ),
            Self::SeveralBudgets { names } => {
                write!(f, "matched by several PDBs: {}", names.join(", "))
            }
            Self::BudgetExhausted { budget, allowed } => {
                write!(
                    f,
                    "PDB {budget} allows {allowed} disruption(s), all planned"
                )
            }
            Self::UsageUnknown => f.write_str("real usage unknown"),
            Self::PerNodeLimit { max } => write!(f, "per-node limit of {max} reached"),
            Self::PerNamespaceLimit { max } => write!(f, "per-namespace limit of {max} reached"),
            Self::PerWorkloadLimit { max } => write!(f, "per-workload limit of {max} reached"),
            Self::TotalLimit { max } => write!(f, "total limit of {max} reached"),
            Self::NoDestination { detail } => write!(f, "no destination: {detail}"),
        }
    }
}

/// A pod that passed every guard that does not depend on what else is planned.
pub(super) struct Candidate<'a> {
    pub pod: &'a PodState,
    pub workload: &'a WorkloadRef,
    pub replicas: Replicas,
    pub budget: Option<&'a Budget>,
    pub usage: PodUsage,
}

/// The fixed guards, cheapest first; the first failure is the reason reported.
pub(super) fn admit<'a>(
    pod: &'a PodState,
    policy: &Policy,
    now: SystemTime,
    cooldowns: &BTreeMap<WorkloadRef, SystemTime>,
    workloads: &BTreeMap<WorkloadRef, Replicas>,
    budgets: &'a [Budget],
) -> Result<Candidate<'a>, SkipReason> {
    let workload = match &pod.owner {
        Owner::Workload(w) => w,
        Owner::DaemonSet(name) => return Err(SkipReason::DaemonSet { name: name.clone() }),
        Owner::Mirror => return Err(SkipReason::Mirror),
        Owner::Bare => return Err(SkipReason::Bare),
    };
    if pod.priority >= policy.protected_priority {
        return Err(SkipReason::Protected {
            priority: pod.priority,
            protected: policy.protected_priority,
        });
    }
    opted_out(pod, policy)?;
    local_storage(pod, policy)?;
    let age = now.duration_since(pod.created_at).unwrap_or_default();
    if age < policy.min_pod_age {
        return Err(SkipReason::TooYoung {
            age,
            min: policy.min_pod_age,
        });
    }
    cooling(workload, policy, now, cooldowns)?;
    let replicas = *workloads
        .get(workload)
        .ok_or_else(|| SkipReason::ReplicasUnknown {
            workload: workload.clone(),
        })?;
    if replicas.desired <= 1 && !policy.allow_single_replica {
        return Err(SkipReason::SingleReplica {
            desired: replicas.desired,
        });
    }
    let budget = only_budget(pod, budgets)?;
    let usage = pod.usage.ok_or(SkipReason::UsageUnknown)?;
    Ok(Candidate {
        pod,
        workload,
        replicas,
        budget,
        usage,
    })
}

fn opted_out(pod: &PodState, policy: &Policy) -> Result<(), SkipReason> {
    let value = pod.pod.annotations.get(&policy.opt_out_annotation);
    match value.map(String::as_str) {
        Some("true") => Err(SkipReason::OptedOut {
            annotation: policy.opt_out_annotation.clone(),
        }),
        _ => Ok(()),
    }
}

fn local_storage(pod: &PodState, policy: &Policy) -> Result<(), SkipReason> {
    match &pod.pod.local_volume {
        Some(volume) if !policy.allow_local_storage => Err(SkipReason::LocalStorage {
            volume: volume.clone(),
        }),
        _ => Ok(()),
    }
}

fn cooling(
    workload: &WorkloadRef,
    policy: &Policy,
    now: SystemTime,
    cooldowns: &BTreeMap<WorkloadRef, SystemTime>,
) -> Result<(), SkipReason> {
    let Some(last) = cooldowns.get(workload) else {
        return Ok(());
    };
    // An eviction stamped in the future (clock skew) counts as just now.
    let since = now.duration_since(*last).unwrap_or_default();
    match policy.cooldown.checked_sub(since) {
        Some(remaining) if !remaining.is_zero() => Err(SkipReason::Cooldown {
            workload: workload.clone(),
            remaining,
        }),
        _ => Ok(()),
    }
}

/// The one budget covering the pod, if any; several is an error, as at the Eviction API.
/// `budgets` is sorted by namespace, so only the pod's namespace is searched: a large
/// cluster has tens of thousands of budgets.
fn only_budget<'a>(
    pod: &PodState,
    budgets: &'a [Budget],
) -> Result<Option<&'a Budget>, SkipReason> {
    let namespace = pod.key.namespace.as_str();
    let start = budgets.partition_point(|b| b.namespace.as_str() < namespace);
    let len = budgets[start..].partition_point(|b| b.namespace == namespace);
    let labels = &pod.pod.labels;
    let matching: Vec<&Budget> = budgets[start..start + len]
        .iter()
        .filter(|b| b.selector.as_ref().is_some_and(|s| selects(s, labels)))
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => Err(SkipReason::SeveralBudgets {
            names: several.iter().map(|b| b.name.clone()).collect(),
        }),
    }
}

/// A label selector as the Eviction API reads a PDB's: an empty one selects nothing.
pub fn selects(selector: &LabelSelector, labels: &StringMap) -> bool {
    let match_labels = selector.match_labels.as_ref();
    let expressions = selector.match_expressions.as_deref().unwrap_or_default();
    if match_labels.is_none_or(BTreeMap::is_empty) && expressions.is_empty() {
        return false;
    }
    match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && expressions.iter().all(|e| requirement(e, labels))
}

fn requirement(e: &LabelSelectorRequirement, labels: &StringMap) -> bool {
    let value = labels.get(&e.key);
    let listed = || value.is_some_and(|v| e.values.as_deref().unwrap_or_default().contains(v));
    match e.operator.as_str() {
        "In" => listed(),
        "NotIn" => !listed(),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // The API server rejects any other operator; select nothing rather than guess.
        _ => false,
    }
}

/// What this run has planned so far, to hold every limit and budget.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    total: u32,
    per_node: BTreeMap<String, u32>,
    per_namespace: BTreeMap<String, u32>,
    per_workload: BTreeMap<WorkloadRef, u32>,
    per_budget: BTreeMap<(String, String), i32>,
}

impl Ledger {
    /// The guards that depend on what is already planned.
    pub fn allows(&self, c: &Candidate<'_>, policy: &Policy) -> Result<(), SkipReason> {
        let l = &policy.limits;
        let count = |m: &BTreeMap<String, u32>, k: &str| m.get(k).copied().unwrap_or(0);
        if self.total >= l.total {
            return Err(SkipReason::TotalLimit { max: l.total });
        }
        if count(&self.per_node, &c.pod.node) >= l.per_node {
            return Err(SkipReason::PerNodeLimit { max: l.per_node });
        }
        if count(&self.per_namespace, &c.pod.key.namespace) >= l.per_namespace {
            return Err(SkipReason::PerNamespaceLimit {
                max: l.per_namespace,
            });
        }
        let planned = self.per_workload.get(c.workload).copied().unwrap_or(0);
        if planned >= l.per_workload {
            return Err(SkipReason::PerWorkloadLimit {
                max: l.per_workload,
            });
        }
        self.floor(c, planned, policy)?;
        self.budget(c)
    }

    fn floor(&self, c: &Candidate<'_>, planned: u32, policy: &Policy) -> Result<(), SkipReason> {
        let Replicas { desired, ready } = c.replicas;
        let left = f64::from(ready) - f64::from(planned) - 1.0;
        if desired > 0 && left / f64::from(desired) >= policy.availability_floor {
            return Ok(());
        }
        Err(SkipReason::AvailabilityFloor {
            ready,
            planned,
            desired,
            floor: policy.availability_floor,
        })
    }

    fn budget(&self, c: &Candidate<'_>) -> Result<(), SkipReason> {
        let Some(b) = c.budget else { return Ok(()) };
        let key = (b.namespace.clone(), b.name.clone());
        let spent = self.per_budget.get(&key).copied().unwrap_or(0);
        if spent < b.disruptions_allowed {
            return Ok(());
        }
        Err(SkipReason::BudgetExhausted {
            budget: format!("{}/{}", b.namespace, b.name),
            allowed: b.disruptions_allowed,
        })
    }

    pub fn record(&mut self, c: &Candidate<'_>) {
        self.total += 1;
        *self.per_node.entry(c.pod.node.clone()).or_default() += 1;
        *self
            .per_namespace
            .entry(c.pod.key.namespace.clone())
            .or_default() += 1;
        *self.per_workload.entry(c.workload.clone()).or_default() += 1;
        if let Some(b) = c.budget {
            *self
                .per_budget
                .entry((b.namespace.clone(), b.name.clone()))
                .or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(value: serde_json::Value) -> LabelSelector {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("selector should parse: {e}"))
    }

    #[test]
    fn budget_selectors_read_as_the_eviction_api_reads_them() {
        let labels = StringMap::from(BTreeMap::from([("app".to_string(), "web".to_string())]));
        let cases = [
            (serde_json::json!({}), false),
            (serde_json::json!({"matchLabels": {}}), false),
            (serde_json::json!({"matchLabels": {"app": "web"}}), true),
            (
                serde_json::json!({"matchLabels": {"app": "web", "tier": "x"}}),
                false,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}),
                true,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}),
                true,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
                true,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                serde_json::json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
                false,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                selects(&selector(value.clone()), &labels),
                expected,
                "{value}"
            );
        }
    }
}
