"""Python baselines: statsmodels Holt-Winters and ETS, Nixtla statsforecast AutoETS, MSTL and
AutoTheta, plus a seasonal naive cross-check."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import statsforecast_models as sf
from data import DAY, FORECAST_COLUMNS, read_origins, read_series

WORKERS = 2
HW_PATHS = 1_000
SEED = 20_260_101
# (trend, damped) specs tried in order; the first is the benchmark spec, the others are fallbacks.
SPECS: list[tuple[str | None, bool]] = [("add", True), ("add", False), (None, False)]

Quantiles = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Task:
    """One forecast: fit on `history` (raw, may hold NaN), predict `len(actual)` steps from `origin`."""

    series: str
    origin: int
    step: int
    season: int
    history: np.ndarray
    actual: np.ndarray


@dataclass
class Result:
    """Forecast rows of one task, plus timings, fallbacks and warning counts."""

    series: str
    origin: int
    frames: list[pd.DataFrame] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)


def interpolate(values: np.ndarray) -> np.ndarray:
    """Fill NaNs linearly (edges with the nearest value)."""
    return pd.Series(values).interpolate(method="linear", limit_direction="both").to_numpy()


def seasonal_naive(history: np.ndarray, season: int, horizon: int) -> Quantiles:
    """Last season repeated; p90/p99 add empirical quantiles of in-sample seasonal differences."""
    last = history[-season:]
    p50 = np.resize(last, horizon)
    diffs = history[season:] - history[:-season]
    q90, q99 = np.quantile(diffs, [0.9, 0.99])
    return p50, p50 + q90, p50 + q99


def holt_winters(history: np.ndarray, season: int, horizon: int, trend: str | None, damped: bool) -> Quantiles:
    """statsmodels ExponentialSmoothing; p90/p99 from 1000 simulated paths with normal errors."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(
        history, trend=trend, damped_trend=damped, seasonal="add",
        seasonal_periods=season, initialization_method="estimated",
    )
    fit = model.fit()
    p50 = fit.forecast(horizon)
    paths = fit.simulate(horizon, repetitions=HW_PATHS, error="add", anchor="end", random_state=SEED)
    q90, q99 = np.quantile(np.asarray(paths), [0.9, 0.99], axis=1)
    return p50, q90, q99


def ets(history: np.ndarray, season: int, horizon: int, trend: str | None, damped: bool) -> Quantiles:
    """statsmodels ETSModel (heuristic initial states); p90/p99 = upper bounds of 80%/98% intervals."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        pd.Series(history), error="add", trend=trend, damped_trend=damped, seasonal="add",
        seasonal_periods=season, initialization_method="heuristic",
    )
    fit = model.fit(disp=False)
    pred = fit.get_prediction(start=len(history), end=len(history) + horizon - 1)
    p50 = np.asarray(pred.predicted_mean)
    q90 = np.asarray(pred.summary_frame(alpha=0.2)["pi_upper"])
    q99 = np.asarray(pred.summary_frame(alpha=0.02)["pi_upper"])
    return p50, q90, q99


def fit_with_fallback(fitter: Callable[..., Quantiles], history: np.ndarray, season: int,
                      horizon: int) -> tuple[Quantiles, str | None]:
    """Try SPECS in order; return the first finite forecast and a note if a fallback was used."""
    errors = []
    for trend, damped in SPECS:
        try:
            quantiles = fitter(history, season, horizon, trend, damped)
        except Exception as err:  # noqa: BLE001 - any failed fit means: try the next spec
            errors.append(f"trend={trend},damped={damped}: {err}")
            continue
        if all(np.all(np.isfinite(q)) for q in quantiles):
            note = f"fell back to trend={trend},damped={damped} ({'; '.join(errors)})" if errors else None
            return quantiles, note
        errors.append(f"trend={trend},damped={damped}: non-finite forecast")
    raise RuntimeError("; ".join(errors))


def run_task(task: Task) -> Result:
    """Fit every baseline for one (series, origin) and return its forecast rows."""
    history = interpolate(task.history)
    horizon = len(task.actual)
    ts = task.origin + task.step * np.arange(horizon, dtype="int64")
    result = Result(task.series, task.origin)
    models: list[tuple[str, Callable[[], tuple[Quantiles, str | None]]]] = [
        ("statsmodels-hw", lambda: fit_with_fallback(holt_winters, history, task.season, horizon)),
        ("statsmodels-ets", lambda: fit_with_fallback(ets, history, task.season, horizon)),
        ("python-seasonal-naive", lambda: (seasonal_naive(history, task.season, horizon), None)),
        ("statsforecast-autoets", lambda: (sf.autoets(history, task.season, horizon), None)),
        ("statsforecast-mstl", lambda: (sf.mstl(history, task.season, horizon), None)),
        ("statsforecast-autotheta", lambda: (sf.autotheta(history, task.season, horizon), None)),
    ]
    for name, forecast in models:
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                (p50, p90, p99), note = forecast()
            except Exception as err:  # noqa: BLE001 - a failed fit is reported, not fatal
                result.notes.append(f"{task.series}@{task.origin} {name}: failed: {err}")
                continue
        result.seconds[name] = time.perf_counter() - started
        for w in caught:
            result.warnings[f"{name}: {w.category.__name__}: {str(w.message).splitlines()[0][:90]}"] += 1
        if note:
            result.notes.append(f"{task.series}@{task.origin} {name}: {note}")
        result.frames.append(pd.DataFrame({
            "series": task.series, "origin": task.origin, "ts": ts, "actual": task.actual,
            "model": name, "p50": p50, "p90": p90, "p99": p99,
        }))
    return result


def build_tasks(data: Path) -> list[Task]:
    """One task per row of origins.csv, longest histories first (better load balance)."""
    tasks = []
    cache: dict[str, pd.Series] = {}
    for row in read_origins(data).itertuples(index=False):
        if row.series not in cache:
            cache[row.series] = read_series(data / f"{row.series}.csv")
        series = cache[row.series]
        step = DAY // int(row.season_steps)
        grid = np.arange(row.origin, row.horizon_end, step, dtype="int64")
        history = series[series.index < row.origin].to_numpy()
        tasks.append(Task(row.series, int(row.origin), step, int(row.season_steps), history,
                          series.reindex(grid).to_numpy()))
    return sorted(tasks, key=lambda t: -len(t.history))


def single_threaded_blas() -> None:
    """Keep each worker's BLAS to one thread so WORKERS processes use WORKERS cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # stays in force: the limit is only undone by an explicit restore


def run_baselines(data: Path, out: Path) -> None:
    """Fit all baselines over all origins with WORKERS processes and write the forecast CSV."""
    tasks = build_tasks(data)
    print(f"  {len(tasks)} forecasts x 6 models on {WORKERS} workers")
    started = time.perf_counter()
    results: list[Result] = []
    with Pool(WORKERS, initializer=single_threaded_blas) as pool:
        for done, result in enumerate(pool.imap_unordered(run_task, tasks), start=1):
            results.append(result)
            timing = " ".join(f"{k.split('-')[-1]}={v:.1f}s" for k, v in result.seconds.items())
            print(f"  [{done:3d}/{len(tasks)}] {result.series} @ {result.origin}: {timing}"
                  f"  (elapsed {time.perf_counter() - started:.0f}s)", flush=True)
    rows = pd.concat([f for r in results for f in r.frames], ignore_index=True)[FORECAST_COLUMNS]
    rows = rows.sort_values(["series", "origin", "model", "ts"])
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False, na_rep="NaN", float_format="%.10g")
    summarise(results, time.perf_counter() - started)
    print(f"  wrote {len(rows)} rows -> {out}")


def summarise(results: list[Result], wall: float) -> None:
    """Print fit times, fallbacks and a warning histogram."""
    totals: Counter = Counter()
    warned: Counter = Counter()
    for r in results:
        totals.update(r.seconds)
        warned.update(r.warnings)
    print(f"  wall time {wall:.0f}s; fit seconds per model, summed over workers: "
          + ", ".join(f"{k} {v:.0f}s" for k, v in sorted(totals.items())))
    notes = [n for r in results for n in r.notes]
    print(f"  fallbacks/failures: {len(notes)}")
    for note in notes:
        print(f"    {note}")
    if warned:
        print(f"  warnings ({sum(warned.values())} total):")
        for message, count in warned.most_common(8):
            print(f"    {count:5d} x {message}")
