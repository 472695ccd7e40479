"""Drift (PSI and KS) on 1,000,000 rows x 20 features: ours against Evidently 0.7.

Evidently runs twice in its own venv (pandas < 3, ``EVIDENTLY_PYTHON``): ``DataDriftPreset`` and
one ``ValueDrift`` per column, each with ``method="psi"`` and then ``method="ks"``. Our side runs
in a child process of the project's venv with the same settings (Evidently-compatible binning
for PSI, ``scipy.stats.ks_2samp`` for KS), plus the default decile PSI and missing rates. Both
sides report wall time of the computation (data already loaded) and the peak RSS of their
process; the figures must agree to 1e-9 before any ratio is printed.

Usage: ``EVIDENTLY_PYTHON=.tools/evidently/bin/python python benchmarks/bench_drift.py``
(``--rows`` and ``--features`` to change the size).
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
import pandas as pd

HERE = Path(__file__).resolve().parent
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
    """Our side, run as a child process so its peak RSS is measured like Evidently's."""
    sys.path.insert(0, str(HERE.parent))
    from pipelines.monitoring import drift

    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    values: dict[str, dict[str, float]] = {"psi": {}, "ks": {}, "ks_statistic": {}}
    for name in reference.columns:
        r = reference[name].to_numpy(dtype="float64")
        c = current[name].to_numpy(dtype="float64")
        values["psi"][name] = drift.psi(r, c, binning="evidently")
        values["ks_statistic"][name], values["ks"][name] = drift.ks(r, c)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    deciles = {}
    for name in reference.columns:
        r = reference[name].to_numpy(dtype="float64")
        c = current[name].to_numpy(dtype="float64")
        deciles[name] = (drift.psi(r, c), drift.missing_rate(c))
    decile_seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out_path).write_text(
        json.dumps(
            {
                "values": values,
                "deciles": deciles,
                "seconds": seconds,
                "decile_seconds": decile_seconds,
                "peak_rss_kib": peak,
                "loaded_rss_kib": loaded,
            }
        )
    )


def _run(cmd: list[str], out: Path) -> dict:
    env = {**os.environ, "DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())


def _max_diff(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    return max(abs(a[m][c] - b[m][c]) for m in ("psi", "ks") for c in a[m])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref, cur = make_data(args.rows, args.features)
        ref.to_parquet(folder / "ref.parquet")
        cur.to_parquet(folder / "cur.parquet")
        paths = [str(folder / "ref.parquet"), str(folder / "cur.parquet")]
        results = {
            "ours": _run(
                [sys.executable, __file__, "--ours", *paths, str(folder / "ours.json")],
                folder / "ours.json",
            )
        }
        for mode in ("preset", "columns"):
            out = folder / f"{mode}.json"
            results[mode] = _run(
                [evidently_python, str(EVIDENTLY_RUNNER), *paths, str(out), mode], out
            )
    ours_result = results["ours"]
    print(f"drift on {args.rows:,} rows x {args.features} features (PSI and KS per feature)")
    for mode, label in (("preset", "DataDriftPreset"), ("columns", "ValueDrift per column")):
        theirs = results[mode]
        diff = _max_diff(ours_result["values"], theirs["values"])
        if diff > TOLERANCE:
            print(f"  {label}: figures DISAGREE (max abs diff {diff:.3e})")
            return 1
        ev_peak, our_peak = theirs["peak_rss_kib"] / 1024, ours_result["peak_rss_kib"] / 1024
        ev_work = ev_peak - theirs["loaded_rss_kib"] / 1024
        our_work = our_peak - ours_result["loaded_rss_kib"] / 1024
        print(
            f"  vs {label:22s} same figures (max abs diff {diff:.1e}); "
            f"time {theirs['seconds']:7.2f}s vs ours {ours_result['seconds']:6.2f}s = "
            f"{theirs['seconds'] / ours_result['seconds']:5.1f}x faster; "
            f"peak RSS {ev_peak:6.0f} MiB vs ours {our_peak:5.0f} MiB = "
            f"{ev_peak / our_peak:4.1f}x less; above the loaded data "
            f"{ev_work:6.0f} MiB vs {our_work:5.0f} MiB"
        )
    print(
        f"  ours, default decile PSI + missing rate for all features: "
        f"{ours_result['decile_seconds']:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
