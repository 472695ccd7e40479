"""Per-connection limits and a graceful drain, in uvicorn's httptools protocol.

uvicorn has no header-size limit with httptools, no body-size limit and no read timeout, and on
shutdown it closes idle keep-alive connections at once, dropping a request the client has
already written (the kernel holds it; uvicorn never reads it). This subclass adds:

* ``max_header_bytes``: request line and headers larger than this get 431 (counted while they
  arrive, so a 1 MB header is refused after its first 16 KiB, never buffered whole);
* ``max_body_bytes``: a larger ``Content-Length`` gets 413 before the body is read, a larger
  chunked body as soon as it passes the limit;
* ``read_timeout_seconds``: a request not received whole within this time of its first byte
  gets 408 and the connection is closed (slow and half-sent requests hold nothing for long);
  a new connection that sends nothing within it is closed. One watchdog timer per connection
  checks every half timeout (no timer per request, which would cost the hot path), so the 408
  comes between one and one and a half timeouts after the first byte;
* drain on shutdown: a request in flight is answered with ``Connection: close``; an idle
  keep-alive connection stays open ``drain_idle_seconds`` so that a request already on the wire
  is read and answered (with ``Connection: close``) rather than reset.

Refusals are JSON ``{"error": ...}`` naming the limit; they never quote the input. Built on
uvicorn's protocol internals (uvicorn is pinned by the lock); ``tests/serving/test_limits.py``
and ``tests/serving/test_sigterm.py`` run them against a real ``pipelines serve``.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from pipelines.serving.params import LimitParams

# After a refusal, keep reading (and discarding) this long before closing: closing a socket with
# unread input makes the kernel send a reset, which can destroy the refusal before the client
# reads it (the "lingering close" of HTTP servers).
LINGER_SECONDS = 2.0


def refusal_bytes(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON error that closes the connection."""
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request limits and a graceful drain."""

    limits: LimitParams = LimitParams()

    @staticmethod
    def on_refused(status: int) -> None:
        """Called with the status of every request refused here (set by :func:`protocol_for`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Same arguments as uvicorn's protocol."""
        super().__init__(*args, **kwargs)
        self._watchdog: asyncio.TimerHandle | None = None
        self._started = 0.0  # loop time of the current request's first byte (or the connection)
        self._fresh = True  # nothing received yet on this connection
        self._in_message = False
        self._in_headers = False
        self._header_bytes = 0
        self._body_bytes = 0
        self._refused = False
        self._draining = False
        self._message_cycle: RequestResponseCycle | None = None

    # -- read timeout --------------------------------------------------------------------------
    def _watch(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        timeout = self.limits.read_timeout_seconds
        if self.loop.time() - self._started >= timeout:
            if self._in_message:
                self._refuse(408, f"request not received whole within {timeout:g} s (read timeout)")
                return
            if self._fresh:
                self.transport.close()  # connected, never sent a byte
                return
        self._watchdog = self.loop.call_later(timeout / 2, self._watch)

    # -- refusal -------------------------------------------------------------------------------
    def _refuse(self, status: int, message: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.on_refused(status)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle is not self._message_cycle or cycle.response_started:
                # An earlier (pipelined) response is still being written: finish it, then close.
                cycle.keep_alive = False
                self.flow.pause_reading()
                return
            cycle.disconnected = True  # the app waiting for this body sees a disconnect
            cycle.message_event.set()
        self.transport.write(refusal_bytes(status, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the watchdog: the first request's clock runs from the connection."""
        super().connection_made(transport)
        self._started = self.loop.time()
        self._watchdog = self.loop.call_later(self.limits.read_timeout_seconds / 2, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the watchdog."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting header bytes while the headers are still arriving."""
        if self._refused:
            return  # lingering after a refusal: read and discard
        if not self._in_message or self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        limit = self.limits.max_header_bytes
        if not self._refused and self._in_headers and self._header_bytes > limit:
            self._refuse(431, f"request line and headers: at most {limit} bytes")

    def shutdown(self) -> None:
        """Graceful shutdown: answer what was received, then close (never reset a request)."""
        self._draining = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
        elif not self._in_message:
            self.loop.call_later(self.limits.drain_idle_seconds, self._close_if_idle)

    def _close_if_idle(self) -> None:
        idle = not self._in_message and (self.cycle is None or self.cycle.response_complete)
        if idle and not self.transport.is_closing():
            self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        """A request starts: so does its read clock (the first one's ran from the connection)."""
        super().on_message_begin()
        if not self._fresh:
            self._started = self.loop.time()
        self._fresh = False
        self._in_message = True
        self._in_headers = True
        self._body_bytes = 0

    def on_headers_complete(self) -> None:
        """Check header size and Content-Length before the app sees the request."""
        if self._refused:
            return
        self._in_headers = False
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_header_bytes:
            limit = self.limits.max_header_bytes
            self._refuse(431, f"request line and headers: at most {limit} bytes")
            return
        length = next((v for n, v in self.headers if n == b"content-length"), b"0")
        if length.isdigit() and int(length) > self.limits.max_body_bytes:
            self._refuse(413, f"body: at most {self.limits.max_body_bytes} bytes")
            return
        super().on_headers_complete()
        self._message_cycle = self.cycle
        if self._draining:
            self.cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        """Count the body against its limit (chunked bodies have no Content-Length)."""
        if self._refused:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            self._refuse(413, f"body: at most {self.limits.max_body_bytes} bytes")
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is whole: stop its clock."""
        if self._refused:
            return
        self._in_message = False
        self._header_bytes = 0
        super().on_message_complete()


def protocol_for(
    limits: LimitParams, on_refused: Callable[[int], None]
) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to these limits, reporting refusals to ``on_refused``."""
    attrs = {"limits": limits, "on_refused": staticmethod(on_refused)}
    return type("BoundGuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attrs)
