//! A real single-node VictoriaMetrics for tests, on a free `127.0.0.1` port, with a temporary
//! data directory filled through its `/api/v1/import/prometheus` API (which takes the
//! OpenMetrics text of [`crate::metrics`] as is, timestamps in seconds included).
//!
//! A benchmark whose data takes far longer to generate than to query can instead keep it in a
//! directory of its own ([`VictoriaMetrics::start_on_dir`]), filled once and served again by
//! later runs.
//!
//! The binary comes from `TIDAL_VICTORIA_METRICS_BIN` or `PATH` (Debian: `apt-get install -y
//! victoria-metrics`); missing, the harness skips unless `TIDAL_REQUIRE_PROMETHEUS=1`.
//!
//! Flags that make it answer like the Prometheus harness: `-search.latencyOffset=0s` (by default
//! the newest 30 s are hidden from queries, and the generated data ends just before now),
//! `-search.disableCache` (a test imports and queries at once), and a 100-year retention (old
//! fixed time ranges are kept).

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use tokio::time::{Instant, sleep};

use crate::prometheus::{find_binary, free_port, http_client, required, skip_or_fail};

const BINARY_ENV: &str = "TIDAL_VICTORIA_METRICS_BIN";
const INSTALL_HINT: &str = "install it: apt-get install -y victoria-metrics";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const PORT_ATTEMPTS: usize = 5;
/// Bytes of OpenMetrics text per import request.
const IMPORT_CHUNK: usize = 16 << 20;
/// How long a server on a kept directory gets to write out its buffers and exit on SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// A running VictoriaMetrics owned by a test; dropping it stops the server and, unless it was
/// started on a kept directory, deletes its data.
pub struct VictoriaMetrics {
    dir: DataDir,
    port: u16,
    child: Option<Child>,
}

/// Where the server keeps its storage (`data/`) and its log (`victoria-metrics.log`).
enum DataDir {
    /// A test's own, deleted on drop.
    Temp(TempDir),
    /// Given by the caller and kept, for data to reuse across runs.
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }
}

impl VictoriaMetrics {
    /// Starts a fresh server and imports `openmetrics` (see [`crate::metrics`]). `Ok(None)`:
    /// VictoriaMetrics is not installed and not required.
    pub async fn start(openmetrics: &str) -> Result<Option<Self>> {
        Self::start_from_parts([openmetrics.to_string()]).await
    }

    /// Like [`Self::start`] for data too large for one string: imports each part in turn
    /// (e.g. [`crate::metrics::ClusterMetrics::to_openmetrics_parts`]), pulled lazily.
    pub async fn start_from_parts(parts: impl IntoIterator<Item = String>) -> Result<Option<Self>> {
        let dir = tempfile::Builder::new()
            .prefix("tidal-victoria-metrics-")
            .tempdir()
            .context("creating a temporary directory for VictoriaMetrics")?;
        let Some(server) = Self::start_in(DataDir::Temp(dir)).await? else {
            return Ok(None);
        };
        server.import_parts(parts).await?;
        Ok(Some(server))
    }

    /// Starts a server on `dir` (created if missing), serving whatever an earlier server left
    /// in it; fill it with [`Self::import_parts`]. Unlike a test's server, dropping this one
    /// leaves the data in place, and stops the server with SIGTERM so that it writes out what
    /// it still buffers: data that takes many minutes to generate is generated once and
    /// reused. `Ok(None)` as in [`Self::start`].
    pub async fn start_on_dir(dir: &Path) -> Result<Option<Self>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Absolute, as `/flags` shows it: `launch` recognises its server by the data path.
        let dir = dir.canonicalize()?;
        Self::start_in(DataDir::Kept(dir)).await
    }

    async fn start_in(dir: DataDir) -> Result<Option<Self>> {
        let path = std::env::var_os("PATH");
        let explicit = std::env::var_os(BINARY_ENV).map(PathBuf::from);
        let Some(binary) = find_binary("victoria-metrics", explicit, path.as_deref()) else {
            let problem = "victoria-metrics not found on PATH (or set $TIDAL_VICTORIA_METRICS_BIN)";
            skip_or_fail(required(), problem, INSTALL_HINT)?;
            return Ok(None);
        };
        let mut server = Self {
            dir,
            port: 0,
            child: None,
        };
        server.launch_on_free_port(&binary).await?;
        Ok(Some(server))
    }

    /// Imports each part in turn (e.g.
    /// [`crate::metrics::ClusterMetrics::to_openmetrics_parts`], pulled lazily), then makes
    /// them all visible to queries.
    pub async fn import_parts(&self, parts: impl IntoIterator<Item = String>) -> Result<()> {
        for part in parts {
            self.import(&part).await?;
        }
        self.flush().await
    }

    async fn launch_on_free_port(&mut self, binary: &Path) -> Result<()> {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_port()?;
            if self.launch(binary).await? {
                return Ok(());
            }
            last_log = self.log();
        }
        bail!(
            "{PORT_ATTEMPTS} free ports were all taken first; last victoria-metrics log:\n{last_log}"
        )
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`: the Prometheus query API is under it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Spawns the server and waits until it answers; `false` when the port was taken.
    async fn launch(&mut self, binary: &Path) -> Result<bool> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("opening the victoria-metrics log")?;
        let data = self.dir.path().join("data");
        let child = Command::new(binary)
            .arg(format!("-storageDataPath={}", data.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .args([
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.child = Some(child);
        let client = http_client()?;
        let flags = format!("{}/flags", self.url());
        let ours = format!("-storageDataPath=\"{}\"", data.display());
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                if self.log().contains("address already in use") {
                    return Ok(false);
                }
                bail!(
                    "victoria-metrics exited ({status}); its log:\n{}",
                    self.log()
                );
            }
            // `/flags` answers once the storage is open; its data path tells our server apart
            // from another test's that took the port meanwhile.
            if let Ok(response) = client.get(&flags).send().await
                && let Ok(text) = response.text().await
            {
                if text.contains(&ours) {
                    return Ok(true);
                }
                self.stop();
                return Ok(false);
            }
            sleep(POLL_INTERVAL).await;
        }
        bail!(
            "victoria-metrics not ready after {READY_TIMEOUT:?}; its log:\n{}",
            self.log()
        )
    }

    /// The server's process ID, e.g. to watch its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Imports OpenMetrics text in chunks of whole lines.
    async fn import(&self, openmetrics: &str) -> Result<()> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(300))
            .build()?;
        let url = format!("{}/api/v1/import/prometheus", self.url());
        let mut rest = openmetrics;
        while !rest.is_empty() {
            let cut = if rest.len() <= IMPORT_CHUNK {
                rest.len()
            } else {
                rest[..IMPORT_CHUNK]
                    .rfind('\n')
                    .map_or(rest.len(), |i| i + 1)
            };
            let (chunk, tail) = rest.split_at(cut);
            let response = client.post(&url).body(chunk.to_string()).send().await?;
            let status = response.status();
            ensure!(
                status.is_success(),
                "importing into victoria-metrics answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
            rest = tail;
        }
        Ok(())
    }

    /// Makes everything imported visible to queries at once.
    async fn flush(&self) -> Result<()> {
        http_client()?
            .get(format!("{}/internal/force_flush", self.url()))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(self.dir, DataDir::Kept(_)) {
                Self::terminate(&mut child);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to shut down cleanly and waits for it: killed, it would lose what it
    /// still holds in memory, which only matters for data that is kept.
    fn terminate(child: &mut Child) {
        let Ok(pid) = libc::pid_t::try_from(child.id()) else {
            return;
        };
        // SAFETY: `kill` only sends a signal; `pid` is our child, not yet waited for, so the
        // ID cannot have been reused by another process.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return;
        }
        let deadline = std::time::Instant::now() + SHUTDOWN_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("victoria-metrics.log")
    }

    fn log(&self) -> String {
        let mut text = String::new();
        let _ = File::open(self.log_path()).and_then(|mut f| f.read_to_string(&mut text));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        self.stop();
    }
}
