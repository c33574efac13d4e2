"""Benchmark data set: resampled series, forecast origins and the shared CSV formats."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

DAY = 86_400
CRANE_STEP = 300
TAYLOR_STEP = 1_800
TAYLOR_START = 960_163_200  # 2000-06-05T00:00:00Z
CRANE_EVAL_DAYS = 7
TAYLOR_EVAL_DAYS = 14
MIN_TRAIN_DAYS = 3
QUICK_ORIGINS = 2
FORECAST_COLUMNS = ["series", "origin", "ts", "actual", "model", "p50", "p90", "p99"]
ORIGIN_COLUMNS = ["series", "origin", "horizon_end", "season_steps"]


def default_source() -> Path:
    """Shared data folder: $TIDAL_SHARED_DATA or <repo>/../shared/data."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("TIDAL_SHARED_DATA", repo.parent / "shared" / "data"))


def resample_mean(raw: pd.DataFrame, step: int) -> pd.Series:
    """Mean per `step`-second bin aligned to multiples of `step`; empty bins stay NaN."""
    bins = (raw["ts"].astype("int64") // step) * step
    means = raw["value"].groupby(bins).mean()
    grid = np.arange(means.index.min(), means.index.max() + step, step, dtype="int64")
    return means.reindex(grid)


def write_series(series: pd.Series, path: Path) -> None:
    """Write a series as `ts,value` CSV (missing values as `NaN`)."""
    frame = pd.DataFrame({"ts": series.index.astype("int64"), "value": series.to_numpy()})
    frame.to_csv(path, index=False, na_rep="NaN")


def read_series(path: Path) -> pd.Series:
    """Read a `ts,value` CSV into a float series indexed by Unix seconds."""
    frame = pd.read_csv(path, dtype={"ts": "int64", "value": "float64"})
    return pd.Series(frame["value"].to_numpy(), index=frame["ts"].to_numpy(), name=path.stem)


def day_origins(series: pd.Series, step: int, eval_days: int) -> list[int]:
    """Day boundaries starting each of the last `eval_days` full days, with ≥ MIN_TRAIN_DAYS before."""
    first_day = -(-int(series.index[0]) // DAY) * DAY
    end = int(series.index[-1]) + step
    full_days = (end - first_day) // DAY
    first_k = max(MIN_TRAIN_DAYS, full_days - eval_days)
    return [first_day + k * DAY for k in range(first_k, full_days)]


def taylor_series() -> pd.Series:
    """pmdarima's load_taylor (half-hourly demand) on a 2000-06-05 UTC time axis."""
    from pmdarima.datasets import load_taylor

    values = np.asarray(load_taylor(), dtype="float64")
    ts = TAYLOR_START + TAYLOR_STEP * np.arange(len(values), dtype="int64")
    return pd.Series(values, index=ts, name="load_taylor")


def prepare(source: Path, out: Path, quick: bool) -> None:
    """Write resampled crane series, load_taylor and origins.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    crane_files = sorted((source / "crane-cpu").glob("*.csv"))
    if not crane_files:
        raise SystemExit(f"no crane-cpu/*.csv under {source} (set TIDAL_SHARED_DATA)")
    plan: list[tuple[str, pd.Series, int, int]] = []
    for path in crane_files:
        raw = pd.read_csv(path, dtype={"ts": "int64", "value": "float64"})
        plan.append((path.stem, resample_mean(raw, CRANE_STEP), CRANE_STEP, CRANE_EVAL_DAYS))
    plan.append(("load_taylor", taylor_series(), TAYLOR_STEP, TAYLOR_EVAL_DAYS))
    rows = []
    for name, series, step, eval_days in plan:
        write_series(series, out / f"{name}.csv")
        origins = day_origins(series, step, eval_days)
        if quick:
            origins = origins[-QUICK_ORIGINS:]
        rows += [(name, o, o + DAY, DAY // step) for o in origins]
        print(f"  {name}: {len(series)} points, {int(series.isna().sum())} missing, {len(origins)} origins")
    pd.DataFrame(rows, columns=ORIGIN_COLUMNS).to_csv(out / "origins.csv", index=False)
    print(f"  {len(rows)} origins -> {out / 'origins.csv'}")


def read_origins(data: Path) -> pd.DataFrame:
    """Read origins.csv."""
    return pd.read_csv(data / "origins.csv", dtype={"series": str})


def read_forecasts(paths: list[Path]) -> pd.DataFrame:
    """Concatenate forecast CSVs (`NaN` or empty cells read as missing)."""
    frames = [pd.read_csv(p, dtype={"series": str, "model": str}) for p in paths]
    frame = pd.concat(frames, ignore_index=True)
    missing = set(FORECAST_COLUMNS) - set(frame.columns)
    if missing:
        raise SystemExit(f"forecast CSV lacks columns {sorted(missing)}")
    return frame[FORECAST_COLUMNS]
