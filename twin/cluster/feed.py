"""The twin's market feed: real held-out bars, per instrument, to an environment's Service.

``MarketFeed`` (an ``interfaces.Controller``) streams, for one namespace at a time, the bundled
real daily closes (``data/sample/sp500_20_daily_close.csv.gz``) to
``<service>.<namespace>.svc:<port>`` ``/v1/signal``, one request per instrument per bar,
through the mesh when the name resolves to it (the cluster DNS), at a compressed clock
(``bars_per_second``). Each request carries the instrument's last ``lookback`` bars (a fresh
canary or preview pod warms up from its first request; a warm one realises the newest bar).

Held out: only bars after the newest deployed model's training end are sent, that end being
``train_span[1]`` of the bundle the newest ReplicaSet's manifest names (``model.yaml`` in its
ConfigMap; the artifact is read from the twin's S3 or a file), or ``after`` when the caller gives
it. A newer model (a canary) with a later training end moves the feed past its end too. No
held-out bar at all refuses to start (fail closed). When the held-out bars are exhausted they
are repeated, time-shifted by whole spans (plus one bar) and rescaled to continue from the last
close sent, so every return sent is a real held-out return and time only moves forward.

HTTP routes (mounted by the cluster server, see :meth:`MarketFeed.routes`):
``POST /feed/v1/{namespace}/start`` (JSON, all optional: ``service``, ``port``,
``bars_per_second``, ``lookback``, ``after``, ``instruments``), ``POST /feed/v1/{namespace}/stop``,
``POST /feed/v1/{namespace}/pause`` and ``.../resume`` (the market closes and opens: no bar is
sent while paused and the replay goes on from the same bar), and ``GET /feed/v1/{namespace}``
(counts by status, bars and passes sent, last bar time, errors, paused or not).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.delivery.rehearse import load_bars
from pipelines.errors import PipelineError
from twin import state
from twin.cluster.analysis import cluster_resolver
from twin.cluster.analysis_providers import Resolver
from twin.cluster.feed_bars import FeedError, HeldOut, bundle_training_end, utc
from twin.cluster.interfaces import Controller, Obj, ObjectStore, PodRunner
from twin.cluster.rollouts_replicasets import owned_replicasets, revision_of

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "data" / "sample" / "sp500_20_daily_close.csv.gz"
# One daily bar a second: an 8 s analysis window still pairs ~150 paper returns (min_trades: 30)
# and 8 scrapes; at two a second the feed (one request per instrument per bar, through the
# mesh, answered by a pod) took more than a core of the twin's two.
BARS_PER_SECOND = 1.0
# Bars kept encoded per stream (instruments x lookback, with room for the replay's next pass).
ENCODED_BARS = 50_000


__all__ = ["FeedError", "HeldOut", "MarketFeed", "controllers"]


class Stream:
    """One namespace's feed: a thread sending a bar of every instrument per tick."""

    def __init__(self, feed: MarketFeed, namespace: str, options: dict[str, Any]) -> None:
        self.feed = feed
        self.namespace = namespace
        self.service = str(options.get("service", "strategy-service"))
        self.port = int(options.get("port", 8080))
        self.interval = 1.0 / float(options.get("bars_per_second", BARS_PER_SECOND))
        self.lookback = int(options.get("lookback", 130))
        manifest, settings = feed.deployed(namespace)
        instruments = [
            str(i) for i in options.get("instruments") or settings.get("instruments") or []
        ]
        if not instruments:
            raise FeedError(f"{namespace}: no instruments (settings.yaml instruments)")
        after = options.get("after")
        self.train_end = utc(after) if after else feed.training_end(manifest)
        self.model = manifest
        self.bars = HeldOut(load_bars(feed.data_path), instruments, self.train_end, self.lookback)
        self.counts: Counter[str] = Counter()
        self.sent_bars = 0
        self.last_error = ""
        self.last_bar = ""
        self.encoded: dict[tuple[pd.Timestamp, float], str] = {}
        self.stopping = threading.Event()
        self.market_open = threading.Event()
        self.market_open.set()
        self.client = httpx.Client(timeout=10.0)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"feed-{namespace}")
        self.thread = threading.Thread(target=self._run, name=f"feed-{namespace}", daemon=True)

    def _url(self) -> str:
        host, port = self.feed.resolve(f"{self.service}.{self.namespace}.svc", self.port)
        return f"http://{host}:{port}/v1/signal"

    def _bar(self, when: pd.Timestamp, close: float) -> str:
        """One bar as JSON, kept: each window repeats all but one bar of the last one."""
        key = (when, close)
        text = self.encoded.get(key)
        if text is None:
            if len(self.encoded) > ENCODED_BARS:
                self.encoded.clear()
            text = json.dumps({"timestamp": when.isoformat(), "close": close})
            self.encoded[key] = text
        return text

    def _send(self, url: str, instrument: str, window: list[tuple[pd.Timestamp, float]]) -> None:
        bars = ",".join(self._bar(t, c) for t, c in window)
        body = f'{{"instrument": {json.dumps(instrument)}, "bars": [{bars}]}}'
        headers = {
            "X-Instrument": instrument,
            "Host": f"{self.service}.{self.namespace}.svc:{self.port}",
            "Content-Type": "application/json",
        }
        try:
            reply = self.client.post(url, content=body.encode(), headers=headers)
            self.counts[str(reply.status_code)] += 1
            if reply.status_code >= 400:
                self.last_error = f"{instrument}: {reply.status_code} {reply.text[:200]}"
        except httpx.HTTPError as exc:
            self.counts["error"] += 1
            self.last_error = f"{instrument}: {exc}"

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            if not self.market_open.is_set():
                self.market_open.wait()  # stop() opens it too, so a paused stream still ends
                next_tick = time.monotonic()
                continue
            newer = self.feed.newer_training_end(self.namespace, self.model)
            if newer is not None:
                self.model, end = newer
                if end > self.train_end:
                    self.train_end = end
                    self.bars.skip_to_after(end)
            url = self._url()
            bars = self.bars.next()
            futures = [self.pool.submit(self._send, url, i, w) for i, w in bars.items()]
            for future in futures:
                future.result()
            self.sent_bars += 1
            self.last_bar = next(iter(bars.values()))[-1][0].isoformat() if bars else self.last_bar
            next_tick += self.interval
            self.stopping.wait(max(0.0, next_tick - time.monotonic()))

    def stats(self) -> dict[str, Any]:
        """What the stream sent so far."""
        return {
            "namespace": self.namespace,
            "service": self.service,
            "running": self.thread.is_alive(),
            "paused": not self.market_open.is_set(),
            "bars": self.sent_bars,
            "passes": self.bars.passes,
            "last_bar": self.last_bar,
            "training_end": self.train_end.isoformat(),
            "responses": dict(self.counts),
            "last_error": self.last_error,
        }

    def stop(self) -> dict[str, Any]:
        """Stop sending; wait for the thread."""
        self.stopping.set()
        self.market_open.set()
        self.thread.join(timeout=30)
        self.pool.shutdown(wait=True)
        self.client.close()
        return self.stats()


class MarketFeed:
    """The feed controller (see module doc)."""

    def __init__(
        self, home: Path | None = None, data_path: Path = SAMPLE, resolve: Resolver | None = None
    ) -> None:
        self.home = home
        self.data_path = data_path
        self._resolve = resolve
        self.streams: dict[str, Stream] = {}
        self.store: ObjectStore | None = None
        self.lock = threading.Lock()

    def start(self, store: ObjectStore, pods: PodRunner) -> None:
        """Bind to the cluster (streams start on request)."""
        self.store = store
        if self._resolve is None:
            self._resolve = cluster_resolver(self.home, pods)

    def stop(self) -> None:
        """Stop every stream."""
        for namespace in list(self.streams):
            self.stop_feed(namespace)

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        """Where ``host:port`` is reached (the mesh listener through the cluster DNS)."""
        assert self._resolve is not None  # noqa: S101 - started
        return self._resolve(host, port)

    def _newest_rollout_config(self, namespace: str) -> tuple[str, Obj] | None:
        assert self.store is not None  # noqa: S101 - started
        for rollout in self.store.list("Rollout", namespace):
            sets = owned_replicasets(self.store, rollout)
            if not sets:
                continue
            newest = max(sets, key=revision_of)
            for volume in newest["spec"]["template"].get("spec", {}).get("volumes") or []:
                name = (volume.get("configMap") or {}).get("name")
                found = self.store.get("ConfigMap", namespace, str(name)) if name else None
                if found and "model.yaml" in (found.get("data") or {}):
                    return str(name), found
        return None

    def deployed(self, namespace: str) -> tuple[Obj, Obj]:
        """The newest deployed ``model.yaml`` and ``settings.yaml`` of a namespace."""
        found = self._newest_rollout_config(namespace)
        if found is None:
            raise FeedError(f"{namespace}: no Rollout with a model manifest ConfigMap deployed")
        data = found[1]["data"]
        manifest = yaml.safe_load(data["model.yaml"]) or {}
        manifest["_configmap"] = found[0]
        return manifest, yaml.safe_load(data.get("settings.yaml", "{}")) or {}

    def training_end(self, manifest: Obj) -> pd.Timestamp:
        """The deployed model's training end (``train_span[1]`` of its bundle)."""
        model = manifest.get("model")
        if not model:
            raise FeedError("the deployed manifest has no model (model: null)")
        env = state.load(self.home)["env"] if self.home is not None else {}
        try:
            end = bundle_training_end(
                str(model["artifact"]["uri"]), {k: str(v) for k, v in env.items()}
            )
        except (OSError, PipelineError, KeyError) as exc:
            raise FeedError(f"cannot read the deployed bundle's training span: {exc}") from None
        if end is None:
            raise FeedError("the deployed bundle has no train_span: cannot choose held-out bars")
        return end

    def newer_training_end(self, namespace: str, current: Obj) -> tuple[Obj, pd.Timestamp] | None:
        """A newer deployed model and its training end (None: still the same model)."""
        found = self._newest_rollout_config(namespace)
        if found is None or found[0] == current.get("_configmap"):
            return None
        manifest, _ = self.deployed(namespace)
        with contextlib.suppress(FeedError):
            return manifest, self.training_end(manifest)
        return manifest, pd.Timestamp.min.tz_localize("UTC")

    def start_feed(self, namespace: str, **options: Any) -> dict[str, Any]:
        """Start (or restart) the stream of a namespace.

        Raises:
            FeedError: No deployed model, no training span or no held-out bar.
        """
        self.stop_feed(namespace)
        stream = Stream(self, namespace, options)
        with self.lock:
            self.streams[namespace] = stream
        stream.thread.start()
        return stream.stats()

    def stop_feed(self, namespace: str) -> dict[str, Any] | None:
        """Stop a namespace's stream; its final stats (None when none ran)."""
        with self.lock:
            stream = self.streams.pop(namespace, None)
        return stream.stop() if stream else None

    def pause_feed(self, namespace: str, *, paused: bool) -> dict[str, Any] | None:
        """Pause (market closed) or resume a namespace's stream; its stats (None: none runs)."""
        stream = self.streams.get(namespace)
        if stream is None:
            return None
        if paused:
            stream.market_open.clear()
        else:
            stream.market_open.set()
        return stream.stats()

    def routes(self) -> list[Route]:
        """The feed's HTTP routes for the cluster server (see module doc)."""

        async def start(request: Request) -> JSONResponse:
            body = await request.json() if await request.body() else {}
            try:
                stats = self.start_feed(request.path_params["namespace"], **body)
            except (FeedError, PipelineError) as exc:
                return JSONResponse({"message": str(exc)}, status_code=409)
            return JSONResponse(stats)

        async def stop(request: Request) -> JSONResponse:
            stats = self.stop_feed(request.path_params["namespace"])
            return JSONResponse(stats or {"message": "no feed running"}, status_code=200)

        def pauser(paused: bool) -> Any:
            async def endpoint(request: Request) -> JSONResponse:
                stats = self.pause_feed(request.path_params["namespace"], paused=paused)
                if stats is None:
                    return JSONResponse({"message": "no feed running"}, status_code=404)
                return JSONResponse(stats)

            return endpoint

        async def show(request: Request) -> JSONResponse:
            stream = self.streams.get(request.path_params["namespace"])
            if stream is None:
                return JSONResponse({"message": "no feed running"}, status_code=404)
            return JSONResponse(stream.stats())

        return [
            Route("/feed/v1/{namespace}/start", start, methods=["POST"]),
            Route("/feed/v1/{namespace}/stop", stop, methods=["POST"]),
            Route("/feed/v1/{namespace}/pause", pauser(True), methods=["POST"]),
            Route("/feed/v1/{namespace}/resume", pauser(False), methods=["POST"]),
            Route("/feed/v1/{namespace}", show, methods=["GET"]),
        ]


def controllers(home: Path) -> list[Controller]:
    """What the cluster process starts from this module (``twin.cluster.controllers``)."""
    return [MarketFeed(home)]
