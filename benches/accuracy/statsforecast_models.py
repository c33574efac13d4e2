"""Nixtla statsforecast anchors: AutoETS, MSTL and AutoTheta, called on numpy arrays."""

from __future__ import annotations

import numpy as np

Quantiles = tuple[np.ndarray, np.ndarray, np.ndarray]

# p90 and p99 are the upper bounds of the central 80 % and 98 % intervals.
LEVELS = [80, 98]


def _quantiles(forecast: dict) -> Quantiles:
    return (np.asarray(forecast["mean"]), np.asarray(forecast["hi-80"]),
            np.asarray(forecast["hi-98"]))


def autoets(history: np.ndarray, season: int, horizon: int) -> Quantiles:
    """AutoETS with the daily season (statsforecast drops seasonality it cannot fit)."""
    from statsforecast.models import AutoETS

    return _quantiles(AutoETS(season_length=season).forecast(y=history, h=horizon, level=LEVELS))


def mstl(history: np.ndarray, season: int, horizon: int) -> Quantiles:
    """MSTL with daily and, given two weeks of history, weekly seasons; AutoETS on the trend."""
    from statsforecast.models import MSTL

    seasons = [season] + ([7 * season] if len(history) >= 14 * season else [])
    return _quantiles(MSTL(season_length=seasons).forecast(y=history, h=horizon, level=LEVELS))


def autotheta(history: np.ndarray, season: int, horizon: int) -> Quantiles:
    """AutoTheta with the daily season."""
    from statsforecast.models import AutoTheta

    return _quantiles(AutoTheta(season_length=season).forecast(y=history, h=horizon, level=LEVELS))
