"""Evidently's side of the drift and feature-health comparison; runs in Evidently's own venv.

Usage: ``$EVIDENTLY_PYTHON benchmarks/bench_drift_evidently.py REF CUR OUT MODE [BOUNDS]``

REF and CUR are Parquet feature tables. MODE:

* ``preset``: one ``DataDriftPreset`` per method (PSI, KS), every column;
* ``columns``: one ``ValueDrift`` per column and method;
* ``checks``: every other hourly check Evidently also has, with Evidently's own metrics:
  ``MissingValueCount`` (share), ``MinValue``/``MaxValue`` of the current data,
  ``OutRangeValueCount`` (share) with the bounds of BOUNDS (a JSON file: per column the Tukey
  fences and the reference's min..max, as ours computes them), ``CorrelationMatrix`` (Pearson)
  of both tables, and ``Accuracy`` of the predicted side against the realised sign when CUR has
  the columns ``pred_side`` and ``real_sign`` (the hit rate).

OUT receives JSON with the values, the wall time of the report runs and the peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import (
    Accuracy,
    CorrelationMatrix,
    MaxValue,
    MinValue,
    MissingValueCount,
    OutRangeValueCount,
    ValueDrift,
)
from evidently.presets import DataDriftPreset

METHODS = ("psi", "ks")
HIT_COLUMNS = ("pred_side", "real_sign")


def _values(snapshot: dict, method: str) -> dict[str, float]:
    out = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift") and config.get("method") == method:
            out[config["column"]] = float(metric["value"])
    return out


def drift(reference: pd.DataFrame, current: pd.DataFrame, mode: str) -> dict:
    """PSI and KS per column through the preset or one ValueDrift per column."""
    columns = list(reference.columns)
    definition = DataDefinition(numerical_columns=columns)
    ref_ds = Dataset.from_pandas(reference, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)
    results = {}
    for method in METHODS:
        if mode == "preset":
            metrics = [DataDriftPreset(method=method)]
        else:
            metrics = [ValueDrift(column=c, method=method) for c in columns]
        snapshot = Report(metrics).run(cur_ds, ref_ds).dict()
        results[method] = _values(snapshot, method)
    return results


def _by_type(snapshot: dict, kind: str) -> dict[str, object]:
    out = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(f":{kind}"):
            out[config.get("column", "")] = metric["value"]
    return out


def checks(reference: pd.DataFrame, current: pd.DataFrame, bounds: dict) -> dict:
    """The other checks, one Evidently metric each (see the module docstring)."""
    columns = [c for c in reference.columns if c not in HIT_COLUMNS]
    definition = DataDefinition(numerical_columns=columns)
    cur_ds = Dataset.from_pandas(current[columns], data_definition=definition)
    ref_ds = Dataset.from_pandas(reference[columns], data_definition=definition)
    metrics = []
    for c in columns:
        metrics += [MissingValueCount(column=c), MinValue(column=c), MaxValue(column=c)]
    snapshot = Report(metrics).run(cur_ds, ref_ds).dict()
    missing = {c: float(v["share"]) for c, v in _by_type(snapshot, "MissingValueCount").items()}
    out: dict[str, object] = {
        "missing_rate": missing,
        "live_min": {c: float(v) for c, v in _by_type(snapshot, "MinValue").items()},
        "live_max": {c: float(v) for c, v in _by_type(snapshot, "MaxValue").items()},
    }
    for name, key in (("outliers", "fence"), ("value_range", "range")):
        ranged = [
            OutRangeValueCount(column=c, left=bounds[c][key][0], right=bounds[c][key][1])
            for c in columns
        ]
        snap = Report(ranged).run(cur_ds, None).dict()
        out[name] = {c: float(v["share"]) for c, v in _by_type(snap, "OutRangeValueCount").items()}
    corr = {}
    for side, ds in (("reference", ref_ds), ("current", cur_ds)):
        value = Report([CorrelationMatrix(kind="pearson")]).run(ds, None).dict()["metrics"][0]
        corr[side] = value["value"]
    out["correlation"] = corr
    if all(c in current.columns for c in HIT_COLUMNS):
        labels = DataDefinition(
            classification=[BinaryClassification(target="real_sign", prediction_labels="pred_side")]
        )
        table = current[list(HIT_COLUMNS)].astype(int)
        hits = Report([Accuracy()]).run(Dataset.from_pandas(table, data_definition=labels), None)
        out["hit_rate"] = float(hits.dict()["metrics"][0]["value"])
    return out


def main() -> int:
    ref_path, cur_path, out_path, mode = sys.argv[1:5]
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    bounds = {}
    if len(sys.argv) > 5:
        with open(sys.argv[5], encoding="utf-8") as handle:  # noqa: PTH123
            bounds = json.load(handle)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if mode == "checks":
        results = checks(reference, current, bounds)
    else:
        feature_columns = [c for c in reference.columns if c not in HIT_COLUMNS]
        results = drift(reference[feature_columns], current[feature_columns], mode)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(out_path, "w", encoding="utf-8") as handle:  # noqa: PTH123
        json.dump(
            {
                "values": results,
                "seconds": seconds,
                "peak_rss_kib": peak,
                "loaded_rss_kib": rss_loaded,
            },
            handle,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
