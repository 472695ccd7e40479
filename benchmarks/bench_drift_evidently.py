"""Evidently's side of the drift comparison; runs in Evidently's own venv (pandas < 3).

Usage: ``$EVIDENTLY_PYTHON benchmarks/bench_drift_evidently.py REF CUR OUT MODE``

REF and CUR are Parquet feature tables; MODE is ``preset`` (one ``DataDriftPreset`` per method,
every column) or ``columns`` (one ``ValueDrift`` per column and method). OUT receives JSON with
each method's value per column (PSI, and KS p-value: Evidently's ``ks`` score), the wall time
of the report runs and the process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

METHODS = ("psi", "ks")


def _values(snapshot: dict, method: str) -> dict[str, float]:
    out = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift") and config.get("method") == method:
            out[config["column"]] = float(metric["value"])
    return out


def main() -> int:
    ref_path, cur_path, out_path, mode = sys.argv[1:5]
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    columns = list(reference.columns)
    definition = DataDefinition(numerical_columns=columns)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
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
