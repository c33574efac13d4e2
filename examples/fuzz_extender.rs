//! Fuzzes the scheduler extender's `filter` and `prioritize` handlers in-process with
//! mutated real kube-scheduler request bodies (see `tidal_testkit::fuzz`), on every core.
//!
//! `cargo run --release --example fuzz_extender -- --requests 10000000 [--seed N]`
//!
//! Prints progress on stderr and a summary on stdout; exits 1 on any panic or malformed answer.

#[path = "../scheduler-extender/tests/fuzz_target/mod.rs"]
mod fuzz_target;

use std::time::Instant;

use anyhow::Context as _;
use rayon::prelude::*;

/// Requests per task: each task has its own seeded mutator.
const BATCH: u64 = 10_000;

fn main() -> anyhow::Result<()> {
    let mut requests: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<u64> {
            let text = args
                .next()
                .with_context(|| format!("{name} needs a number"))?;
            text.parse()
                .with_context(|| format!("{name} {text:?} is not a number"))
        };
        match arg.as_str() {
            "--requests" => requests = value("--requests")?,
            "--seed" => seed = value("--seed")?,
            other => anyhow::bail!("unknown argument {other:?}; use --requests N [--seed N]"),
        }
    }
    let target = fuzz_target::Target::new()?;
    let started = Instant::now();
    let batches = requests.div_ceil(BATCH);
    let done = std::sync::atomic::AtomicU64::new(0);
    let tally = (0..batches)
        .into_par_iter()
        .map(|b| {
            let n = BATCH.min(requests - b * BATCH);
            let tally = target.run(seed.wrapping_mul(1_000_003).wrapping_add(b), n);
            let total = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            if total % 100_000 < n {
                eprintln!(
                    "  {total} of {requests} requests, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            tally
        })
        .reduce(fuzz_target::Tally::default, |mut a, b| {
            a.add(b);
            a
        });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} requests (each to filter and prioritize) in {secs:.0} s ({:.0} calls/s): {} answered, {} refused with 400, {} panics, {} malformed",
        tally.requests,
        2.0 * tally.requests as f64 / secs,
        tally.answered,
        tally.rejected,
        tally.panics,
        tally.malformed.len()
    );
    for m in &tally.malformed {
        println!("  malformed: {m}");
    }
    anyhow::ensure!(
        tally.clean(),
        "the extender panicked or answered out of shape"
    );
    Ok(())
}
