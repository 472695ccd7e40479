"""The twin's market feed: held-out real bars only, windows per instrument, forward repeats.

The deployed model is a real bundle (trained here, its ``train_span`` recorded) named by the
newest ReplicaSet's ConfigMap in an in-memory store; the Service is an HTTP stub on 127.0.0.1
that records every request; the feed is driven through its HTTP routes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.serving.conftest import load_long, train
from tests.twin.cluster_support import wait_for
from tests.twin.rollouts_support import FakePods, MemoryStore
from twin.cluster.feed import HeldOut, MarketFeed

NS = "trading-dev"
INSTRUMENTS = ["KO", "PEP"]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                recorder.requests.append(body | {"header": self.headers.get("x-instrument")})
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bars = load_long(INSTRUMENTS, "2019-01-01", "2021-12-31")
    span = {"train_span": [str(bars["timestamp"].min()), str(bars["timestamp"].max())]}
    path = tmp_path_factory.mktemp("feed") / "model.json"
    train(bars, path, "feed-1", metadata=span)
    return path


def deploy(store: MemoryStore, bundle: Path, configmap: str, revision: int) -> None:
    manifest = {
        "model": {"name": "s", "version": "1", "artifact": {"uri": str(bundle), "sha256": "0" * 64}}
    }
    settings = {"instruments": INSTRUMENTS}
    store.apply(
        {
            "kind": "ConfigMap",
            "metadata": {"name": configmap, "namespace": NS},
            "data": {
                "model.yaml": yaml.safe_dump(manifest),
                "settings.yaml": yaml.safe_dump(settings),
            },
        }
    )
    store.apply(
        {"kind": "Rollout", "metadata": {"name": "strategy-service", "namespace": NS}, "spec": {}}
    )
    volumes = [{"name": "model", "configMap": {"name": configmap}}]
    store.apply(
        {
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"strategy-service-{revision}",
                "namespace": NS,
                "annotations": {"rollout.argoproj.io/revision": str(revision)},
                "ownerReferences": [{"kind": "Rollout", "name": "strategy-service"}],
            },
            "spec": {"template": {"spec": {"volumes": volumes}}},
        }
    )


@pytest.fixture
def setup(bundle: Path) -> Iterator[tuple[TestClient, Recorder, MarketFeed, MemoryStore]]:
    recorder = Recorder()
    store = MemoryStore()
    deploy(store, bundle, "model-manifest-a", 1)
    feed = MarketFeed(None, resolve=lambda host, port: ("127.0.0.1", recorder.port))
    feed.start(store, FakePods())
    client = TestClient(Starlette(routes=feed.routes()))
    try:
        yield client, recorder, feed, store
    finally:
        feed.stop()
        recorder.stop()


def test_held_out_bars_only_after_the_training_end_in_windows(setup: Any) -> None:
    client, recorder, _, _ = setup
    reply = client.post(f"/feed/v1/{NS}/start", json={"bars_per_second": 50, "lookback": 40})
    assert reply.status_code == 200, reply.text
    assert reply.json()["training_end"].startswith("2021-12-3")
    deadline = time.monotonic() + 20
    while len(recorder.requests) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = client.post(f"/feed/v1/{NS}/stop").json()
    assert stats["responses"].get("200", 0) == len(recorder.requests) >= 20
    first = [r for r in recorder.requests if r["instrument"] == "KO"]
    assert all(r["header"] == r["instrument"] for r in recorder.requests)
    newest = [pd.Timestamp(r["bars"][-1]["timestamp"]) for r in first]
    assert newest[0] > pd.Timestamp("2021-12-31", tz="UTC")  # held out: after training
    assert newest == sorted(newest) and len(set(newest)) == len(newest)
    assert all(len(r["bars"]) == 40 for r in first)  # the window a cold pod warms up from
    assert pd.Timestamp(first[0]["bars"][0]["timestamp"]) < pd.Timestamp("2021-12-31", tz="UTC")
    assert client.get(f"/feed/v1/{NS}").status_code == 404


def test_refuses_without_held_out_bars(setup: Any) -> None:
    client, *_ = setup
    reply = client.post(f"/feed/v1/{NS}/start", json={"after": "2030-01-01"})
    assert reply.status_code == 409
    assert reply.json()["message"] == "fewer than 2 bars after the model's training end 2030-01-01"


def test_a_newer_model_moves_the_feed_past_its_training(
    setup: Any, bundle: Path, tmp_path: Path
) -> None:
    client, recorder, _, store = setup
    later = load_long(INSTRUMENTS, "2019-01-01", "2022-06-30")
    span = {"train_span": [str(later["timestamp"].min()), str(later["timestamp"].max())]}
    newer = tmp_path / "newer.json"
    train(later, newer, "feed-2", metadata=span)
    client.post(f"/feed/v1/{NS}/start", json={"bars_per_second": 20, "lookback": 5})
    deadline = time.monotonic() + 10
    while len(recorder.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    deploy(store, newer, "model-manifest-b", 2)  # a canary of a model trained up to 2022-06-30
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        last = pd.Timestamp(recorder.requests[-1]["bars"][-1]["timestamp"])
        if last > pd.Timestamp("2022-06-30", tz="UTC"):
            break
        time.sleep(0.05)
    stats = client.post(f"/feed/v1/{NS}/stop").json()
    assert stats["training_end"].startswith("2022-06-30")
    assert pd.Timestamp(recorder.requests[-1]["bars"][-1]["timestamp"]) > pd.Timestamp(
        "2022-06-30", tz="UTC"
    )


def test_exhausted_bars_repeat_forward_with_the_same_returns() -> None:
    stamps = pd.date_range("2022-01-03", periods=8, freq="B", tz="UTC")
    closes = [100.0, 101.0, 99.0, 102.0, 103.0, 101.0, 104.0, 105.0]
    bars = pd.DataFrame({"timestamp": stamps, "instrument": "KO", "close": closes})
    held = HeldOut(bars, ["KO"], stamps[3], lookback=3)
    sent = [held.next()["KO"][-1] for _ in range(9)]  # 4 held-out bars, then two repeats
    times = [t for t, _ in sent]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert held.passes == 2
    values = np.array([c for _, c in sent])
    returns = np.round(values[1:] / values[:-1], 12)
    original = np.round(np.array(closes[5:]) / np.array(closes[4:-1]), 12)
    # every step is a real held-out step: 103->101->104->105, then 101/103... again
    assert set(returns) <= set(original) | {round(101 / 103, 12)}
    assert sent[0] == (stamps[4], 103.0)


def test_a_paused_feed_sends_nothing_and_resumes_at_the_next_bar(setup: Any) -> None:
    """The market closes (nights, training) and opens again: no bar is skipped or repeated."""
    client, recorder, _, _ = setup
    client.post(f"/feed/v1/{NS}/start", json={"bars_per_second": 50, "lookback": 3})
    wait_for("6 requests", lambda: len(recorder.requests) >= 6)
    paused = client.post(f"/feed/v1/{NS}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    at_pause = len(recorder.requests)
    time.sleep(0.5)  # an observation window: 25 ticks at 50 bars/s would have been sent
    assert len(recorder.requests) <= at_pause + len(INSTRUMENTS)  # at most the bar in flight
    assert client.get(f"/feed/v1/{NS}").json()["paused"] is True
    resumed = client.post(f"/feed/v1/{NS}/resume")
    assert resumed.json()["paused"] is False
    resumed_at = len(recorder.requests)
    wait_for("6 requests after resuming", lambda: len(recorder.requests) >= resumed_at + 6)
    client.post(f"/feed/v1/{NS}/stop")
    sent = [
        pd.Timestamp(r["bars"][-1]["timestamp"])
        for r in recorder.requests
        if r["instrument"] == "KO"
    ]
    held = load_long(["KO"], "2022-01-01", "2022-12-31")["timestamp"]
    assert sent == [pd.Timestamp(t) for t in held[: len(sent)]]
    assert client.post(f"/feed/v1/{NS}/pause").status_code == 404  # stopped: nothing to pause
