//! The simulator: three days of a generated cluster replayed under every policy, side by
//! side: `tidal simulate`.

use tidal_simulator::engine::{Options, simulate};
use tidal_simulator::policy::Policy;

/// `tidal simulate --scenario mixed`, as a table.
pub fn run() {
    println!();
    super::step(
        "tidal simulate --scenario mixed: three days of 36 nodes and 90 services under each policy",
    );
    let trace = match tidal_simulator::scenario::build("mixed", 7) {
        Ok(trace) => trace,
        Err(e) => return println!("  (the scenario could not be built: {e})"),
    };
    let policies = Policy::defaults(trace.workloads.iter().any(|w| w.hpa.is_some()));
    let report = simulate(
        &trace,
        "scenario mixed",
        &policies,
        &Options::default(),
        &|_, _, _| {},
    );
    print!("{}", tidal_simulator::report::table(&report));
    println!(
        "Where Tidal loses: `--scenario diurnal` (two tiers of 40 under-requested replicas that \
         peak together and roll daily) places worse than requests; see BENCHMARKS.md.\n\
         Try `tidal simulate --scenario week --format html --output sim.html` for heatmaps."
    );
}
