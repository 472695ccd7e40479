"""The hourly checks that need the deployed model: importance, prediction power, confidence.

The model predicts each live row once: the full window (confidence) and the realised rows after
its training span (prediction power) come from one prediction over the latest rows that cover
both; the training reference is predicted for the confidence baseline.
"""

from __future__ import annotations

import pandas as pd

from pipelines.config import Params
from pipelines.monitoring import importance, power
from pipelines.monitoring.checks import CheckResult, no_verdict
from pipelines.registry.bundle import ModelBundle

KEYS = ["timestamp", "instrument"]


def trained_until(bundle: ModelBundle) -> pd.Timestamp | None:
    """The last timestamp of the model's training span (bundle metadata), if recorded."""
    span = bundle.metadata.get("train_span")
    if not span:
        return None
    stamp = pd.Timestamp(span[-1])
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def realised_keys(
    store: pd.DataFrame, labels: pd.DataFrame | None, after: pd.Timestamp | None, bars: int
) -> pd.DataFrame:
    """Keys and realised return of the latest ``bars`` labelled timestamps after ``after``."""
    if labels is None or labels.empty:
        return pd.DataFrame(columns=[*KEYS, "fwd_return"])
    rows = labels[[*KEYS, "fwd_return"]]
    if after is not None:
        rows = rows.loc[rows["timestamp"] > after]
    rows = rows.merge(store[KEYS], on=KEYS)
    return power.latest_realised(rows, None, bars)


def model_checks(
    reference: pd.DataFrame,
    store: pd.DataFrame,
    full: pd.DataFrame,
    labels: pd.DataFrame | None,
    bundle: ModelBundle | None,
    params: Params,
) -> list[CheckResult]:
    """Importance, prediction power and confidence (no verdict without a model)."""
    cp = params.monitoring.checks
    if bundle is None:
        why = "no model given (an explicit reference table): nothing to explain or predict"
        return [
            no_verdict("importance", cp.importance, why, {}),
            no_verdict("prediction_power", cp.prediction_power.ic_drop, why, {}),
            no_verdict("confidence", cp.confidence, why, {}),
        ]
    names = list(bundle.feature_names)
    out = [importance.importance(bundle.booster, reference, full, names, cp.importance)]
    pp = cp.prediction_power
    keys = realised_keys(store, labels, trained_until(bundle), pp.window_bars)
    start = full["timestamp"].min()
    if not keys.empty:
        start = min(start, keys["timestamp"].min())
    span = store.loc[store["timestamp"] >= start]
    predicted = span[KEYS].assign(prediction=bundle.predict(span))
    realised = keys.merge(predicted, on=KEYS)
    centre = 0.5 if bundle.objective == "binary" else 0.0
    out.append(
        power.prediction_power(realised, bundle.metadata.get("prediction_power"), centre, pp)
    )
    live = predicted.loc[predicted["timestamp"] >= full["timestamp"].min(), "prediction"]
    ref_conf = bundle.confidence(bundle.predict(reference))
    live_conf = bundle.confidence(live.to_numpy(dtype="float64"))
    mon = params.monitoring
    out.append(power.confidence(ref_conf, live_conf, cp.confidence, mon.n_bins, mon.epsilon))
    return out
