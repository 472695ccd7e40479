"""``pipelines smoke``: one real signal request against a freshly started service, checked.

The deploy workflow starts the manifest's image with the manifest (a daemon step) and runs this
from the tools image. The request is built from the environment's first instrument
(``settings.yaml``) and the latest bars of the market-data source configured in ``params.yaml``
(``data.source``): in the cluster that is the landing bucket the nightly ingest reads (the twin
profile points it at the twin's S3); with the repository's embedded default it is the bundled
sample, whose latest bar is from 2022. The bars are real, but a smoke test checks the plumbing,
not the trading: the answer must be 200 with status ``ok`` (the model computed features and
predicted), a position in {-1, 0, 1}, and the manifest's model version and bundle sha256.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from pipelines.config import Params
from pipelines.errors import DataError, PipelineError
from pipelines.serving.source import load_manifest, read_settings

SIGNAL_PATH = "/v1/signal"
OPTIONAL = ("open", "high", "low", "volume")

log = logging.getLogger(__name__)


class SmokeFailed(PipelineError):
    """The service did not answer the smoke request as the manifest promises."""


@dataclass(frozen=True)
class SmokeResult:
    """The checked answer."""

    instrument: str
    bars: int
    last_bar: str
    position: float
    model_version: str
    sha256: str


def latest_bars(params: Params, instrument: str, count: int) -> list[dict[str, Any]]:
    """The last ``count`` bars of ``instrument`` from the configured source, as request rows.

    Raises:
        SmokeFailed: The source holds no bar of the instrument.
    """
    from pipelines.data import sources

    frames, unreadable = [], []
    for item in sources.fetch(params.data, {}, {}):
        try:
            frames.append(sources.parse_item(item).bars)
        except DataError as exc:
            # A broken upload is the nightly ingest's to refuse and page on; it must not also
            # fail every deploy (and dispatch a rollback) until someone deletes it.
            log.warning("smoke: skipped an unreadable source object: %s", exc)
            unreadable.append(item.origin or item.name)
    bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if bars.empty or "instrument" not in bars:
        skipped = ""
        if unreadable:
            skipped = f" ({len(unreadable)} unreadable: {', '.join(unreadable[:3])})"
        raise SmokeFailed(f"data source {params.data.source!r}: no bars at all{skipped}")
    bars = bars[bars["instrument"].astype(str) == instrument]
    bars = bars.dropna(subset=["close"]).drop_duplicates("timestamp", keep="last")
    bars = bars.sort_values("timestamp").tail(count)
    if bars.empty:
        raise SmokeFailed(f"data source {params.data.source!r}: no bars for {instrument}")
    rows = []
    for record in bars.to_dict("records"):
        row: dict[str, Any] = {
            "timestamp": pd.Timestamp(record["timestamp"]).isoformat(),
            "close": float(record["close"]),
        }
        for key in OPTIONAL:
            value = record.get(key)
            if value is not None and math.isfinite(float(value)):
                row[key] = float(value)
        rows.append(row)
    return rows


def wait_ready(client: httpx.Client, url: str, timeout_seconds: float) -> None:
    """Poll ``/readyz`` until 200, with a deadline.

    Raises:
        SmokeFailed: Not ready in time (the last reason the service gave).
    """
    deadline = time.monotonic() + timeout_seconds
    reason = "no answer"
    while True:
        try:
            answer = client.get(f"{url}/readyz")
            if answer.status_code == 200:
                return
            reason = str(answer.json().get("reason", answer.status_code))
        except (httpx.HTTPError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            raise SmokeFailed(f"{url}/readyz: not ready after {timeout_seconds:.0f}s ({reason})")
        time.sleep(0.25)


def check_answer(answer: httpx.Response, version: str, sha256: str, where: str) -> dict[str, Any]:
    """The answer's body when it is what the manifest promises (pure apart from decoding).

    Raises:
        SmokeFailed: Naming the field that differs.
    """
    try:
        body = answer.json()
    except ValueError:
        raise SmokeFailed(f"{where}: HTTP {answer.status_code}, body is not JSON") from None
    if answer.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else body
        raise SmokeFailed(f"{where}: HTTP {answer.status_code}: {str(error)[:200]}")
    if body.get("model_sha256") != sha256:
        raise SmokeFailed(
            f"{where}: model_sha256 {body.get('model_sha256')!r} is not the manifest's {sha256}"
        )
    if str(body.get("model_version")) != version:
        raise SmokeFailed(
            f"{where}: model_version {body.get('model_version')!r} is not the manifest's {version}"
        )
    if body.get("status") != "ok" or body.get("position") not in (-1, -1.0, 0, 0.0, 1, 1.0):
        raise SmokeFailed(
            f"{where}: expected status ok and a position in -1/0/1, got status "
            f"{body.get('status')!r} position {body.get('position')!r}"
        )
    return body


def smoke(
    params: Params,
    url: str,
    manifest: Path,
    settings: Path,
    *,
    ready_timeout: float = 120.0,
    request_timeout: float = 10.0,
) -> SmokeResult:
    """Send one signal request for the environment's first instrument and check the answer.

    Raises:
        SmokeFailed: Nothing deployed, no instruments or bars, or a wrong answer.
    """
    ref = load_manifest(manifest)
    if ref is None:
        raise SmokeFailed(f"{manifest}: model is null; nothing to smoke-test")
    instruments = read_settings(settings).get("instruments")
    if not isinstance(instruments, list) or not instruments:
        raise SmokeFailed(f"{settings}: instruments: expected a non-empty list")
    instrument = str(instruments[0])
    count = min(params.serving.buffer_bars, params.serving.max_bars_per_request)
    bars = latest_bars(params, instrument, count)
    base = url.rstrip("/")
    with httpx.Client(timeout=request_timeout) as client:
        wait_ready(client, base, ready_timeout)
        answer = client.post(
            f"{base}{SIGNAL_PATH}",
            headers={"X-Instrument": instrument},
            json={"instrument": instrument, "bars": bars},
        )
    body = check_answer(answer, ref.version, ref.sha256, f"POST {base}{SIGNAL_PATH}")
    last = str(bars[-1]["timestamp"])
    position = float(body["position"])
    return SmokeResult(instrument, len(bars), last, position, ref.version, ref.sha256)
