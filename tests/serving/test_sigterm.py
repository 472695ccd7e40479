"""SIGTERM during a stream of requests: every request in flight is answered, exit status 0."""

from __future__ import annotations

import asyncio
import signal
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
    svc = ServiceProcess(manifest, settings, tmp_path / "svc.log", SERVING_INJECT_LATENCY_MS="400")
    service_factory.append(svc)
    svc.wait_ready()
    instruments = ["KO", "PEP", "PG", "JNJ", "WMT", "MSFT"]
    bodies = {
        inst: bars_payload(market_bars[market_bars["instrument"] == inst].iloc[:80])
        for inst in instruments
    }

    async def stream() -> list[int]:
        async with httpx.AsyncClient(base_url=svc.url, timeout=10.0) as client:

            async def one(inst: str) -> int:
                reply = await client.post(
                    "/v1/signal",
                    json={"instrument": inst, "bars": bodies[inst]},
                    headers={"X-Instrument": inst},
                )
                return reply.status_code

            tasks = [asyncio.create_task(one(inst)) for inst in instruments]
            await asyncio.sleep(0.2)
            svc.proc.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*tasks))

    codes = asyncio.run(stream())
    assert codes == [200] * len(instruments)
    assert svc.proc.wait(timeout=20) == 0
    log = svc.log.read_text()
    assert "Shutting down" in log and "Finished server process" in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{svc.url}/healthz", timeout=1.0)
