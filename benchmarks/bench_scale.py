"""Scale-out: data and training stages at 1, 2 and 4 workers on minute bars, 50 -> 500 instruments.

The bundled daily series are relabelled as consecutive minute bars of a 24/7 market (each
instrument a tiled, renamed copy: AAPL -> AAPL_003), written as one long Parquet file, and run
through the project's own commands in a fresh folder per size:

- data: ``ingest``, ``validate`` and ``health`` once (single-process stages), then ``features``
  in ``--partitions`` instrument partitions at each worker count (``scale.data_workers``);
- training (``--train-sizes``, default the smallest): ``tune`` at each worker count
  (``training.tuning.workers``, one shared study) and ``train`` at each (``scale.cv_workers``).

The peer of a fanned-out run is the one-process run of the same work: the feature store and the
train stage's outputs must be the same bytes at every worker count (checked; a mismatch fails the
benchmark), and every tuning run must record exactly the trial budget. Printed per run: seconds,
rows/s, speed-up against one worker, peak memory of the stage process and of its largest worker
process; then the bytes per row at the largest size and the rows one 24 GB machine holds.

Run from the repository root:
  python benchmarks/bench_scale.py [--sizes 50 200 500] [--bars 8000] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "data/sample/sp500_20_daily_close.csv.gz"
MACHINE_BYTES = 24 * 1024**3
TRAIN_OUTPUTS = ("model_bundle.json", "oos_predictions.parquet", "cpcv_positions.parquet")


def write_minute_bars(target: Path, instruments: int, bars: int) -> int:
    """Tiled minute bars (24/7) as long Parquet; returns the row count."""
    import numpy as np
    import pandas as pd

    base = pd.read_csv(SAMPLE)
    names = [c for c in base.columns if c != "Date"]
    end = pd.Timestamp("2026-11-30 23:59", tz="UTC")
    frames = []
    for number in range(instruments):
        closes = base[names[number % len(names)]].dropna().to_numpy(dtype="float64")
        reps = -(-bars // len(closes))
        # repeated copies continue from the previous copy's last price (no jump at the seam)
        steps = np.diff(np.log(np.tile(closes, reps)), prepend=np.log(closes[0]))
        steps[:: len(closes)] = 0.0
        series = closes[0] * np.exp(np.cumsum(steps))[-bars:]
        stamps = pd.date_range(end=end, periods=len(series), freq="min")
        label = f"{names[number % len(names)]}_{number // len(names):03d}"
        frames.append(pd.DataFrame({"timestamp": stamps, "instrument": label, "close": series}))
    frame = pd.concat(frames, ignore_index=True)
    frame.to_parquet(target, index=False)
    return len(frame)


def params_for(partitions: int, data: int = 1, tune: int = 1, cv: int = 1) -> dict[str, Any]:
    """The benchmark's params: a 24/7 minute-bar file, partitions and each stage's workers.

    Only the stage being measured gets more workers: ``training.tuning.workers`` enters the
    bundle's params hash, so train is compared at one tuning worker.
    """
    return {
        "data": {
            "source": "file",
            "frequency": "minute",
            "file": {"path": "tiled.parquet", "market": "crypto", "currency": "USD"},
        },
        "scale": {"data_partitions": partitions, "data_workers": data, "cv_workers": cv},
        "training": {"tuning": {"workers": tune}},
    }


def stage(folder: Path, params: dict[str, Any], *argv: str) -> dict[str, Any]:
    """One command in a child process: seconds, its peak RSS and its largest worker's."""
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1"}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.pop("OPTUNA_STORAGE", None)
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, __file__, "--child", str(folder), *argv],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {folder}:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def child(folder: Path, argv: list[str]) -> dict[str, Any]:
    """Run ``pipelines ARGV`` in-process in ``folder``; time it and read the peak memory."""
    sys.path.insert(0, str(REPO_ROOT))
    from pipelines.cli import main as cli_main

    os.chdir(folder)
    started = time.perf_counter()
    code = cli_main(["--params", "params.yaml", *argv])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(code)
    return {
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _mib(value: float) -> str:
    return f"{value:.0f}" if value else "-"


def same_tree(left: Path, right: Path) -> bool:
    """True when two folders hold the same files with the same bytes."""
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    return files == theirs and all(filecmp.cmp(left / f, right / f, False) for f in files)


def data_size(
    root: Path, instruments: int, bars: int, partitions: int, workers: list[int]
) -> list[dict[str, Any]]:
    """The data stages on one size; features at each worker count (outputs compared)."""
    folder = root / f"n{instruments}"
    folder.mkdir()
    rows = write_minute_bars(folder / "tiled.parquet", instruments, bars)
    single = {s: stage(folder, params_for(partitions), "data", s) for s in ("ingest", "validate")}
    results, reference = [], None
    for count in workers:
        shutil.rmtree(folder / "data/feature_parts", ignore_errors=True)
        run = stage(folder, params_for(partitions, data=count), "data", "features")
        store = folder / "data/features"
        if reference is None:
            reference = folder / "features-one-worker"
            shutil.copytree(store, reference)
        elif not same_tree(reference, store):
            raise SystemExit(f"features at {count} workers differ from one worker ({folder})")
        results.append({"instruments": instruments, "rows": rows, "workers": count, **run})
    single["health"] = stage(folder, params_for(partitions), "data", "health")
    other = sum(r["seconds"] for r in single.values())
    for r in results:
        r["other_seconds"] = other
        r["other_peak_mib"] = max(s["peak_mib"] for s in single.values())
    return results


def train_size(root: Path, instruments: int, workers: list[int]) -> list[dict[str, Any]]:
    """tune and train at each worker count on a size whose data stages ran (outputs compared)."""
    folder = root / f"n{instruments}"
    results, reference = [], None
    for count in workers:
        tune = stage(folder, params_for(1, tune=count), "tune")
        tuning = json.loads((folder / "models/tuning.json").read_text())
        if tuning["n_trials"] != len(tuning["trials"]) or tuning["n_trials"] != 20:
            raise SystemExit(f"tune at {count} workers recorded {len(tuning['trials'])} trials")
        # train reads the tuning result; every worker count trains on the one-worker result
        if reference is None:
            shutil.copy(folder / "models/tuning.json", folder / "tuning-one-worker.json")
        shutil.copy(folder / "tuning-one-worker.json", folder / "models/tuning.json")
        train = stage(folder, params_for(1, cv=count), "train")
        outputs = {n: (folder / "models" / n).read_bytes() for n in TRAIN_OUTPUTS}
        if reference is None:
            reference = outputs
        elif outputs != reference:
            raise SystemExit(f"train at {count} workers differs from one worker ({folder})")
        results.append({"instruments": instruments, "workers": count, "tune": tune, "train": train})
    return results


def print_tables(data: list[dict[str, Any]], training: list[dict[str, Any]]) -> None:
    """The tables, the speed-ups and the memory sizing."""
    print(f"\nfeatures stage at {data[0]['workers']}..{data[-1]['workers']} workers (same bytes):")
    print(
        f"{'instr':>6} {'rows':>11} {'workers':>7} {'seconds':>8} {'rows/s':>10} "
        f"{'speed-up':>8} {'per worker':>10} {'peak MiB':>9} {'worker MiB':>10}"
    )
    base: dict[int, float] = {}
    for r in data:
        base.setdefault(r["instruments"], r["seconds"])
        speed = base[r["instruments"]] / r["seconds"]
        print(
            f"{r['instruments']:>6} {r['rows']:>11,} {r['workers']:>7} {r['seconds']:>8.2f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {speed:>8.2f} {speed / r['workers']:>10.2f} "
            f"{r['peak_mib']:>9.0f} {_mib(r['worker_mib']):>10}"
        )
    print("\ndata stages in total (ingest + validate + health run once, single-process):")
    for r in data:
        total = r["other_seconds"] + r["seconds"]
        print(
            f"  {r['instruments']:>4} instruments, {r['workers']} workers: {total:7.2f} s, "
            f"{r['rows'] / total:>9,.0f} rows/s, "
            f"peak {max(r['peak_mib'], r['other_peak_mib']):,.0f} MiB"
        )
    if training:
        print(
            "\ntraining stages (tune: one shared study, 20 trials; train: CV splits, same bytes):"
        )
        print(
            f"{'instr':>6} {'workers':>7} {'tune s':>8} {'speed-up':>8} {'train s':>8} "
            f"{'speed-up':>8} {'peak MiB':>9} {'worker MiB':>10}"
        )
        firsts: dict[int, dict[str, float]] = {}
        for r in training:
            first = firsts.setdefault(
                r["instruments"], {s: r[s]["seconds"] for s in ("tune", "train")}
            )
            peak = max(r["tune"]["peak_mib"], r["train"]["peak_mib"])
            worker = max(r["tune"]["worker_mib"], r["train"]["worker_mib"])
            print(
                f"{r['instruments']:>6} {r['workers']:>7} {r['tune']['seconds']:>8.2f} "
                f"{first['tune'] / r['tune']['seconds']:>8.2f} {r['train']['seconds']:>8.2f} "
                f"{first['train'] / r['train']['seconds']:>8.2f} {peak:>9.0f} {_mib(worker):>10}"
            )
    print_memory(data, training)


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Bytes per row and fixed bytes, from the smallest and the largest run."""
    (rows_a, bytes_a), (rows_b, bytes_b) = min(points), max(points)
    per_row = (bytes_b - bytes_a) / (rows_b - rows_a) if rows_b > rows_a else bytes_b / rows_b
    if per_row <= 0:  # sizes too close for the growth to show over the fixed cost
        per_row = bytes_b / rows_b
    return per_row, bytes_b - per_row * rows_b


def print_memory(data: list[dict[str, Any]], training: list[dict[str, Any]]) -> None:
    """Peak memory per row (between the smallest and largest size) and what 24 GB holds."""
    usable = MACHINE_BYTES * 0.8
    merged = [
        (r["rows"], max(r["peak_mib"], r["other_peak_mib"]) * 1024**2)
        for r in data
        if r["workers"] == 1
    ]
    workers = [(r["rows"], r["worker_mib"] * 1024**2) for r in data if r["workers"] > 1]
    per_row, fixed = _fit(merged)
    print(
        f"\nmemory, single-process steps (ingest, validate, merge, health): {per_row:,.0f} bytes "
        f"per row + {fixed / 1024**2:,.0f} MiB; one 24 GB machine (80% usable) holds about "
        f"{(usable - fixed) / per_row / 1e6:,.0f} M rows"
    )
    if workers:
        w_row, w_fixed = _fit(workers)
        print(
            f"memory, one features worker: {w_row:,.0f} bytes per row of its partition "
            f"+ {w_fixed / 1024**2:,.0f} MiB"
        )
    if training:
        sizes = {d["instruments"]: d["rows"] for d in data}
        trained = [
            (sizes[r["instruments"]], r["train"]["peak_mib"] * 1024**2)
            for r in training
            if r["workers"] == 1
        ]
        t_row, t_fixed = _fit(trained)
        print(
            f"memory, train stage: {t_row:,.0f} bytes per row + {t_fixed / 1024**2:,.0f} MiB: "
            f"about {(usable - t_fixed) / t_row / 1e6:,.0f} M rows on 24 GB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--bars", type=int, default=8000, help="minute bars per instrument")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=4, help="instrument partitions")
    parser.add_argument(
        "--train-sizes",
        type=int,
        nargs="*",
        default=None,
        help="sizes whose training stages run too (default: the smallest)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        print(json.dumps(child(Path(args.child), rest)))
        return
    workers = sorted(set(args.workers) | {1})
    train_sizes = args.train_sizes if args.train_sizes is not None else [min(args.sizes)]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        data, training = [], []
        for size in args.sizes:
            started = time.perf_counter()
            data += data_size(root, size, args.bars, args.partitions, workers)
            if size in train_sizes:
                training += train_size(root, size, workers)
            print(f"{size} instruments done in {time.perf_counter() - started:.0f}s", flush=True)
        print_tables(data, training)


if __name__ == "__main__":
    main()
