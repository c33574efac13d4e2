//! The extender's answers, checked against requests captured from a real kube-scheduler.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tidal_scheduler_extender::{Extender, ExtenderConfig, http};
use tidal_testkit::snapshot::NodeFigures;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAMES_FIXTURE: &str = include_str!("fixtures/extender-filter-args-nodecache-true.json");
const NODES_FIXTURE: &str = include_str!("fixtures/extender-filter-args-nodecache-false.json");

/// Busy cores on each 4-core, 16 GiB node of the fixtures.
const LOAD: [(&str, f64); 3] = [("node-1", 0.4), ("node-2", 3.8), ("node-3", 2.0)];

fn snapshot() -> tidal_core::load::LoadSnapshot {
    let nodes: Vec<NodeFigures> = LOAD
        .iter()
        .map(|(name, busy)| NodeFigures::new(format!("{name}:9100"), *busy))
        .collect();
    tidal_testkit::snapshot::snapshot(&nodes)
}

struct Server {
    url: String,
    client: reqwest::Client,
    _task: tokio::task::JoinHandle<()>,
}

async fn server(config: ExtenderConfig) -> Server {
    let extender = Arc::new(Extender::new(&config, Duration::from_secs(60)).expect("valid config"));
    extender.install_load(snapshot(), SystemTime::now());
    let app = http::router(extender, "/scheduler", config.max_body_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        url,
        client: reqwest::Client::new(),
        _task: task,
    }
}

impl Server {
    async fn post(&self, verb: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/scheduler/{verb}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("extender answers");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn names_mode_filter_answers_with_node_names() {
    let server = server(ExtenderConfig::default()).await;
    let (status, body) = server.post("filter", NAMES_FIXTURE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys(&body),
        [
            "Error",
            "FailedAndUnresolvableNodes",
            "FailedNodes",
            "NodeNames",
            "Nodes"
        ]
    );
    assert_eq!(body["Nodes"], Value::Null);
    assert_eq!(body["NodeNames"], json!(["node-1", "node-3"]));
    let reason = body["FailedNodes"]["node-2"]
        .as_str()
        .expect("node-2 failed with a reason");
    assert!(reason.contains("cpu average"), "{reason}");
    assert_eq!(body["Error"], "");
    assert_eq!(body["FailedAndUnresolvableNodes"], json!({}));
}

#[tokio::test]
async fn full_mode_filter_returns_the_passing_nodes_verbatim() {
    let server = server(ExtenderConfig::default()).await;
    let (status, body) = server.post("filter", NODES_FIXTURE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["NodeNames"], Value::Null);
    let sent: Value = serde_json::from_str(NODES_FIXTURE).expect("fixture is JSON");
    let sent_items = sent["Nodes"]["items"].as_array().expect("items");
    let items = body["Nodes"]["items"]
        .as_array()
        .expect("Nodes.items in full mode");
    let names: Vec<&str> = items
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["node-1", "node-3"]);
    // Byte-for-byte the objects that were sent, so nothing the scheduler reads is lost.
    assert_eq!(&items[0], &sent_items[0]);
    assert_eq!(&items[1], &sent_items[2]);
    assert!(body["FailedNodes"]["node-2"].is_string());
}

#[tokio::test]
async fn prioritize_answers_a_bare_array_of_host_and_score() {
    let server = server(ExtenderConfig::default()).await;
    for fixture in [NAMES_FIXTURE, NODES_FIXTURE] {
        let (status, body) = server.post("prioritize", fixture).await;
        assert_eq!(status, 200, "{body}");
        let list = body.as_array().expect("a bare JSON array");
        assert_eq!(list.len(), 3);
        for entry in list {
            assert_eq!(keys(entry), ["Host", "Score"]);
            let score = entry["Score"].as_i64().expect("integer score");
            assert!((0..=10).contains(&score));
        }
        let score = |host: &str| {
            list.iter()
                .find(|e| e["Host"] == host)
                .and_then(|e| e["Score"].as_i64())
        };
        assert!(
            score("node-1") > score("node-3") && score("node-3") > score("node-2"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn all_nodes_failing_still_carries_node_names() {
    let mut config = ExtenderConfig::default();
    config.thresholds.cpu.average = 0.01;
    config.waive_when_all_overloaded = false;
    let server = server(config).await;
    let (status, body) = server.post("filter", NAMES_FIXTURE).await;
    assert_eq!(status, 200);
    assert_eq!(body["NodeNames"], json!([]));
    assert_eq!(body["FailedNodes"].as_object().map(|o| o.len()), Some(3));
}

#[tokio::test]
async fn an_unknown_path_names_the_served_ones_and_is_counted() {
    let server = server(ExtenderConfig::default()).await;
    let http = reqwest::Client::new();
    let url = &server.url;
    for _ in 0..2 {
        let answer = http
            .post(format!("{url}/filter"))
            .body(NAMES_FIXTURE)
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 404);
        let body: Value = answer.json().await.expect("a JSON body");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("POST /filter") && error.contains("POST /scheduler/filter"),
            "{error}"
        );
    }
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("tidal_extender_unknown_path_requests_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn load_never_refuses_every_node_unless_told_to() {
    let mut config = ExtenderConfig::default();
    config.thresholds.cpu.average = 0.01;
    let server = server(config).await;
    let (status, body) = server.post("filter", NAMES_FIXTURE).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["NodeNames"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
    assert_eq!(body["FailedNodes"].as_object().map(|o| o.len()), Some(0));
}

#[tokio::test]
async fn unknown_nodes_pass_with_a_neutral_score_under_fail_open() {
    let server = server(ExtenderConfig::default()).await;
    let mut args: Value = serde_json::from_str(NAMES_FIXTURE).expect("fixture");
    args["NodeNames"] = json!(["node-1", "node-unknown"]);
    let (_, filtered) = server.post("filter", args.to_string()).await;
    assert_eq!(filtered["NodeNames"], json!(["node-1", "node-unknown"]));
    let (_, scores) = server.post("prioritize", args.to_string()).await;
    assert_eq!(scores[1], json!({"Host": "node-unknown", "Score": 5}));
}

#[tokio::test]
async fn lowercase_keys_are_accepted_like_go_does() {
    let server = server(ExtenderConfig::default()).await;
    let args: Value = serde_json::from_str(NAMES_FIXTURE).expect("fixture");
    let lower = json!({"pod": args["Pod"], "nodes": null, "nodenames": ["node-1"]});
    let (status, body) = server.post("filter", lower.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["NodeNames"], json!(["node-1"]));
}

#[tokio::test]
async fn malformed_requests_get_a_400_with_a_clear_message() {
    let server = server(ExtenderConfig::default()).await;
    let cases = [
        ("{not json", "not a kube-scheduler ExtenderArgs"),
        (r#"{"Pod": 5, "NodeNames": []}"#, "invalid type"),
        (
            r#"{"Pod": {"metadata": {"name": "p"}}, "Nodes": null, "NodeNames": null}"#,
            "neither NodeNames nor Nodes",
        ),
        (r#"{"Nodes": null, "NodeNames": ["a"]}"#, "no Pod"),
        (
            r#"{"Pod": {}, "Nodes": {"items": [{"metadata": {}}]}, "NodeNames": null}"#,
            "no metadata.name",
        ),
        (r#"{"Pod": {}, "NodeNames": [1, 2]}"#, "invalid type"),
    ];
    for verb in ["filter", "prioritize"] {
        for (body, expected) in cases {
            let (status, answer) = server.post(verb, body).await;
            assert_eq!(status, 400, "{verb} {body}: {answer}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(message.contains(expected), "{verb} {body}: {message}");
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let config = ExtenderConfig {
        max_body_bytes: 1024,
        ..ExtenderConfig::default()
    };
    let server = server(config).await;
    for verb in ["filter", "prioritize"] {
        let (status, body) = server.post(verb, NAMES_FIXTURE).await;
        assert_eq!(status, 413);
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("max_body_bytes"), "{verb}: {body}");
    }
}

/// Reads one HTTP/1.1 response: status, lowercased head, body (by Content-Length).
async fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // A response here is a few hundred bytes; the bound stops a runaway peer.
    while buf.len() < 1 << 20 {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if let Some(body) = buf.get(end + 4..end + 4 + length) {
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                return Ok((status, head, String::from_utf8_lossy(body).into_owned()));
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Err(std::io::ErrorKind::InvalidData.into())
}

fn post_head(length: usize) -> String {
    format!(
        "POST /scheduler/filter HTTP/1.1\r\nhost: tidal\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
}

/// A body far over the limit cannot be drained, so the server closes the connection
/// after its 413: it must say so, or a keep-alive client sends its next request into
/// the closed connection.
#[tokio::test]
async fn a_413_is_json_and_a_keep_alive_client_can_go_on() {
    let config = ExtenderConfig {
        max_body_bytes: 64 * 1024,
        ..ExtenderConfig::default()
    };
    let server = server(config).await;
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // Announce 4 MiB and send 256 KiB of it: the server refuses once past 64 KiB.
    let partial = format!("{}{}", post_head(4 << 20), " ".repeat(256 << 10));
    stream.write_all(partial.as_bytes()).await.expect("send");
    let (status, head, body) = read_response(&mut stream).await.expect("a 413");
    assert_eq!(status, 413, "{head}");
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    assert!(body["error"].is_string(), "{head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    if !head.contains("\r\nconnection: close") {
        // Kept open: then it must take the next request.
        let next = format!("{}{NAMES_FIXTURE}", post_head(NAMES_FIXTURE.len()));
        stream.write_all(next.as_bytes()).await.expect("send again");
        let (status, head, _) = read_response(&mut stream)
            .await
            .expect("no Connection: close, so the connection takes the next request");
        assert_eq!(status, 200, "{head}");
    }

    // A pooling client's next call works, whatever became of the refused one.
    let oversized = format!("{NAMES_FIXTURE}{}", " ".repeat(1 << 20));
    let url = format!("{}/scheduler/filter", server.url);
    let _ = server.client.post(&url).body(oversized).send().await;
    let (status, body) = server.post("filter", NAMES_FIXTURE).await;
    assert_eq!(status, 200, "{body}");
}
