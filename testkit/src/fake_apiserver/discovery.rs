//! Discovery and version endpoints (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`),
//! enough for `Client::apiserver_version` and `kube::Discovery` over the served types.

use super::resources::{self, RESOURCES};
use serde_json::{Value, json};
use std::net::SocketAddr;

pub(crate) enum Discovery {
    Version,
    ApiVersions,
    ApiGroups,
    ApiResources(&'static str, &'static str),
}

pub(crate) fn answer(discovery: Discovery, addr: SocketAddr) -> Value {
    match discovery {
        Discovery::Version => version(),
        Discovery::ApiVersions => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}],
        }),
        Discovery::ApiGroups => api_groups(),
        Discovery::ApiResources(group, version) => api_resources(group, version),
    }
}

/// A plausible v1.33.0 build.
fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn api_groups() -> Value {
    let groups: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(group, _)| !group.is_empty())
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_resources(group: &str, version: &str) -> Value {
    const VERBS: [&str; 8] = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut list = Vec::new();
    for res in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        list.push(json!({
            "name": res.plural,
            "singularName": res.kind.to_lowercase(),
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": VERBS,
        }));
        if res.status_subresource {
            list.push(json!({
                "name": format!("{}/status", res.plural),
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if group.is_empty() && res.plural == "pods" {
            list.push(json!({
                "name": "pods/binding",
                "singularName": "",
                "namespaced": true,
                "kind": "Binding",
                "verbs": ["create"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}
