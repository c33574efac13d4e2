//! A stand-in for kube-scheduler's use of an extender: for each pod, `filter` then
//! `prioritize` over HTTP exactly as the scheduler sends them, pick the best node,
//! and bind the pod through the fake API server, without waiting for anything.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::fake_apiserver::FakeApiServer;

pub struct SchedulerSim<'a> {
    http: reqwest::Client,
    /// `urlPrefix` of the extender, e.g. `http://127.0.0.1:8888/scheduler`.
    prefix: String,
    api: &'a FakeApiServer,
}

/// What happened to one pod.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The node the pod was bound to; `None` when the filter left no node.
    pub node: Option<String>,
    pub scores: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, String>,
}

impl<'a> SchedulerSim<'a> {
    pub fn new(prefix: impl Into<String>, api: &'a FakeApiServer) -> Self {
        Self {
            http: reqwest::Client::new(),
            prefix: prefix.into(),
            api,
        }
    }

    /// Schedules one pod (already stored in the API server) onto one of `nodes`. Ties
    /// go to the first node in name order: the worst case for herding, where a
    /// scheduler with no load signal would send a whole burst to one node.
    pub async fn schedule(&self, pod: &Pod, nodes: &[String]) -> anyhow::Result<Placement> {
        let args = json!({"Pod": pod, "Nodes": null, "NodeNames": nodes});
        let filtered = self.call("filter", &args).await?;
        let passed: Vec<String> = serde_json::from_value(filtered["NodeNames"].clone())
            .map_err(|e| anyhow::anyhow!("filter answer without NodeNames: {e}: {filtered}"))?;
        let failed: BTreeMap<String, String> =
            serde_json::from_value(filtered["FailedNodes"].clone()).unwrap_or_default();
        if passed.is_empty() {
            return Ok(Placement {
                node: None,
                scores: BTreeMap::new(),
                failed,
            });
        }
        let args = json!({"Pod": pod, "Nodes": null, "NodeNames": passed});
        let answer = self.call("prioritize", &args).await?;
        let scores: BTreeMap<String, i64> = answer
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("prioritize answer is not an array: {answer}"))?
            .iter()
            .filter_map(|e| Some((e["Host"].as_str()?.to_string(), e["Score"].as_i64()?)))
            .collect();
        let best = scores.values().copied().max().unwrap_or(0);
        let node = passed
            .iter()
            .filter(|n| scores.get(*n).copied().unwrap_or(0) == best)
            .min()
            .cloned();
        if let Some(node) = &node {
            let meta = &pod.metadata;
            let namespace = meta.namespace.as_deref().unwrap_or("default");
            self.api
                .bind_pod(namespace, meta.name.as_deref().unwrap_or_default(), node)?;
        }
        Ok(Placement {
            node,
            scores,
            failed,
        })
    }

    async fn call(&self, verb: &str, args: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/{verb}", self.prefix))
            .json(args)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{verb} answered {status}: {body}");
        Ok(body)
    }
}
