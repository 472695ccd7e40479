"""Fixtures of the serving tests: tiny real bundles trained on the bundled sample, services."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.data.features import compute_features, feature_names
from pipelines.data.params import FeatureParams
from pipelines.registry.bundle import PositionRule, bundle_payload, save_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "data" / "sample" / "sp500_20_daily_close.csv.gz"
INSTRUMENTS = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT"]
FEATURE_PARAMS = FeatureParams(
    return_horizons=[1, 5, 21],
    volatility_windows=[21, 63],
    momentum_windows=[63],
    zscore_windows=[21],
    rsi_window=14,
    cross_sectional=False,
)


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    version: str


def load_long(instruments: list[str], start: str, end: str) -> pd.DataFrame:
    wide = pd.read_csv(SAMPLE, parse_dates=["Date"])
    wide = wide[(wide["Date"] >= start) & (wide["Date"] <= end)]
    long = wide.melt(
        id_vars="Date", value_vars=instruments, var_name="instrument", value_name="close"
    )
    long = long.rename(columns={"Date": "timestamp"})
    long["timestamp"] = pd.to_datetime(long["timestamp"], utc=True)
    return long.dropna().sort_values(["instrument", "timestamp"]).reset_index(drop=True)


def train(
    bars: pd.DataFrame,
    path: Path,
    version: str,
    invert: bool = False,
    metadata: dict[str, object] | None = None,
) -> Bundle:
    feats = compute_features(bars, FEATURE_PARAMS)
    step = np.log(bars["close"]).groupby(bars["instrument"]).shift(-1) - np.log(bars["close"])
    label = (step > 0).astype(int)
    if invert:
        label = 1 - label
    names = feature_names(FEATURE_PARAMS)
    keep = feats[names].notna().all(axis=1) & step.notna()
    data = lgb.Dataset(feats.loc[keep, names].to_numpy(), label=label[keep].to_numpy())
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 31,
            "learning_rate": 0.1,
            "verbose": -1,
            "seed": 7,
            "deterministic": True,
            "num_threads": 1,
        },
        data,
        num_boost_round=150,
    )
    payload = bundle_payload(
        booster,
        names,
        FEATURE_PARAMS,
        "binary",
        1,
        "daily",
        PositionRule(0.0, False),
        metadata={"version": version, **(metadata or {})},
    )
    return Bundle(path, save_bundle(payload, path), version)


@pytest.fixture(scope="session")
def market_bars() -> pd.DataFrame:
    """Six instruments, 2014-2018 (about 1,250 bars each)."""
    return load_long(INSTRUMENTS, "2014-01-01", "2018-12-31")


@pytest.fixture(scope="session")
def bundles(
    tmp_path_factory: pytest.TempPathFactory, market_bars: pd.DataFrame
) -> dict[str, Bundle]:
    """A good model and a degraded one (trained on inverted labels)."""
    root = tmp_path_factory.mktemp("bundles")
    return {
        "good": train(market_bars, root / "good.json", "good-1"),
        "degraded": train(market_bars, root / "degraded.json", "degraded-1", invert=True),
    }


def write_env(
    root: Path,
    bundle: Bundle | None,
    version: str | None = None,
    sha256: str | None = None,
    instruments: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write a manifest and a settings file; return their paths."""
    from pipelines.registry.manifest import empty_manifest
    from tests.registry.fixtures import manifest as full_manifest

    root.mkdir(parents=True, exist_ok=True)
    doc = empty_manifest("test")
    if bundle is not None:
        doc = full_manifest(
            "test",
            f"file://{bundle.path}",
            sha256 or bundle.sha256,
            name="strategy",
            version=version or bundle.version,
        )
    manifest = root / "model.yaml"
    # Not validated on purpose: tests also write broken manifests.
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = root / "settings.yaml"
    settings.write_text(
        yaml.safe_dump({"environment": "test", "instruments": instruments or INSTRUMENTS})
    )
    return manifest, settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_INJECT_")}
    env.update(DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    env.update(extra)
    return env


class ServiceProcess:
    """A `pipelines serve` child process on 127.0.0.1, stopped by its PID."""

    def __init__(
        self, manifest: Path, settings: Path, log: Path, params: Path | None = None, **env: str
    ) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.log = log
        self._log_handle = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines",
                "--params",
                str(params or REPO_ROOT / "params.yaml"),
                "serve",
                "--manifest",
                str(manifest),
                "--settings",
                str(settings),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--metrics-port",
                str(self.metrics_port),
            ],
            cwd=REPO_ROOT,
            env=child_env(**env),
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"service not ready in {timeout}s: {self.log.read_text()}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_handle.close()
        return self.proc.returncode


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    """Collects started services and stops each one by PID afterwards."""
    started: list[ServiceProcess] = []
    try:
        yield started
    finally:
        for svc in started:
            svc.stop()


def params_with(tmp: Path, **serving: object) -> Path:
    """A copy of params.yaml with ``serving`` keys overridden (nested mappings merged)."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for key, value in serving.items():
        current = params["serving"].get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            current.update(value)
        else:
            params["serving"][key] = value
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def bars_payload(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"timestamp": t.isoformat(), "close": float(c)}
        for t, c in zip(frame["timestamp"], frame["close"], strict=True)
    ]
