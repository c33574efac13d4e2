//! Tidal's demand predictor.
//!
//! History (Prometheus range queries, or CSV) is cleaned onto an even grid, its cycles are
//! detected, candidate models are backtested at rolling origins and the best forecasts the
//! horizon with bands calibrated on its own backtest errors; plans turn a forecast quantile
//! into replica or node counts, and `hpa` holds them as HPA floors. Decisions are pure
//! functions; I/O (Prometheus, Kubernetes) stays in `history` and `hpa`.

pub mod chart;
pub mod clean;
pub mod config;
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
