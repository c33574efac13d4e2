//! A refresh's series resolved to the known nodes, once per refresh and off the lock
//! calls take, so that judging a node named in a call takes one lookup.

use tidal_core::load::{Capacity, InvalidSample, LoadSnapshot, Problem};
use tidal_core::node_identity::IdentityMap;

use crate::cluster::Nodes;
use crate::extender::{FastMap, NodeRow, capacity};

pub(crate) struct Resolved {
    pub by_node: FastMap<String, NodeRow>,
    /// Series that match no known node, sorted.
    pub unmapped_series: Vec<String>,
    /// Known nodes no series matches, sorted; not those whose load was implausible.
    pub unmapped_nodes: Vec<String>,
}

impl Resolved {
    /// Resolves each load of `snapshot` to its node. A load with a figure implausible for
    /// its node's size is taken out of the snapshot and listed in its `invalid` samples.
    pub fn new(snapshot: &mut LoadSnapshot, nodes: &Nodes) -> Self {
        let identities = IdentityMap::new(nodes.values());
        let mut by_node = FastMap::default();
        let mut unmapped_series = Vec::new();
        let mut implausible = Vec::new();
        let mut implausible_nodes = Vec::new();
        for (identity, load) in snapshot.iter() {
            let node = identities
                .resolve(identity)
                .and_then(|name| nodes.get(name));
            let allocatable = node.and_then(capacity);
            let size = allocatable
                .filter(Capacity::is_usable)
                .or(load.capacity.filter(Capacity::is_usable));
            let wrong = size.map_or(0, |size| {
                let before = implausible.len();
                implausible.extend(load.implausible(size).map(|(figure, value)| InvalidSample {
                    identity: identity.to_string(),
                    figure,
                    value,
                    problem: Problem::Implausible,
                }));
                implausible.len() - before
            });
            let row = NodeRow {
                load: load.clone(),
                allocatable,
            };
            match node {
                Some(node) if wrong > 0 => implausible_nodes.push(node.name.as_str()),
                Some(node) => {
                    by_node.insert(node.name.clone(), row);
                }
                None => {
                    // Without node names and addresses a series can only be a node by
                    // name: index it so, off the per-call path.
                    if nodes.is_empty() && wrong == 0 {
                        by_node.insert(identity.to_string(), row);
                    }
                    unmapped_series.push(identity.to_string());
                }
            }
        }
        let mut unmapped_nodes: Vec<String> = nodes
            .values()
            .filter(|n| !by_node.contains_key(&n.name))
            .filter(|n| !implausible_nodes.contains(&n.name.as_str()))
            .map(|n| n.name.clone())
            .collect();
        for sample in &implausible {
            snapshot.remove(&sample.identity);
        }
        snapshot.invalid.extend(implausible);
        unmapped_series.sort();
        unmapped_nodes.sort();
        Self {
            by_node,
            unmapped_series,
            unmapped_nodes,
        }
    }

    /// Logs the series and nodes that do not match up. With no node known, only what
    /// could be fixed: series keyed by IP address, which can never match a name.
    pub fn warn_unmapped(&self, nodes_known: usize) {
        let series = &self.unmapped_series;
        if nodes_known == 0 {
            if series.iter().any(|s| s.parse::<std::net::IpAddr>().is_ok()) {
                tracing::warn!(
                    "Prometheus identifies nodes by IP address but no nodes are known (no \
                     Kubernetes access yet): those series match no node name. Give the extender \
                     cluster access, or set load.node_label to a label carrying the node name"
                );
            }
        } else if !series.is_empty() || !self.unmapped_nodes.is_empty() {
            tracing::warn!(
                unmapped_series = ?head(series),
                unmapped_nodes = ?head(&self.unmapped_nodes),
                series = series.len(),
                nodes = self.unmapped_nodes.len(),
                "some Prometheus series and nodes do not match: check load.node_label and \
                 that node-exporter runs on every node (GET /debug/nodes lists them, with \
                 extender.debug_endpoints on)"
            );
        }
    }
}

/// Why a refresh whose answer gives no node a load is not taken as one.
pub(crate) fn no_usable_load(snapshot: &LoadSnapshot, unmapped_series: usize) -> String {
    let invalid = &snapshot.invalid;
    if snapshot.is_empty() && snapshot.incomplete.is_empty() && invalid.is_empty() {
        return "Prometheus answered the load queries with no series; check load.queries and \
                that node-exporter is scraped"
            .to_string();
    }
    let examples: Vec<String> = head(invalid).iter().map(ToString::to_string).collect();
    format!(
        "Prometheus gave no node a usable load: {} loads, {unmapped_series} matching no node; \
         {} series without both averages; {} invalid samples{}. Check load.queries and \
         load.node_label",
        snapshot.len(),
        snapshot.incomplete.len(),
        invalid.len(),
        if examples.is_empty() {
            String::new()
        } else {
            format!(" ({})", examples.join(", "))
        },
    )
}

/// The first few of a list, for logs and messages.
pub(crate) fn head<T>(items: &[T]) -> &[T] {
    &items[..items.len().min(10)]
}
