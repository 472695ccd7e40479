"""Benchmark: our weight backtest vs vectorbt on 20 instruments x 500,000 bars.

Both sides get the same prices, the same target weights (long/flat/short, 1/20 each) and the same
costs (fees as a fraction of traded value), and rebalance every bar: vectorbt with
``size_type='targetpercent'`` orders in one cash-sharing group, ours with ``simulate``. Each side
runs in its own process (vectorbt lives in a side venv because it needs pandas < 3), reads the
inputs from ``.npy`` files, times the backtest plus its metrics, and reports the peak RSS above
what the loaded inputs already used. vectorbt's numba code is compiled on a small warm-up first.
Minute bars of a 24/7 market: both sides annualise with 365 x 1440 bars (vectorbt's default
year is 365 days, set explicitly here).

Run: ``python benchmarks/bench_backtest.py [--bars N] [--vectorbt-python PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
COST = 0.0002  # 1 bp cost + 1 bp slippage
PPY = 365.0 * 1440.0


def make_inputs(folder: Path, bars: int, instruments: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.001, (bars, instruments))
    prices = 100.0 * np.exp(np.cumsum(steps, axis=0))
    # Sticky signals: a position changes on about 2% of bars.
    change = rng.random((bars, instruments)) < 0.02
    draws = rng.choice([-1.0, 0.0, 1.0], size=(bars, instruments))
    index = np.where(change, np.arange(bars)[:, None], 0)
    np.maximum.accumulate(index, axis=0, out=index)
    positions = np.take_along_axis(draws, index, axis=0)
    np.save(folder / "prices.npy", prices)
    np.save(folder / "weights.npy", positions / instruments)


def _rss_kb() -> int:
    with Path("/proc/self/status").open() as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _peak_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_ours(folder: Path) -> dict[str, object]:
    sys.path.insert(0, str(REPO_ROOT))
    from pipelines.training import backtest, metrics

    prices = np.load(folder / "prices.npy")
    weights = np.load(folder / "weights.npy")
    backtest.simulate(weights[:1000], np.ones((1000, weights.shape[1])), COST)  # warm imports
    before = _rss_kb()
    started = time.perf_counter()
    returns = np.empty_like(prices)
    returns[0] = np.nan
    np.divide(prices[1:], prices[:-1], out=returns[1:])
    returns[1:] -= 1.0
    result = backtest.simulate(weights, returns, COST)
    out = {
        "sharpe": metrics.sharpe(result.returns, PPY),
        "total_return": float(metrics.equity_curve(result.returns)[-1] - 1.0),
        "max_drawdown": metrics.max_drawdown(result.returns),
    }
    seconds = time.perf_counter() - started
    np.save(folder / "ours_returns.npy", result.returns)
    return {**out, "seconds": seconds, "peak_mb": max(_peak_kb() - before, 0) / 1024}


def run_vectorbt(folder: Path) -> dict[str, object]:
    import pandas as pd
    import vectorbt as vbt

    vbt.settings.returns["year_freq"] = "365 days"
    prices = np.load(folder / "prices.npy")
    weights = np.load(folder / "weights.npy")
    index = pd.date_range("2020-01-01", periods=prices.shape[0], freq="1min")

    def backtest(p: np.ndarray, w: np.ndarray, idx: pd.DatetimeIndex) -> dict[str, float]:
        pf = vbt.Portfolio.from_orders(
            close=pd.DataFrame(p, index=idx),
            size=pd.DataFrame(w, index=idx),
            size_type="targetpercent",
            direction="both",
            fees=COST,
            init_cash=1.0,
            group_by=True,
            cash_sharing=True,
            call_seq="auto",
            freq="1min",
        )
        returns = pf.returns()
        return {
            "sharpe": float(returns.vbt.returns(freq="1min").sharpe_ratio()),
            "total_return": float(pf.total_return()),
            "max_drawdown": float(-pf.max_drawdown()),
            "returns": returns.to_numpy(),
        }

    backtest(prices[:2000], weights[:2000], index[:2000])  # numba compilation
    before = _rss_kb()
    started = time.perf_counter()
    out = backtest(prices, weights, index)
    seconds = time.perf_counter() - started
    np.save(folder / "vbt_returns.npy", out.pop("returns"))
    return {**out, "seconds": seconds, "peak_mb": max(_peak_kb() - before, 0) / 1024}


def _child(python: str, side: str, folder: Path) -> dict[str, float]:
    env = {**os.environ, "DO_NOT_TRACK": "true", "NUMBA_DISABLE_PERFORMANCE_WARNINGS": "1"}
    done = subprocess.run(
        [python, __file__, "--side", side, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} side failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument(
        "--vectorbt-python",
        default=os.environ.get(
            "VECTORBT_PYTHON", str(REPO_ROOT / ".tools" / "vectorbt" / "bin" / "python")
        ),
    )
    parser.add_argument("--side", choices=["ours", "vectorbt"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        runner = run_ours if args.side == "ours" else run_vectorbt
        print(json.dumps(runner(Path(args.folder))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        folder = Path(tmp)
        make_inputs(folder, args.bars, args.instruments)
        ours = _child(sys.executable, "ours", folder)
        theirs = _child(args.vectorbt_python, "vectorbt", folder)
        diff = float(
            np.nanmax(
                np.abs(np.load(folder / "ours_returns.npy") - np.load(folder / "vbt_returns.npy"))
            )
        )
    print(
        f"backtest: {args.instruments} instruments x {args.bars:,} bars, "
        f"cost {COST:.4%} of turnover"
    )
    print(f"{'metric':<14}{'ours':>16}{'vectorbt':>16}")
    agree = True
    for key in ("sharpe", "total_return", "max_drawdown"):
        a, b = ours[key], theirs[key]
        close = abs(a - b) <= 1e-3 * max(1.0, abs(b))
        agree &= close
        print(f"{key:<14}{a:>16.6f}{b:>16.6f}  {'same' if close else 'DIFFERENT'}")
    print(f"max |per-bar return difference|: {diff:.2e}")
    print(f"{'seconds':<14}{ours['seconds']:>16.3f}{theirs['seconds']:>16.3f}")
    print(f"{'peak MB':<14}{ours['peak_mb']:>16.1f}{theirs['peak_mb']:>16.1f}")
    print(
        f"speed-up: {theirs['seconds'] / ours['seconds']:.1f}x faster; "
        f"memory ratio (vectorbt / ours): {theirs['peak_mb'] / max(ours['peak_mb'], 1e-9):.1f}x"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
