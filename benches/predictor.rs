//! Predictor throughput: the target is 10,000 series × 14 days at 5-minute steps,
//! each forecast a day ahead (cycle detection, backtest of every candidate at three origins,
//! calibrated bands), in ≤ 10 s on 2 cores and ≤ 2 GiB. Figures in BENCHMARKS.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tidal_predictor::forecast::{ForecastOptions, forecast, forecast_many};
use tidal_predictor::series::Series;

const STEP: i64 = 300;
const DAYS: i64 = 14;

/// A usage-like series: daily and weekly cycles of varying shape and phase, a slow drift and
/// noise, all from a cheap deterministic generator so every run sees the same data.
fn series(seed: u64) -> Series {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let level = 1.0 + (seed % 17) as f64;
    let phase = (seed % 24) as f64 / 24.0;
    let weekly = (seed % 3) as f64 * 0.1;
    let n = (DAYS * 86_400 / STEP) as usize;
    let values = (0..n)
        .map(|i| {
            let t = i as f64 * STEP as f64;
            let day = (t / 86_400.0 + phase) * std::f64::consts::TAU;
            let week = t / (7.0 * 86_400.0) * std::f64::consts::TAU;
            level * (1.0 + 0.5 * day.sin() + weekly * week.sin() + 0.002 * t / 86_400.0)
                + level * 0.1 * noise()
        })
        .collect();
    Series {
        start: 1_700_000_000 / 86_400 * 86_400,
        step: STEP,
        values,
    }
}

fn bench(c: &mut Criterion) {
    let opts = ForecastOptions::default();
    let one = series(7);
    c.bench_function("forecast 1 series (14 d, 5 min)", |b| {
        b.iter(|| forecast(&one, &opts))
    });

    let many: Vec<Series> = (0..10_000).map(series).collect();
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("forecast 10,000 series (14 d, 5 min)", |b| {
        b.iter(|| forecast_many(&many, &opts))
    });
    group.finish();
    if let Some(peak) = peak_rss() {
        eprintln!("peak RSS {peak}");
    }
}

/// The process's peak resident set (Linux `VmHWM`).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
}

criterion_group!(benches, bench);
criterion_main!(benches);
