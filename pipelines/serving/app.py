"""The strategy service's ASGI app (starlette): signal, health, readiness and metrics routes.

The model is fetched, verified and warmed in a background thread at start, so ``/healthz``
answers at once and ``/readyz`` turns 200 only when the engine is ready. A manifest that deploys
nothing, a missing artifact or a digest mismatch leave it not-ready with one clear log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pipelines.errors import PipelineError
from pipelines.registry.bundle import load_bundle
from pipelines.serving.engine import SignalEngine, injection_from_env
from pipelines.serving.metrics import ServiceMetrics
from pipelines.serving.params import ServingParams
from pipelines.serving.source import ModelRef, fetch_artifact
from pipelines.serving.state import Bar, InstrumentState

log = logging.getLogger("pipelines.serving")
SIGNAL_PATH = "/v1/signal"


@dataclass
class ServiceContext:
    """What the routes share: the engine once ready, else why not."""

    metrics: ServiceMetrics
    engine: SignalEngine | None = None
    not_ready_reason: str = "model is loading"


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


def _parse_json(raw: bytes) -> Any:
    """The request body as JSON, or None when it is not JSON.

    orjson is the fast path; the standard parser is the fallback because it also reads the
    NaN/Infinity literals some clients send, so that those bars get their specific 422.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def create_app(
    ref: ModelRef | None,
    instruments: Sequence[str],
    params: ServingParams,
    base_dir: Path,
    manifest_name: str = "manifest",
) -> SignalFastPath:
    """Build the app; ``ref`` None means the manifest deploys nothing (stays not-ready)."""
    ctx = ServiceContext(ServiceMetrics(ref.version if ref else "none", params.latency_buckets))

    def load() -> None:
        if ref is None:
            ctx.not_ready_reason = f"{manifest_name}: model: null (nothing deployed)"
            log.error("not ready: %s", ctx.not_ready_reason)
            return
        try:
            ctx.engine = build_engine(ref, instruments, params, ctx.metrics, base_dir)
        except PipelineError as exc:
            ctx.not_ready_reason = f"model {ref.name} {ref.version} refused: {exc}"
            log.error("not ready: %s", ctx.not_ready_reason)
            return
        log.info("ready: model %s %s (sha256 %s)", ref.name, ref.version, ref.sha256)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(asyncio.to_thread(load))
        yield
        await task

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        if ctx.engine is None:
            return JSONResponse({"ready": False, "reason": ctx.not_ready_reason}, 503)
        return JSONResponse({"ready": True, "model_version": ctx.engine.version})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def signal(request: Request) -> Response:
        status, data = await _signal_reply(ctx, request.headers.get("x-instrument"), request.body)
        return Response(data, status, media_type="application/json")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route(SIGNAL_PATH, signal, methods=["POST"]),
    ]
    return SignalFastPath(Starlette(routes=routes, lifespan=lifespan), ctx)


async def _signal_reply(
    ctx: ServiceContext, header: str | None, body: Callable[[], Awaitable[bytes]]
) -> tuple[int, bytes]:
    """Status and JSON bytes of a signal request (shared by both routes to it)."""
    if ctx.engine is None:
        return 503, orjson.dumps({"error": f"not ready: {ctx.not_ready_reason}"})
    status, payload = await ctx.engine.handle(header, _parse_json(await body()))
    return status, orjson.dumps(payload)


class SignalFastPath:
    """ASGI entry: ``POST /v1/signal`` goes straight to the engine, the rest to Starlette.

    The signal route is the hot path; Starlette's middleware, routing and request objects cost
    about as much as computing the features. Behaviour is the same through either way in.
    """

    def __init__(self, app: Starlette, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SIGNAL_PATH:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"x-instrument":
                header = value.decode("latin-1")
                break

        async def body() -> bytes:
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return b"".join(chunks)

        status, data = await _signal_reply(self.ctx, header, body)
        length = str(len(data)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": data})
