//! A small client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`).
//!
//! It speaks to anything that implements that API — Prometheus, Thanos, Mimir,
//! VictoriaMetrics, Grafana Cloud — with bearer-token or basic auth and a custom CA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where Prometheus is and how to authenticate to it (the `prometheus:` config section).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the HTTP API, without `/api/v1`.
    pub url: String,
    /// Timeout of one query, connecting included.
    #[serde(with = "crate::duration_text")]
    pub timeout: Duration,
    /// File holding a bearer token; read on every query so rotated tokens are picked up.
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth: Option<BasicAuth>,
    /// PEM file with extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    /// Extra HTTP headers on every query, e.g. `X-Scope-OrgID: tenant-1` for Mimir, Cortex or a
    /// multi-tenant Thanos.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            // The Service the Prometheus Operator creates for every Prometheus in kube-prometheus-stack.
            url: "http://prometheus-operated.monitoring.svc:9090".to_string(),
            timeout: Duration::from_secs(10),
            bearer_token_file: None,
            basic_auth: None,
            ca_file: None,
            insecure_skip_verify: false,
            headers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    /// File holding the password; read on every query.
    pub password_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("invalid Prometheus configuration: {0}")]
    Config(String),
    /// `cause` is the innermost error (connection refused, a DNS or TLS failure), which
    /// is what tells one failure from another; reqwest's own message is the same for all.
    #[error(
        "cannot reach Prometheus at {url}: {cause}; check prometheus.url (or --prometheus-url) and that Prometheus is running"
    )]
    Unreachable { url: String, cause: String },
    #[error(
        "Prometheus at {url} did not answer within {timeout:?}; raise prometheus.timeout (cost.query_timeout for cost reports and simulate --from-prometheus) or check its load"
    )]
    Timeout { url: String, timeout: Duration },
    #[error("Prometheus rejected query `{query}` (HTTP {status}, {error_type}): {message}")]
    Rejected {
        query: String,
        status: u16,
        error_type: String,
        message: String,
    },
    /// An HTTP error status without Prometheus's JSON error body, as a proxy or a
    /// starting Prometheus sends it.
    #[error(
        "Prometheus at {url} answered HTTP {status} for `{query}`: {body:?}; it may be restarting or overloaded, try again later"
    )]
    Unavailable {
        url: String,
        query: String,
        status: u16,
        body: String,
    },
    #[error("unexpected answer from Prometheus for `{query}`: {detail}")]
    Decode { query: String, detail: String },
    #[error("cannot read credentials from {path}: {source}")]
    Credentials {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PrometheusError {
    /// Whether the same query may succeed when tried again: timeouts, connection
    /// errors, 5xx and 429. A rejected query (4xx) fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Unavailable { .. } => true,
            Self::Rejected { status, .. } => *status >= 500 || *status == 429,
            Self::Config(_) | Self::Decode { .. } | Self::Credentials { .. } => false,
        }
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// Evaluation time of the query, in Unix seconds.
    pub timestamp: f64,
    pub value: f64,
}

/// One series of a range-query matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// `(Unix seconds, value)` in time order.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<BasicAuth>,
}

impl PrometheusClient {
    pub fn new(config: &PrometheusConfig) -> Result<Self, PrometheusError> {
        let url = url::Url::parse(&config.url).map_err(|e| {
            PrometheusError::Config(format!("prometheus.url {:?}: {e}", config.url))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PrometheusError::Config(format!(
                "prometheus.url {:?} must start with http:// or https://",
                config.url
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let bad = |e: &dyn std::fmt::Display| {
                PrometheusError::Config(format!("prometheus.headers {name:?}: {e}"))
            };
            let name = reqwest::header::HeaderName::try_from(name.as_str()).map_err(|e| bad(&e))?;
            let value =
                reqwest::header::HeaderValue::try_from(value.as_str()).map_err(|e| bad(&e))?;
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(90))
            .danger_accept_invalid_certs(config.insecure_skip_verify);
        if let Some(ca_file) = &config.ca_file {
            let pem = std::fs::read(ca_file).map_err(|source| PrometheusError::Credentials {
                path: ca_file.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                PrometheusError::Config(format!("prometheus.ca_file {}: {e}", ca_file.display()))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| PrometheusError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: config.url.trim_end_matches('/').to_string(),
            timeout: config.timeout,
            bearer_token_file: config.bearer_token_file.clone(),
            basic_auth: config.basic_auth.clone(),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Runs an instant query; `at` defaults to Prometheus's "now".
    pub async fn query(
        &self,
        promql: &str,
        at: Option<SystemTime>,
    ) -> Result<Vec<Sample>, PrometheusError> {
        let mut form = vec![("query", promql.to_string())];
        if let Some(at) = at {
            form.push(("time", unix_seconds(at).to_string()));
        }
        match self.post("query", promql, &form).await? {
            QueryData::Vector(result) => Ok(result
                .into_iter()
                .map(|s| Sample {
                    labels: s.metric,
                    timestamp: s.value.0,
                    value: s.value.1.0,
                })
                .collect()),
            QueryData::Scalar(_) | QueryData::Matrix(_) | QueryData::String(_) => {
                Err(decode_error(promql, "expected an instant vector"))
            }
        }
    }

    /// Runs a range query over `[start, end]` at `step`. Callers that may exceed Prometheus's
    /// 11,000 points per series must split the range themselves.
    pub async fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<Series>, PrometheusError> {
        let form = [
            ("query", promql.to_string()),
            ("start", unix_seconds(start).to_string()),
            ("end", unix_seconds(end).to_string()),
            ("step", step.as_secs_f64().to_string()),
        ];
        match self.post("query_range", promql, &form).await? {
            QueryData::Matrix(result) => Ok(result
                .into_iter()
                .map(|s| Series {
                    labels: s.metric,
                    points: s.values.into_iter().map(|(t, v)| (t, v.0)).collect(),
                })
                .collect()),
            _ => Err(decode_error(promql, "expected a range matrix")),
        }
    }

    async fn post(
        &self,
        endpoint: &str,
        promql: &str,
        form: &[(&str, String)],
    ) -> Result<QueryData, PrometheusError> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let mut request = self.http.post(&url).form(form);
        if let Some(path) = &self.bearer_token_file {
            request = request.bearer_auth(read_secret(path)?);
        }
        if let Some(auth) = &self.basic_auth {
            request = request.basic_auth(&auth.username, Some(read_secret(&auth.password_file)?));
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        let excerpt = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                PrometheusError::Unavailable {
                    url: self.base.clone(),
                    query: promql.to_string(),
                    status: status.as_u16(),
                    body: excerpt(),
                }
            } else {
                decode_error(promql, &format!("HTTP {status}, body {:?}: {e}", excerpt()))
            }
        })?;
        match envelope {
            Envelope {
                status: ApiStatus::Success,
                data: Some(data),
                ..
            } => Ok(data),
            Envelope {
                error_type, error, ..
            } => Err(PrometheusError::Rejected {
                query: promql.to_string(),
                status: status.as_u16(),
                error_type: error_type.unwrap_or_else(|| "unknown".to_string()),
                message: error.unwrap_or_else(|| "no error message".to_string()),
            }),
        }
    }

    fn transport_error(&self, source: reqwest::Error) -> PrometheusError {
        if source.is_timeout() {
            PrometheusError::Timeout {
                url: self.base.clone(),
                timeout: self.timeout,
            }
        } else {
            PrometheusError::Unreachable {
                url: self.base.clone(),
                cause: root_cause(&source),
            }
        }
    }
}

/// The last error of a chain: `tcp connect error: Connection refused (os error 111)`, `dns
/// error: failed to lookup address information`, `invalid peer certificate: UnknownIssuer`.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

fn read_secret(path: &Path) -> Result<String, PrometheusError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| PrometheusError::Credentials {
            path: path.to_path_buf(),
            source,
        })
}

/// A sample's Unix-seconds timestamp as a `SystemTime`; nonsense (negative, huge)
/// becomes the epoch, which any staleness check then judges stale.
pub fn sample_time(seconds: f64) -> SystemTime {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .unwrap_or(UNIX_EPOCH)
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn decode_error(query: &str, detail: &str) -> PrometheusError {
    PrometheusError::Decode {
        query: query.to_string(),
        detail: detail.to_string(),
    }
}

/// A sample's value: Prometheus encodes a point as `[<unix seconds>, "<value>"]`, the value a
/// string ("1.5", "NaN", "+Inf"). Parsed as it is decoded, so that a million points do not each
/// allocate a string first.
struct SampleValue(f64);

impl<'de> Deserialize<'de> for SampleValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SampleValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SampleValue, E> {
                v.parse()
                    .map(SampleValue)
                    .map_err(|e| E::custom(format!("sample value {v:?}: {e}")))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: ApiStatus,
    data: Option<QueryData>,
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum ApiStatus {
    Success,
    Error,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<VectorSample>),
    Matrix(Vec<MatrixSeries>),
    Scalar(#[allow(dead_code)] (f64, String)),
    String(#[allow(dead_code)] (f64, String)),
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, SampleValue),
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, SampleValue)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Envelope {
        serde_json::from_str(json).expect("test JSON decodes")
    }

    #[test]
    fn decodes_vector_with_special_values() {
        let env = decode(
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"instance":"10.0.0.1:9100"},"value":[1700000000.5,"0.25"]},
                {"metric":{},"value":[1700000000.5,"NaN"]},
                {"metric":{},"value":[1700000000.5,"+Inf"]}]}}"#,
        );
        let Some(QueryData::Vector(v)) = env.data else {
            panic!("vector expected")
        };
        assert_eq!((v[0].value.0, v[0].value.1.0), (1700000000.5, 0.25));
        assert!(v[1].value.1.0.is_nan());
        assert_eq!(v[2].value.1.0, f64::INFINITY);
    }

    #[test]
    fn a_value_that_is_not_a_number_is_named() {
        let json = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1700000000,"1"],[1700000060,"lots"]]}]}}"#;
        let err = serde_json::from_str::<Envelope>(json)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_some_and(|e| e.contains(r#"sample value "lots""#)),
            "{err:?}"
        );
    }

    #[test]
    fn decodes_error_envelope() {
        let env =
            decode(r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#);
        assert!(env.status == ApiStatus::Error);
        assert_eq!(env.error_type.as_deref(), Some("bad_data"));
        assert!(env.data.is_none());
    }

    #[test]
    fn only_transient_failures_are_worth_retrying() {
        let rejected = |status| PrometheusError::Rejected {
            query: "up".to_string(),
            status,
            error_type: "x".to_string(),
            message: "y".to_string(),
        };
        assert!(rejected(503).is_transient());
        assert!(rejected(429).is_transient());
        assert!(!rejected(400).is_transient());
        assert!(!rejected(422).is_transient());
        let timeout = PrometheusError::Timeout {
            url: "http://p".to_string(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        assert!(!decode_error("up", "garbage").is_transient());
    }

    #[test]
    fn rejects_non_http_urls() {
        let config = PrometheusConfig {
            url: "ftp://x".to_string(),
            ..Default::default()
        };
        assert!(matches!(
            PrometheusClient::new(&config),
            Err(PrometheusError::Config(_))
        ));
    }
}
