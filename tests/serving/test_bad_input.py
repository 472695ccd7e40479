"""Every class of bad input gets a 4xx with a reason, in process and through a real server.

The fuzz classes of issue 14: integers beyond float range written out in full (10**400) as
price, volume or time, deeply nested JSON (100,000 ``[``), long headers (1 MB), slow clients
(half-sent requests), unknown instruments from one client while another trades. No class may
give a 5xx, trip a breaker or echo the input back unbounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from pipelines.serving.app import create_app
from pipelines.serving.params import ServingParams

from .conftest import INSTRUMENTS, Bundle, bars_payload
from .test_app import ready_client, ref_for

BIG = str(10**400)
STAMP = '"2020-01-02T00:00:00Z"'
MAX_REPLY = 400  # bytes: a reason, never the input


def body(bar: str, instrument: str = '"KO"') -> bytes:
    return f'{{"instrument": {instrument}, "bars": [{bar}]}}'.encode()


def bar(**fields: str) -> str:
    values = {"timestamp": STAMP, "close": "50.0", **fields}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in values.items() if v != "") + "}"


# (class, body, X-Instrument header, status, reason fragment)
BAD_BODIES: list[tuple[str, bytes, str | None, int, str]] = [
    ("close 10**400", body(bar(close=BIG)), "KO", 422, "bars[0].close: expected a finite number"),
    ("volume 10**400", body(bar(volume=BIG)), "KO", 422, "bars[0].volume: expected a finite"),
    ("high -10**400", body(bar(high="-" + BIG)), "KO", 422, "bars[0].high: expected a finite"),
    ("timestamp 10**400", body(bar(timestamp=BIG)), "KO", 422, "bars[0].timestamp: expected"),
    ("close of 5,000 digits", body(bar(close="9" * 5000)), "KO", 400, "not valid JSON"),
    ("100,000 [", b"[" * 100_000, "KO", 400, "depth limit exceeded"),
    ("100,000 [ as close", body(bar(close="[" * 100_000)), "KO", 400, "depth limit exceeded"),
    ("close nested 1,000 deep", body(bar(close="[" * 1000 + "]" * 1000)), "KO", 422, "a list"),
    ("NaN close", body(bar(close="NaN")), "KO", 422, "bars[0].close: expected a finite number"),
    ("Infinity volume", body(bar(volume="Infinity")), "KO", 422, "expected a finite number"),
    ("boolean close", body(bar(close="true")), "KO", 422, "bars[0].close: expected a number"),
    ("string close", body(bar(close='"1"')), "KO", 422, "bars[0].close: expected a number"),
    ("zero close", body(bar(close="0")), "KO", 422, "expected a positive price"),
    ("negative volume", body(bar(volume="-1")), "KO", 422, "expected a non-negative value"),
    ("missing close", body(bar(close="")), "KO", 422, "bars[0].close: required field"),
    ("1 MB timestamp", body(bar(timestamp=json.dumps("2" * 10**6))), "KO", 422, "at most 64"),
    ("timestamp object", body(bar(timestamp="{}")), "KO", 422, "bars[0].timestamp: expected"),
    ("times out of order", body(bar() + "," + bar()), "KO", 422, "increasing order"),
    ("too many bars", body(",".join([bar()] * 2001)), "KO", 413, "at most 2000 bars"),
    ("bars not a list", b'{"instrument": "KO", "bars": 7}', "KO", 422, "bars: expected a non"),
    ("bar not an object", b'{"instrument": "KO", "bars": [7]}', "KO", 422, "bars[0]: expected"),
    ("instrument 10**400", body(bar(), BIG), None, 422, "instrument: expected a non-empty"),
    ("unknown instrument", body(bar(), '"ZZZZ"'), "ZZZZ", 404, "'ZZZZ' is not served"),
    ("1 MB instrument", body(bar(), json.dumps("Z" * 10**6)), None, 404, "(1000000 characters)"),
    ("1 MB instrument vs header", body(bar(), json.dumps("Z" * 10**6)), "KO", 400, "differs"),
    ("header differs", body(bar()), "PEP", 400, "differs from body instrument"),
    ("not JSON", b"not json", "KO", 400, "body: expected a JSON object"),
    ("invalid UTF-8", b'{"instrument": "\xff\xfe"}', "KO", 400, "not valid JSON"),
    ("empty body", b"", "KO", 400, "body: expected a JSON object"),
    ("JSON array", b"[1, 2]", "KO", 400, "body: expected a JSON object"),
    ("body over 1 MiB", body(bar(), json.dumps("Z" * 1_100_000)), "KO", 413, "at most 1048576"),
]


@pytest.fixture(scope="module")
def client(bundles: dict[str, Bundle]) -> Iterator[TestClient]:
    app = create_app(ref_for(bundles["good"]), INSTRUMENTS, ServingParams(), Path.cwd())
    with TestClient(app) as test_client:
        assert ready_client(test_client)["ready"] is True
        yield test_client


def check_refusal(status: int, text: str, expected: int, reason: str) -> None:
    assert status == expected, text[:300]
    assert len(text.encode()) < MAX_REPLY, f"{len(text)} bytes echoed"
    assert reason in json.loads(text)["error"]


@pytest.mark.parametrize(
    ("raw", "header", "status", "reason"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_body_gets_a_4xx_with_a_reason(
    client: TestClient, raw: bytes, header: str | None, status: int, reason: str
) -> None:
    headers = {"X-Instrument": header} if header else {}
    reply = client.post("/v1/signal", content=raw, headers=headers)
    check_refusal(reply.status_code, reply.text, status, reason)


def test_bad_bodies_leave_no_5xx_and_no_trip(client: TestClient, market_bars: pd.DataFrame) -> None:
    for _, raw, header, _, _ in BAD_BODIES * 2:
        client.post("/v1/signal", content=raw, headers={"X-Instrument": header or "KO"})
    metrics = client.get("/metrics").text
    assert "strategy_errors_total" in metrics
    for line in metrics.splitlines():
        if line.startswith(("strategy_errors_total{", "strategy_circuit_breaker_trips_total{")):
            assert line.endswith(" 0.0"), line
        if line.startswith("strategy_circuit_breaker_open{"):
            assert line.endswith(" 0.0"), line
    rows = market_bars[market_bars["instrument"] == "PG"].iloc[:100]
    reply = client.post("/v1/signal", json={"instrument": "PG", "bars": bars_payload(rows)})
    assert reply.status_code == 200 and reply.json()["status"] == "ok"


def test_every_5xx_is_counted_by_reason(
    bundles: dict[str, Bundle], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error no handler caught (internal) and a request before the model is up (not_ready)."""
    app = create_app(ref_for(bundles["good"]), INSTRUMENTS, ServingParams(), Path.cwd())
    with TestClient(app) as client:
        assert ready_client(client)["ready"] is True
        assert app.ctx.engine is not None

        async def broken(*_args: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(app.ctx.engine, "handle_raw", broken)
        reply = client.post("/v1/signal", content=body(bar()), headers={"X-Instrument": "KO"})
        assert reply.status_code == 500 and reply.json()["error"].startswith("internal error")
        engine, app.ctx.engine = app.ctx.engine, None
        assert client.post("/v1/signal", content=body(bar())).status_code == 503
        app.ctx.engine = engine
        metrics = client.get("/metrics").text
    assert (
        'strategy_errors_total{instrument="KO",model_version="good-1",reason="internal",'
        'traffic="live"} 1.0' in metrics
    )
    assert (
        'strategy_errors_total{instrument="unknown",model_version="good-1",reason="not_ready",'
        'traffic="live"} 1.0' in metrics
    )
    assert (
        'strategy_requests_total{code="500",instrument="KO",model_version="good-1",'
        'traffic="live"} 1.0' in metrics
    )
