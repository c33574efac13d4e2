//! Prices per resource-hour, resolved per node.
//!
//! OpenCost's defaults (its `configs/default.json`, GCP us-central1) apply unless overridden.
//! A node whose instance type has an hourly price gets that price split across CPU and memory
//! by a CPU:memory price ratio, as OpenCost does when only the node total is known:
//! `memory = total / (cores × ratio + GiB)`, `cpu = memory × ratio`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hours in a month, as OpenCost counts them.
pub const HOURS_PER_MONTH: f64 = 730.0;
pub const GIB: f64 = (1u64 << 30) as f64;

/// The `cost.prices` config section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceConfig {
    /// On-demand price of one vCPU for one hour.
    pub cpu_core_hour: f64,
    /// On-demand price of one GiB of memory for one hour.
    pub memory_gib_hour: f64,
    pub spot_cpu_core_hour: f64,
    pub spot_memory_gib_hour: f64,
    /// How many times a core costs more than a GiB when a node's hourly price is split;
    /// default: the ratio of `cpu_core_hour` to `memory_gib_hour`.
    pub cpu_to_memory_ratio: Option<f64>,
    /// Hourly node prices by instance type (the value of one of `instance_type_labels`).
    pub instance_types: BTreeMap<String, InstanceTypePrice>,
    /// Node labels that name the instance type, tried in order.
    pub instance_type_labels: Vec<String>,
    /// A node is spot when it has one of these labels with the given value.
    pub spot_labels: BTreeMap<String, String>,
    /// Printed before amounts, e.g. `$` or `€`.
    pub currency: String,
}

/// Hourly price of a whole node of one instance type.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypePrice {
    pub on_demand: f64,
    /// Spot price; spot nodes of a type without one use the per-resource spot prices.
    pub spot: Option<f64>,
}

impl Default for PriceConfig {
    fn default() -> Self {
        let spot = [
            ("karpenter.sh/capacity-type", "spot"),
            ("eks.amazonaws.com/capacityType", "SPOT"),
            ("cloud.google.com/gke-spot", "true"),
            ("cloud.google.com/gke-preemptible", "true"),
            ("kubernetes.azure.com/scalesetpriority", "spot"),
        ];
        Self {
            cpu_core_hour: 0.031611,
            memory_gib_hour: 0.004237,
            spot_cpu_core_hour: 0.006655,
            spot_memory_gib_hour: 0.000892,
            cpu_to_memory_ratio: None,
            instance_types: BTreeMap::new(),
            instance_type_labels: vec![
                "node.kubernetes.io/instance-type".to_string(),
                "beta.kubernetes.io/instance-type".to_string(),
            ],
            spot_labels: spot
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            currency: "$".to_string(),
        }
    }
}

/// What one node's resources cost per hour, and where that came from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePrice {
    pub cpu_core_hour: f64,
    pub memory_gib_hour: f64,
    pub spot: bool,
    pub instance_type: Option<String>,
    /// `instance type`, `default` or `default (no price for <type>)`.
    pub source: String,
}

impl PriceConfig {
    /// Checks what serde cannot: prices are finite and not negative.
    pub fn validate(&self) -> Result<(), String> {
        let named = [
            ("cpu_core_hour", self.cpu_core_hour),
            ("memory_gib_hour", self.memory_gib_hour),
            ("spot_cpu_core_hour", self.spot_cpu_core_hour),
            ("spot_memory_gib_hour", self.spot_memory_gib_hour),
        ];
        for (name, value) in named {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!(
                    "cost.prices.{name} must be a price ≥ 0, not {value}"
                ));
            }
        }
        if let Some(r) = self.cpu_to_memory_ratio
            && !(r.is_finite() && r > 0.0)
        {
            return Err(format!(
                "cost.prices.cpu_to_memory_ratio must be > 0, not {r}"
            ));
        }
        for (name, p) in &self.instance_types {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if !ok(p.on_demand) || p.spot.is_some_and(|s| !ok(s)) {
                return Err(format!(
                    "cost.prices.instance_types.{name}: prices must be ≥ 0"
                ));
            }
        }
        Ok(())
    }

    /// The price of a node from the labels of its `kube_node_labels` series (names as
    /// kube-state-metrics writes them, `label_...`) and its capacity (cores, bytes).
    pub fn node_price(
        &self,
        labels: &BTreeMap<String, String>,
        cores: f64,
        bytes: f64,
    ) -> NodePrice {
        let label = |k: &str| labels.get(&ksm_label_name(k));
        let spot = self
            .spot_labels
            .iter()
            .any(|(k, v)| label(k).is_some_and(|actual| actual.eq_ignore_ascii_case(v)));
        let instance_type = self
            .instance_type_labels
            .iter()
            .find_map(|k| label(k))
            .cloned();
        let (cpu, memory) = if spot {
            (self.spot_cpu_core_hour, self.spot_memory_gib_hour)
        } else {
            (self.cpu_core_hour, self.memory_gib_hour)
        };
        let default = |source: String| NodePrice {
            cpu_core_hour: cpu,
            memory_gib_hour: memory,
            spot,
            instance_type: instance_type.clone(),
            source,
        };
        let Some(name) = &instance_type else {
            return default("default".to_string());
        };
        let Some(price) = self.instance_types.get(name) else {
            return default(if self.instance_types.is_empty() {
                "default".to_string()
            } else {
                format!("default (no price for {name})")
            });
        };
        let total = match (spot, price.spot) {
            (true, Some(s)) => s,
            (true, None) => return default(format!("default spot (no spot price for {name})")),
            (false, _) => price.on_demand,
        };
        let ratio = self
            .cpu_to_memory_ratio
            .unwrap_or(self.cpu_core_hour / self.memory_gib_hour);
        let weight = cores * ratio + bytes / GIB;
        if !(weight.is_finite() && weight > 0.0) {
            return default(format!("default (capacity of {name} unknown)"));
        }
        let memory = total / weight;
        NodePrice {
            cpu_core_hour: memory * ratio,
            memory_gib_hour: memory,
            spot,
            instance_type: instance_type.clone(),
            source: "instance type".to_string(),
        }
    }
}

/// A Kubernetes label name as kube-state-metrics exports it on `kube_node_labels`:
/// `label_` and every character outside `[a-zA-Z0-9_]` replaced by `_`.
pub fn ksm_label_name(name: &str) -> String {
    let sanitized: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("label_{sanitized}")
}
