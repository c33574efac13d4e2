//! Tidal's demand predictor (work in progress: history and period detection first).
//!
//! Pure functions over evenly spaced series: cleaning, period detection, models,
//! backtests. I/O (Prometheus, CSV files) stays at the edges.

pub mod chart;
pub mod clean;
pub mod config;
pub mod cost;
pub mod csv;
mod fft_planner;
pub mod forecast;
pub mod history;
pub mod hpa;
pub mod models;
pub mod period;
pub mod plan;
pub mod report;
pub mod run;
pub mod series;
