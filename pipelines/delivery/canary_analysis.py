"""The analysis side of the generated strategies: templates, thresholds, windows and args.

An analysis (a canary step, or blue/green pre/post-promotion) references the service-level
template and, while instruments are left to pair, the trading-KPI template; its args come from
settings.yaml: ``analysis:`` thresholds (``_`` becomes ``-``) and ``schedule:`` durations
(``window``, ``interval``, ``count`` = window / interval, ``since`` = twice the whole update,
``resolution``). Used by :mod:`pipelines.delivery.canary` and by lint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.errors import ConfigError

HEADER = "X-Instrument"
SERVICE_TEMPLATE = "strategy-service-level"
KPI_TEMPLATE = "strategy-trading-kpis"
SERVICE_KEYS = ("error_rate_max", "latency_p99_max_seconds", "circuit_breaker_trips_per_hour_max")
KPI_KEYS = ("sharpe_drop_max", "win_rate_drop_max", "pnl_drop_max", "min_trades")
THRESHOLD_KEYS = SERVICE_KEYS + KPI_KEYS
DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def instrument_regex(instruments: list[str]) -> str:
    """An anchored regex matching exactly these instrument names."""
    return "^(" + "|".join(re.escape(name) for name in instruments) + ")$"


def instruments_of(regex: str) -> set[str] | None:
    """Instruments named by a regex built like :func:`instrument_regex` (None otherwise)."""
    match = re.fullmatch(r"\^\(([^()]*)\)\$", regex)
    if not match:
        return None
    return {re.sub(r"\\(.)", r"\1", part) for part in match.group(1).split("|")}


def arg_name(key: str) -> str:
    """The AnalysisTemplate arg of a settings.yaml ``analysis:`` key (``_`` becomes ``-``)."""
    return key.replace("_", "-")


def seconds(text: str, where: str) -> float:
    """Seconds of a duration written ``<n>ms``, ``<n>s``, ``<n>m`` or ``<n>h``.

    Raises:
        ConfigError: Any other form (Argo would reject it or read it differently).
    """
    match = DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{where}: expected a duration like 30s, 5m or 1h, got {text!r}")
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def duration(total: float) -> str:
    """Seconds written as Argo durations: ``6h``, ``90m``, ``45s`` or ``1500ms``."""
    millis = round(total * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


@dataclass(frozen=True)
class Window:
    """Timing of one analysis.

    ``window``: how long it watches; ``interval``: how often service level is measured;
    ``since`` and ``resolution``: range and subquery step of the trading-KPI counters.
    """

    window: str
    interval: str
    since: str = "6h"
    resolution: str = "15s"

    def count(self) -> int:
        """Service-level measurements in the window (one per interval, at least one)."""
        return max(1, int(seconds(self.window, "window") // seconds(self.interval, "interval")))


def schedule(settings: dict[str, Any], keys: tuple[str, ...], source: str) -> dict[str, str]:
    """The ``schedule:`` durations of an environment, checked.

    Raises:
        ConfigError: A key is missing or not a duration.
    """
    section = settings.get("schedule")
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: schedule: expected a mapping with {', '.join(keys)}")
    out = {}
    for key in keys:
        value = section.get(key)
        seconds(str(value), f"{source}: schedule.{key}")
        out[key] = str(value)
    return out


def thresholds(settings: dict[str, Any], keys: tuple[str, ...], source: str) -> dict[str, str]:
    """Threshold args (``arg name: value``) from ``analysis:``.

    Raises:
        ConfigError: A key is missing or not a number.
    """
    section = settings.get("analysis") or {}
    out = {}
    for key in keys:
        value = section.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: analysis.{key}: expected a number, got {value!r}")
        out[arg_name(key)] = str(value)
    return out


def analysis_args(
    settings: dict[str, Any],
    window: Window,
    kpi_instruments: list[str] | None,
    stable: str = "Stable",
    source: str = "settings.yaml",
) -> dict[str, Any]:
    """An analysis (step or blue/green): service level, plus trading KPIs when there is a pair.

    The trading-KPI template is added when ``kpi_instruments`` is given.

    Args:
        settings: Loaded settings.yaml.
        window: The analysis window and measurement interval.
        kpi_instruments: Instruments compared pairwise (canary shadow vs stable live); None
            leaves the KPI template out (nothing left to pair).
        stable: ``podTemplateHashValue`` of the side the canary is compared with.
        source: Name of the settings file, for errors.
    """
    templates = [{"templateName": SERVICE_TEMPLATE}]
    args: list[dict[str, Any]] = [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "window", "value": window.window},
        {"name": "interval", "value": window.interval},
        {"name": "count", "value": str(window.count())},
    ]
    args += [{"name": k, "value": v} for k, v in thresholds(settings, SERVICE_KEYS, source).items()]
    if kpi_instruments is not None:
        templates.append({"templateName": KPI_TEMPLATE})
        args.append({"name": "stable-hash", "valueFrom": {"podTemplateHashValue": stable}})
        args.append({"name": "instruments", "value": instrument_regex(kpi_instruments)})
        args.append({"name": "since", "value": window.since})
        args.append({"name": "resolution", "value": window.resolution})
        args += [{"name": k, "value": v} for k, v in thresholds(settings, KPI_KEYS, source).items()]
    return {"templates": templates, "args": args}


def since(plan: dict[str, str], windows: list[str]) -> str:
    """Range of the trading-KPI counters: twice the whole update (every step's window)."""
    return duration(2 * sum(seconds(plan[k], k) for k in windows))
