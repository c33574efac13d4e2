//! A real Prometheus server for tests, on a free `127.0.0.1` port, with a
//! temporary TSDB backfilled from OpenMetrics text by `promtool`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tidal_testkit::metrics::{ClusterMetrics, Node};
//! use tidal_testkit::prometheus::Prometheus;
//!
//! let data = ClusterMetrics::new().node(Node::new("node-a", "10.0.0.1:9100").busy(0.5)).to_openmetrics();
//! // `None` means Prometheus is not installed and the test should skip.
//! let Some(prom) = Prometheus::start(&data).await? else { return Ok(()) };
//! let _query_url = format!("{}/api/v1/query", prom.url());
//! # Ok(())
//! # }
//! ```
//!
//! Binaries come from `TIDAL_PROMETHEUS_BIN` / `TIDAL_PROMTOOL_BIN` or `PATH`
//! (Debian: `apt-get install -y prometheus`). When they are missing the
//! harness prints `skipping: ...` and returns `Ok(None)`, unless
//! `TIDAL_REQUIRE_PROMETHEUS=1` (CI), where it returns an error instead; the same
//! variable requires [`crate::victoria`]'s VictoriaMetrics.
//!
//! Backfill and "now", checked on Prometheus 2.42: promtool writes one block
//! per 2 h-aligned window, each covering exactly its samples, so the last
//! block ends at the last sample. Prometheus loads every block in the data
//! directory before it reports ready, and the empty head block starts after
//! the newest block, so nothing overlaps and no flag is needed (since 2.39
//! overlapping blocks are allowed anyway and
//! `--storage.tsdb.allow-overlapping-blocks` is a deprecated no-op). An
//! instant query at "now" sees the backfilled samples as long as the last one
//! is within the 5 m lookback: generate the data just before starting.
//! Retention (30 d) counts back from the newest block, not from the clock,
//! so old fixed time ranges are kept too.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use tokio::time::{Instant, sleep};

/// Set to `1` to turn a missing Prometheus into a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "TIDAL_REQUIRE_PROMETHEUS";
const PROMETHEUS_ENV: &str = "TIDAL_PROMETHEUS_BIN";
const PROMTOOL_ENV: &str = "TIDAL_PROMTOOL_BIN";
const INSTALL_HINT: &str = "install it: apt-get install -y prometheus";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Fresh ports tried by `start` when another process takes the port first.
const PORT_ATTEMPTS: usize = 5;
/// How long `restart` waits for its old port to become free again.
const RESTART_PORT_WAIT: Duration = Duration::from_secs(10);
const LOG_TAIL_LINES: usize = 40;

/// A running (or stopped) Prometheus server owned by a test. Dropping it
/// kills the server and deletes its directory.
pub struct Prometheus {
    dir: TempDir,
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Prometheus {
    /// Backfills `openmetrics` (see [`crate::metrics`]) into a fresh TSDB and
    /// starts Prometheus on it with no scrape targets. `Ok(None)`: Prometheus
    /// is not installed and [`REQUIRE_ENV`] is not `1`.
    pub async fn start(openmetrics: &str) -> Result<Option<Self>> {
        Self::start_inner([openmetrics], None, None).await
    }

    /// Like [`Self::start`] for data too large for one string: backfills each
    /// part in turn into the same TSDB (writing it to a file, running promtool,
    /// deleting the file), so disk and memory hold one part at a time. Parts
    /// are pulled lazily, so the iterator can render each one and report
    /// progress. `max_block` is promtool's `--max-block-duration`: with parts
    /// from [`crate::metrics::ClusterMetrics::to_openmetrics_parts`] cut at the
    /// same span (2 h times a power of 3), each part is one block, parsed once,
    /// and no blocks overlap (overlaps would also load, as noted above).
    pub async fn start_from_parts(
        parts: impl IntoIterator<Item = String>,
        max_block: Duration,
    ) -> Result<Option<Self>> {
        Self::start_inner(parts, Some(max_block), None).await
    }

    /// Like [`Self::start`], and also scrapes `http://{target}/metrics` every
    /// second as job `test-exporter`. The first scrape lands about 5 s after
    /// start: Prometheus hands new targets to its scrapers every 5 s.
    pub async fn start_with_scrape(openmetrics: &str, target: SocketAddr) -> Result<Option<Self>> {
        Self::start_inner([openmetrics], None, Some(target)).await
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`; the same across restarts.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's process ID while it runs, e.g. to watch its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server and waits for it to exit; the TSDB is kept for
    /// [`Self::restart`]. Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Both fail only if the process has already exited and been reaped.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if running and starts it again on the same port and
    /// TSDB, waiting until it is ready.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        let deadline = Instant::now() + RESTART_PORT_WAIT;
        loop {
            match self.launch().await? {
                Launch::Ready => return Ok(()),
                // Someone else may hold the port for a moment; it is ours to reuse.
                Launch::PortTaken(_) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(200)).await
                }
                Launch::PortTaken(log) => {
                    bail!(
                        "port {} still taken after {RESTART_PORT_WAIT:?}; prometheus log:\n{log}",
                        self.port
                    )
                }
            }
        }
    }

    async fn start_inner(
        parts: impl IntoIterator<Item = impl AsRef<str>>,
        max_block: Option<Duration>,
        scrape: Option<SocketAddr>,
    ) -> Result<Option<Self>> {
        let Some(binaries) = Binaries::locate()? else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("tidal-prometheus-")
            .tempdir()
            .context("creating a temporary directory for Prometheus")?;
        for part in parts {
            backfill(&binaries.promtool, dir.path(), part.as_ref(), max_block).await?;
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(scrape))
            .with_context(|| format!("writing {}", config.display()))?;
        let mut prometheus = Self {
            dir,
            binary: binaries.prometheus,
            port: 0,
            child: None,
        };
        prometheus.launch_on_free_port().await?;
        Ok(Some(prometheus))
    }

    async fn launch_on_free_port(&mut self) -> Result<()> {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_port()?;
            match self.launch().await? {
                Launch::Ready => return Ok(()),
                Launch::PortTaken(log) => last_log = log,
            }
        }
        bail!("{PORT_ATTEMPTS} free ports were all taken first; last prometheus log:\n{last_log}")
    }

    /// Spawns Prometheus on `self.port` and waits until it answers.
    async fn launch(&mut self) -> Result<Launch> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        // Restarts append to the same log; errors show only this launch's part.
        let log_start = log.metadata()?.len();
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.tsdb_path().display()
            ))
            .arg("--storage.tsdb.retention.time=30d")
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let outcome = self.wait_ready(log_start).await;
        if !matches!(outcome, Ok(Launch::Ready)) {
            self.stop();
        }
        outcome
    }

    /// Polls until this server answers its API. The flags endpoint answers
    /// only once the TSDB is open (503 before), and its TSDB path tells our
    /// server apart from another test's that grabbed the port meanwhile.
    async fn wait_ready(&mut self, log_start: u64) -> Result<Launch> {
        let client = http_client()?;
        let flags_url = format!("{}/api/v1/status/flags", self.url());
        let tsdb_path = self.tsdb_path().display().to_string();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status()? {
                let log = self.log_tail(log_start);
                if log.contains("address already in use") {
                    return Ok(Launch::PortTaken(log));
                }
                bail!("prometheus exited ({status}) before it was ready; its log:\n{log}");
            }
            match served_tsdb_path(&client, &flags_url).await {
                Some(path) if path == tsdb_path => return Ok(Launch::Ready),
                Some(_) => {
                    return Ok(Launch::PortTaken(format!(
                        "another Prometheus answers on port {}",
                        self.port
                    )));
                }
                None => sleep(POLL_INTERVAL).await,
            }
        }
        bail!(
            "prometheus not ready after {READY_TIMEOUT:?}; its log:\n{}",
            self.log_tail(log_start)
        )
    }

    fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(child) => child.try_wait().context("checking the prometheus process"),
            None => Ok(None),
        }
    }

    fn tsdb_path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    /// The last lines Prometheus logged since byte `from`, for error messages.
    fn log_tail(&self, from: u64) -> String {
        let mut text = String::new();
        let read = File::open(self.log_path()).and_then(|mut f| {
            f.seek(SeekFrom::Start(from))
                .and_then(|_| f.read_to_string(&mut text))
        });
        if let Err(err) = read {
            return format!("(could not read {}: {err})", self.log_path().display());
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Launch {
    Ready,
    /// The port was taken by another process; carries the log tail.
    PortTaken(String),
}

struct Binaries {
    prometheus: PathBuf,
    promtool: PathBuf,
}

impl Binaries {
    /// `Ok(None)` when a binary is missing and the test should skip.
    fn locate() -> Result<Option<Self>> {
        let path = std::env::var_os("PATH");
        let find = |name, env| {
            find_binary(
                name,
                std::env::var_os(env).map(PathBuf::from),
                path.as_deref(),
            )
        };
        match (
            find("prometheus", PROMETHEUS_ENV),
            find("promtool", PROMTOOL_ENV),
        ) {
            (Some(prometheus), Some(promtool)) => Ok(Some(Self {
                prometheus,
                promtool,
            })),
            (prometheus, _) => {
                let (name, env) = match prometheus {
                    None => ("prometheus", PROMETHEUS_ENV),
                    Some(_) => ("promtool", PROMTOOL_ENV),
                };
                let problem = match std::env::var_os(env) {
                    Some(file) => {
                        format!("{name} not found: ${env}={} is not a file", file.display())
                    }
                    None => format!("{name} not found on PATH (or set ${env})"),
                };
                skip_or_fail(required(), &problem, INSTALL_HINT).map(|()| None)
            }
        }
    }
}

/// `explicit` if given, else the first `name` on `path`.
pub(crate) fn find_binary(
    name: &str,
    explicit: Option<PathBuf>,
    path: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    match explicit {
        Some(file) => file.is_file().then_some(file),
        None => std::env::split_paths(path?)
            .map(|dir| dir.join(name))
            .find(|file| file.is_file()),
    }
}

/// What a test does without a store's binary: fail when real stores are required, else skip
/// loudly; `install` says how to get it.
pub(crate) fn skip_or_fail(required: bool, problem: &str, install: &str) -> Result<()> {
    ensure!(!required, "{problem} but {REQUIRE_ENV}=1; {install}");
    eprintln!("skipping: {problem}; {install} (set {REQUIRE_ENV}=1 to fail instead)");
    Ok(())
}

/// Whether `TIDAL_REQUIRE_PROMETHEUS=1` asks every real store to be there.
pub(crate) fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Writes `openmetrics` next to the TSDB, turns it into blocks and deletes it.
async fn backfill(
    promtool: &Path,
    dir: &Path,
    openmetrics: &str,
    max_block: Option<Duration>,
) -> Result<()> {
    let input = dir.join("metrics.om");
    std::fs::write(&input, openmetrics).with_context(|| format!("writing {}", input.display()))?;
    let mut command = tokio::process::Command::new(promtool);
    command.args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"]);
    if let Some(block) = max_block {
        command.arg(format!("--max-block-duration={}s", block.as_secs()));
    }
    let output = command
        .arg(&input)
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", promtool.display()))?;
    // Only disk space is at stake; the directory goes when the test ends anyway.
    let _ = std::fs::remove_file(&input);
    ensure!(
        output.status.success(),
        "promtool tsdb create-blocks-from openmetrics {} failed ({}):\n{}{}",
        input.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    Ok(())
}

/// A config with no targets, or one scraping `scrape` every second (the
/// timeout must not exceed the interval).
fn config_yaml(scrape: Option<SocketAddr>) -> String {
    let targets = match scrape {
        None => "scrape_configs: []\n".to_owned(),
        Some(addr) => format!(
            "scrape_configs:\n  - job_name: test-exporter\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ),
    };
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 15s\n{targets}"
    )
}

/// A port that was free a moment ago; the launch retries if it is taken meanwhile.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free 127.0.0.1 port")?;
    Ok(listener.local_addr()?.port())
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")
}

/// The `storage.tsdb.path` flag of the server at `flags_url`, or `None` while
/// nothing answers or it is not ready.
async fn served_tsdb_path(client: &reqwest::Client, flags_url: &str) -> Option<String> {
    let response = client
        .get(flags_url)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    body["data"]["storage.tsdb.path"]
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_prometheus_skips_unless_required() {
        assert!(skip_or_fail(false, "prometheus not found", INSTALL_HINT).is_ok());
        let err = skip_or_fail(true, "prometheus not found", INSTALL_HINT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install -y prometheus"), "{err}");
        assert!(err.contains("TIDAL_REQUIRE_PROMETHEUS=1"), "{err}");
    }

    #[test]
    fn binaries_come_from_the_override_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("promtool");
        std::fs::write(&tool, "").unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();

        assert_eq!(
            find_binary("promtool", None, Some(&path)),
            Some(tool.clone())
        );
        assert_eq!(find_binary("prometheus", None, Some(&path)), None);
        assert_eq!(find_binary("promtool", None, None), None);
        assert_eq!(find_binary("x", Some(tool.clone()), None), Some(tool));
        assert_eq!(
            find_binary("promtool", Some(dir.path().join("missing")), Some(&path)),
            None
        );
    }

    #[test]
    fn config_scrapes_only_when_asked() {
        assert!(config_yaml(None).contains("scrape_configs: []"));
        let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        assert!(config_yaml(Some(addr)).contains("targets: [\"127.0.0.1:9999\"]"));
    }
}
