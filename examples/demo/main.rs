//! Tidal at work with nothing else running (`./scripts/demo`): each part of the product on
//! real Prometheus servers on loopback and an in-process stand-in for the Kubernetes API.
//!
//! 1. the scheduler extender placing a burst of pods ([`extender`]);
//! 2. the descheduler's dry run relieving a hot node within its guards ([`descheduler`]);
//! 3. a week of history: forecasts with pre-scaling plans ([`forecast`]) and the cost report
//!    ([`cost`]);
//! 4. the side-by-side simulation of every policy ([`simulation`]).
//!
//! `--serve` keeps the extender running after its part so you can query it yourself.

mod cost;
mod descheduler;
mod extender;
mod forecast;
mod simulation;
mod week;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    extender::run(keep_serving).await?;
    descheduler::run().await?;
    println!();
    step("filling a Prometheus with a week of a small shop's usage, requests and nodes");
    let (prometheus, end) = week::start().await?;
    forecast::run(prometheus.url(), end).await?;
    cost::run(prometheus.url(), end).await?;
    simulation::run();
    Ok(())
}

fn step(what: &str) {
    println!("==> {what}");
}
