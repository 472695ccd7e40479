"""Run every benchmark against its peer tool, one after another, and print their tables.

Each benchmark runs the same work through a peer (Evidently, vectorbt, ``mlflow models serve``)
and through this project in one run, checks that the results agree, and prints the ratio.
``make bench`` calls this file; ``--only NAME`` runs one of them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS: dict[str, list[str]] = {
    "data": ["benchmarks/bench_data.py"],
    "backtest": ["benchmarks/bench_backtest.py"],
    "serving": ["-m", "benchmarks.bench_serving"],
    "metrics": ["-m", "benchmarks.bench_metrics"],
    "drift": ["benchmarks/bench_drift.py"],
    "scale": ["benchmarks/bench_scale.py"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args()
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env["DVC_NO_ANALYTICS"] = "1"
    failed = []
    for name in args.only or list(BENCHMARKS):
        print(f"\n=== benchmark: {name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, *BENCHMARKS[name]], cwd=ROOT, env=env)  # noqa: S603
        print(f"=== {name}: exit {code} in {time.perf_counter() - started:.0f}s ===", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
