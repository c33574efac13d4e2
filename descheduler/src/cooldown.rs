//! When each workload was last evicted from, kept between runs in one ConfigMap, so a
//! CronJob (which remembers nothing) does not churn the same workload every run.
//!
//! Keys are `{kind}_{namespace}_{name}` (`_` appears in none of them, so a key splits
//! back unambiguously); values are RFC 3339 times, readable with `kubectl get cm -o yaml`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::model::WorkloadRef;

/// Last eviction per workload.
pub type Cooldowns = BTreeMap<WorkloadRef, SystemTime>;

/// Where the state lives.
#[derive(Debug, Clone)]
pub struct CooldownStore {
    pub namespace: String,
    pub name: String,
}

const FIELD_MANAGER: &str = "tidal-descheduler";

impl CooldownStore {
    /// Reads the state; a missing ConfigMap is an empty state (the first run).
    pub async fn load(&self, client: &kube::Client) -> Result<Cooldowns, kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &self.namespace);
        let data = api
            .get_opt(&self.name)
            .await?
            .and_then(|cm| cm.data)
            .unwrap_or_default();
        Ok(decode(&data))
    }

    /// Records this run's evictions and drops entries whose cooldown has passed.
    pub async fn save(
        &self,
        client: &kube::Client,
        mut cooldowns: Cooldowns,
        evicted: impl IntoIterator<Item = WorkloadRef>,
        now: SystemTime,
        cooldown: Duration,
    ) -> Result<(), kube::Error> {
        cooldowns.extend(evicted.into_iter().map(|w| (w, now)));
        cooldowns.retain(|_, at| now.duration_since(*at).unwrap_or_default() < cooldown);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &self.namespace);
        // Server-side apply with force: the whole data map is ours, and the ConfigMap is
        // created on the first run.
        let config_map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "labels": {"app.kubernetes.io/part-of": "tidal"}},
            "data": encode(&cooldowns),
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&self.name, &params, &Patch::Apply(config_map))
            .await?;
        Ok(())
    }
}

fn key(w: &WorkloadRef) -> String {
    format!("{}_{}_{}", w.kind, w.namespace, w.name)
}

fn encode(cooldowns: &Cooldowns) -> BTreeMap<String, String> {
    cooldowns
        .iter()
        .filter_map(|(w, at)| Some((key(w), Timestamp::try_from(*at).ok()?.to_string())))
        .collect()
}

/// Entries that do not parse (edited by hand, say) are dropped: forgetting a cooldown
/// risks one extra eviction, within every other guard.
fn decode(data: &BTreeMap<String, String>) -> Cooldowns {
    data.iter()
        .filter_map(|(key, value)| {
            let mut parts = key.splitn(3, '_');
            let workload = WorkloadRef {
                kind: parts.next()?.to_string(),
                namespace: parts.next()?.to_string(),
                name: parts.next()?.to_string(),
            };
            let at = SystemTime::from(value.parse::<Timestamp>().ok()?);
            Some((workload, at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_drops_what_does_not_parse() {
        let web = WorkloadRef {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web.v2".into(),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_900_000);
        let cooldowns = Cooldowns::from([(web.clone(), at)]);
        let mut data = encode(&cooldowns);
        assert_eq!(
            data.get("Deployment_shop_web.v2").map(String::as_str),
            Some("2025-11-23T12:13:20Z")
        );
        data.insert("garbage".into(), "yesterday".into());
        data.insert("Deployment_shop_db".into(), "not a time".into());
        assert_eq!(decode(&data), cooldowns);
    }
}
