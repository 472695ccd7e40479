"""Data stages on the bundled data tiled to 20, 100 and 500 instruments.

Each size runs in its own process (so peak memory is that size's alone): the bundled 20-stock
file is tiled into relabelled copies (AAPL -> AAPL_003 ...), written as a wide CSV, then
ingest, validate, features and health run in-process on it. Printed per size: rows, seconds
and rows/second per stage and in total, peak RSS. The last column compares the time per row
with the 20-instrument run: about 1.0 means the cost grows linearly with rows.

Run from the repository root:  python benchmarks/bench_data.py [--sizes 20 100 500] [--repeat 2]
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
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "data/sample/sp500_20_daily_close.csv.gz"
STAGES = ("ingest", "validate", "features", "health")


def tiled_wide(instruments: int):  # noqa: ANN201 (pandas is imported in the child only)
    import pandas as pd

    base = pd.read_csv(SAMPLE)
    names = [c for c in base.columns if c != "Date"]
    copies = -(-instruments // len(names))
    columns = {"Date": base["Date"]}
    for copy in range(copies):
        for name in names:
            if len(columns) - 1 < instruments:
                columns[f"{name}_{copy:03d}"] = base[name]
    return pd.DataFrame(columns)


def child(instruments: int, folder: Path) -> dict[str, object]:
    sys.path.insert(0, str(REPO_ROOT))
    from pipelines.config import load_params
    from pipelines.data import health, ingest, store, validate

    os.chdir(folder)
    tiled_wide(instruments).to_csv(folder / "tiled.csv", index=False)
    (folder / "params.yaml").write_text(
        "data:\n  source: file\n  file:\n    path: tiled.csv\n    market: equity\n",
        encoding="utf-8",
    )
    params = load_params(folder / "params.yaml")
    seconds = {}
    runners = {
        "ingest": lambda: ingest.main(params),
        "validate": lambda: validate.main(params),
        "features": lambda: store.main(params),
        "health": lambda: health.main(params),
    }
    for stage in STAGES:
        started = time.perf_counter()
        runners[stage]()
        seconds[stage] = time.perf_counter() - started
    report = json.loads(Path(params.paths.validation_report).read_text(encoding="utf-8"))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "instruments": instruments,
        "rows": report["rows_in"],
        "quarantined": report["rows_quarantined"],
        "seconds": seconds,
        "peak_mib": peak_kib / 1024,
    }


def run_size(instruments: int, repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` runs per stage (the machine is shared; the minimum is the cost)."""
    runs = [_run_once(instruments) for _ in range(repeat)]
    best = dict(runs[0])
    best["seconds"] = {s: min(r["seconds"][s] for r in runs) for s in STAGES}
    best["peak_mib"] = max(r["peak_mib"] for r in runs)
    return best


def _run_once(instruments: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        env = {**os.environ, "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1"}
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(instruments), tmp],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (best is kept)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.folder))))
        return
    results = [run_size(n, args.repeat) for n in args.sizes]
    header = f"{'instr':>6} {'rows':>10} {'quar.':>6} " + " ".join(
        f"{s + ' s':>11}" for s in STAGES
    )
    print(header + f" {'total s':>8} {'rows/s':>10} {'peak MiB':>9} {'s/row vs 20':>12}")
    per_row_base = None
    for r in results:
        seconds = r["seconds"]
        total = sum(seconds.values())
        per_row = total / r["rows"]
        per_row_base = per_row_base or per_row
        cells = " ".join(f"{seconds[s]:>11.2f}" for s in STAGES)
        print(
            f"{r['instruments']:>6} {r['rows']:>10,} {r['quarantined']:>6} {cells} {total:>8.2f} "
            f"{r['rows'] / total:>10,.0f} {r['peak_mib']:>9.0f} {per_row / per_row_base:>12.2f}"
        )
    print("rows/s per stage:")
    for r in results:
        rates = "  ".join(f"{s} {r['rows'] / r['seconds'][s]:,.0f}" for s in STAGES)
        print(f"  {r['instruments']:>4} instruments: {rates}")


if __name__ == "__main__":
    main()
