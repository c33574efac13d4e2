//! Kubernetes API failures in words an operator can act on: a permission problem names the
//! verb and resource refused, a connection problem names the server and its cause.

use tidal_core::prometheus::root_cause;

/// One sentence for `error`, met while trying to `verb` `resource` (e.g. `list`,
/// `poddisruptionbudgets`) at `server`.
pub fn describe(error: &kube::Error, server: &str, verb: &str, resource: &str) -> String {
    match error {
        // RBAC's refusal reads `User "..." cannot <verb> resource "..."`; other 403s (an
        // admission webhook, a misconfigured PodDisruptionBudget) are no permission problem.
        kube::Error::Api(status) if status.code == 403 && status.message.contains(" cannot ") => {
            format!(
                "the API server at {server} forbids this identity to {verb} {resource} (403 Forbidden: {}); \
             grant it, e.g. with the ClusterRole in deploy/descheduler.yaml, and check with \
             `kubectl auth can-i {verb} {resource}`",
                status.message
            )
        }
        kube::Error::Api(status) if status.code == 401 => format!(
            "the API server at {server} rejected the credentials (401 Unauthorized: {}); check the \
             kubeconfig's user or the service account token",
            status.message
        ),
        kube::Error::Api(status) => format!(
            "the API server at {server} answered {} {} to {verb} {resource}: {}",
            status.code, status.reason, status.message
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => format!(
            "cannot reach the API server at {server} to {verb} {resource} ({}); check the \
             kubeconfig's server address, the network and the API server",
            root_cause(error)
        ),
        other => format!(
            "cannot {verb} {resource} at {server}: {}",
            root_cause(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn permission_problems_name_the_verb_and_resource() {
        let rbac = api(
            403,
            "Forbidden",
            r#"pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods" in API group "" at the cluster scope"#,
        );
        let text = describe(&rbac, "https://10.0.0.1:6443/", "list", "pods");
        assert!(text.starts_with("the API server at https://10.0.0.1:6443/ forbids this identity to list pods (403 Forbidden: pods is forbidden"), "{text}");
        assert!(text.contains("kubectl auth can-i list pods"), "{text}");

        let budget = api(
            403,
            "Forbidden",
            "pod disruption budget web is misconfigured",
        );
        let text = describe(&budget, "https://k", "create", "pods/eviction");
        assert_eq!(
            text,
            "the API server at https://k answered 403 Forbidden to create pods/eviction: pod disruption budget web is misconfigured"
        );
        let expired = api(401, "Unauthorized", "Unauthorized");
        assert!(
            describe(&expired, "https://k", "list", "pods").contains("rejected the credentials")
        );
    }
}
