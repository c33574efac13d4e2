//! Screenshots of HTML pages in Debian's headless Chromium, for looking at what a report
//! really renders. Skipped without `/usr/bin/chromium` unless `TIDAL_REQUIRE_CHROMIUM=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Writes `html` and its screenshot into `TIDAL_REPORT_KEEP` (or a temporary directory) as
/// `<name>.html` and `<name>.png`, and returns the PNG's bytes; `None` when Chromium is not
/// installed and not required.
pub fn screenshot(name: &str, html: &str) -> anyhow::Result<Option<Vec<u8>>> {
    if !Path::new(CHROMIUM).exists() {
        anyhow::ensure!(
            std::env::var("TIDAL_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "TIDAL_REQUIRE_CHROMIUM=1 but {CHROMIUM} does not exist: apt-get install -y chromium"
        );
        println!("skipped: {CHROMIUM} is not installed");
        return Ok(None);
    }
    let work = tempfile::tempdir()?;
    let dir: PathBuf =
        std::env::var_os("TIDAL_REPORT_KEEP").map_or_else(|| work.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir)?;
    let html_path = dir.join(format!("{name}.html"));
    let png_path = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png_path);
    std::fs::write(&html_path, html)?;
    // The flags keep Chromium off the network this machine does not have.
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,2400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(format!("file://{}", html_path.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let png = std::fs::read(&png_path).unwrap_or_default();
    anyhow::ensure!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "chromium ({status:?}) wrote no PNG screenshot at {}",
        png_path.display()
    );
    Ok(Some(png))
}
