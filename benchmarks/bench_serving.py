"""Benchmark: this strategy service vs `mlflow models serve` for the same LightGBM model.

Both servers run on 127.0.0.1 as child processes (stopped by PID). One row per request: our
service gets the next bar of an instrument (and computes the features online, then predicts);
MLflow gets the precomputed feature row of that bar, its normal API (it cannot compute features):
so MLflow does less work per request than ours. Clients: 1 and 8 concurrent, each on its own
instrument and keep-alive connection, bounded request counts; the same minimal HTTP/1.1 client
drives both servers (request bodies built before the clock starts). Predictions of the two
servers are checked to agree (1e-9) before any figure is printed. Prints p50/p99 latency,
throughput and the ratios. Both servers share the host's cores with the client: run it on a
quiet machine, and expect run-to-run spread on a busy one.

Run from the repository root:
    python -m benchmarks.bench_serving [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import yaml

from pipelines.data.features import compute_features, feature_names
from pipelines.data.params import FeatureParams
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle
from pipelines.registry.manifest import empty_manifest
from pipelines.serving.state import required_bars

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "sp500_20_daily_close.csv.gz"
INSTRUMENTS = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT", "AAPL", "JPM"]
PARAMS = FeatureParams(momentum_windows=[63, 126], cross_sectional=False)
ENV = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}


def load_bars() -> pd.DataFrame:
    wide = pd.read_csv(SAMPLE, parse_dates=["Date"])
    wide = wide[wide["Date"] >= "2008-01-01"]
    long = wide.melt(
        id_vars="Date", value_vars=INSTRUMENTS, var_name="instrument", value_name="close"
    )
    long = long.rename(columns={"Date": "timestamp"})
    long["timestamp"] = pd.to_datetime(long["timestamp"], utc=True)
    return long.dropna().sort_values(["instrument", "timestamp"]).reset_index(drop=True)


def train(bars: pd.DataFrame) -> tuple[lgb.Booster, pd.DataFrame]:
    feats = compute_features(bars, PARAMS)
    names = feature_names(PARAMS)
    step = np.log(bars["close"]).groupby(bars["instrument"]).shift(-1) - np.log(bars["close"])
    keep = feats[names].notna().all(axis=1) & step.notna() & (feats["timestamp"] < "2014-01-01")
    data = lgb.Dataset(
        feats.loc[keep, names].to_numpy(), label=(step[keep] > 0).astype(int).to_numpy()
    )
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 1}, data, 100
    )
    return booster, feats


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log is not None and log.is_file() else ""
            tail = text.strip().splitlines()[-1:]
            raise SystemExit(f"server exited early: {url} {' '.join(tail)}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server not ready: {url}")


class Connection:
    """A minimal HTTP/1.1 keep-alive client (asyncio streams), the same for both servers.

    httpx costs about as much CPU per request as the servers measured here, on the same two
    cores; this client costs a fraction of that, so the figures are the servers' own.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = {k.lower(): v for k, v in fields.items()}.get("content-length")
        if length is None:
            raise SystemExit(f"response without Content-Length: {lines[0]}")
        return int(lines[0].split()[1]), await self.reader.readexactly(int(length))

    def close(self) -> None:
        self.writer.close()


async def run_clients(
    port: int, make_request, clients: int, per_client: int
) -> tuple[list[float], float, dict[tuple[int, int], float]]:
    latencies: list[float] = []
    answers: dict[tuple[int, int], float] = {}
    conns = [await Connection.open(port) for _ in range(clients)]

    async def one_client(c: int) -> None:
        for k in range(per_client):
            path, body, headers, read = make_request(c, k)
            started = time.perf_counter()
            status, reply = await conns[c].post(path, body, headers)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}: {reply[:200]!r}")
            answers[(c, k)] = read(json.loads(reply))

    for c in range(clients):  # connect (and warm the connection) outside the timed part
        await conns[c].post(*make_request(c, -1)[:3])
    started = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return latencies, wall, answers


def bench_manifest(uri: str, sha256: str) -> dict[str, Any]:
    """A valid manifest for the benchmark's bundle (the service refuses anything else)."""
    doc = empty_manifest("bench")
    doc["image"] = str(doc["image"]).replace("0" * 64, hashlib.sha256(b"bench").hexdigest())
    doc["model"] = {
        "name": "bench",
        "version": "bench",
        "artifact": {"uri": uri, "sha256": sha256},
        "provenance": {
            "git_commit": "0" * 7,
            "dvc_data_hash": "-",
            "mlflow_run_id": "-",
            "params_hash": "-",
        },
        "evaluation": {"metrics": {}, "gate": {"verdict": "pass", "report_sha256": "0" * 64}},
        "promotion": {
            "from": "training",
            "at": "2026-01-01T00:00:00Z",
            "by": "bench",
            "reason": "benchmark",
        },
    }
    return doc


def start_ours(
    tmp: Path, booster: lgb.Booster, names: list[str], port: int
) -> subprocess.Popen[bytes]:
    meta = {"version": "bench"}
    payload = bundle_payload(booster, names, PARAMS, "binary", 1, "daily", PositionRule(), meta)
    sha = save_bundle(payload, tmp / "bundle.json")
    doc = bench_manifest((tmp / "bundle.json").as_uri(), sha)
    (tmp / "model.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp / "settings.yaml").write_text(yaml.safe_dump({"instruments": INSTRUMENTS}))
    argv = [
        "serve",
        "--manifest",
        str(tmp / "model.yaml"),
        "--settings",
        str(tmp / "settings.yaml"),
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines", *argv, "--port", str(port)]
        + ["--metrics-port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "ours.err").open("wb"),  # shown when it exits early
    )


def start_mlflow(tmp: Path, booster: lgb.Booster, port: int) -> subprocess.Popen[bytes]:
    """Log the same booster to a temporary local MLflow (SQLite) and serve it."""
    import mlflow
    import mlflow.lightgbm

    tracking = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    exp = mlflow.create_experiment("bench", artifact_location=(tmp / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.lightgbm.log_model(booster, name="model")
    argv = ["models", "serve", "-m", info.model_uri, "--env-manager", "local"]
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow", *argv, "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp,
        env={**os.environ, **ENV, "MLFLOW_TRACKING_URI": tracking},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help="requests per client (8 clients: half each)"
    )
    args = parser.parse_args()
    os.environ.update(ENV)
    bars = load_bars()
    booster, feats = train(bars)
    names = feature_names(PARAMS)
    window = required_bars(PARAMS, ohlcv=False)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            ours_port, mlflow_port = free_port(), free_port()
            procs.append(start_ours(tmp, booster, names, ours_port))
            procs.append(start_mlflow(tmp, booster, mlflow_port))
            ours = f"http://127.0.0.1:{ours_port}"
            wait_http(f"{ours}/readyz", procs[0], tmp / "ours.err")
            wait_http(f"http://127.0.0.1:{mlflow_port}/ping", procs[1])

            per_inst = {
                i: bars[bars["instrument"] == i].reset_index(drop=True) for i in INSTRUMENTS
            }
            feat_by = {
                i: feats[feats["instrument"] == i].set_index("timestamp") for i in INSTRUMENTS
            }
            start = {i: int((per_inst[i]["timestamp"] < "2014-01-01").sum()) for i in INSTRUMENTS}
            rows = []
            for clients in (1, 8):
                n = args.requests if clients == 1 else max(args.requests // 2, 50)
                insts = INSTRUMENTS[:clients]
                offset = 0 if clients == 1 else args.requests + window + 10
                for inst in insts:  # warm each instrument's buffer up to the first bar
                    first = start[inst] + offset
                    hist = per_inst[inst].iloc[first - window : first]
                    warm = [
                        {"timestamp": t.isoformat(), "close": float(c)}
                        for t, c in zip(hist["timestamp"], hist["close"], strict=True)
                    ]
                    body = {"instrument": inst, "bars": warm}
                    url, headers = f"{ours}/v1/signal", {"X-Instrument": inst}
                    httpx.post(url, timeout=30, headers=headers, json=body).raise_for_status()

                # Bodies are built before the clock starts (k = -1 warms each connection).
                ours_bodies, mlflow_bodies = {}, {}
                for c, inst in enumerate(insts):
                    for k in range(-1, n):
                        bar = per_inst[inst].iloc[start[inst] + offset + k]
                        one = {"timestamp": bar["timestamp"].isoformat(), "close": bar["close"]}
                        ours_bodies[(c, k)] = json.dumps({"instrument": inst, "bars": [one]})
                        row = feat_by[inst].loc[bar["timestamp"], names].to_numpy(dtype=float)
                        split = {"columns": names, "data": [row.tolist()]}
                        mlflow_bodies[(c, k)] = json.dumps({"dataframe_split": split})

                def ours_request(c: int, k: int, insts=insts, bodies=ours_bodies):
                    headers = {"X-Instrument": insts[c]}
                    body = bodies[(c, k)].encode()
                    return "/v1/signal", body, headers, lambda r: r["prediction"]

                def mlflow_request(c: int, k: int, bodies=mlflow_bodies):
                    body = bodies[(c, k)].encode()
                    return "/invocations", body, {}, lambda r: float(r["predictions"][0])

                lat_o, wall_o, ans_o = asyncio.run(run_clients(ours_port, ours_request, clients, n))
                lat_m, wall_m, ans_m = asyncio.run(
                    run_clients(mlflow_port, mlflow_request, clients, n)
                )
                diff = max(abs(ans_o[key] - ans_m[key]) for key in ans_o)
                if diff > 1e-9:
                    raise SystemExit(f"predictions disagree by {diff}")
                for name, lat, wall in (("ours", lat_o, wall_o), ("mlflow", lat_m, wall_m)):
                    ms = np.asarray(lat) * 1000
                    p50, p99 = np.percentile(ms, [50, 99])
                    rows.append((name, clients, len(ms), p50, p99, len(ms) / wall))
                print(
                    f"clients={clients}: predictions agree (max diff {diff:.2e}) "
                    f"over {len(ans_o)} requests"
                )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    print("note: mlflow gets the precomputed feature row; ours computes the features online")
    print(f"{'server':8} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, clients, n, p50, p99, rps in rows:
        print(f"{name:8} {clients:7d} {n:8d} {p50:8.2f} {p99:8.2f} {rps:8.1f}")
    by = {(r[0], r[1]): r for r in rows}
    for clients in (1, 8):
        o, m = by[("ours", clients)], by[("mlflow", clients)]
        print(
            f"clients={clients}: throughput ours/mlflow = {o[5] / m[5]:.2f}x, "
            f"p99 mlflow/ours = {m[4] / o[4]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
