"""The hourly feature-health check against Evidently 0.7: same rows, same features, same figures.

Data: 1,000,000 rows x 20 features (``--rows``, ``--features``), some shifted, widened or with
missing values, as a store of 20 instruments; the check's live windows are set to cover every
row (``bench_drift_model.covering_params``), and a small LightGBM model trained on the
reference plays the deployed model.

Evidently runs in its own venv (pandas < 3, ``EVIDENTLY_PYTHON``):

* ``DataDriftPreset`` (PSI, then KS) and one ``ValueDrift`` per column and method;
* every other check Evidently also has (``bench_drift_evidently.py checks``): missing share,
  live min/max, share outside given bounds (our Tukey fences; the training range), Pearson
  correlation matrices, and the hit rate as ``Accuracy``.

Our side runs in a child process of the project's venv: the Evidently-binned PSI and KS, and
then the **whole hourly check** (:func:`pipelines.monitoring.hourly.run_checks`: PSI, KS, missing
rate, outliers, value range, correlation, importance, prediction power, confidence) with the
repository's params. Every figure both compute must agree to 1e-9 before any timing is printed.

Usage: ``EVIDENTLY_PYTHON=.tools/evidently/bin/python python benchmarks/bench_drift.py``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
EVIDENTLY_RUNNER = HERE / "bench_drift_evidently.py"
TOLERANCE = 1e-9


def make_data(rows: int, features: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables: some features shifted or widened, some with NaNs."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(features):
        name = f"f{i:02d}"
        ref[name] = rng.standard_t(5, rows) if i % 4 == 3 else rng.normal(0.0, 1.0, rows)
        shift, scale = (0.05 * (i % 5), 1.0 + 0.1 * (i % 3))
        cur[name] = rng.normal(shift, scale, rows)
        if i % 6 == 5:
            cur[name][rng.random(rows) < 0.07] = np.nan
    return pd.DataFrame(ref), pd.DataFrame(cur)


def ours(ref_path: str, cur_path: str, out_path: str) -> None:
    """Our side, a child process so that its peak RSS is measured like Evidently's."""
    import resource

    from benchmarks.bench_drift_model import INSTRUMENTS, covering_params, hourly_inputs
    from pipelines.config import load_params
    from pipelines.monitoring import correlation, drift, hourly

    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    names = [c for c in reference.columns if c.startswith("f")]
    store, labels, bundle = hourly_inputs(reference[names], current[names])
    timestamps = -(-len(current) // INSTRUMENTS)
    params = covering_params(load_params(HERE.parent / "params.yaml"), timestamps)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    values: dict[str, dict[str, float]] = {"psi": {}, "ks": {}}
    for name in names:
        r = reference[name].to_numpy(dtype="float64")
        c = current[name].to_numpy(dtype="float64")
        values["psi"][name] = drift.psi(r, c, binning="evidently")
        values["ks"][name] = drift.ks(r, c)[1]
    drift_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = hourly.run_checks(reference[names], store, labels, bundle, names, params)
    whole_seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    by = {c.check: c for c in result.checks}
    rows = {f.feature: f for f in result.features}
    realised = store.merge(labels, on=["timestamp", "instrument"])
    checks = {
        "missing_rate": {n: rows[n].missing_rate for n in names},
        "outliers": {n: by["outliers"].detail["features"][n]["share"] for n in names},
        "value_range": {n: by["value_range"].detail["features"][n]["share_outside"] for n in names},
        "live_min": {n: by["value_range"].detail["features"][n]["live_min"] for n in names},
        "live_max": {n: by["value_range"].detail["features"][n]["live_max"] for n in names},
        "correlation": {
            "reference": correlation.correlation_matrix(reference, names).to_dict(),
            "current": correlation.correlation_matrix(current, names).to_dict(),
        },
        "hit_rate": by["prediction_power"].detail["live"]["hit_rate"],
    }
    bounds = {
        n: {
            "fence": [
                by["outliers"].detail["features"][n]["low"],
                by["outliers"].detail["features"][n]["high"],
            ],
            "range": [
                by["value_range"].detail["features"][n]["reference_min"],
                by["value_range"].detail["features"][n]["reference_max"],
            ],
        }
        for n in names
    }
    Path(out_path).write_text(
        json.dumps(
            {
                "values": values,
                "checks": checks,
                "bounds": bounds,
                "hits": {
                    "pred_side": (bundle.predict(realised) > 0.5).astype(int).tolist(),
                    "real_sign": (realised["fwd_return"].to_numpy() > 0).astype(int).tolist(),
                },
                "statuses": {c.check: c.status for c in result.checks},
                "seconds": drift_seconds,
                "whole_seconds": whole_seconds,
                "peak_rss_kib": peak,
                "loaded_rss_kib": loaded,
            }
        )
    )


def _run(cmd: list[str], out: Path) -> dict:
    env = {**os.environ, "DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    subprocess.run(cmd, check=True, env=env)  # noqa: S603 - our own scripts
    return json.loads(out.read_text())


def main() -> int:
    """Run both sides, check the figures agree, print the timings."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--ours", nargs=3, metavar=("REF", "CUR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        ours(*args.ours)
        return 0
    evidently_python = os.environ.get("EVIDENTLY_PYTHON")
    if not evidently_python:
        sys.exit("EVIDENTLY_PYTHON is not set (make side-venvs builds .tools/evidently)")
    from benchmarks.bench_drift_report import compare_and_print

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref, cur = make_data(args.rows, args.features)
        ref.to_parquet(folder / "ref.parquet")
        cur.to_parquet(folder / "cur.parquet")
        paths = [str(folder / "ref.parquet"), str(folder / "cur.parquet")]
        mine = _run(
            [sys.executable, __file__, "--ours", *paths, str(folder / "ours.json")],
            folder / "ours.json",
        )
        (folder / "bounds.json").write_text(json.dumps(mine["bounds"]))
        cur.assign(**mine.pop("hits")).to_parquet(folder / "cur.parquet")
        results = {"ours": mine}
        for mode in ("preset", "columns", "checks"):
            out = folder / f"{mode}.json"
            extra = [str(folder / "bounds.json")] if mode == "checks" else []
            results[mode] = _run(
                [evidently_python, str(EVIDENTLY_RUNNER), *paths, str(out), mode, *extra], out
            )
    return compare_and_print(results, args.rows, args.features, TOLERANCE)


if __name__ == "__main__":
    sys.exit(main())
