//! The Prometheus client against a minimal HTTP peer on loopback: credentials are sent
//! as configured, a Prometheus that never answers times out with a clear error, and
//! error envelopes become errors that say what was rejected.

use std::time::{Duration, Instant};

use tidal_core::prometheus::{BasicAuth, PrometheusClient, PrometheusConfig, PrometheusError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"10.0.0.1:9100"},"value":[1700000000,"0.5"]}]}}"#;

/// Answers one request with `status` and `body`, and hands back the request head.
async fn answer_once(
    status: &'static str,
    body: &'static str,
) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        // The head ends at the first blank line; a request is far below 64 KiB.
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
    });
    (url, rx)
}

fn client(config: PrometheusConfig) -> PrometheusClient {
    PrometheusClient::new(&config).expect("valid config")
}

#[tokio::test]
async fn sends_the_bearer_token_from_its_file() {
    let (url, head) = answer_once("200 OK", VECTOR).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let prometheus = client(PrometheusConfig {
        url,
        bearer_token_file: Some(token),
        ..Default::default()
    });
    let samples = prometheus.query("up", None).await.expect("query answers");
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].value, 0.5);
    let head = head.await.expect("request seen").to_ascii_lowercase();
    assert!(head.starts_with("post /api/v1/query "), "{head}");
    assert!(head.contains("authorization: bearer s3cret\r\n"), "{head}");
}

#[tokio::test]
async fn sends_basic_auth_with_the_password_from_its_file() {
    let (url, head) = answer_once("200 OK", VECTOR).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let password = dir.path().join("password");
    std::fs::write(&password, "hunter2").expect("write password");
    let basic_auth = Some(BasicAuth {
        username: "tidal".to_string(),
        password_file: password,
    });
    let prometheus = client(PrometheusConfig {
        url,
        basic_auth,
        ..Default::default()
    });
    prometheus.query("up", None).await.expect("query answers");
    let head = head.await.expect("request seen");
    // base64("tidal:hunter2")
    assert!(head.contains("Basic dGlkYWw6aHVudGVyMg=="), "{head}");
}

#[tokio::test]
async fn a_missing_credentials_file_is_a_clear_error() {
    let (url, _head) = answer_once("200 OK", VECTOR).await;
    let missing = std::path::PathBuf::from("/nonexistent/tidal/token");
    let prometheus = client(PrometheusConfig {
        url,
        bearer_token_file: Some(missing),
        ..Default::default()
    });
    let err = prometheus
        .query("up", None)
        .await
        .expect_err("no token file");
    assert!(matches!(err, PrometheusError::Credentials { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/tidal/token"),
        "{err}"
    );
}

#[tokio::test]
async fn a_prometheus_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    // Accepts and then says nothing, like an overloaded Prometheus.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            if held.len() > 8 {
                break;
            }
        }
    });
    let prometheus = client(PrometheusConfig {
        url,
        timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let started = Instant::now();
    let err = prometheus.query("up", None).await.expect_err("no answer");
    assert!(matches!(err, PrometheusError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("raise prometheus.timeout"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.abort();
}

#[tokio::test]
async fn a_rejected_query_says_what_and_why() {
    let body =
        r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"}"#;
    let (url, _head) = answer_once("400 Bad Request", body).await;
    let prometheus = client(PrometheusConfig {
        url,
        ..Default::default()
    });
    let err = prometheus.query("sum(", None).await.expect_err("bad query");
    let text = err.to_string();
    assert!(
        text.contains("`sum(`") && text.contains("HTTP 400") && text.contains("bad_data"),
        "{text}"
    );
    assert!(text.contains("parse error"), "{text}");
}

#[tokio::test]
async fn an_answer_that_is_not_prometheus_json_is_a_decode_error() {
    let (url, _head) = answer_once("200 OK", "<html>login</html>").await;
    let prometheus = client(PrometheusConfig {
        url,
        ..Default::default()
    });
    let err = prometheus.query("up", None).await.expect_err("HTML");
    assert!(matches!(err, PrometheusError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("<html>login"), "{err}");
}

/// A scaled-out store behind a path (VictoriaMetrics cluster's `/select/0/prometheus`, a
/// Thanos or Mimir prefix) and a tenant header.
#[tokio::test]
async fn sends_extra_headers_under_a_path_prefix() {
    let (url, head) = answer_once("200 OK", VECTOR).await;
    let prometheus = client(PrometheusConfig {
        url: format!("{url}/select/0/prometheus/"),
        headers: [("X-Scope-OrgID".to_string(), "team-a".to_string())].into(),
        ..Default::default()
    });
    prometheus.query("up", None).await.expect("query answers");
    let head = head.await.expect("request seen").to_ascii_lowercase();
    assert!(
        head.starts_with("post /select/0/prometheus/api/v1/query "),
        "{head}"
    );
    assert!(head.contains("x-scope-orgid: team-a\r\n"), "{head}");
    let bad = PrometheusClient::new(&PrometheusConfig {
        headers: [("bad header".to_string(), "x".to_string())].into(),
        ..Default::default()
    });
    assert!(
        matches!(&bad, Err(PrometheusError::Config(m)) if m.contains("prometheus.headers \"bad header\"")),
        "{:?}",
        bad.err()
    );
}
