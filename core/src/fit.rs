//! Could this pod be scheduled on this node? kube-scheduler's in-tree filters,
//! for the subset the descheduler needs before it evicts a pod.
//!
//! Every planned eviction needs a destination the real scheduler would accept,
//! or the pod is evicted only to come back to the same node (or to stay
//! Pending). So these predicates follow the scheduler's plugins exactly —
//! `NodeUnschedulable`, `TaintToleration`, `NodeAffinity` (nodeSelector and
//! required node affinity, as in `k8s.io/component-helpers/scheduling/corev1/
//! nodeaffinity`) and the CPU/memory part of `NodeResourcesFit` — rather than
//! approximating them. Not modelled: inter-pod (anti-)affinity, topology
//! spread, host ports, volumes and extended resources.
//!
//! Pods and nodes are read through [`FitPod`] and [`FitNode`], so full k8s-openapi
//! objects and the descheduler's slimmer copies share these predicates.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Node, NodeCondition, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint,
    Toleration,
};

use crate::quantity::Quantity;
use crate::resources::{Resources, node_allocatable, pod_requests};

/// What the filters here read from a pod.
pub trait FitPod {
    fn tolerations(&self) -> &[Toleration];
    fn node_selector(&self) -> Option<&BTreeMap<String, String>>;
    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    fn required_node_affinity(&self) -> Option<&NodeSelector>;
    /// [`pod_requests`]; a copy may hold the figure computed once.
    fn requests(&self) -> Resources;
}

/// What the filters here (and [`is_ready`]) read from a node.
pub trait FitNode {
    fn name(&self) -> &str;
    fn labels(&self) -> &BTreeMap<String, String>;
    /// `spec.unschedulable`: cordoned.
    fn unschedulable(&self) -> bool;
    fn taints(&self) -> &[Taint];
    fn conditions(&self) -> &[NodeCondition];
    /// [`node_allocatable`]; a copy may hold the figure computed once.
    fn allocatable(&self) -> Resources;
}

impl FitPod for Pod {
    fn tolerations(&self) -> &[Toleration] {
        let tolerations = self.spec.as_ref().and_then(|s| s.tolerations.as_deref());
        tolerations.unwrap_or_default()
    }

    fn node_selector(&self) -> Option<&BTreeMap<String, String>> {
        self.spec.as_ref()?.node_selector.as_ref()
    }

    fn required_node_affinity(&self) -> Option<&NodeSelector> {
        let affinity = self.spec.as_ref()?.affinity.as_ref()?;
        let node_affinity = affinity.node_affinity.as_ref()?;
        node_affinity
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }

    fn requests(&self) -> Resources {
        pod_requests(self)
    }
}

impl FitNode for Node {
    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.metadata.labels.as_ref().unwrap_or(&NONE)
    }

    fn unschedulable(&self) -> bool {
        self.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
    }

    fn taints(&self) -> &[Taint] {
        let taints = self.spec.as_ref().and_then(|s| s.taints.as_deref());
        taints.unwrap_or_default()
    }

    fn conditions(&self) -> &[NodeCondition] {
        let conditions = self.status.as_ref().and_then(|s| s.conditions.as_deref());
        conditions.unwrap_or_default()
    }

    fn allocatable(&self) -> Resources {
        node_allocatable(self)
    }
}

/// The taint kube-scheduler's `NodeUnschedulable` plugin checks a cordoned
/// node's pods against (`spec.unschedulable: true`).
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
const NO_SCHEDULE: &str = "NoSchedule";
const NO_EXECUTE: &str = "NoExecute";

/// Why a pod cannot be scheduled on a node; [`Display`](fmt::Display) is a
/// sentence for plan tables and Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misfit {
    /// `spec.unschedulable` (cordoned) and no toleration for
    /// `node.kubernetes.io/unschedulable:NoSchedule`.
    Unschedulable,
    /// The first `NoSchedule`/`NoExecute` taint no toleration matches.
    UntoleratedTaint {
        key: String,
        value: String,
        effect: String,
    },
    /// A `spec.nodeSelector` entry the node's labels do not satisfy (the first
    /// by key); `found` is the node's value for `key`, if it has the label.
    NodeSelector {
        key: String,
        wanted: String,
        found: Option<String>,
    },
    /// No term of the required node affinity matches the node.
    NodeAffinity,
    /// CPU request (milli-cores) above allocatable minus what is already requested.
    InsufficientCpu { needed_milli: i64, free_milli: i64 },
    /// Memory request (bytes) above allocatable minus what is already requested.
    InsufficientMemory { needed_bytes: i64, free_bytes: i64 },
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::Unschedulable => write!(
                f,
                "node is unschedulable (cordoned) and the pod does not tolerate \
                 {UNSCHEDULABLE_TAINT}:{NO_SCHEDULE}"
            ),
            Misfit::UntoleratedTaint { key, value, effect } if value.is_empty() => {
                write!(f, "node has taint {key}:{effect} the pod does not tolerate")
            }
            Misfit::UntoleratedTaint { key, value, effect } => write!(
                f,
                "node has taint {key}={value}:{effect} the pod does not tolerate"
            ),
            Misfit::NodeSelector { key, wanted, found } => {
                write!(f, "nodeSelector needs label {key}={wanted}, ")?;
                match found {
                    Some(found) => write!(f, "node has {key}={found}"),
                    None => write!(f, "node has no {key} label"),
                }
            }
            Misfit::NodeAffinity => {
                f.write_str("node matches none of the pod's required node affinity terms")
            }
            Misfit::InsufficientCpu {
                needed_milli,
                free_milli,
            } => write!(
                f,
                "needs {} cpu, {} free",
                Quantity::from_milli(*needed_milli),
                Quantity::from_milli(*free_milli)
            ),
            Misfit::InsufficientMemory {
                needed_bytes,
                free_bytes,
            } => write!(
                f,
                "needs {} memory, {} free",
                Quantity::from_value(*needed_bytes),
                Quantity::from_value(*free_bytes)
            ),
        }
    }
}

impl std::error::Error for Misfit {}

/// All of kube-scheduler's checks modelled here, in its filter order
/// (unschedulable, taints, nodeSelector, node affinity, resources); the first
/// failure wins. `already_requested` is the sum of [`pod_requests`] of the
/// pods already on (or planned onto) the node.
pub fn pod_fits_node(
    pod: &impl FitPod,
    node: &impl FitNode,
    already_requested: Resources,
) -> Result<(), Misfit> {
    tolerates_taints(pod, node)?;
    matches_node_selector(pod, node)?;
    matches_required_affinity(pod, node)?;
    fits_resources(pod.requests(), node.allocatable(), already_requested)
}

/// Whether the node's `Ready` condition is `True`. Stricter than the
/// kubernetes-sigs descheduler's `IsReady`, which also accepts a node that
/// reports no `Ready` condition: a destination must be known to run pods.
pub fn is_ready(node: &impl FitNode) -> bool {
    node.conditions()
        .iter()
        .find(|c| c.type_ == "Ready")
        .is_some_and(|ready| ready.status == "True")
}

/// `NodeUnschedulable` then `TaintToleration`: a cordoned node needs a
/// toleration for `node.kubernetes.io/unschedulable:NoSchedule`, and every
/// `NoSchedule`/`NoExecute` taint must be tolerated (`PreferNoSchedule` only
/// affects scoring).
pub fn tolerates_taints(pod: &impl FitPod, node: &impl FitNode) -> Result<(), Misfit> {
    let tolerations = pod.tolerations();
    let tolerated = |key: &str, value: &str, effect: &str| {
        tolerations.iter().any(|t| tolerates(t, key, value, effect))
    };
    if node.unschedulable() && !tolerated(UNSCHEDULABLE_TAINT, "", NO_SCHEDULE) {
        return Err(Misfit::Unschedulable);
    }
    match node.taints().iter().find(|taint| {
        matches!(taint.effect.as_str(), NO_SCHEDULE | NO_EXECUTE)
            && !tolerated(&taint.key, taint_value(taint), &taint.effect)
    }) {
        Some(taint) => Err(Misfit::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint_value(taint).to_owned(),
            effect: taint.effect.clone(),
        }),
        None => Ok(()),
    }
}

fn taint_value(taint: &Taint) -> &str {
    or_empty(&taint.value)
}

/// Go's zero value for an optional string field.
fn or_empty(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or_default()
}

/// `Toleration.ToleratesTaint` (k8s.io/api/core/v1): an empty effect or key
/// matches any; operator `Exists` ignores the value, `Equal` (also the
/// default when empty) compares it; any other operator tolerates nothing.
fn tolerates(toleration: &Toleration, key: &str, value: &str, effect: &str) -> bool {
    let (t_effect, t_key) = (or_empty(&toleration.effect), or_empty(&toleration.key));
    if (!t_effect.is_empty() && t_effect != effect) || (!t_key.is_empty() && t_key != key) {
        return false;
    }
    match or_empty(&toleration.operator) {
        "" | "Equal" => or_empty(&toleration.value) == value,
        "Exists" => true,
        _ => false,
    }
}

/// `spec.nodeSelector`: every entry must be a node label with exactly that
/// value (an empty value still requires the label to exist).
pub fn matches_node_selector(pod: &impl FitPod, node: &impl FitNode) -> Result<(), Misfit> {
    let Some(selector) = pod.node_selector() else {
        return Ok(());
    };
    let labels = node.labels();
    match selector
        .iter()
        .find(|&(key, wanted)| labels.get(key) != Some(wanted))
    {
        Some((key, wanted)) => Err(Misfit::NodeSelector {
            key: key.clone(),
            wanted: wanted.clone(),
            found: labels.get(key).cloned(),
        }),
        None => Ok(()),
    }
}

/// `requiredDuringSchedulingIgnoredDuringExecution`, as `nodeaffinity`'s
/// `LazyErrorNodeSelector.Match`: absent matches every node; otherwise some
/// term must match, and terms with neither `matchExpressions` nor
/// `matchFields` are dropped, so an empty (or all-empty) term list matches no
/// node. A term that fails to parse (unknown operator, wrong number of
/// values, invalid label key or value, non-integer `Gt`/`Lt` value) matches
/// nothing, but the other terms still count.
pub fn matches_required_affinity(pod: &impl FitPod, node: &impl FitNode) -> Result<(), Misfit> {
    let Some(required) = pod.required_node_affinity() else {
        return Ok(());
    };
    let (labels, name) = (node.labels(), node.name());
    if required
        .node_selector_terms
        .iter()
        .any(|term| term_matches(term, labels, name))
    {
        Ok(())
    } else {
        Err(Misfit::NodeAffinity)
    }
}

/// `nodeSelectorTerm.match`: expressions and fields are ANDed; the fields are
/// only compared when the node has a name (`extractNodeFields` leaves the
/// field set empty otherwise), but must still parse.
fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| label_requirement(r, labels) == Some(true))
        && fields
            .iter()
            .all(|r| field_requirement(r, name).is_some_and(|m| name.is_empty() || m))
}

/// One `matchExpressions` entry: `None` where `labels.NewRequirement` would
/// reject it, else whether the node's labels satisfy it.
fn label_requirement(
    req: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    let values = req.values.as_deref().unwrap_or_default();
    if !is_qualified_name(&req.key) || !values.iter().all(|v| is_label_value(v)) {
        return None;
    }
    let label = labels.get(&req.key);
    let compare = |bound: &String, wanted: std::cmp::Ordering| -> Option<bool> {
        let bound: i64 = bound.parse().ok()?;
        // A node label that is not an integer fails the comparison.
        Some(
            label
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l.cmp(&bound) == wanted),
        )
    };
    match (req.operator.as_str(), values) {
        ("In", [_, ..]) => Some(label.is_some_and(|l| values.contains(l))),
        ("NotIn", [_, ..]) => Some(label.is_none_or(|l| !values.contains(l))),
        ("Exists", []) => Some(label.is_some()),
        ("DoesNotExist", []) => Some(label.is_none()),
        ("Gt", [bound]) => compare(bound, std::cmp::Ordering::Greater),
        ("Lt", [bound]) => compare(bound, std::cmp::Ordering::Less),
        _ => None,
    }
}

/// One `matchFields` entry: `None` unless it is `In`/`NotIn` with exactly one
/// value (`nodeSelectorRequirementsAsFieldSelector`), else whether the
/// node's fields satisfy it. The only node field is `metadata.name`; any other
/// key reads as the empty string, as in `fields.Set.Get`.
fn field_requirement(req: &NodeSelectorRequirement, name: &str) -> Option<bool> {
    let field = if req.key == "metadata.name" { name } else { "" };
    match (req.operator.as_str(), req.values.as_deref()) {
        ("In", Some([value])) => Some(field == value),
        ("NotIn", Some([value])) => Some(field != value),
        _ => None,
    }
}

/// `IsQualifiedName`: an optional DNS-1123 subdomain prefix and `/`, then a
/// name of at most 63 alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

/// `IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`, `_`, `.`,
/// alphanumeric at both ends.
fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && has_shape(value, u8::is_ascii_alphanumeric, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
            }))
}

/// `IsDNS1123Subdomain`: at most 253 characters of dot-separated labels of
/// lowercase alphanumerics and `-`, alphanumeric at both ends.
fn is_dns1123_subdomain(prefix: &str) -> bool {
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    prefix.len() <= 253
        && prefix
            .split('.')
            .all(|label| has_shape(label, edge, |b| edge(b) || *b == b'-'))
}

/// Non-empty, `edge` holds for the first and last byte, `inner` for all.
fn has_shape(s: &str, edge: impl Fn(&u8) -> bool, inner: impl Fn(&u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => edge(first) && edge(last) && bytes.iter().all(inner),
        _ => false,
    }
}

/// `NodeResourcesFit` for CPU and memory: a resource the pod requests (> 0)
/// must fit into allocatable minus what is already requested; a zero request
/// fits even an overcommitted node, as in the scheduler. CPU is checked first.
pub fn fits_resources(
    pod_requests: Resources,
    node_allocatable: Resources,
    already_requested: Resources,
) -> Result<(), Misfit> {
    let free = node_allocatable - already_requested;
    if pod_requests.cpu_milli > 0 && pod_requests.cpu_milli > free.cpu_milli {
        return Err(Misfit::InsufficientCpu {
            needed_milli: pod_requests.cpu_milli,
            free_milli: free.cpu_milli,
        });
    }
    if pod_requests.memory_bytes > 0 && pod_requests.memory_bytes > free.memory_bytes {
        return Err(Misfit::InsufficientMemory {
            needed_bytes: pod_requests.memory_bytes,
            free_bytes: free.memory_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSpec, PodSpec};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const MI: i64 = 1 << 20;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("test pod should deserialize: {e}"))
    }

    fn with_tolerations(tolerations: Value) -> Pod {
        pod(json!({ "containers": [{ "name": "c" }], "tolerations": tolerations }))
    }

    fn with_affinity(terms: Value) -> Pod {
        pod(json!({
            "containers": [{ "name": "c" }],
            "affinity": { "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": terms },
            }},
        }))
    }

    fn node(name: &str, labels: Value, spec: Value) -> Node {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": name, "labels": labels },
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("test node should deserialize: {e}"))
    }

    fn tainted(taints: Value) -> Node {
        node("n", json!({}), json!({ "taints": taints }))
    }

    fn labelled(labels: Value) -> Node {
        node("n", labels, json!({}))
    }

    fn res(cpu_milli: i64, memory_bytes: i64) -> Resources {
        Resources {
            cpu_milli,
            memory_bytes,
        }
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> Value {
        json!({ "matchExpressions": [{ "key": key, "operator": operator, "values": values }] })
    }

    fn affinity_ok(terms: Value, node: &Node) -> bool {
        matches_required_affinity(&with_affinity(terms), node).is_ok()
    }

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_fail() {
        let none = with_tolerations(json!([]));
        let gpu = tainted(json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]));
        let err = tolerates_taints(&none, &gpu).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("node has taint dedicated=gpu:NoSchedule the pod does not tolerate")
        );
        let evicting = tainted(json!([{ "key": "broken", "effect": "NoExecute" }]));
        assert_eq!(
            tolerates_taints(&none, &evicting),
            Err(Misfit::UntoleratedTaint {
                key: "broken".into(),
                value: String::new(),
                effect: "NoExecute".into()
            })
        );
        let preferred = tainted(json!([{ "key": "spot", "effect": "PreferNoSchedule" }]));
        assert_eq!(tolerates_taints(&none, &preferred), Ok(()));
        assert_eq!(tolerates_taints(&Pod::default(), &Node::default()), Ok(()));
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let gpu = tainted(json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]));
        let ok =
            |tolerations: Value| tolerates_taints(&with_tolerations(tolerations), &gpu).is_ok();
        // Equal is the default operator and compares the value.
        assert!(ok(
            json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }])
        ));
        assert!(ok(
            json!([{ "key": "dedicated", "operator": "Equal", "value": "gpu" }])
        ));
        assert!(!ok(
            json!([{ "key": "dedicated", "value": "cpu", "effect": "NoSchedule" }])
        ));
        assert!(!ok(json!([{ "key": "dedicated", "effect": "NoSchedule" }])));
        // Exists ignores the value; an empty effect matches every effect.
        assert!(ok(json!([{ "key": "dedicated", "operator": "Exists" }])));
        assert!(!ok(
            json!([{ "key": "dedicated", "operator": "Exists", "effect": "NoExecute" }])
        ));
        assert!(!ok(json!([{ "key": "other", "operator": "Exists" }])));
        // Exists with no key tolerates every taint; an unknown operator none.
        assert!(ok(json!([{ "operator": "Exists" }])));
        assert!(ok(
            json!([{ "operator": "Exists", "effect": "NoSchedule" }])
        ));
        assert!(!ok(
            json!([{ "key": "dedicated", "operator": "Gt", "value": "gpu" }])
        ));
        // Every relevant taint needs its own toleration.
        let two = tainted(json!([
            { "key": "a", "effect": "NoSchedule" },
            { "key": "b", "effect": "NoExecute" },
        ]));
        let only_a = with_tolerations(json!([{ "key": "a", "operator": "Exists" }]));
        let err = tolerates_taints(&only_a, &two).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("node has taint b:NoExecute the pod does not tolerate")
        );
    }

    #[test]
    fn cordoned_node_needs_the_unschedulable_toleration() {
        let cordoned = node("n", json!({}), json!({ "unschedulable": true }));
        let none = with_tolerations(json!([]));
        assert_eq!(
            tolerates_taints(&none, &cordoned),
            Err(Misfit::Unschedulable)
        );
        let tolerating = with_tolerations(json!([{
            "key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule",
        }]));
        assert_eq!(tolerates_taints(&tolerating, &cordoned), Ok(()));
        let wrong_effect = with_tolerations(json!([{
            "key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute",
        }]));
        assert_eq!(
            tolerates_taints(&wrong_effect, &cordoned),
            Err(Misfit::Unschedulable)
        );
        let uncordoned = node("n", json!({}), json!({ "unschedulable": false }));
        assert_eq!(tolerates_taints(&none, &uncordoned), Ok(()));
    }

    #[test]
    fn node_selector_needs_every_label_equal() {
        let p = pod(json!({
            "containers": [{ "name": "c" }],
            "nodeSelector": { "disk": "ssd", "zone": "a" },
        }));
        let n = labelled(json!({ "disk": "ssd", "zone": "a", "extra": "x" }));
        assert_eq!(matches_node_selector(&p, &n), Ok(()));
        let wrong = labelled(json!({ "disk": "ssd", "zone": "b" }));
        let err = matches_node_selector(&p, &wrong).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("nodeSelector needs label zone=a, node has zone=b")
        );
        let missing = labelled(json!({ "zone": "a" }));
        let err = matches_node_selector(&p, &missing).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("nodeSelector needs label disk=ssd, node has no disk label")
        );
        let empty_value = pod(json!({ "containers": [], "nodeSelector": { "gpu": "" } }));
        assert!(matches_node_selector(&empty_value, &labelled(json!({}))).is_err());
        assert_eq!(
            matches_node_selector(&empty_value, &labelled(json!({ "gpu": "" }))),
            Ok(())
        );
        assert_eq!(
            matches_node_selector(&Pod::default(), &Node::default()),
            Ok(())
        );
    }

    #[test]
    fn affinity_set_operators() {
        let n = labelled(json!({ "zone": "a", "tier": "web" }));
        assert!(affinity_ok(json!([expr("zone", "In", &["a", "b"])]), &n));
        assert!(!affinity_ok(json!([expr("zone", "In", &["b"])]), &n));
        assert!(!affinity_ok(json!([expr("rack", "In", &["a"])]), &n));
        assert!(affinity_ok(json!([expr("zone", "NotIn", &["b"])]), &n));
        assert!(!affinity_ok(json!([expr("zone", "NotIn", &["a"])]), &n));
        // NotIn and DoesNotExist match a node without the label.
        assert!(affinity_ok(json!([expr("rack", "NotIn", &["a"])]), &n));
        assert!(affinity_ok(json!([expr("rack", "DoesNotExist", &[])]), &n));
        assert!(!affinity_ok(json!([expr("zone", "DoesNotExist", &[])]), &n));
        assert!(affinity_ok(json!([expr("zone", "Exists", &[])]), &n));
        assert!(!affinity_ok(json!([expr("rack", "Exists", &[])]), &n));
        // Expressions within a term are ANDed.
        let both = json!([{ "matchExpressions": [
            { "key": "zone", "operator": "In", "values": ["a"] },
            { "key": "tier", "operator": "In", "values": ["db"] },
        ]}]);
        assert!(!affinity_ok(both, &n));
    }

    #[test]
    fn affinity_gt_lt_compare_integers_only() {
        let n = labelled(json!({ "cores": "16", "gen": "v3" }));
        assert!(affinity_ok(json!([expr("cores", "Gt", &["8"])]), &n));
        assert!(!affinity_ok(json!([expr("cores", "Gt", &["16"])]), &n));
        assert!(affinity_ok(json!([expr("cores", "Lt", &["017"])]), &n));
        assert!(!affinity_ok(json!([expr("cores", "Lt", &["16"])]), &n));
        // A non-integer label, bound or missing label never matches.
        assert!(!affinity_ok(json!([expr("gen", "Gt", &["1"])]), &n));
        assert!(!affinity_ok(json!([expr("gen", "Lt", &["99"])]), &n));
        assert!(!affinity_ok(json!([expr("cores", "Gt", &["eight"])]), &n));
        assert!(!affinity_ok(json!([expr("ram", "Lt", &["1"])]), &n));
        // Exactly one value; "-1" is not a valid label value, so it fails to parse.
        assert!(!affinity_ok(json!([expr("cores", "Gt", &["1", "2"])]), &n));
        assert!(!affinity_ok(json!([expr("cores", "Gt", &["-1"])]), &n));
        assert!(!affinity_ok(json!([expr("cores", "Gt", &[])]), &n));
    }

    #[test]
    fn affinity_terms_that_fail_to_parse_match_nothing() {
        let n = labelled(json!({ "zone": "a" }));
        for bad in [
            expr("rack", "NotIn", &[]),
            expr("rack", "DoesNotExist", &["x"]),
            expr("rack", "Equals", &["x"]),
            expr("rack", "NotIn", &["not valid!"]),
            expr("bad key", "DoesNotExist", &[]),
            expr("Bad_Prefix/rack", "DoesNotExist", &[]),
            expr("a/b/c", "DoesNotExist", &[]),
        ] {
            assert!(!affinity_ok(json!([bad.clone()]), &n), "{bad}");
            // ... but another term still can.
            assert!(affinity_ok(json!([bad, expr("zone", "In", &["a"])]), &n));
        }
        let prefixed = labelled(json!({ "topology.kubernetes.io/zone": "a" }));
        assert!(affinity_ok(
            json!([expr("topology.kubernetes.io/zone", "In", &["a"])]),
            &prefixed
        ));
    }

    #[test]
    fn affinity_terms_are_ored_and_empty_ones_match_nothing() {
        let n = labelled(json!({ "zone": "b" }));
        let either = json!([expr("zone", "In", &["a"]), expr("zone", "In", &["b"])]);
        assert!(affinity_ok(either, &n));
        assert!(!affinity_ok(
            json!([expr("zone", "In", &["a"]), expr("zone", "In", &["c"])]),
            &n
        ));
        let err = matches_required_affinity(&with_affinity(json!([])), &n).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("node matches none of the pod's required node affinity terms")
        );
        assert!(!affinity_ok(json!([{}]), &n));
        assert!(!affinity_ok(
            json!([{ "matchExpressions": [], "matchFields": [] }]),
            &n
        ));
        assert!(affinity_ok(json!([{}, expr("zone", "Exists", &[])]), &n));
        // No required affinity (or only a preferred one) matches every node.
        let preferred = pod(json!({
            "containers": [],
            "affinity": { "nodeAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [] } },
        }));
        assert_eq!(matches_required_affinity(&preferred, &n), Ok(()));
        assert_eq!(matches_required_affinity(&Pod::default(), &n), Ok(()));
    }

    #[test]
    fn affinity_match_fields_on_node_name() {
        let field = |operator: &str, values: &[&str]| json!([{ "matchFields": [{ "key": "metadata.name", "operator": operator, "values": values }] }]);
        let n = node("worker-1", json!({ "zone": "a" }), json!({}));
        assert!(affinity_ok(field("In", &["worker-1"]), &n));
        assert!(!affinity_ok(field("In", &["worker-2"]), &n));
        assert!(affinity_ok(field("NotIn", &["worker-2"]), &n));
        assert!(!affinity_ok(field("NotIn", &["worker-1"]), &n));
        // Exactly one value, In/NotIn only.
        assert!(!affinity_ok(field("In", &["worker-1", "worker-2"]), &n));
        assert!(!affinity_ok(field("Exists", &[]), &n));
        // Fields and expressions in one term are ANDed.
        let both = json!([{
            "matchExpressions": [{ "key": "zone", "operator": "In", "values": ["b"] }],
            "matchFields": [{ "key": "metadata.name", "operator": "In", "values": ["worker-1"] }],
        }]);
        assert!(!affinity_ok(both, &n));
        // A node without a name has no fields to compare (but they must parse).
        let nameless = Node::default();
        assert!(affinity_ok(field("In", &["worker-2"]), &nameless));
        assert!(!affinity_ok(field("In", &[]), &nameless));
    }

    #[test]
    fn resources_fit_up_to_exactly_full() {
        let alloc = res(4000, 8 * 1024 * MI);
        let used = res(3500, 7 * 1024 * MI);
        assert_eq!(fits_resources(res(500, 1024 * MI), alloc, used), Ok(()));
        let err = fits_resources(res(501, 0), alloc, used).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("needs 501m cpu, 500m free")
        );
        let err = fits_resources(res(0, 1024 * MI + 1), alloc, used).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("needs 1073741825 memory, 1Gi free")
        );
        // A zero request fits an overcommitted node, as in NodeResourcesFit.
        assert_eq!(fits_resources(res(0, 0), alloc, res(9000, 0)), Ok(()));
        let extremes = res(i64::MAX, i64::MAX);
        assert!(fits_resources(extremes, res(i64::MIN, i64::MIN), extremes).is_err());
    }

    #[test]
    fn pod_fits_node_reports_the_first_failure() {
        let p = pod(json!({
            "containers": [{ "name": "c", "resources": { "requests": { "cpu": "2" } } }],
            "nodeSelector": { "zone": "a" },
            "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [expr("disk", "In", &["ssd"])],
            }}},
        }));
        let n = |labels: Value, spec: Value| -> Node {
            serde_json::from_value(json!({
                "metadata": { "name": "n", "labels": labels },
                "spec": spec,
                "status": { "allocatable": { "cpu": "2", "memory": "1Gi" } },
            }))
            .unwrap_or_else(|e| panic!("test node should deserialize: {e}"))
        };
        let taint = json!([{ "key": "k", "effect": "NoSchedule" }]);
        let fit = |node: Node| pod_fits_node(&p, &node, Resources::default());
        let cordoned = json!({ "unschedulable": true, "taints": taint });
        assert_eq!(
            fit(n(json!({ "zone": "b" }), cordoned)),
            Err(Misfit::Unschedulable)
        );
        let tainted = json!({ "taints": taint });
        assert!(matches!(
            fit(n(json!({ "zone": "b" }), tainted)),
            Err(Misfit::UntoleratedTaint { .. })
        ));
        assert!(matches!(
            fit(n(json!({ "zone": "b" }), json!({}))),
            Err(Misfit::NodeSelector { .. })
        ));
        assert_eq!(
            fit(n(json!({ "zone": "a" }), json!({}))),
            Err(Misfit::NodeAffinity)
        );
        let eligible = n(json!({ "zone": "a", "disk": "ssd" }), json!({}));
        assert_eq!(fit(eligible.clone()), Ok(()));
        assert_eq!(
            pod_fits_node(&p, &eligible, res(1, 0)),
            Err(Misfit::InsufficientCpu {
                needed_milli: 2000,
                free_milli: 1999
            })
        );
    }

    #[test]
    fn readiness_needs_ready_true() {
        let with = |conditions: Value| -> Node {
            serde_json::from_value(json!({ "status": { "conditions": conditions } }))
                .unwrap_or_else(|e| panic!("test node should deserialize: {e}"))
        };
        assert!(is_ready(&with(json!([
            { "type": "MemoryPressure", "status": "False" },
            { "type": "Ready", "status": "True" },
        ]))));
        assert!(!is_ready(&with(
            json!([{ "type": "Ready", "status": "False" }])
        )));
        assert!(!is_ready(&with(
            json!([{ "type": "Ready", "status": "Unknown" }])
        )));
        assert!(!is_ready(&with(json!([]))));
        assert!(!is_ready(&Node::default()));
    }

    fn taint() -> impl Strategy<Value = Taint> {
        let effect = prop_oneof![
            Just("NoSchedule"),
            Just("PreferNoSchedule"),
            Just("NoExecute")
        ];
        ("[a-z./]{0,12}", proptest::option::of("[a-z]{0,4}"), effect).prop_map(
            |(key, value, effect)| Taint {
                key,
                value,
                effect: effect.to_owned(),
                time_added: None,
            },
        )
    }

    fn node_with(taints: Vec<Taint>, unschedulable: Option<bool>) -> Node {
        Node {
            spec: Some(NodeSpec {
                taints: Some(taints),
                unschedulable,
                ..NodeSpec::default()
            }),
            ..Node::default()
        }
    }

    fn pod_tolerating(tolerations: Option<Vec<Toleration>>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                tolerations,
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    proptest! {
        #[test]
        fn no_tolerations_never_fit_a_no_schedule_taint(
            mut taints in proptest::collection::vec(taint(), 0..6),
            forced in taint(),
            at in any::<proptest::sample::Index>(),
            unschedulable in proptest::option::of(any::<bool>()),
            empty_list in any::<bool>(),
        ) {
            let position = at.index(taints.len() + 1);
            taints.insert(position, Taint { effect: NO_SCHEDULE.to_owned(), ..forced });
            let p = pod_tolerating(empty_list.then(Vec::new));
            prop_assert!(tolerates_taints(&p, &node_with(taints, unschedulable)).is_err());
        }

        #[test]
        fn tolerating_everything_passes_every_taint(
            taints in proptest::collection::vec(taint(), 0..6),
            unschedulable in proptest::option::of(any::<bool>()),
        ) {
            let everything = Toleration {
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            };
            let p = pod_tolerating(Some(vec![everything]));
            prop_assert_eq!(tolerates_taints(&p, &node_with(taints, unschedulable)), Ok(()));
        }
    }
}
