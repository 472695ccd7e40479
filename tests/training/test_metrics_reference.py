"""Reference values for the formulas that decide promotions: PSR, DSR, Sharpe, drawdown, win rate.

The references are computed here, independently of :mod:`pipelines.training.metrics`: sample
moments by hand with numpy, the normal distribution from the standard library. The reference
PSR/DSR is first checked against the figures Bailey and López de Prado publish, then the
module is compared with it in regimes where every term of the formula moves the result
(PSR between 0.6 and 0.95, skewed and fat-tailed returns, several trial counts).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from pipelines.training import metrics

NORMAL = NormalDist()


def sample_moments(r: np.ndarray) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis from the biased central moments."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def reference_psr(sr: float, n: int, skew: float, kurt: float, sr0: float = 0.0) -> float:
    """PSR of a per-bar Sharpe ``sr`` over ``n`` bars against ``sr0`` (Bailey, Lopez de Prado)."""
    variance = (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr) / (n - 1)
    return NORMAL.cdf((sr - sr0) / math.sqrt(variance))


def reference_expected_max(sd: float, n_trials: int) -> float:
    """Expected maximum Sharpe of ``n_trials`` unskilled trials whose Sharpes have std ``sd``."""
    gamma = float(np.euler_gamma)
    return sd * (
        (1.0 - gamma) * NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
        + gamma * NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    )


def standardised(raw: np.ndarray) -> np.ndarray:
    """Mean 0 and sample (ddof=1) standard deviation 1: shape only."""
    return (raw - raw.mean()) / raw.std(ddof=1)


def with_sharpe(shape: np.ndarray, sr: float, scale: float = 0.01) -> np.ndarray:
    """Returns with the given shape and per-bar Sharpe exactly ``sr``."""
    return scale * (standardised(shape) + sr)


def quantiles(dist: stats.rv_continuous, n: int) -> np.ndarray:
    """A deterministic sample: the distribution's quantiles at (i + 0.5) / n."""
    return np.asarray(dist.ppf((np.arange(n) + 0.5) / n), dtype="float64")


# Bailey and Lopez de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
# Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), numerical
# example: 100 trials whose annualised Sharpes have variance 0.5, 1,250 daily observations
# (250 a year), annualised Sharpe 2.5, skewness -3, kurtosis 10 -> SR0 = 0.1132 per day and
# DSR = 0.9004.
PUBLISHED_TRIALS = 100
PUBLISHED_TRIAL_SD = math.sqrt(0.5 / 250)
PUBLISHED_SR = 2.5 / math.sqrt(250)
PUBLISHED_BARS = 1250


def test_reference_formulas_reproduce_the_published_example() -> None:
    sr0 = reference_expected_max(PUBLISHED_TRIAL_SD, PUBLISHED_TRIALS)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = reference_psr(PUBLISHED_SR, PUBLISHED_BARS, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def published_returns() -> np.ndarray:
    """1,250 daily returns with the example's Sharpe, skewness -3 and kurtosis 10.

    Kurtosis = skewness^2 + 1 is reached only by two-point distributions: a small gain most
    days and a large loss on a share p of them, 13p^2 - 13p + 1 = 0, p = 0.084 (105 days).
    """
    losses = np.arange(PUBLISHED_BARS) < 105
    return with_sharpe(np.where(losses, -1.0, 0.0), PUBLISHED_SR)


def test_module_reproduces_the_published_dsr() -> None:
    r = published_returns()
    skew, kurt = sample_moments(r)
    assert (skew, kurt) == (pytest.approx(-3.0, abs=1e-3), pytest.approx(10.0, abs=1e-2))
    half = PUBLISHED_TRIAL_SD / math.sqrt(2.0)  # two trials +-half: sample std = the example's
    trials = np.array([half, -half, math.nan])  # a trial without a Sharpe is left out
    assert metrics.sharpe(r) == pytest.approx(PUBLISHED_SR, rel=1e-12)
    sr0 = metrics.expected_max_sharpe(trials, PUBLISHED_TRIALS)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 == pytest.approx(reference_expected_max(PUBLISHED_TRIAL_SD, 100), rel=1e-12)
    dsr = metrics.deflated_sharpe(r, trials, PUBLISHED_TRIALS)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert dsr == pytest.approx(reference_psr(PUBLISHED_SR, 1250, skew, kurt, sr0), rel=1e-12)


PSR_CASES = {
    # name: (shape, per-bar Sharpe); each lands PSR in (0.6, 0.95)
    "negative skew, 60 bars": (-quantiles(stats.lognorm(0.8), 60), 0.12),
    "positive skew, 40 bars": (quantiles(stats.lognorm(0.9), 40), 0.10),
    "fat tails, 120 bars": (quantiles(stats.t(3), 120), 0.12),
}


@pytest.mark.parametrize("case", sorted(PSR_CASES))
def test_psr_against_the_reference_where_every_term_matters(case: str) -> None:
    shape, sr = PSR_CASES[case]
    r = with_sharpe(shape, sr)
    n = r.size
    skew, kurt = sample_moments(r)
    psr = metrics.probabilistic_sharpe(r)
    assert psr == pytest.approx(reference_psr(sr, n, skew, kurt), rel=1e-12)
    # The regime: not saturated, and non-normality moves the result.
    assert 0.6 < psr < 0.95
    assert abs(psr - reference_psr(sr, n, 0.0, 3.0)) > 1e-3
    assert (kurt - 1.0) / 4.0 * sr * sr > 0.02
    # Against a non-zero benchmark as well (the DSR's use).
    assert metrics.probabilistic_sharpe(r, 0.05) == pytest.approx(
        reference_psr(sr, n, skew, kurt, 0.05), rel=1e-12
    )


def test_psr_moves_with_skew_sign_as_published() -> None:
    # Same Sharpe and length: negative skew lowers the PSR, positive skew raises it.
    sr = 0.1
    low = metrics.probabilistic_sharpe(with_sharpe(-quantiles(stats.lognorm(0.8), 60), sr))
    high = metrics.probabilistic_sharpe(with_sharpe(quantiles(stats.lognorm(0.8), 60), sr))
    normal = reference_psr(sr, 60, 0.0, 3.0)
    assert low < normal - 0.01 < normal + 0.01 < high


TRIAL_SHARPES = np.array([0.02, -0.05, 0.11, 0.04, -0.01, 0.07, 0.0, -0.03])


@pytest.mark.parametrize("n_trials", [2, 3, 10, 100, 1000])
def test_dsr_against_the_reference_for_several_trial_counts(n_trials: int) -> None:
    r = with_sharpe(-quantiles(stats.lognorm(0.8), 250), 0.15)
    skew, kurt = sample_moments(r)
    sd = float(np.std(TRIAL_SHARPES, ddof=1))
    sr0 = metrics.expected_max_sharpe(TRIAL_SHARPES, n_trials)
    assert sr0 == pytest.approx(reference_expected_max(sd, n_trials), rel=1e-12)
    dsr = metrics.deflated_sharpe(r, TRIAL_SHARPES, n_trials)
    assert dsr == pytest.approx(reference_psr(0.15, 250, skew, kurt, sr0), rel=1e-12)
    assert 0.0 < dsr < metrics.probabilistic_sharpe(r)


def test_dsr_falls_through_the_useful_range_as_trials_grow() -> None:
    r = with_sharpe(-quantiles(stats.lognorm(0.8), 250), 0.15)
    dsrs = [metrics.deflated_sharpe(r, TRIAL_SHARPES, n) for n in (2, 3, 10, 100, 1000)]
    assert dsrs == sorted(dsrs, reverse=True)
    assert any(0.6 < d < 0.95 for d in dsrs) and dsrs[-1] < 0.6


def test_one_trial_has_no_selection_bias_and_too_few_trial_sharpes_fail_closed() -> None:
    r = with_sharpe(-quantiles(stats.lognorm(0.8), 250), 0.15)
    assert metrics.expected_max_sharpe(TRIAL_SHARPES, 1) == 0.0
    assert metrics.expected_max_sharpe(TRIAL_SHARPES, 0) == 0.0
    assert metrics.deflated_sharpe(r, TRIAL_SHARPES, 1) == metrics.probabilistic_sharpe(r)
    # Two finite trial Sharpes are enough; fewer cannot give a spread.
    assert math.isfinite(metrics.expected_max_sharpe(np.array([0.1, -0.1]), 10))
    assert math.isnan(metrics.expected_max_sharpe(np.array([0.1, math.nan]), 10))
    assert math.isnan(metrics.deflated_sharpe(r, np.array([0.1]), 10))


def test_psr_fails_closed_when_the_sharpe_estimate_has_no_variance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sharpe 1 per bar; skewness 1 and kurtosis 1 make 1 - skew*SR + (kurt - 1)/4*SR^2 exactly 0:
    # NaN (the gate fails closed), not a division by zero.
    from scipy import stats  # the module metrics imports when it computes the PSR

    r = np.array([0.0, 1.0, 2.0])
    monkeypatch.setattr(stats, "skew", lambda _: 1.0)
    monkeypatch.setattr(stats, "kurtosis", lambda _, fisher: 1.0)
    assert math.isnan(metrics.probabilistic_sharpe(r))
    monkeypatch.setattr(stats, "skew", lambda _: 1.5)  # negative: NaN as well
    assert math.isnan(metrics.probabilistic_sharpe(r))


def test_sharpe_on_hand_made_series() -> None:
    # mean 1, sample sd 1: Sharpe 1 per bar, annualised by sqrt(bars per year).
    assert metrics.sharpe(np.array([0.0, 1.0, 2.0])) == 1.0
    assert metrics.sharpe(np.array([0.0, 1.0, 2.0]), 252.0) == pytest.approx(math.sqrt(252.0))
    # Two bars are enough: mean 0.02, sd 0.01 * sqrt(2).
    assert metrics.sharpe(np.array([0.01, 0.03]), 4.0) == pytest.approx(2.0 * math.sqrt(2.0))
    assert metrics.sharpe(np.array([-0.01, -0.03])) == pytest.approx(-math.sqrt(2.0))


@pytest.mark.parametrize(
    ("value", "bars"), [(0.0, 10), (0.01, 10), (0.001, 252), (-0.002, 50), (1e-4, 7), (0.1, 3)]
)
def test_zero_volatility_sharpe_is_nan_for_constant_returns(value: float, bars: int) -> None:
    # Equal non-zero bars have a computed sd of rounding noise (1e-18), not zero: without the
    # guard they had a Sharpe of about 1e17 and passed every Sharpe gate.
    r = np.full(bars, value)
    assert math.isnan(metrics.sharpe(r, 252.0))
    assert math.isnan(metrics.probabilistic_sharpe(r))
    assert math.isnan(metrics.summary(r, np.ones(bars), np.zeros(bars), 252.0)["sharpe"])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
def test_sharpe_without_enough_finite_bars_is_nan() -> None:
    assert math.isnan(metrics.sharpe(np.array([0.01])))
    assert math.isnan(metrics.sharpe(np.array([])))
    assert math.isnan(metrics.sharpe(np.array([0.01, math.nan, 0.02])))
    assert math.isnan(metrics.sharpe(np.array([0.01, math.inf, 0.02])))


def test_max_drawdown_on_hand_made_series() -> None:
    # Equity 1.1, 0.55, 0.66, 0.726: the fall from 1.1 to 0.55 is half.
    assert metrics.max_drawdown(np.array([0.1, -0.5, 0.2, 0.1])) == pytest.approx(0.5)
    # A loss on the first bar counts from the starting equity of 1.
    assert metrics.max_drawdown(np.array([-0.2, 0.1])) == pytest.approx(0.2)
    assert metrics.max_drawdown(np.array([-0.1, -0.1, -0.1])) == pytest.approx(1 - 0.9**3)
    # Flat bars and constant gains never draw down.
    assert metrics.max_drawdown(np.zeros(5)) == 0.0
    assert metrics.max_drawdown(np.full(5, 0.01)) == 0.0
    # A new high resets the peak: the later, smaller fall is not the largest.
    assert metrics.max_drawdown(np.array([-0.3, 1.0, -0.1])) == pytest.approx(0.3)


def test_win_rate_on_flat_bars_and_single_trades() -> None:
    # A flat bar with a position is not a win.
    flat = np.array([0.01, 0.0, -0.01, 0.0, 0.02])
    assert metrics.win_rate(flat, np.ones(5)) == pytest.approx(2 / 5)
    # One trade: a single bar with a position decides alone.
    assert metrics.win_rate(np.array([0.0, 0.03, 0.0]), np.array([0.0, 1.0, 0.0])) == 1.0
    assert metrics.win_rate(np.array([0.05, -0.03, 0.04]), np.array([0.0, 1.0, 0.0])) == 0.0
    # Any non-zero gross exposure counts, fractional or levered.
    returns = np.array([0.01, 0.02, -0.01])
    assert metrics.win_rate(returns, np.array([0.5, 1.5, 0.0])) == 1.0
    assert math.isnan(metrics.win_rate(returns, np.zeros(3)))


def test_summary_on_a_hand_made_series() -> None:
    r = np.array([0.01, -0.02, 0.03])
    exposure = np.array([1.0, 1.0, 0.0])
    turnover = np.array([1.0, 0.0, 1.0])  # enter, hold, exit
    out = metrics.summary(r, exposure, turnover, 252.0)
    sd = float(np.std(r, ddof=1))
    skew, kurt = sample_moments(r)
    sr = float(np.mean(r)) / sd
    assert out == {
        "sharpe": pytest.approx(sr * math.sqrt(252.0)),
        "psr": pytest.approx(reference_psr(sr, 3, skew, kurt)),
        "max_drawdown": pytest.approx(0.02),
        "win_rate": 0.5,
        "total_pnl": pytest.approx(1.01 * 0.98 * 1.03 - 1.0),
        "annual_turnover": pytest.approx(2.0 / 3.0 * 252.0),
        "bars": 3.0,
    }


def test_summary_of_a_single_trade_and_of_nothing() -> None:
    single = np.array([0.0, 1.0, 0.0])
    one = metrics.summary(np.array([0.0, 0.05, 0.0]), single, np.array([1.0, 1.0, 0.0]), 12.0)
    assert one["total_pnl"] == pytest.approx(0.05)
    assert one["annual_turnover"] == pytest.approx(8.0)
    assert one["win_rate"] == 1.0 and one["max_drawdown"] == 0.0
    empty = metrics.summary(np.array([]), np.array([]), np.array([]), 252.0)
    assert empty["bars"] == 0.0
    assert all(math.isnan(empty[k]) for k in empty if k != "bars")


def test_periods_per_year_refuses_a_zero_or_absent_year() -> None:
    with pytest.raises(ValueError, match="no trading year recorded"):
        metrics.periods_per_year({"bars_per_year": 0})
    with pytest.raises(ValueError, match="no trading year recorded"):
        metrics.periods_per_year(None)
    assert metrics.periods_per_year({"bars_per_year": 252}, override=None) == 252.0
