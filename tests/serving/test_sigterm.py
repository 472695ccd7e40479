"""SIGTERM during a stream of requests: nothing written is left unanswered, exit status 0.

Two cases: requests in flight (slowed by the latency hook) when the signal lands, and eight
clients sending back to back on keep-alive connections (three runs): a request already written
on an idle keep-alive connection must be read and answered, not reset.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

from .conftest import Bundle, ServiceProcess, bars_payload, load_long, write_env


@pytest.mark.slow
def test_sigterm_loses_no_request_in_flight(
    tmp_path: Path, bundles: dict[str, Bundle], market_bars: pd.DataFrame, service_factory: list
) -> None:
    manifest, settings = write_env(tmp_path, bundles["good"])
    # The latency hook keeps requests in flight long enough for SIGTERM to land among them.
    svc = ServiceProcess(manifest, settings, tmp_path / "svc.log", SERVING_INJECT_LATENCY_MS="800")
    service_factory.append(svc)
    svc.wait_ready()
    instruments = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT"]
    bodies = {
        inst: bars_payload(market_bars[market_bars["instrument"] == inst].iloc[:80])
        for inst in instruments
    }

    async def stream() -> tuple[list[tuple[int, float]], float]:
        limits = httpx.Limits(max_connections=len(instruments))
        async with httpx.AsyncClient(base_url=svc.url, timeout=10.0, limits=limits) as client:
            # Open every connection first, so the signal requests are on the wire at once.
            await asyncio.gather(*(client.get("/healthz") for _ in instruments))

            async def one(inst: str) -> tuple[int, float]:
                reply = await client.post(
                    "/v1/signal",
                    json={"instrument": inst, "bars": bodies[inst]},
                    headers={"X-Instrument": inst},
                )
                return reply.status_code, time.monotonic()

            tasks = [asyncio.create_task(one(inst)) for inst in instruments]
            await asyncio.sleep(0.3)
            signalled = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*tasks)), signalled

    answers, signalled = asyncio.run(stream())
    assert [code for code, _ in answers] == [200] * len(instruments)
    # Every answer arrived after SIGTERM: they were all in flight when it landed.
    assert all(done > signalled for _, done in answers)
    assert svc.proc.wait(timeout=20) == 0
    log = svc.log.read_text()
    assert "Shutting down" in log and "Finished server process" in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{svc.url}/healthz", timeout=1.0)


EIGHT = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT", "AAPL", "JPM"]


@dataclass
class Tally:
    """What the clients saw around one SIGTERM."""

    answered: int = 0
    after_signal: int = 0
    lost: list[str] = field(default_factory=list)
    closed_cleanly: int = 0
    refused: int = 0


def raw_post(instrument: str, body: bytes) -> bytes:
    return (
        f"POST /v1/signal HTTP/1.1\r\nHost: t\r\nX-Instrument: {instrument}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def keep_alive_client(
    port: int, instrument: str, bodies: list[bytes], signalled: asyncio.Event, tally: Tally
) -> None:
    """Requests back to back on one keep-alive connection; reconnect only after a clean close.

    A request counts as lost when it was written on an open connection and no whole response
    came back. A refused reconnection is not a loss: nothing was written.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for number, body in enumerate(bodies):
        writer.write(raw_post(instrument, body))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            fields = dict(
                line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:] if b": " in line
            )
            payload = await reader.readexactly(int(fields[b"content-length"]))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            tally.lost.append(f"{instrument} request {number}: {type(exc).__name__}")
            writer.close()
            return
        assert head.startswith(b"HTTP/1.1 200"), head + payload
        tally.answered += 1
        tally.after_signal += signalled.is_set()
        if fields.get(b"connection") == b"close":
            tally.closed_cleanly += 1
            writer.close()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except ConnectionRefusedError:
                tally.refused += 1
                return
    writer.close()
    raise AssertionError(f"{instrument}: ran out of bars before the server stopped")


@pytest.mark.slow
@pytest.mark.parametrize("run", [1, 2, 3])
def test_sigterm_under_load_on_keep_alive_connections_loses_nothing(
    run: int, tmp_path: Path, bundles: dict[str, Bundle], service_factory: list
) -> None:
    bars = load_long(EIGHT, "2012-01-01", "2018-12-31")
    manifest, settings = write_env(tmp_path, bundles["good"], instruments=EIGHT)
    svc = ServiceProcess(manifest, settings, tmp_path / "svc.log")
    service_factory.append(svc)
    svc.wait_ready()
    bodies = {}
    for inst in EIGHT:
        rows = bars[bars["instrument"] == inst]
        history = [{"instrument": inst, "bars": bars_payload(rows.iloc[:100])}]
        one_by_one = [
            {"instrument": inst, "bars": bars_payload(rows.iloc[[i]])}
            for i in range(100, len(rows))
        ]
        bodies[inst] = [orjson.dumps(b) for b in history + one_by_one]
    tally = Tally()

    async def load_then_sigterm() -> None:
        signalled = asyncio.Event()
        clients = [
            asyncio.create_task(keep_alive_client(svc.port, i, bodies[i], signalled, tally))
            for i in EIGHT
        ]
        deadline = time.monotonic() + 60
        while tally.answered < 20 * len(EIGHT):  # every client well into its stream
            assert time.monotonic() < deadline and not any(c.done() for c in clients)
            await asyncio.sleep(0.01)
        svc.proc.send_signal(signal.SIGTERM)
        signalled.set()
        await asyncio.gather(*clients)

    asyncio.run(load_then_sigterm())
    assert tally.lost == [], tally
    assert svc.proc.wait(timeout=30) == 0
    # Each connection was closed by a response carrying `Connection: close`, after SIGTERM.
    assert tally.closed_cleanly == len(EIGHT) and tally.refused == len(EIGHT), tally
    assert tally.after_signal >= len(EIGHT), tally
