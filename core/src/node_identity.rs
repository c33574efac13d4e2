//! Mapping Prometheus series to Kubernetes nodes.
//!
//! node-exporter's `instance` label is `IP:port` in many installs, the node name in
//! kube-prometheus (which relabels it), and some setups carry a separate `node`
//! label. We take the configured label, strip any port, and match the result
//! against node names first and InternalIPs second.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::NodeAddress;

use crate::resources::{ResourceList, Resources, allocatable_from};

/// What Tidal knows about a node from Kubernetes (a watch, or a scheduler request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    /// InternalIP addresses.
    pub addresses: Vec<String>,
    /// `status.allocatable`; `None` when only the name is known.
    pub allocatable: Option<Resources>,
}

impl NodeInfo {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn from_node(node: &k8s_openapi::api::core::v1::Node) -> Option<Self> {
        let status = node.status.as_ref();
        Some(Self::from_status(
            node.metadata.name.clone()?,
            status
                .and_then(|s| s.addresses.as_deref())
                .unwrap_or_default(),
            status.and_then(|s| s.allocatable.as_ref()),
            status.and_then(|s| s.capacity.as_ref()),
        ))
    }

    /// From a node's name and `status` fields, for a copy that kept only those.
    pub fn from_status(
        name: String,
        addresses: &[NodeAddress],
        allocatable: Option<&ResourceList>,
        capacity: Option<&ResourceList>,
    ) -> Self {
        let has_resources = allocatable.is_some() || capacity.is_some();
        Self {
            name,
            addresses: addresses
                .iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect(),
            allocatable: has_resources.then(|| allocatable_from(allocatable, capacity)),
        }
    }
}

/// Strips a trailing `:port` from a label value: `10.0.0.1:9100` → `10.0.0.1`,
/// `[fd00::1]:9100` → `fd00::1`, `node-a:9100` → `node-a`; a bare IPv6 address is kept.
pub fn strip_port(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']').map_or(value, |(host, _)| host);
    }
    match value.rsplit_once(':') {
        // More than one colon without brackets is a bare IPv6 address.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => value,
    }
}

/// Resolves a series' identity (label value with the port stripped) to a node name.
#[derive(Debug, Default)]
pub struct IdentityMap {
    by_name: HashMap<String, String>,
    by_address: HashMap<String, String>,
}

impl IdentityMap {
    pub fn new<'a>(nodes: impl IntoIterator<Item = &'a NodeInfo>) -> Self {
        let mut map = Self::default();
        for node in nodes {
            map.by_name.insert(node.name.clone(), node.name.clone());
            for address in &node.addresses {
                map.by_address.insert(address.clone(), node.name.clone());
            }
        }
        map
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The node a label value belongs to. Names win over addresses, so a node named
    /// like another node's IP (unusual, but legal) still maps to itself.
    pub fn resolve(&self, label_value: &str) -> Option<&str> {
        let identity = strip_port(label_value);
        self.by_name
            .get(identity)
            .or_else(|| self.by_address.get(identity))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_of_every_form() {
        assert_eq!(strip_port("10.0.0.1:9100"), "10.0.0.1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
        assert_eq!(strip_port("node-a:9100"), "node-a");
        assert_eq!(strip_port("node-a"), "node-a");
        assert_eq!(strip_port("[fd00::1]:9100"), "fd00::1");
        assert_eq!(strip_port("fd00::1"), "fd00::1");
        assert_eq!(strip_port("host:http"), "host:http");
        assert_eq!(strip_port("[broken"), "[broken");
    }

    #[test]
    fn resolves_by_name_then_address() {
        let nodes = [
            NodeInfo {
                name: "node-a".into(),
                addresses: vec!["10.0.0.1".into()],
                allocatable: None,
            },
            NodeInfo {
                name: "10.0.0.9".into(),
                addresses: vec!["10.0.0.2".into()],
                allocatable: None,
            },
        ];
        let map = IdentityMap::new(&nodes);
        assert_eq!(map.resolve("10.0.0.1:9100"), Some("node-a"));
        assert_eq!(map.resolve("node-a"), Some("node-a"));
        assert_eq!(map.resolve("10.0.0.9:9100"), Some("10.0.0.9"));
        assert_eq!(map.resolve("10.0.0.2"), Some("10.0.0.9"));
        assert_eq!(map.resolve("10.0.0.3:9100"), None);
    }
}
