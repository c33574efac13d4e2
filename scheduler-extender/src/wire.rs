//! The kube-scheduler extender wire format (`k8s.io/kube-scheduler/extender/v1`).
//!
//! The Go types carry no json tags, so their field names are the JSON keys
//! (`Pod`, `Nodes`, `NodeNames`, ...), every field is present and an unset one is
//! `null`. Go matches keys case-insensitively, so lowercase keys are accepted too.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tidal_core::node_identity::NodeInfo;
use tidal_core::resources::allocatable_from;
use tidal_core::scoring::Reason;

/// The body of both `filter` and `prioritize` calls. Node names and raw nodes borrow
/// from the request body: a call can name thousands of nodes.
#[derive(Debug, Deserialize)]
pub struct ExtenderArgs<'a> {
    #[serde(rename = "Pod", alias = "pod")]
    pub pod: Option<Pod>,
    /// Full nodes, sent when the extender is not `nodeCacheCapable`.
    #[serde(rename = "Nodes", alias = "nodes", default, borrow)]
    pub nodes: Option<NodeList<'a>>,
    /// Node names, sent when the extender is `nodeCacheCapable`.
    #[serde(
        rename = "NodeNames",
        alias = "nodenames",
        alias = "nodeNames",
        default,
        borrow
    )]
    pub node_names: Option<Vec<NodeName<'a>>>,
}

/// A node name that borrows from the body unless it had to be unescaped (serde only
/// borrows a `Cow` that is itself a field marked `borrow`, not one inside a `Vec`).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct NodeName<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl AsRef<str> for NodeName<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A `v1.NodeList` whose items are kept as the raw JSON the scheduler sent, so the
/// nodes that pass are returned byte for byte and nothing we do not model is lost.
#[derive(Debug, Deserialize)]
pub struct NodeList<'a> {
    #[serde(default, borrow, deserialize_with = "null_as_empty")]
    pub items: Vec<&'a RawValue>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The parts of a `v1.Node` the extender reads.
#[derive(Debug, Default, Deserialize)]
struct PartialNode {
    #[serde(default)]
    metadata: PartialMeta,
    #[serde(default)]
    status: Option<PartialNodeStatus>,
}

#[derive(Debug, Default, Deserialize)]
struct PartialMeta {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PartialNodeStatus {
    #[serde(default)]
    addresses: Option<Vec<PartialAddress>>,
    allocatable: Option<BTreeMap<String, KubeQuantity>>,
    capacity: Option<BTreeMap<String, KubeQuantity>>,
}

#[derive(Debug, Deserialize)]
struct PartialAddress {
    #[serde(rename = "type")]
    type_: String,
    address: String,
}

/// Reads what the extender needs from one raw node; `Err` names what is wrong.
pub fn node_info(raw: &RawValue) -> Result<NodeInfo, String> {
    let node: PartialNode = serde_json::from_str(raw.get())
        .map_err(|e| format!("a node in Nodes.items is not a v1.Node: {e}"))?;
    let name = node
        .metadata
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "a node in Nodes.items has no metadata.name".to_string())?;
    let status = node.status.unwrap_or_default();
    let addresses = status
        .addresses
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.type_ == "InternalIP")
        .map(|a| a.address)
        .collect();
    let has_resources = status.allocatable.is_some() || status.capacity.is_some();
    let allocatable = has_resources
        .then(|| allocatable_from(status.allocatable.as_ref(), status.capacity.as_ref()));
    Ok(NodeInfo {
        name,
        addresses,
        allocatable,
    })
}

/// The answer to `filter`. Every key is always present, as the Go struct would write it.
#[derive(Debug, Serialize)]
pub struct FilterResult<'a> {
    #[serde(rename = "Nodes")]
    pub nodes: Option<NodeListOut<'a>>,
    #[serde(rename = "NodeNames")]
    pub node_names: Option<Vec<&'a str>>,
    #[serde(rename = "FailedNodes")]
    pub failed_nodes: FailedNodes<'a>,
    #[serde(rename = "FailedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: FailedNodes<'a>,
    #[serde(rename = "Error")]
    pub error: String,
}

/// `map[string]string` of node name to reason, written in the order the nodes were
/// sent (names in a call are unique, so no map is needed to build it).
#[derive(Debug, Default)]
pub struct FailedNodes<'a>(pub Vec<(&'a str, Reason)>);

impl Serialize for FailedNodes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, reason)| (name, reason)))
    }
}

#[derive(Debug, Serialize)]
pub struct NodeListOut<'a> {
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: BTreeMap<(), ()>,
    pub items: Vec<&'a RawValue>,
}

impl<'a> NodeListOut<'a> {
    pub fn new(items: Vec<&'a RawValue>) -> Self {
        Self {
            api_version: "v1",
            kind: "NodeList",
            metadata: BTreeMap::new(),
            items,
        }
    }
}

/// One element of the `prioritize` answer, a bare JSON array.
#[derive(Debug, Serialize)]
pub struct HostPriority<'a> {
    #[serde(rename = "Host")]
    pub host: &'a str,
    #[serde(rename = "Score")]
    pub score: i64,
}
