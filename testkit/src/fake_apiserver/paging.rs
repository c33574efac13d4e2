//! Chunked lists (`limit` and `continue`), as kube-apiserver serves them from etcd: every page is
//! read at the revision of the first, the token says where to resume, and a token whose revision
//! has been compacted answers 410 Expired.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::status::ApiError;

/// The only encoding version the real server accepts.
const VERSION: &str = "meta.k8s.io/v1";

/// The real server's message for a token older than the compacted revision; it also offers a
/// token that resumes at the current revision (an inconsistent list), which is not modelled.
pub(crate) const EXPIRED: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter, or use the \
    continue token in this response to retrieve the remainder of the results. Continuing with the \
    provided token results in an inconsistent list - objects that were created, modified, or \
    deleted between the time the first chunk was returned and now may show up in the list.";

/// A list continuation as `storage.EncodeContinue` writes it: base64 of
/// `{"v":"meta.k8s.io/v1","rv":<revision of the first page>,"start":"<next etcd key>"}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Continue {
    v: String,
    pub rv: u64,
    /// Objects are listed from this etcd key on (`namespace/name`).
    pub start: String,
}

impl Continue {
    /// Resumes right after `last`, the etcd key of the last object sent.
    pub fn after(rv: u64, last: &str) -> Self {
        Self {
            v: VERSION.to_string(),
            rv,
            start: format!("{last}\0"),
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// `storage.DecodeContinue`, with the real server's messages.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| {
            ApiError::bad_request(format!(
                "invalid continue token: continue key is not valid: {why}"
            ))
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|e| invalid(e.to_string()))?;
        let decoded: Self = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if decoded.v != VERSION {
            return Err(invalid("server does not recognize this encoding".into()));
        }
        if decoded.rv == 0 {
            return Err(invalid(format!(
                "incorrect encoded start resourceVersion (version {VERSION})"
            )));
        }
        if decoded.start.is_empty() {
            return Err(invalid("encoded start key empty".into()));
        }
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let token = Continue::after(42, "ns/web-1").encode();
        let decoded = Continue::decode(&token).map_err(|e| e.message);
        assert_eq!(
            decoded.map(|c| (c.rv, c.start)),
            Ok((42, "ns/web-1\0".to_string()))
        );
        let wrong_version = URL_SAFE_NO_PAD.encode(r#"{"v":"v2","rv":1,"start":"a"}"#);
        let no_revision = URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#);
        for (token, why) in [
            ("%%%", "Invalid symbol"),
            (
                wrong_version.as_str(),
                "server does not recognize this encoding",
            ),
            (
                no_revision.as_str(),
                "incorrect encoded start resourceVersion",
            ),
        ] {
            let err = Continue::decode(token).err().map(|e| (e.code, e.message));
            assert!(
                err.as_ref().is_some_and(|(code, message)| *code == 400
                    && message.starts_with("invalid continue token: continue key is not valid: ")
                    && message.contains(why)),
                "{token}: {err:?}"
            );
        }
    }
}
