"""Performance metrics of a return series (pure functions).

Sharpe is annualised with the number of bars in a trading year, which the features stage
derives from the instruments' calendars (sessions a year x bars a session: 252 for daily NYSE
stocks, 261 x 24 = 6,264 for hourly FX, 365 x 24 = 8,760 for hourly crypto).
The Probabilistic and Deflated Sharpe Ratios (Bailey and Lopez de Prado) use the per-bar Sharpe,
its skewness and kurtosis, the sample length and, for the DSR, the number of trials.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EULER_GAMMA = 0.5772156649015329


def periods_per_year(annualisation: dict[str, Any] | None, override: float | None = None) -> float:
    """Bars per year: ``override`` when given, else the calendars' figure from the features.

    Raises:
        ValueError: No override and no annualisation recorded (an old feature store).
    """
    if override is not None:
        return float(override)
    if not annualisation or not annualisation.get("bars_per_year"):
        raise ValueError("no trading year recorded by the features stage (run it again)")
    return float(annualisation["bars_per_year"])


def sharpe(returns: np.ndarray, ppy: float = 1.0) -> float:
    """Sharpe ratio of per-bar returns (zero risk-free rate), annualised by ``sqrt(ppy)``.

    NaN for fewer than two bars or zero volatility (every bar equal): a gate then fails closed.
    """
    r = np.asarray(returns, dtype="float64")
    if r.size < 2:
        return math.nan
    sd = r.std(ddof=1)
    # Equal non-zero bars have a computed sd of rounding noise (about 1e-18), not 0: testing
    # sd == 0 would give them a Sharpe of about 1e17.
    if not np.isfinite(sd) or r.max() == r.min():
        return math.nan
    return float(r.mean() / sd * math.sqrt(ppy))


def probabilistic_sharpe(returns: np.ndarray, benchmark_sr: float = 0.0) -> float:
    """P(true per-bar Sharpe > ``benchmark_sr``) given skewness and kurtosis of the returns."""
    r = np.asarray(returns, dtype="float64")
    sr = sharpe(r)
    if not np.isfinite(sr):
        return math.nan
    from scipy import stats  # 0.8 s to import: the gate stage and weekly report never need it

    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if denom <= 0.0:
        return math.nan
    z = (sr - benchmark_sr) * math.sqrt(r.size - 1) / math.sqrt(denom)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(trial_sharpes: np.ndarray, n_trials: int) -> float:
    """Expected maximum per-bar Sharpe of ``n_trials`` unskilled trials (the DSR benchmark)."""
    if n_trials <= 1:
        return 0.0
    values = np.asarray(trial_sharpes, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    sd = float(values.std(ddof=1))
    from scipy import stats

    a = stats.norm.ppf(1.0 - 1.0 / n_trials)
    b = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return sd * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int) -> float:
    """PSR against the expected maximum Sharpe of ``n_trials`` trials (per-bar Sharpes)."""
    benchmark = expected_max_sharpe(trial_sharpes, n_trials)
    if not np.isfinite(benchmark):
        return math.nan
    return probabilistic_sharpe(returns, benchmark)


def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Compounded equity starting at 1 (returns are fractions of equity per bar)."""
    return np.cumprod(1.0 + np.asarray(returns, dtype="float64"))


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough fall of the compounded equity, as a positive fraction."""
    equity = np.concatenate([[1.0], equity_curve(returns)])
    peaks = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peaks))


def win_rate(returns: np.ndarray, exposure: np.ndarray) -> float:
    """Share of bars with a position (non-zero gross exposure) whose net return is positive."""
    active = np.asarray(exposure, dtype="float64") > 0.0
    if not active.any():
        return math.nan
    return float(np.mean(np.asarray(returns)[active] > 0.0))


def summary(
    returns: np.ndarray, exposure: np.ndarray, turnover: np.ndarray, ppy: float
) -> dict[str, float]:
    """The headline metrics of one return series."""
    r = np.asarray(returns, dtype="float64")
    return {
        "sharpe": sharpe(r, ppy),
        "psr": probabilistic_sharpe(r),
        "max_drawdown": max_drawdown(r) if r.size else math.nan,
        "win_rate": win_rate(r, exposure),
        "total_pnl": float(equity_curve(r)[-1] - 1.0) if r.size else math.nan,
        "annual_turnover": float(np.mean(turnover) * ppy) if r.size else math.nan,
        "bars": float(r.size),
    }
