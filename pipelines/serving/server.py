"""Run the app under uvicorn on two listening sockets: the API port and the metrics port.

One process, one event loop, two sockets: ``/v1/signal``, ``/healthz`` and ``/readyz`` on the
API port, ``/metrics`` alone on the metrics port (which the Service does not expose outside the
namespace and the NetworkPolicy opens to Prometheus only). Connections go through
:mod:`pipelines.serving.limits`.

SIGTERM: uvicorn stops accepting (both listeners close), every connection drains (see
``limits``), requests in flight are answered, the lifespan ends and the process exits 0. The
Rollout's ``preStop`` delay runs before the signal, while the pod leaves the Service endpoints.
"""

from __future__ import annotations

import logging
import signal
import socket

import uvicorn

from pipelines.errors import ConfigError
from pipelines.serving.app import SignalFastPath
from pipelines.serving.engine import UNKNOWN
from pipelines.serving.limits import protocol_for
from pipelines.serving.metrics import LIVE
from pipelines.serving.params import ServingParams

log = logging.getLogger("pipelines.serving")


def listen(host: str, port: int, what: str) -> socket.socket:
    """A bound TCP socket (IPv6 when ``host`` contains ``:``), ready for uvicorn.

    Raises:
        ConfigError: The address cannot be bound (in use, not local, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{what} {host}:{port}: cannot listen ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def run(
    app: SignalFastPath, params: ServingParams, host: str, port: int, metrics_port: int
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; return after a graceful shutdown.

    Raises:
        ConfigError: The two ports are equal or cannot be bound.
    """
    if metrics_port == port:
        raise ConfigError(f"--metrics-port {metrics_port}: must differ from --port {port}")
    api = listen(host, port, "--port")
    try:
        metrics = listen(host, metrics_port, "--metrics-port")
    except ConfigError:
        api.close()
        raise
    app.metrics_port = metrics.getsockname()[1]
    version = app.ctx.metrics.version
    requests = app.ctx.metrics.requests

    def refused(status: int) -> None:
        # Refused before the request was read whole (its Host unknown): counted as live traffic.
        requests.labels(version, UNKNOWN, str(status), LIVE).inc()

    limits = params.limits
    config = uvicorn.Config(
        app,
        http=protocol_for(limits, refused),
        log_level="info",
        access_log=False,
        timeout_keep_alive=limits.keep_alive_seconds,  # type: ignore[arg-type]
        timeout_graceful_shutdown=int(limits.shutdown_timeout_seconds),
    )
    log.info(
        "listening on http://%s:%d (signals, health) and http://%s:%d/metrics",
        host,
        api.getsockname()[1],
        host,
        app.metrics_port,
    )
    # uvicorn re-raises the captured signal after its graceful shutdown, through the handler
    # that was in place before it started: this one turns a finished SIGTERM stop into exit 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run(sockets=[api, metrics])
    finally:
        signal.signal(signal.SIGTERM, previous)
        api.close()
        metrics.close()


def _stopped(signum: int, _frame: object) -> None:
    log.info("signal %d handled: graceful shutdown complete", signum)
