"""SIGTERM during a stream of requests: every request in flight is answered, exit status 0."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from .conftest import Bundle, ServiceProcess, bars_payload, write_env


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
