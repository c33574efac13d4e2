//! `labelSelector` and `fieldSelector` query parameters, with the grammar of
//! `k8s.io/apimachinery/pkg/labels` and `.../fields` and the per-resource field
//! labels the real registries accept.

use super::resources::ResourceDef;
use super::status::ApiError;
use serde_json::Value;

#[derive(Debug, PartialEq)]
enum LabelOp {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// A conjunction of label requirements; empty matches everything.
#[derive(Debug, Default)]
pub(crate) struct LabelSelector(Vec<(String, LabelOp)>);

/// A conjunction of `field=value` / `field!=value` terms, checked against the resource's field labels.
#[derive(Debug, Default)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

/// Splits on commas outside parentheses (`a in (x,y),b` is two requirements).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn parse_requirement(req: &str) -> Option<(String, LabelOp)> {
    let req = req.trim();
    if let Some(key) = req.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| (key.to_string(), LabelOp::NotExists));
    }
    let (key, op) = if let Some((key, value)) = req.split_once("!=") {
        (key, LabelOp::NotEquals(value.trim().to_string()))
    } else if let Some((key, value)) = req.split_once("==") {
        (key, LabelOp::Equals(value.trim().to_string()))
    } else if let Some((key, value)) = req.split_once('=') {
        (key, LabelOp::Equals(value.trim().to_string()))
    } else if let Some((key, rest)) = req.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        if let Some(set) = rest.strip_prefix("notin") {
            (key, LabelOp::NotIn(parse_set(set)?))
        } else if let Some(set) = rest.strip_prefix("in") {
            (key, LabelOp::In(parse_set(set)?))
        } else {
            return None;
        }
    } else {
        (req, LabelOp::Exists)
    };
    let key = key.trim();
    valid_key(key).then(|| (key.to_string(), op))
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        split_top_level(s)
            .into_iter()
            .map(|req| {
                parse_requirement(req).ok_or_else(|| {
                    ApiError::bad_request(format!("unable to parse requirement: found '{req}'"))
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.0.iter().all(|(key, op)| {
            let value = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            match op {
                LabelOp::Exists => value.is_some(),
                LabelOp::NotExists => value.is_none(),
                LabelOp::Equals(want) => value == Some(want.as_str()),
                LabelOp::NotEquals(want) => value != Some(want.as_str()),
                LabelOp::In(set) => value.is_some_and(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => !value.is_some_and(|v| set.iter().any(|s| s == v)),
            }
        })
    }
}

/// The value of field label `field` on `obj`, or `None` if `res` does not support that label.
fn field_value(res: &ResourceDef, obj: &Value, field: &str) -> Option<String> {
    let (pointer, absent) = match field {
        "metadata.name" => ("/metadata/name", ""),
        "metadata.namespace" => ("/metadata/namespace", ""),
        _ => res
            .fields
            .iter()
            .find(|(name, _, _)| *name == field)
            .map(|(_, pointer, absent)| (*pointer, *absent))?,
    };
    Some(match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => absent.to_string(),
        Some(other) => other.to_string(),
    })
}

impl FieldSelector {
    pub fn parse(s: &str, res: &ResourceDef) -> Result<Self, ApiError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut terms = Vec::new();
        for term in s.split(',') {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if field_value(res, &Value::Null, field).is_none() {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), equal, value.to_string()));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, res: &ResourceDef, obj: &Value) -> bool {
        self.0.iter().all(|(field, equal, want)| {
            (field_value(res, obj, field).as_deref() == Some(want.as_str())) == *equal
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Default)]
pub(crate) struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn matches(&self, res: &ResourceDef, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(res, obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_apiserver::resources::find;
    use serde_json::json;

    fn pod(labels: Value, node: Option<&str>) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": node}})
    }

    #[test]
    fn label_requirements() {
        let obj = pod(json!({"app": "web", "tier": "front"}), None);
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web,tier", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("!missing", true),
            ("!app", false),
            ("app in (db, web),tier notin (back)", true),
            ("app notin (web)", false),
            ("app=web,tier=back", false),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).map_err(|e| e.message);
            assert_eq!(parsed.map(|s| s.matches(&obj)), Ok(expected), "{selector}");
        }
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("app in x").is_err());
    }

    #[test]
    fn pod_field_labels() {
        let Some(pods) = find("", "v1", "pods") else {
            panic!("pods are registered");
        };
        let bound = pod(json!({}), Some("n1"));
        let unbound = pod(json!({}), None);
        let select = |s: &str| FieldSelector::parse(s, pods).map_err(|e| e.message);
        let empty_node = select("spec.nodeName=");
        assert_eq!(
            empty_node.as_ref().map(|s| s.matches(pods, &unbound)),
            Ok(true)
        );
        assert_eq!(
            empty_node.as_ref().map(|s| s.matches(pods, &bound)),
            Ok(false)
        );
        let on_n1 = select("spec.nodeName=n1,metadata.namespace==ns,metadata.name!=q");
        assert_eq!(on_n1.map(|s| s.matches(pods, &bound)), Ok(true));
        assert_eq!(
            select("spec.bogus=x").err(),
            Some("field label not supported: spec.bogus".to_string())
        );
    }
}
