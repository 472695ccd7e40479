"""Read figures back from Prometheus' HTTP API (``/api/v1/query`` and ``query_range``).

The weekly report and the incident figures read what the services scraped and the jobs pushed.
An unreachable server or an error answer is one line naming the URL and the query.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.errors import PipelineError

URL_ENV = "PROMETHEUS_URL"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Series:
    """One result series: its labels and ``(unix time, value)`` points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def prometheus_url(explicit: str | None = None) -> str:
    """The server's URL: ``explicit`` or ``PROMETHEUS_URL``.

    Raises:
        PipelineError: Neither is set.
    """
    url = (explicit or os.environ.get(URL_ENV, "")).strip().rstrip("/")
    if not url:
        raise PipelineError(f"{URL_ENV} is not set (the Prometheus server to read from)")
    return url


def _get(url: str, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    try:
        response = httpx.get(f"{url}{path}", params=params, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise PipelineError(f"{url}{path}: cannot reach Prometheus ({exc})") from None
    try:
        doc = response.json()
    except ValueError:
        doc = {}
    if response.status_code != 200 or doc.get("status") != "success":
        why = doc.get("error") or f"HTTP {response.status_code}"
        raise PipelineError(f"{url}{path}: query {params.get('query')!r} failed: {why}")
    result: Any = doc["data"]["result"]
    return result if isinstance(result, list) else []


def _float(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def instant(url: str, query: str, at: float | None = None) -> list[Series]:
    """An instant query (at ``at``, Unix time, or now)."""
    params = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    out = []
    for item in _get(url, "/api/v1/query", params):
        stamp, value = item["value"]
        out.append(Series(dict(item["metric"]), [(float(stamp), _float(value))]))
    return out


def ranged(url: str, query: str, start: float, end: float, step_seconds: float) -> list[Series]:
    """A range query from ``start`` to ``end`` (Unix times) every ``step_seconds``."""
    params = {
        "query": query,
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step_seconds:g}",
    }
    out = []
    for item in _get(url, "/api/v1/query_range", params):
        points = [(float(t), _float(v)) for t, v in item["values"]]
        out.append(Series(dict(item["metric"]), points))
    return out


def scalar(url: str, query: str, at: float | None = None) -> float | None:
    """The value of a query that gives one series (None when it gives none)."""
    found = instant(url, query, at)
    return found[0].points[0][1] if found else None
