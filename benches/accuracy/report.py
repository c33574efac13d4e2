"""Scores forecasts (MASE, scaled pinball, quantile coverage) and writes the Markdown report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data import read_forecasts, read_origins, read_series

TIDAL = "tidal"
NAIVE = "seasonal-naive"
PY_NAIVE = "python-seasonal-naive"
STATSMODELS = ("statsmodels-hw", "statsmodels-ets")
STATSFORECAST = ("statsforecast-autoets", "statsforecast-mstl", "statsforecast-autotheta")
TAYLOR = "load_taylor"
METRICS = {"mase": "MASE", "pinball50": "pinball .5", "pinball90": "pinball .9",
           "cov90": "p90 coverage", "cov99": "p99 coverage"}


def seasonal_scale(history: np.ndarray, season: int) -> float:
    """Mean |y_t - y_{t-m}| over the training window, skipping pairs with a NaN."""
    diffs = np.abs(history[season:] - history[:-season])
    return float(np.nanmean(diffs)) if np.isfinite(diffs).any() else float("nan")


def pinball(y: np.ndarray, q_hat: np.ndarray, q: float) -> float:
    """Mean pinball loss at level q."""
    diff = y - q_hat
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def score(forecasts: pd.DataFrame, data: Path) -> pd.DataFrame:
    """One row of metrics per (series, origin, model); rows with a NaN actual are skipped."""
    seasons = read_origins(data).set_index(["series", "origin"])["season_steps"]
    forecasts = forecasts[forecasts["actual"].notna()]
    scales: dict[tuple[str, int], float] = {}
    rows = []
    for (series, origin, model), f in forecasts.groupby(["series", "origin", "model"], sort=True):
        key = (series, int(origin))
        if key not in scales:
            values = read_series(data / f"{series}.csv")
            scales[key] = seasonal_scale(values[values.index < origin].to_numpy(), int(seasons[key]))
        scale = scales[key]
        y, p50, p90, p99 = (f[c].to_numpy(dtype="float64") for c in ("actual", "p50", "p90", "p99"))
        rows.append({
            "series": series, "origin": int(origin), "model": model,
            "mase": float(np.mean(np.abs(y - p50))) / scale,
            "pinball50": pinball(y, p50, 0.5) / scale,
            "pinball90": pinball(y, p90, 0.9) / scale,
            "cov90": float(np.mean(y <= p90)),
            "cov99": float(np.mean(y <= p99)),
        })
    return pd.DataFrame(rows)


def aggregate(scores: pd.DataFrame, crane_only: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-series means over origins, mean over series with forecast count and MASE rank) per model."""
    if crane_only:
        scores = scores[scores["series"] != TAYLOR]
    per_series = scores.groupby(["model", "series"])[list(METRICS)].mean()
    overall = per_series.groupby("model").mean()
    overall["forecasts"] = scores.groupby("model").size()
    overall["rank"] = overall["mase"].round(4).rank(method="min").astype(int)
    return per_series, overall.sort_values(["rank", "mase"])


def summary_table(overall: pd.DataFrame) -> list[str]:
    """Markdown table: model x mean metrics and rank (by MASE)."""
    lines = ["| model | forecasts | " + " | ".join(METRICS.values()) + " | rank |",
             "|---|---:|" + "---:|" * (len(METRICS) + 1)]
    for model, r in overall.iterrows():
        cells = [f"{r['mase']:.3f}", f"{r['pinball50']:.3f}", f"{r['pinball90']:.3f}",
                 f"{r['cov90']:.1%}", f"{r['cov99']:.1%}", str(int(r["rank"]))]
        lines.append(f"| {model} | {int(r['forecasts'])} | " + " | ".join(cells) + " |")
    return lines


def per_series_table(per_series: pd.DataFrame) -> list[str]:
    """Markdown table: series x model mean MASE (crane series in numeric order, then load_taylor)."""
    mase = per_series["mase"].unstack("model")
    mase = mase.loc[sorted(mase.index, key=lambda s: (s == TAYLOR, len(s), s))]
    lines = ["| series | " + " | ".join(mase.columns) + " |", "|---|" + "---:|" * len(mase.columns)]
    for series, r in mase.iterrows():
        lines.append(f"| {series} | " + " | ".join(f"{v:.3f}" for v in r) + " |")
    return lines


def verdicts(overall: pd.DataFrame, scope: str) -> list[str]:
    """PASS/FAIL lines for Tidal's accuracy targets."""
    if TIDAL not in overall.index:
        return [f"- n/a ({scope}): no `{TIDAL}` forecasts"]
    mase = overall["mase"]
    # The stronger of the two seasonal naives (Rust's forecasts from cleaned history, Python's
    # is the textbook last day repeated), so the verdict cannot flatter Tidal.
    naives = [m for m in (NAIVE, PY_NAIVE) if m in mase.index]
    sm = [m for m in STATSMODELS if m in mase.index]
    lines = []
    if naives:
        naive = min(naives, key=lambda m: mase[m])
        gain = 1 - mase[TIDAL] / mase[naive]
        lines.append(f"- {_flag(gain >= 0.15)} ({scope}) Tidal mean MASE >= 15% below {naive}: "
                     f"{mase[TIDAL]:.3f} vs {mase[naive]:.3f} (reduction {gain:+.1%})")
    if sm:
        best = min(sm, key=lambda m: mase[m])
        lines.append(f"- {_flag(mase[TIDAL] <= mase[best])} ({scope}) Tidal mean MASE <= best statsmodels "
                     f"({best}): {mase[TIDAL]:.3f} vs {mase[best]:.3f}")
    sf = [m for m in STATSFORECAST if m in mase.index]
    if sf:
        best = min(sf, key=lambda m: mase[m])
        lines.append(f"- {_flag(mase[TIDAL] <= mase[best])} ({scope}) Tidal mean MASE <= best statsforecast "
                     f"({best}): {mase[TIDAL]:.3f} vs {mase[best]:.3f}")
    cov = overall.loc[TIDAL, "cov90"]
    lines.append(f"- {_flag(0.85 <= cov <= 0.95)} ({scope}) Tidal p90 coverage within 85-95%: {cov:.1%}")
    return lines


def _flag(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cross_check(forecasts: pd.DataFrame) -> list[str]:
    """Compare the Rust and Python seasonal naive p50 on common rows."""
    keys = ["series", "origin", "ts"]
    rust = forecasts[forecasts["model"] == NAIVE].set_index(keys)["p50"]
    py = forecasts[forecasts["model"] == PY_NAIVE].set_index(keys)["p50"]
    common = rust.index.intersection(py.index)
    if common.empty:
        return []
    gap = (rust[common] - py[common]).abs()
    return [f"Cross-check: `{NAIVE}` vs `{PY_NAIVE}` p50 on {len(common)} common steps: "
            f"mean |diff| {gap.mean():.3g}, max {gap.max():.3g}, "
            f"{int((gap > 1e-6 * (1 + py[common].abs())).sum())} differ."]


def build_report(forecast_paths: list[Path], data: Path) -> str:
    """Score all forecasts and render the Markdown report."""
    forecasts = read_forecasts(forecast_paths)
    scores = score(forecasts, data)
    counts = scores.groupby("model").size()
    _, crane = aggregate(scores, crane_only=True)
    all_series, overall = aggregate(scores, crane_only=False)
    origins = read_origins(data)
    lines = [
        "# Forecast accuracy benchmark",
        "",
        f"{origins['series'].nunique()} series, {len(origins)} origins, horizon 1 day; inputs: "
        + ", ".join(f"`{p.name}`" for p in forecast_paths) + ".",
        "MASE and pinball losses are scaled by the in-sample seasonal-naive MAE (m = 1 day); "
        "means over origins per series, then over series; rank by MASE.",
        "",
        "## Summary, crane CPU series only", "", *summary_table(crane), "",
        "## Summary, all series (crane + load_taylor)", "", *summary_table(overall), "",
        "## Mean MASE per series", "", *per_series_table(all_series), "",
        "## Targets", "", *verdicts(crane, "crane"), *verdicts(overall, "all series"), "",
        *cross_check(forecasts),
    ]
    if counts.nunique() > 1:
        lines.append(f"Warning: models have different numbers of scored forecasts: {counts.to_dict()}.")
    skipped = forecasts[forecasts["actual"].isna()].groupby("model").size()
    if not skipped.empty:
        lines.append(f"Steps skipped for a missing actual: {skipped.to_dict()}.")
    return "\n".join(lines).rstrip() + "\n"


def write_report(forecast_paths: list[Path], data: Path, out: Path) -> None:
    """Write the report to `out` and print it."""
    text = build_report(forecast_paths, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
