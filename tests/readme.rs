//! The outputs the README shows are what the commands print: each example is run here
//! and compared with its block, so the README cannot drift from the program.

use std::path::Path;
use std::process::Command;

const TIDAL: &str = env!("CARGO_BIN_EXE_tidal");

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable")
}

/// The fenced block of the README whose first line starts with `first`.
fn block(readme: &str, first: &str) -> String {
    let start = readme
        .find(&format!("```\n{first}"))
        .unwrap_or_else(|| panic!("no README block starting with {first:?}"))
        + 4;
    let end = readme[start..].find("```").expect("a closed block") + start;
    readme[start..end].to_string()
}

fn stdout(args: &[&str]) -> String {
    let out = Command::new(TIDAL)
        .args(args)
        .env_remove("TIDAL_CONFIG")
        .env_remove("TIDAL_PROMETHEUS_URL")
        .output()
        .expect("the tidal binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_simulate_example_is_what_tidal_simulate_prints() {
    let shown = block(&readme(), "Tidal simulation: scenario mixed");
    assert_eq!(stdout(&["simulate", "--scenario", "mixed"]), shown);
}

#[test]
fn the_predict_example_is_what_tidal_predict_prints() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/crane-cpu");
    if !data.exists() {
        eprintln!(
            "note: {} not found (a clone without shared/), skipping",
            data.display()
        );
        return;
    }
    let csv = |name: &str| data.join(name).display().to_string();
    let (series2, series14) = (csv("series2.csv"), csv("series14.csv"));
    let printed = stdout(&[
        "predict",
        "--csv",
        &series2,
        "--csv",
        &series14,
        "--target-per-replica",
        "50",
    ]);
    assert_eq!(printed, block(&readme(), "TARGET    CYCLES"));
}
