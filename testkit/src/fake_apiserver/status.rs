//! `metav1.Status` bodies, built the way kube-apiserver's `errors.New*` helpers build them,
//! so clients decode them into `kube::Error::Api` with the real code and reason.

use super::resources::ResourceDef;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered as a `Status` with `status: Failure`.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    /// Empty for errors the real server did not classify (it omits `reason` then).
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Sent as `details.retryAfterSeconds` and a `Retry-After` header.
    pub retry_after: Option<u32>,
}

/// One `details.causes` entry of an `Invalid` error.
pub(crate) struct FieldCause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldCause {
    pub fn required(field: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.to_string(),
            message: format!("Required value: {detail}"),
        }
    }

    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.to_string(),
            message: format!("Invalid value: \"{value}\": {detail}"),
        }
    }

    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden",
            field: field.to_string(),
            message: format!("Forbidden: {detail}"),
        }
    }
}

/// `details` naming an object: `kind` carries the resource (plural), as the real server does.
fn object_details(group: &str, resource: &str, name: &str) -> Value {
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(resource));
    Value::Object(details)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified()),
        )
        .with_details(object_details(res.group, res.plural, name))
    }

    /// A path no route serves.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", res.qualified()),
        )
        .with_details(object_details(res.group, res.plural, name))
    }

    /// `errors.NewConflict`; `resource` is a plural such as `pods` or `pods/binding`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"),
        )
        .with_details(object_details(group, resource, name))
    }

    /// The optimistic-concurrency conflict of an update with a stale `resourceVersion`.
    pub fn stale(res: &ResourceDef, name: &str) -> Self {
        Self::conflict(
            res.group,
            res.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `errors.NewInvalid` for `kind` in `group` (e.g. `Pod` in core, `ListOptions` in `meta.k8s.io`).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldCause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let summary: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let summary = match summary.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        let mut details = object_details(group, kind, name);
        if let Some(map) = details.as_object_mut() {
            map.insert("causes".into(), Value::Array(causes));
        }
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {summary}"),
        )
        .with_details(details)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn unsupported_patch_type() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, \
             application/apply-patch+yaml, application/strategic-merge-patch+json",
        )
    }

    /// A patch that does not apply (`NewGenericServerResponse(422, ...)` in the patch handler).
    pub fn patch_failed(why: String) -> Self {
        Self::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": why}]}))
    }

    /// 410 Gone: the requested history is no longer kept.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A `resourceVersion` newer than anything stored (`storage.NewTooLargeResourceVersionError`).
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut err = Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
        )
        .with_details(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]
        }));
        err.retry_after = Some(1);
        err
    }

    /// `errors.NewForbidden` for `resource` in `group` (e.g. `poddisruptionbudget` in `policy`).
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        Self::new(
            403,
            "Forbidden",
            format!("{qualified} \"{name}\" is forbidden: {why}"),
        )
        .with_details(object_details(group, resource, name))
    }

    /// The authorizer's refusal (`errors.NewForbidden` with RBAC's reason) for the identity the
    /// fake's kubeconfig names.
    pub fn forbidden_by_rbac(
        res: &ResourceDef,
        verb: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        let qualified = if res.group.is_empty() {
            res.plural.to_string()
        } else {
            format!("{}.{}", res.plural, res.group)
        };
        let subject = if name.is_empty() {
            qualified
        } else {
            format!("{qualified} \"{name}\"")
        };
        let scope = match namespace {
            Some(ns) if !ns.is_empty() => format!("in the namespace \"{ns}\""),
            _ => "at the cluster scope".to_string(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"system:serviceaccount:tidal-system:tidal\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                res.plural, res.group
            ),
        )
        .with_details(object_details(res.group, res.plural, name))
    }

    /// `errors.NewTooManyRequests` with one typed cause; `retry_after` 0 sends no `Retry-After`.
    pub fn too_many_requests(
        message: &str,
        retry_after: u32,
        cause: &str,
        cause_message: String,
    ) -> Self {
        let mut err = Self::new(429, "TooManyRequests", message)
            .with_details(json!({"causes": [{"reason": cause, "message": cause_message}]}));
        err.retry_after = (retry_after > 0).then_some(retry_after);
        err
    }

    /// An error the real server did not wrap in a typed Status: code 500, no reason.
    /// `errors.NewServiceUnavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    pub fn to_status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), json!("Status"));
        status.insert("apiVersion".into(), json!("v1"));
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), json!("Failure"));
        status.insert("message".into(), json!(self.message));
        if !self.reason.is_empty() {
            status.insert("reason".into(), json!(self.reason));
        }
        let mut details = self.details.clone();
        if let Some(secs) = self.retry_after {
            let map = details.get_or_insert_with(|| json!({}));
            if let Some(map) = map.as_object_mut() {
                map.insert("retryAfterSeconds".into(), json!(secs));
            }
        }
        if let Some(details) = details {
            status.insert("details".into(), details);
        }
        status.insert("code".into(), json!(self.code));
        Value::Object(status)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(code, &self.to_status());
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A `Status` with `status: Success`, as answered by subresources such as `pods/binding`.
pub(crate) fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
