"""Limits and fuzz classes against a real `pipelines serve` (raw sockets, no client library).

Long headers (1 MB), large bodies, slow clients (half-sent requests, silent connections),
bad clients flooding while a good client trades, the bad bodies of ``test_bad_input`` over the
wire, and `/metrics` on its own port. Afterwards no 5xx was counted and no breaker tripped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Bundle, ServiceProcess, bars_payload, params_with, write_env
from .test_bad_input import BAD_BODIES, MAX_REPLY, check_refusal

READ_TIMEOUT = 1.0
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Bundle]
) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("limits")
    manifest, settings = write_env(tmp / "env", bundles["good"])
    params = params_with(tmp, limits={"read_timeout_seconds": READ_TIMEOUT})
    svc = ServiceProcess(manifest, settings, tmp / "svc.log", params)
    try:
        svc.wait_ready()
        yield svc
    finally:
        svc.stop()


async def exchange(port: int, data: bytes, hold: bool = False) -> tuple[int, bytes, float]:
    """Send ``data`` (never finishing the request when ``hold``), read until the server closes.

    Returns the status, the response body and the seconds until the server closed.
    """
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError:
            pass  # the server refused before reading everything

    sender = asyncio.create_task(send())
    raw = await asyncio.wait_for(reader.read(), timeout=30)
    closed = time.monotonic() - started
    await sender
    writer.close()
    if not raw:
        return 0, b"", closed
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert hold or b"connection: close" in head.lower()
    return int(head.split(b" ", 2)[1]), payload, closed


def post_bytes(body: bytes, header: str | None = "KO", extra: str = "") -> bytes:
    instrument = f"X-Instrument: {header}\r\n" if header else ""
    return (
        f"POST /v1/signal HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{instrument}"
        f"{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


PROTOCOL_CASES = [
    ("1 MB header", post_bytes(b"{}", extra=f"X-Pad: {'a' * 10**6}\r\n"), 431, "at most 16384"),
    ("1 MB X-Instrument", post_bytes(b"{}", header="Z" * 10**6), 431, "headers: at most 16384"),
    ("5,000 headers", post_bytes(b"{}", extra="X-A: b\r\n" * 5000), 431, "headers: at most"),
    ("1 MB URL", b"GET /" + b"a" * 10**6 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 431, "headers"),
    (
        "Content-Length 10 MB, body never sent",
        b"POST /v1/signal HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n",
        413,
        "body: at most 1048576 bytes",
    ),
    (
        "chunked body over 1 MiB",
        b"POST /v1/signal HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(20))
        + b"0\r\n\r\n",
        413,
        "body: at most 1048576 bytes",
    ),
]


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [case[1:] for case in PROTOCOL_CASES],
    ids=[case[0] for case in PROTOCOL_CASES],
)
def test_oversized_requests_are_refused_without_echo(
    server: ServiceProcess, data: bytes, status: int, reason: str
) -> None:
    got, payload, _ = asyncio.run(exchange(server.port, data))
    check_refusal(got, payload.decode(), status, reason)


@pytest.mark.parametrize(
    ("raw", "header", "status", "reason"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_bodies_over_the_wire(
    server: ServiceProcess, raw: bytes, header: str | None, status: int, reason: str
) -> None:
    got, payload, _ = asyncio.run(exchange(server.port, post_bytes(raw, header)))
    check_refusal(got, payload.decode(), status, reason)


HALF_SENT = [
    ("half-sent headers", b"POST /v1/signal HTTP/1.1\r\nHost: t\r\nX-Instrument: K"),
    (
        "half-sent body",
        b'POST /v1/signal HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"instr',
    ),
]


@pytest.mark.parametrize("data", [c[1] for c in HALF_SENT], ids=[c[0] for c in HALF_SENT])
def test_slow_clients_get_408_and_are_dropped(server: ServiceProcess, data: bytes) -> None:
    got, payload, closed = asyncio.run(exchange(server.port, data, hold=True))
    check_refusal(got, payload.decode(), 408, "read timeout")
    assert READ_TIMEOUT <= closed < READ_TIMEOUT + 5


def test_a_silent_connection_is_closed(server: ServiceProcess) -> None:
    got, payload, closed = asyncio.run(exchange(server.port, b"", hold=True))
    assert (got, payload) == (0, b"") and READ_TIMEOUT <= closed < READ_TIMEOUT + 5


def good_stream(server: ServiceProcess, rows: pd.DataFrame, window: int) -> list[dict]:
    """KO's history, then one bar per request over one keep-alive connection."""
    answers = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first = {"instrument": "KO", "bars": bars_payload(rows.iloc[:window])}
        answers.append(client.post("/v1/signal", json=first, headers={"X-Instrument": "KO"}))
        for i in range(window, len(rows)):
            one = {"instrument": "KO", "bars": bars_payload(rows.iloc[[i]])}
            answers.append(client.post("/v1/signal", json=one, headers={"X-Instrument": "KO"}))
    return [{"code": a.status_code, **a.json()} for a in answers]


def test_bad_clients_never_silence_a_good_one(
    server: ServiceProcess, market_bars: pd.DataFrame
) -> None:
    rows = market_bars[market_bars["instrument"] == "KO"].iloc[:160]
    floods = [
        post_bytes(b'{"instrument": "ZZZZ", "bars": []}', "ZZZZ"),  # unknown instrument
        post_bytes(b"", "KO"),  # empty body, naming KO
        post_bytes(b'{"instrument": "KO", "bars": [{"close": 1}]}', "KO"),
        post_bytes(b"[" * 100_000, "KO"),
    ]

    async def scenario() -> tuple[list[dict], list[int], list[tuple[int, float]]]:
        slow = [
            asyncio.create_task(exchange(server.port, HALF_SENT[i % 2][1], hold=True))
            for i in range(50)
        ]
        good = asyncio.create_task(asyncio.to_thread(good_stream, server, rows, 100))
        bad: list[int] = []
        while not good.done():
            for data in floods:
                bad.append((await exchange(server.port, data))[0])
        statuses = [(code, closed) for code, _, closed in await asyncio.gather(*slow)]
        return await good, bad, statuses

    good, bad, slow = asyncio.run(scenario())
    assert all(a["code"] == 200 and a["status"] == "ok" for a in good), good[:3]
    assert len(bad) >= 8 and all(400 <= code < 500 for code in bad)
    assert all(code == 408 and closed < READ_TIMEOUT + 5 for code, closed in slow), slow


def test_metrics_only_on_the_metrics_port_and_no_5xx(server: ServiceProcess) -> None:
    for data in (post_bytes(b"{}", "ZZZZ"), PROTOCOL_CASES[0][1], PROTOCOL_CASES[4][1]):
        asyncio.run(exchange(server.port, data))
    asyncio.run(exchange(server.port, HALF_SENT[0][1], hold=True))
    assert httpx.get(f"{server.url}/metrics", timeout=5).status_code == 404
    assert (
        httpx.get(server.metrics_url.replace("/metrics", "/readyz"), timeout=5).status_code == 404
    )
    text = httpx.get(server.metrics_url, timeout=5).text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    by_name: dict[str, float] = {}
    for s in samples:
        by_name[s.name] = by_name.get(s.name, 0.0) + s.value
    assert by_name["strategy_errors_total"] == 0
    assert by_name["strategy_circuit_breaker_trips_total"] == 0
    assert by_name["strategy_circuit_breaker_open"] == 0
    refused = {
        s.labels["code"]: s.value
        for s in samples
        if s.name == "strategy_requests_total" and s.labels["instrument"] == "unknown"
    }
    assert {"404", "408", "413", "431"} <= set(refused), refused
    assert len(orjson.dumps(refused)) < MAX_REPLY


def test_metrics_port_serves_nothing_else(server: ServiceProcess) -> None:
    reply = httpx.post(
        server.metrics_url.replace("/metrics", "/v1/signal"), content=b"{}", timeout=5
    )
    assert reply.status_code in (404, 405)


def test_malformed_http_is_a_400_with_a_reason(server: ServiceProcess) -> None:
    request = b"POST /v1/signal HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    for data in (b"NOT HTTP AT ALL\r\n\r\n", request):
        got, payload, _ = asyncio.run(exchange(server.port, data))
        assert (got, payload) == (400, b"Invalid HTTP request received.")
