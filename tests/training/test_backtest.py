"""The vectorised backtest against an independent share-and-cash simulation."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.training import backtest


def share_simulation(weights: np.ndarray, prices: np.ndarray, cost: float) -> np.ndarray:
    """Cash and share counts, bar by bar: rebalance at each close to weight x post-fee value."""
    n_bars, n = prices.shape
    cash, shares = 1.0, np.zeros(n)
    values = []
    for t in range(n_bars):
        value = cash + shares @ prices[t]
        post = value
        for _ in range(50):  # fees depend on the trade, the trade on the post-fee value
            trade = weights[t] * post / prices[t] - shares
            fee = cost * np.abs(trade) @ prices[t]
            post = value - fee
        cash -= trade @ prices[t] + fee
        shares = shares + trade
        values.append(cash + shares @ prices[t])
    v = np.array(values)
    return np.concatenate([[v[0] - 1.0], v[1:] / v[:-1] - 1.0])


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 3)), axis=0))
    returns = np.vstack([np.full(3, np.nan), prices[1:] / prices[:-1] - 1])
    weights = rng.choice([-1.0, 0.0, 1.0], size=(60, 3)) / 3
    return prices, returns, weights


def test_matches_share_simulation_without_costs(case: tuple[np.ndarray, ...]) -> None:
    prices, returns, weights = case
    ours = backtest.simulate(weights, returns, 0.0).returns
    np.testing.assert_allclose(ours, share_simulation(weights, prices, 0.0), atol=1e-12)


def test_matches_share_simulation_with_costs(case: tuple[np.ndarray, ...]) -> None:
    prices, returns, weights = case
    ours = backtest.simulate(weights, returns, 0.001).returns
    # Ours charges costs on the pre-fee value: the difference is second order in the cost.
    np.testing.assert_allclose(ours, share_simulation(weights, prices, 0.001), atol=2e-6)
    assert np.all(ours <= backtest.simulate(weights, returns, 0.0).returns + 1e-15)


def test_position_applies_from_the_next_bar() -> None:
    returns = np.array([[np.nan], [0.10], [0.05], [-0.02]])
    weights = np.array([[0.0], [1.0], [1.0], [0.0]])
    result = backtest.simulate(weights, returns, 0.0)
    # Decided at the close of bar 1: earns bars 2 and 3, not the 10% of bar 1 itself.
    np.testing.assert_allclose(result.returns, [0.0, 0.0, 0.05, -0.02])
    np.testing.assert_allclose(result.turnover, [0.0, 1.0, 0.0, 1.0])


def test_per_instrument_books_are_independent(case: tuple[np.ndarray, ...]) -> None:
    prices, returns, weights = case
    per = backtest.simulate(weights * 3, returns, 0.0005, per_column=True)
    for j in range(3):
        alone = backtest.simulate(weights[:, [j]] * 3, returns[:, [j]], 0.0005)
        np.testing.assert_allclose(per.returns[:, j], alone.returns)


def test_equal_weight_long_uses_instruments_with_a_price() -> None:
    returns = np.array([[np.nan, np.nan], [0.01, np.nan], [0.01, 0.02]])
    np.testing.assert_allclose(backtest.equal_weight_long(returns), [[0, 0], [1, 0], [0.5, 0.5]])


def test_blocks_do_not_change_results(case: tuple[np.ndarray, ...]) -> None:
    _, returns, weights = case
    whole = backtest.simulate(weights, returns, 0.001, chunk_rows=1000)
    for rows in (1, 7, 59):
        part = backtest.simulate(weights, returns, 0.001, chunk_rows=rows)
        np.testing.assert_array_equal(part.returns, whole.returns)
        np.testing.assert_array_equal(part.turnover, whole.turnover)
    per = backtest.simulate(weights, returns, 0.001, per_column=True, chunk_rows=7)
    per_whole = backtest.simulate(weights, returns, 0.001, per_column=True)
    np.testing.assert_array_equal(per.returns, per_whole.returns)
