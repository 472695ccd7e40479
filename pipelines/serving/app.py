"""The strategy service's ASGI app (starlette): signal, health, readiness and metrics routes.

The model is fetched, verified and warmed in a background thread at start, so ``/healthz``
answers at once and ``/readyz`` turns 200 only when the engine is ready. A manifest that deploys
nothing leaves it not-ready. Any load failure (missing artifact, digest mismatch, unwritable
cache, corrupt model, failed warm-up) is logged at once in one line with its cause and shown on
``/readyz``; after ``serving.startup.failure_grace_seconds`` ``/healthz`` answers 503 so that the
kubelet restarts the container. A load still running after ``load_timeout_seconds`` counts as
failed. ``/metrics`` is served on its own port when :attr:`SignalFastPath.metrics_port` is set.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pipelines.errors import PipelineError
from pipelines.registry.bundle import load_bundle, sha256_file
from pipelines.serving.engine import UNKNOWN, SignalEngine, injection_from_env
from pipelines.serving.exposition import TextExposition
from pipelines.serving.metrics import LIVE, SHADOW, ServiceMetrics
from pipelines.serving.model_check import check_model_parses
from pipelines.serving.params import ServingParams
from pipelines.serving.source import ModelRef, fetch_artifact
from pipelines.serving.state import BadRequest, Bar, InstrumentState

log = logging.getLogger("pipelines.serving")
SIGNAL_PATH = "/v1/signal"
SHADOW_HOST_SUFFIX = "-shadow"  # Istio's Host/Authority of a mirrored request: <host>-shadow


def traffic_of(host: str | None) -> str:
    """``shadow`` for a request the mesh mirrored (Host ``<host>-shadow[:port]``), else ``live``."""
    name = (host or "").lower().split(":", 1)[0]
    return SHADOW if name.endswith(SHADOW_HOST_SUFFIX) else LIVE


METRICS_PATH = "/metrics"


@dataclass
class ServiceContext:
    """What the routes share: the engine once ready, else why not, and since when."""

    metrics: ServiceMetrics
    params: ServingParams
    instruments: frozenset[str] = frozenset()
    engine: SignalEngine | None = None
    not_ready_reason: str = "model is loading"
    started: float = field(default_factory=time.monotonic)
    failed_at: float | None = None

    def failed(self, reason: str) -> None:
        """Record a load failure: one log line with its cause, now."""
        self.not_ready_reason = reason
        self.failed_at = time.monotonic()
        log.error("not ready: %s", reason)

    def label(self, header: str | None) -> str:
        """The ``instrument`` metric label of a request."""
        return header if header is not None and header in self.instruments else UNKNOWN

    def internal_error(self, header: str | None) -> tuple[int, bytes]:
        """Count and answer an error the engine did not catch (never lost to uvicorn's 500)."""
        label = self.label(header)
        self.metrics.error(label, "internal")
        self.metrics.answered(label, 500, 0.0)
        return 500, orjson.dumps({"error": "internal error (logged by the service)"})

    def alive(self, now: float) -> tuple[bool, str]:
        """Liveness: False once a load failure (or a hung load) has outlived its grace."""
        grace = self.params.startup.failure_grace_seconds
        if self.failed_at is not None and now - self.failed_at >= grace:
            return False, f"model load failed {now - self.failed_at:.0f} s ago: restart"
        hung = now - self.started >= self.params.startup.load_timeout_seconds
        if self.engine is None and self.failed_at is None and hung:
            return False, "model load still running after serving.startup.load_timeout_seconds"
        return True, "alive"


def build_engine(
    ref: ModelRef,
    instruments: Sequence[str],
    params: ServingParams,
    metrics: ServiceMetrics,
    base_dir: Path,
) -> SignalEngine:
    """Fetch, verify (sha256), load and warm the model the manifest names.

    Raises:
        PipelineError: Missing artifact, digest mismatch, unusable bundle or failed warm-up.
    """
    local = fetch_artifact(ref.uri, base_dir / params.model_cache_dir, base_dir)
    if local.exists() and sha256_file(local) == ref.sha256:  # else load_bundle says why
        check_model_parses(local)
    bundle = load_bundle(local, expected_sha256=ref.sha256)
    engine = SignalEngine(
        bundle,
        ref.version,
        instruments,
        params,
        metrics,
        injection_from_env(params.inject),
        sha256=ref.sha256,
    )
    warm = InstrumentState(engine.window)
    stamps = pd.date_range("2000-01-03", periods=engine.window, freq="D", tz="UTC")
    closes = 100.0 * np.exp(np.cumsum(np.sin(np.arange(engine.window)) * 0.01))
    warm.append(
        [Bar(s, float(c), float(c), float(c), 1.0) for s, c in zip(stamps, closes, strict=True)]
    )
    signal = engine.predict(warm)
    if signal.status != "ok":
        raise PipelineError(f"{local}: warm-up prediction did not produce a signal")
    metrics.loaded(ref.sha256, ready=True)
    return engine


def create_app(
    ref: ModelRef | None,
    instruments: Sequence[str],
    params: ServingParams,
    base_dir: Path,
    manifest_name: str = "manifest",
) -> SignalFastPath:
    """Build the app; ``ref`` None means the manifest deploys nothing (stays not-ready)."""
    metrics = ServiceMetrics(ref.version if ref else "none", params.latency_buckets)
    ctx = ServiceContext(metrics, params, frozenset(instruments))

    def load() -> None:
        if ref is None:
            ctx.not_ready_reason = f"{manifest_name}: model: null (nothing deployed)"
            log.error("not ready: %s", ctx.not_ready_reason)
            return
        try:
            engine = build_engine(ref, instruments, params, ctx.metrics, base_dir)
        except PipelineError as exc:
            ctx.failed(f"model {ref.name} {ref.version} refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - any load failure must be reported, not lost
            cause = f"{type(exc).__name__}: {exc}".splitlines()[0]
            ctx.failed(f"model {ref.name} {ref.version} failed to load: {cause}")
            return
        # The imports, the bundle and the warm-up leave ~150,000 objects that live as long as
        # the process; a full collection scanning them costs about 50 ms, stalling every request
        # in flight. One last collection, then they are frozen out of later ones; only then is
        # the service ready (the collection itself must not stall live requests).
        gc.collect()
        gc.freeze()
        ctx.engine = engine
        log.info("ready: model %s %s (sha256 %s)", ref.name, ref.version, ref.sha256)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(asyncio.to_thread(load))
        yield
        if task.done():
            await task
        else:  # a hung load (already reported by /healthz) must not hold up shutdown
            log.error("shutting down while the model is still loading")

    async def healthz(_: Request) -> Response:
        alive, reason = ctx.alive(time.monotonic())
        if not alive:
            return JSONResponse({"status": "failed", "reason": reason}, 503)
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        if ctx.engine is None:
            return JSONResponse({"ready": False, "reason": ctx.not_ready_reason}, 503)
        return JSONResponse({"ready": True, "model_version": ctx.engine.version})

    async def signal(request: Request) -> Response:
        status, data = await _signal_reply(
            ctx,
            request.headers.get("x-instrument"),
            request.body,
            traffic_of(request.headers.get("host")),
        )
        return Response(data, status, media_type="application/json")

    api = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(SIGNAL_PATH, signal, methods=["POST"]),
    ]
    metrics_route = Route(METRICS_PATH, metrics_endpoint(ctx.metrics))
    return SignalFastPath(
        Starlette(routes=[*api, metrics_route], lifespan=lifespan),
        Starlette(routes=api),
        Starlette(routes=[metrics_route]),
        ctx,
    )


def metrics_endpoint(metrics: ServiceMetrics) -> Callable[[Request], Awaitable[Response]]:
    """The ``/metrics`` route of one service's registry (series prefixes cached)."""
    body = TextExposition(metrics.registry)

    async def endpoint(_: Request) -> Response:
        return Response(body.render(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nothing to answer."""


async def _signal_reply(
    ctx: ServiceContext,
    header: str | None,
    body: Callable[[], Awaitable[bytes | None]],
    traffic: str = LIVE,
) -> tuple[int, bytes]:
    """Status and JSON bytes of a signal request (shared by both routes to it).

    ``body`` returns None when the body exceeds ``serving.limits.max_body_bytes``.
    """
    engine = ctx.engine
    if engine is None:
        label = ctx.label(header)
        ctx.metrics.error(label, "not_ready", traffic)
        ctx.metrics.answered(label, 503, 0.0, traffic)
        return 503, orjson.dumps({"error": f"not ready: {ctx.not_ready_reason}"})
    start = engine.clock()
    raw = await body()
    if raw is None:
        limit = ctx.params.limits.max_body_bytes
        refusal = BadRequest(413, f"body: at most {limit} bytes (serving.limits.max_body_bytes)")
        status, payload = engine.rejected(engine.label(header), refusal, start, traffic)
    else:
        status, payload = await engine.handle_raw(header, raw, traffic)
    return status, orjson.dumps(payload)


class SignalFastPath:
    """ASGI entry: ``POST /v1/signal`` goes straight to the engine, the rest to Starlette.

    The signal route is the hot path; Starlette's middleware, routing and request objects cost
    about as much as computing the features. Behaviour is the same through either way in.
    With ``metrics_port`` set (``pipelines serve`` sets it to the metrics socket's port),
    ``/metrics`` is answered on that port only, and that port answers nothing else.
    """

    def __init__(
        self, app: Starlette, api_app: Starlette, metrics_app: Starlette, ctx: ServiceContext
    ) -> None:
        self.app = app
        self.api_app = api_app
        self.metrics_app = metrics_app
        self.ctx = ctx
        self.metrics_port: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if self.metrics_port is not None and scope["type"] == "http":
            server = scope.get("server")
            if server is not None and server[1] == self.metrics_port:
                await self.metrics_app(scope, receive, send)
                return
            if scope["path"] != SIGNAL_PATH:
                await self.api_app(scope, receive, send)
                return
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SIGNAL_PATH:
            await self.app(scope, receive, send)
            return
        header = host = None
        for name, value in scope["headers"]:
            if name == b"x-instrument":
                header = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        limit = self.ctx.params.limits.max_body_bytes

        async def body() -> bytes | None:
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

        try:
            status, data = await _signal_reply(self.ctx, header, body, traffic_of(host))
        except ClientGone:
            return
        except Exception:
            log.exception("internal error on %s", SIGNAL_PATH)
            status, data = self.ctx.internal_error(header)
        length = str(len(data)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": data})
