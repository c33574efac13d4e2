//! PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

use super::status::ApiError;
use serde_json::Value;

/// The patch types kube-apiserver accepts, by `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    /// Applied as a merge patch: lists are replaced, not merged by their patch merge keys.
    StrategicMerge,
    /// Server-side apply, approximated as a merge patch that may create the object.
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies `patch` to `target`, returning the patched document.
pub(crate) fn apply(kind: PatchType, mut target: Value, patch: &Value) -> Result<Value, ApiError> {
    match kind {
        PatchType::Json => {
            let ops = patch.as_array().ok_or_else(|| {
                ApiError::bad_request("json patch must be an array of operations")
            })?;
            for op in ops {
                json_patch_op(&mut target, op)?;
            }
        }
        PatchType::Merge | PatchType::StrategicMerge | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("patch body must be a JSON object"));
            }
            merge(&mut target, patch);
        }
    }
    Ok(target)
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn op_error(op: &Value, why: &str) -> ApiError {
    ApiError::patch_failed(format!("json patch operation {op} failed: {why}"))
}

/// Splits a JSON pointer into its parent pointer and unescaped last token.
fn split_pointer(path: &str) -> Option<(&str, String)> {
    let (parent, last) = path.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn remove_at(doc: &mut Value, path: &str) -> Option<Value> {
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => map.remove(&key),
        Value::Array(items) => {
            let index: usize = key.parse().ok()?;
            (index < items.len()).then(|| items.remove(index))
        }
        _ => None,
    }
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Option<()> {
    if path.is_empty() {
        *doc = value;
        return Some(());
    }
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) if key == "-" => items.push(value),
        Value::Array(items) => {
            let index: usize = key.parse().ok()?;
            if index > items.len() {
                return None;
            }
            items.insert(index, value);
        }
        _ => return None,
    }
    Some(())
}

fn json_patch_op(doc: &mut Value, op: &Value) -> Result<(), ApiError> {
    let name = op.get("op").and_then(Value::as_str).unwrap_or_default();
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| op_error(op, "missing path"))?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| op_error(op, "missing value"))
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| op_error(op, "missing from"))
    };
    let done = match name {
        "add" => add_at(doc, path, value()?),
        "remove" => remove_at(doc, path).map(drop),
        "replace" => {
            let value = value()?;
            doc.pointer_mut(path).map(|slot| *slot = value)
        }
        "test" => (doc.pointer(path) == Some(&value()?)).then_some(()),
        "move" => {
            let moved = remove_at(doc, from()?).ok_or_else(|| op_error(op, "no value at from"))?;
            add_at(doc, path, moved)
        }
        "copy" => {
            let copied = doc
                .pointer(from()?)
                .cloned()
                .ok_or_else(|| op_error(op, "no value at from"))?;
            add_at(doc, path, copied)
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "unexpected json patch operation: {op}"
            )));
        }
    };
    done.ok_or_else(|| op_error(op, "path does not apply to the document"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let target = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1});
        let patch = json!({"a": {"b": null, "d": 3}, "l": [3], "x": null});
        let patched = apply(PatchType::Merge, target, &patch).map_err(|e| e.message);
        assert_eq!(patched, Ok(json!({"a": {"c": 2, "d": 3}, "l": [3]})));
    }

    #[test]
    fn json_patch_ops() {
        let target =
            json!({"spec": {"items": ["a"], "n": 1}, "metadata": {"labels": {"k/x": "v"}}});
        let patch = json!([
            {"op": "test", "path": "/spec/n", "value": 1},
            {"op": "add", "path": "/spec/items/-", "value": "b"},
            {"op": "replace", "path": "/spec/n", "value": 2},
            {"op": "remove", "path": "/metadata/labels/k~1x"},
            {"op": "copy", "from": "/spec/n", "path": "/spec/m"},
            {"op": "move", "from": "/spec/m", "path": "/spec/o"}
        ]);
        let patched = apply(PatchType::Json, target, &patch).map_err(|e| e.message);
        assert_eq!(
            patched,
            Ok(json!({"spec": {"items": ["a", "b"], "n": 2, "o": 2}, "metadata": {"labels": {}}}))
        );
        let failing = json!([{"op": "test", "path": "/spec/n", "value": 5}]);
        assert!(apply(PatchType::Json, json!({"spec": {"n": 1}}), &failing).is_err());
    }
}
