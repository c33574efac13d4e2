use std::f64::consts::TAU;
use tidal_predictor::period::detect_periods;
const DAY: i64 = 86400;
const WEEK: i64 = 7 * DAY;
fn daily_weekly(t: i64) -> f64 {
    let (d, w) = (
        (t % DAY) as f64 / DAY as f64,
        (t % WEEK) as f64 / WEEK as f64,
    );
    let daily = 3.0 * (TAU * d).sin() + (2.0 * TAU * d).cos();
    let weekly = 1.0 + 0.3 * (TAU * w).sin();
    20.0 + daily * weekly + 2.0 * (TAU * w).sin()
}
#[test]
fn scratch() {
    for days in [14, 15, 21] {
        for noise in [0.0, 0.5] {
            let mut s = 1u64;
            let v: Vec<f64> = (0..days * 288)
                .map(|i| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    daily_weekly(1_699_920_000 + i as i64 * 300)
                        + noise * ((s >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
                })
                .collect();
            println!("{days} {noise}: {:?}", detect_periods(&v, 300, 6));
        }
    }
}
#[test]
fn scratch_acf() {
    let n = 14 * 288;
    let v: Vec<f64> = (0..n)
        .map(|i| daily_weekly(1_699_920_000 + i as i64 * 300))
        .collect();
    let mean = v.iter().sum::<f64>() / n as f64;
    let x: Vec<f64> = v.iter().map(|a| a - mean).collect();
    let l0 = x.iter().map(|a| a * a).sum::<f64>() / n as f64;
    let acf = |k: usize| (0..n - k).map(|i| x[i] * x[i + k]).sum::<f64>() / (n - k) as f64 / l0;
    for k in [
        1440, 1728, 1900, 2000, 2010, 2016, 2020, 2030, 2100, 2200, 2304, 2400, 2500, 2520,
    ] {
        println!("acf {k} {:.4}", acf(k));
    }
}
#[path = "zz_period_dbg.rs"]
#[allow(dead_code)]
mod dbg;
#[test]
fn scratch_dbg() {
    let n = 14 * 288;
    let mut s = 1u64;
    let v: Vec<f64> = (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            daily_weekly(1_699_920_000 + i as i64 * 300)
                + 0.5 * ((s >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
        })
        .collect();
    println!("{:?}", dbg::detect_periods(&v, 300, 3));
}
