"""Prediction power decay and the confidence distribution of the deployed model (pure).

* **Prediction power**: the information coefficient (IC: Spearman correlation of the model's
  prediction with the realised forward return over the label horizon, per instrument over
  time, then the mean over instruments) and the hit rate (share of rows where the prediction's
  side, ``prediction - centre``, has the sign of the realised return; zeros left out), on the
  latest realised rows after the model's training span. Both are compared with the same
  figures of the walk-forward backtest, which training stores in the bundle
  (``metadata.prediction_power``, :func:`baseline`). The drops are judged; the IC drop is the
  check's figure. The predictions are the deployed model's on the stored features: the service
  computes the same features online (``tests/serving/test_parity.py``), and exports its own
  live hit rate (``strategy_prediction_hits_total``).
* **Confidence**: the distribution of the model's confidence (``|P(up) - 0.5| * 2``) on the
  live window against the same on the training reference, as a decile PSI. An indecisive
  model (or an over-confident one) shows here before it shows in PnL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipelines.monitoring import drift
from pipelines.monitoring.checks import CheckResult, judge, judged, no_verdict, worst
from pipelines.monitoring.params import Limits, PredictionPowerParams

MIN_INSTRUMENT_PAIRS = 10


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two aligned samples (NaN if too short or constant)."""
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def hit_rate(predictions: np.ndarray, realised: np.ndarray, centre: float) -> float:
    """Share of rows whose predicted side has the realised return's sign (zeros left out)."""
    side, move = np.sign(predictions - centre), np.sign(realised)
    counted = (side != 0) & (move != 0)
    if not counted.any():
        return float("nan")
    return float(np.count_nonzero(side[counted] == move[counted]) / np.count_nonzero(counted))


def baseline(frame: pd.DataFrame, centre: float) -> dict[str, Any]:
    """IC and hit rate, pooled and by instrument, of ``prediction`` against ``fwd_return``.

    Args:
        frame: Rows with ``instrument``, ``timestamp``, ``prediction`` and ``fwd_return``.
        centre: The prediction's neutral value (0.5 for P(up), 0 for a return forecast).

    Returns:
        ``{"ic", "hit_rate", "pairs", "by_instrument": {name: {"ic", "hit_rate", "pairs"}}}``;
        the pooled IC is the mean of the instruments' ICs (those with at least 10 pairs).
    """
    rows = frame.dropna(subset=["prediction", "fwd_return"]).sort_values("timestamp")
    by: dict[str, dict[str, float]] = {}
    for name, group in rows.groupby("instrument", sort=True):
        pred = group["prediction"].to_numpy(dtype="float64")
        real = group["fwd_return"].to_numpy(dtype="float64")
        ic = spearman(pred, real) if pred.size >= MIN_INSTRUMENT_PAIRS else float("nan")
        by[str(name)] = {"ic": ic, "hit_rate": hit_rate(pred, real, centre), "pairs": pred.size}
    ics = [v["ic"] for v in by.values() if np.isfinite(v["ic"])]
    return {
        "ic": float(np.mean(ics)) if ics else float("nan"),
        "hit_rate": hit_rate(
            rows["prediction"].to_numpy(dtype="float64"),
            rows["fwd_return"].to_numpy(dtype="float64"),
            centre,
        ),
        "pairs": len(rows),
        "by_instrument": by,
    }


def latest_realised(
    frame: pd.DataFrame, trained_until: pd.Timestamp | None, window_bars: int
) -> pd.DataFrame:
    """Rows after the training span with a realised return, over the latest ``window_bars``."""
    rows = frame.dropna(subset=["fwd_return"])
    if trained_until is not None:
        rows = rows.loc[rows["timestamp"] > trained_until]
    stamps = np.sort(rows["timestamp"].unique())
    if stamps.size > window_bars:
        rows = rows.loc[rows["timestamp"] >= stamps[-window_bars]]
    return rows


def prediction_power(
    live: pd.DataFrame,
    backtest: dict[str, Any] | None,
    centre: float,
    params: PredictionPowerParams,
) -> CheckResult:
    """Drops of the live IC and hit rate against the backtest's.

    Args:
        live: Realised out-of-sample rows (:func:`latest_realised`) with ``prediction``.
        backtest: The bundle's ``metadata.prediction_power`` (None: an older bundle).
        centre: The prediction's neutral value.
        params: Window, minimum pairs and the limits of both drops.
    """
    limits = params.ic_drop
    if backtest is None or backtest.get("ic") is None or backtest.get("hit_rate") is None:
        return no_verdict(
            "prediction_power", limits, "the model bundle carries no backtest IC/hit rate", {}
        )
    detail: dict[str, Any] = {"backtest": backtest, "pairs": len(live)}
    if len(live) < params.min_pairs:
        why = (
            f"{len(live)} realised rows after the training span, fewer than "
            f"{params.min_pairs}: no verdict yet"
        )
        return no_verdict("prediction_power", limits, why, detail)
    now = baseline(live, centre)
    ic_drop = float(backtest["ic"]) - now["ic"]
    hit_drop = float(backtest["hit_rate"]) - now["hit_rate"]
    detail.update(
        live=now,
        ic_drop=ic_drop,
        hit_rate_drop=hit_drop,
        hit_rate_limits={
            "warning": params.hit_rate_drop.warning,
            "critical": params.hit_rate_drop.critical,
        },
    )
    verdict = (
        f"IC {now['ic']:+.3f} vs backtest {float(backtest['ic']):+.3f}, hit rate "
        f"{now['hit_rate']:.1%} vs {float(backtest['hit_rate']):.1%} over {len(live)} rows"
    )
    by_ic = judged("prediction_power", ic_drop, limits, verdict, detail)
    by_hits = judge(hit_drop, params.hit_rate_drop)
    status = worst([by_ic, CheckResult("hit", by_hits, hit_drop, None, None, True, "")])
    return CheckResult(
        "prediction_power",
        status,
        ic_drop,
        limits.warning,
        limits.critical,
        True,
        by_ic.verdict,
        detail,
    )


def confidence(
    reference_confidence: np.ndarray,
    live_confidence: np.ndarray,
    limits: Limits,
    n_bins: int,
    epsilon: float,
) -> CheckResult:
    """Decile PSI of the live confidence distribution against the reference's."""
    value = drift.psi(reference_confidence, live_confidence, "quantile", n_bins, epsilon)
    edges = np.linspace(0.0, 1.0, 11)
    histogram = {
        "edges": edges.tolist(),
        "reference": (
            np.histogram(reference_confidence, edges)[0] / max(reference_confidence.size, 1)
        ).tolist(),
        "live": (np.histogram(live_confidence, edges)[0] / max(live_confidence.size, 1)).tolist(),
    }
    ref_mean = float(np.nanmean(reference_confidence)) if reference_confidence.size else None
    live_mean = float(np.nanmean(live_confidence)) if live_confidence.size else None
    detail = {
        "reference_mean": ref_mean,
        "live_mean": live_mean,
        "rows": {"reference": int(reference_confidence.size), "live": int(live_confidence.size)},
        "histogram": histogram,
    }
    verdict = f"PSI of the confidence distribution live vs training: {value:.3f}"
    if ref_mean is not None and live_mean is not None:
        verdict += f" (mean {live_mean:.3f} vs {ref_mean:.3f})"
    return judged("confidence", value, limits, verdict, detail)
