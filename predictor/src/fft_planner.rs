//! One FFT planner per thread. Planning computes the twiddle factors (a sine and cosine per
//! point); a planner caches its plans, so reusing it across the series a thread forecasts
//! takes that cost, a fifth of a whole forecast, off every series but the first of each length.

use std::cell::RefCell;

use rustfft::FftPlanner;

thread_local! {
    static PLANNER: RefCell<FftPlanner<f64>> = RefCell::new(FftPlanner::new());
}

/// Runs `f` with this thread's planner.
pub(crate) fn with_planner<R>(f: impl FnOnce(&mut FftPlanner<f64>) -> R) -> R {
    PLANNER.with(|p| f(&mut p.borrow_mut()))
}
