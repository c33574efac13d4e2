//! Additive Holt-Winters (exponential smoothing with level, damped trend and one season).
//!
//! Error-correction form (Hyndman et al., *Forecasting with Exponential Smoothing*, 2008, ETS(A,Ad,A)):
//! with the one-step error `e = y − (l + φb + s)`, the states move by `l ← l + φb + αe`,
//! `b ← φb + αβe`, `s ← s + γe`. The parameters minimise the in-sample one-step squared error by a
//! coarse grid then a multiplicative pattern search. Fitting is called for every series at several
//! origins, so each pass over the history evaluates [`LANES`] candidates at once: their recursions
//! are independent, so the CPU overlaps them and four candidates cost about as much as one.

use super::{Forecaster, ModelError, check_step, filled_history, period_steps};

/// Candidates evaluated per pass over the history.
const LANES: usize = 4;

/// Periods used to initialise the season (more average out noise, fewer follow a changing shape).
const INIT_PERIODS: usize = 3;

/// Relative drop of the squared error a trend must bring to be kept: a trend that barely helps in
/// sample mostly extrapolates noise.
const TREND_GAIN: f64 = 0.01;

/// Rounds of the pattern search after the grid.
const REFINE_ROUNDS: usize = 4;

/// Smoothing parameters, each in `[0, 1]`: how fast the level (`alpha`), trend (`beta`) and season
/// (`gamma`) follow the data, and how fast the trend dies out (`phi`, 0 = no trend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HwParams {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// A parameter the pattern search moves.
#[derive(Debug, Clone, Copy)]
enum Param {
    Alpha,
    Beta,
    Gamma,
    /// `1 − phi`, so that the damping moves by factors like the others.
    Damping,
}

impl HwParams {
    /// With one parameter multiplied by `factor`, within bounds.
    fn scaled(self, param: Param, factor: f64) -> Self {
        let p = self;
        match param {
            Param::Alpha => Self {
                alpha: p.alpha * factor,
                ..p
            },
            Param::Beta => Self {
                beta: p.beta * factor,
                ..p
            },
            Param::Gamma => Self {
                gamma: p.gamma * factor,
                ..p
            },
            Param::Damping => Self {
                phi: 1.0 - (1.0 - p.phi) * factor,
                ..p
            },
        }
        .clamped()
    }

    /// Within the bounds that keep the recursion stable and every component alive.
    fn clamped(self) -> Self {
        Self {
            alpha: self.alpha.clamp(1e-3, 0.99),
            beta: self.beta.clamp(0.0, 0.5),
            gamma: self.gamma.clamp(1e-3, 0.99),
            phi: self.phi.clamp(0.0, 0.98),
        }
    }
}

/// Additive Holt-Winters with one season and, optionally, a damped trend.
#[derive(Debug, Clone)]
pub struct HoltWinters {
    season_secs: i64,
    allow_trend: bool,
    fitted: Option<Fitted>,
}

#[derive(Debug, Clone)]
struct Fitted {
    params: HwParams,
    level: f64,
    trend: f64,
    /// Season by phase, `season[0]` being the phase of the first forecast step.
    season: Vec<f64>,
}

impl HoltWinters {
    /// Level and a season of `season_secs` seconds, no trend: on the Crane series a day ahead, a
    /// trend fitted to one-step errors mostly extrapolated the last hours' drift (see `MODELS.md`).
    pub fn new(season_secs: i64) -> Self {
        Self {
            season_secs,
            allow_trend: false,
            fitted: None,
        }
    }

    /// Also tries a damped trend, kept if it lowers the in-sample error by at least 1 %: for short
    /// horizons or series that really grow.
    pub fn with_damped_trend(season_secs: i64) -> Self {
        Self {
            allow_trend: true,
            ..Self::new(season_secs)
        }
    }

    /// The parameters chosen by the last fit.
    pub fn params(&self) -> Option<HwParams> {
        self.fitted.as_ref().map(|f| f.params)
    }
}

impl Forecaster for HoltWinters {
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError> {
        check_step(step_secs)?;
        let m = period_steps(self.season_secs, step_secs)?;
        let y = filled_history(values, 2 * m)?;
        let init = Init::new(&y, m);
        let mut search = Search {
            y: &y,
            init: &init,
            season: vec![[0.0; LANES]; m],
        };
        let level_season = search.best_level_season();
        let (params, _) = if self.allow_trend {
            search.with_trend(level_season)
        } else {
            level_season
        };
        let run = search.run(&[params; LANES]);
        let phase = y.len() % m;
        let season = (0..m).map(|j| search.season[(phase + j) % m][0]).collect();
        self.fitted = Some(Fitted {
            params,
            level: run.level[0],
            trend: run.trend[0],
            season,
        });
        Ok(())
    }

    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
        let f = self.fitted.as_ref().ok_or(ModelError::NotFitted)?;
        let phi = f.params.phi;
        let mut damped_sum = 0.0;
        let mut phi_h = 1.0;
        Ok((0..horizon_steps)
            .map(|h| {
                phi_h *= phi;
                damped_sum += phi_h;
                f.level + damped_sum * f.trend + f.season[h % f.season.len()]
            })
            .collect())
    }
}

/// Initial states from the first whole periods: a least-squares line through them gives the level
/// (at the first sample) and the trend, and the season is each phase's mean deviation from that
/// line; removing the line first keeps a trend out of the season (it would otherwise start as a
/// sawtooth that gamma must unlearn).
struct Init {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

impl Init {
    fn new(y: &[f64], m: usize) -> Self {
        let periods = (y.len() / m).clamp(1, INIT_PERIODS);
        let window = &y[..periods * m];
        let (level, trend) = least_squares_line(window);
        let mut season = vec![0.0; m];
        for (t, v) in window.iter().enumerate() {
            season[t % m] += (v - level - trend * t as f64) / periods as f64;
        }
        Self {
            level,
            trend,
            season,
        }
    }
}

/// Intercept (at index 0) and slope of the least-squares line through `y` against its index.
fn least_squares_line(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let centre = (n - 1.0) / 2.0;
    let mean = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let d = t as f64 - centre;
        sxy += d * (v - mean);
        sxx += d * d;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (mean - slope * centre, slope)
}

/// Final states and squared one-step errors of [`LANES`] candidates run side by side.
struct Run {
    sse: [f64; LANES],
    level: [f64; LANES],
    trend: [f64; LANES],
}

/// The parameter search over one history; `season` is the reused per-lane season buffer.
struct Search<'a> {
    y: &'a [f64],
    init: &'a Init,
    season: Vec<[f64; LANES]>,
}

impl Search<'_> {
    /// Runs the recursion for [`LANES`] candidates in lockstep; no allocation.
    fn run(&mut self, cands: &[HwParams; LANES]) -> Run {
        let alpha = cands.map(|p| p.alpha);
        let keep = cands.map(|p| 1.0 - p.alpha);
        let ab = cands.map(|p| p.alpha * p.beta);
        let gamma = cands.map(|p| p.gamma);
        let phi = cands.map(|p| p.phi);
        let mut level = [self.init.level; LANES];
        let mut trend = phi.map(|f| if f > 0.0 { self.init.trend } else { 0.0 });
        let mut sse = [0.0; LANES];
        for (lanes, &s) in self.season.iter_mut().zip(&self.init.season) {
            *lanes = [s; LANES];
        }
        let mut i = 0;
        for &v in self.y {
            let s = &mut self.season[i];
            for k in 0..LANES {
                // `l ← (1 − α)(l + φb) + α(y − s)` equals `l + φb + αe` with a shorter chain of
                // dependent operations from one step's level to the next.
                let damped = phi[k] * trend[k];
                let predicted = level[k] + damped;
                let deseasonalised = v - s[k];
                let e = deseasonalised - predicted;
                sse[k] += e * e;
                level[k] = keep[k] * predicted + alpha[k] * deseasonalised;
                trend[k] = damped + ab[k] * e;
                s[k] += gamma[k] * e;
            }
            i += 1;
            if i == self.season.len() {
                i = 0;
            }
        }
        Run { sse, level, trend }
    }

    /// The candidate with the least squared error, and that error (non-finite counts as worst).
    fn best_of(&mut self, cands: &[HwParams]) -> (HwParams, f64) {
        let mut best = (cands[0], f64::INFINITY);
        for chunk in cands.chunks(LANES) {
            let last = chunk[chunk.len() - 1];
            let lanes = std::array::from_fn(|k| chunk.get(k).copied().unwrap_or(last));
            let run = self.run(&lanes);
            for (p, sse) in chunk.iter().zip(run.sse) {
                if sse.is_finite() && sse < best.1 {
                    best = (*p, sse);
                }
            }
        }
        best
    }

    /// Best `(alpha, gamma)` without trend: a grid, then the pattern search.
    fn best_level_season(&mut self) -> (HwParams, f64) {
        let grid: Vec<HwParams> = [0.03, 0.1, 0.3, 0.6]
            .into_iter()
            .flat_map(|alpha| {
                [0.03, 0.1, 0.3].map(|gamma| HwParams {
                    alpha,
                    beta: 0.0,
                    gamma,
                    phi: 0.0,
                })
            })
            .collect();
        let start = self.best_of(&grid);
        self.refine(start, &[Param::Alpha, Param::Gamma])
    }

    /// `level_season` with the best damped trend, if that trend clearly lowers the error.
    fn with_trend(&mut self, level_season: (HwParams, f64)) -> (HwParams, f64) {
        let (p, sse) = level_season;
        // A trend takes over part of what a high alpha did, so alpha is searched again too.
        let grid: Vec<HwParams> = [p.alpha, 0.2]
            .into_iter()
            .flat_map(|alpha| {
                [(0.02, 0.8), (0.2, 0.8), (0.02, 0.95), (0.2, 0.95)].map(|(beta, phi)| HwParams {
                    alpha,
                    beta,
                    phi,
                    ..p
                })
            })
            .collect();
        let start = self.best_of(&grid);
        let trended = self.refine(start, &[Param::Beta, Param::Alpha, Param::Damping]);
        if trended.1 < (1.0 - TREND_GAIN) * sse {
            trended
        } else {
            level_season
        }
    }

    /// Multiplicative pattern search: moves to the best neighbour (each of `params` multiplied and
    /// divided by a factor) while it improves, and narrows the factor when none does.
    fn refine(&mut self, start: (HwParams, f64), params: &[Param]) -> (HwParams, f64) {
        let mut best = start;
        let mut factor: f64 = 2.0;
        for _ in 0..REFINE_ROUNDS {
            let cands: Vec<HwParams> = params
                .iter()
                .flat_map(|&param| [factor, 1.0 / factor].map(|f| best.0.scaled(param, f)))
                .collect();
            let next = self.best_of(&cands);
            if next.1 < best.1 {
                best = next;
            } else {
                factor = factor.sqrt();
            }
        }
        best
    }
}
