//! The `tidal` binary as a user runs it: help, configuration errors, serving plain
//! HTTP and HTTPS, degrading when Prometheus is unreachable, and stopping on SIGTERM.

use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TIDAL: &str = env!("CARGO_BIN_EXE_tidal");

fn tidal(args: &[&str]) -> Output {
    Command::new(TIDAL)
        .args(args)
        .env_remove("TIDAL_CONFIG")
        .env_remove("TIDAL_PROMETHEUS_URL")
        .output()
        .expect("the tidal binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    let help = tidal(&["--help"]);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("extender"));
    let help = tidal(&["extender", "--help"]);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("--listen"));
}

#[test]
fn config_prints_the_defaults_and_overrides() {
    let out = tidal(&["--prometheus-url", "http://prom.example:9090", "config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.contains("url: http://prom.example:9090"), "{yaml}");
    assert!(yaml.contains("on_missing_metrics: fail-open"), "{yaml}");
    // Durations as a person types them.
    for line in [
        "history: 14d",
        "max_age: 1m",
        "refresh_interval: 15s",
        "cooldown: 30m",
    ] {
        assert!(yaml.contains(line), "{line} missing:\n{yaml}");
    }
}

#[test]
fn a_typo_in_the_config_file_is_an_error_that_names_it() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "extender:\n  thresholds:\n    cpu: {{ averge: 0.5, peak: 0.7 }}"
    )
    .expect("write");
    let path = file.path().to_string_lossy().into_owned();
    let out = tidal(&["--config", &path, "config"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&path) && err.contains("averge"), "{err}");
}

#[test]
fn invalid_settings_are_refused_at_start() {
    let cases = [
        (
            "extender:\n  thresholds:\n    cpu: { average: 65, peak: 80 }\n",
            "thresholds.cpu.average is 65",
        ),
        (
            "extender:\n  refresh_interval: 2m\n",
            "must be more than 0 and less than load.max_age",
        ),
        ("load:\n  max_age: 0s\n", "load.max_age must be more than 0"),
        (
            "extender:\n  estimation: { default_cpu: -1 }\n",
            "must not be negative",
        ),
    ];
    for (config, expected) in cases {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(config.as_bytes()).expect("write");
        let path = file.path().to_string_lossy().into_owned();
        let out = tidal(&[
            "--config",
            &path,
            "extender",
            "--no-kube",
            "--listen",
            "127.0.0.1:0",
        ]);
        assert!(!out.status.success(), "{config}");
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{config}: {err}");
    }
}

/// A running `tidal extender` that is killed if a test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start(config: &str, port: u16) -> (Server, tempfile::NamedTempFile) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(config.as_bytes()).expect("write config");
    let listen = format!("127.0.0.1:{port}");
    let path = file.path().to_string_lossy().into_owned();
    let child = Command::new(TIDAL)
        // Nothing listens on port 1: Prometheus is unreachable.
        .args([
            "--config",
            &path,
            "--prometheus-url",
            "http://127.0.0.1:1",
            "extender",
            "--no-kube",
        ])
        .args(["--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidal extender starts");
    (Server(child), file)
}

async fn wait_ready(client: &reqwest::Client, url: &str) -> (u16, String) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{url}/readyz")).send().await {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if status != 503 {
                return (status, body);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the extender never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop_with_sigterm(mut server: Server) -> std::process::ExitStatus {
    let pid = server.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.0.try_wait().expect("wait works") {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serves_fails_open_without_prometheus_and_stops_on_sigterm() {
    let port = free_port();
    let (server, _config) = start("", port);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let (status, body) = wait_ready(&client, &url).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with(
            "ready, degraded (fail-open): no load yet; last error: cannot reach Prometheus"
        ),
        "{body}"
    );
    let args = serde_json::json!({"Pod": {"metadata": {"name": "p", "uid": "u"}}, "Nodes": null, "NodeNames": ["a", "b"]});
    let answer: serde_json::Value = client
        .post(format!("{url}/scheduler/filter"))
        .json(&args)
        .send()
        .await
        .expect("filter answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["NodeNames"], serde_json::json!(["a", "b"]));
    assert!(stop_with_sigterm(server).success());
}

#[tokio::test]
async fn serves_https_from_cert_and_key_files() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed cert");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert_file = dir.path().join("tls.crt");
    let key_file = dir.path().join("tls.key");
    std::fs::write(&cert_file, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("write key");
    let config = format!(
        "extender:\n  tls:\n    cert_file: {}\n    key_file: {}\n",
        cert_file.display(),
        key_file.display()
    );
    let port = free_port();
    let (server, _config) = start(&config, port);
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("PEM"),
        )
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .expect("client");
    let (status, _) = wait_ready(&client, &format!("https://localhost:{port}")).await;
    assert_eq!(status, 200);
    assert!(stop_with_sigterm(server).success());
}

#[test]
fn deschedule_without_a_cluster_evicts_nothing_and_exits_1() {
    let out = tidal(&["deschedule", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the cluster") && err.contains("nothing was evicted"),
        "{err}"
    );
}

#[test]
fn deschedule_against_an_unreachable_api_server_names_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n\
         current-context: x\n",
    )
    .expect("write kubeconfig");
    let out = tidal(&["deschedule", "--dry-run", "--kubeconfig", path(&kubeconfig)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err.lines().count(),
        1,
        "one line, no echo from kube's own log: {err}"
    );
    assert!(
        err.contains("cannot reach the API server at http://127.0.0.1:1/ to list")
            && err.contains("Connection refused")
            && err.contains("nothing was evicted"),
        "{err}"
    );
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn an_error_is_printed_once_and_without_colour_codes_off_a_terminal() {
    // stderr is a pipe here, as when a CronJob's log is collected.
    let out = tidal(&["--prometheus-url", "http://127.0.0.1:1", "predict"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        !err.contains('\u{1b}'),
        "colour codes off a terminal: {err:?}"
    );
    let errors = err.lines().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "{err}");
}

#[tokio::test]
async fn keeps_answering_for_the_shutdown_delay_after_sigterm() {
    let port = free_port();
    let (server, _config) = start("extender:\n  shutdown_delay: 2s\n", port);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let _ = wait_ready(&client, &url).await;
    let pid = server.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("still answering during the delay");
    assert_eq!(answer.status(), 200);
    let status = stop_with_sigterm(server);
    assert!(status.success(), "{status:?}");
}
