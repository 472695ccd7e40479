"""Charts that render where image files cannot: Mermaid ``xychart-beta`` blocks (pure).

GitHub renders Mermaid in Markdown (pull-request bodies, job summaries, files), where a relative
image link is broken and a data URI is stripped. A chart here is a line or bar chart of one or
two series on a shared x axis, downsampled to at most ``max_points`` points (the last point is
always kept), with an axis title carrying the unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_POINTS = 60


def downsample(values: Sequence[float], max_points: int = MAX_POINTS) -> list[int]:
    """Indices of at most ``max_points`` evenly spaced points, the first and last included."""
    n = len(values)
    if n <= max_points:
        return list(range(n))
    step = (n - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)} | {n - 1})


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "0"
    return f"{value:.6g}"


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def xychart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    y_title: str,
    kind: str = "line",
    max_points: int = MAX_POINTS,
) -> str:
    """A fenced Mermaid ``xychart-beta`` block.

    Args:
        title: Chart title (series names go into it: xychart has no legend).
        x_labels: One label per point (dates, feature names).
        series: ``(name, values)`` pairs, each as long as ``x_labels``.
        y_title: The y axis title, with its unit.
        kind: ``line`` or ``bar``.
        max_points: Points kept per series (evenly spaced).
    """
    if not x_labels or not series:
        return ""
    keep = downsample(list(range(len(x_labels))), max_points)
    finite = [v for _, values in series for i in keep if math.isfinite(v := float(values[i]))]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if low == high:
        low, high = low - 1.0, high + 1.0
    names = " / ".join(name for name, _ in series)
    lines = [
        "```mermaid",
        "xychart-beta",
        f"    title {_quote(f'{title} ({names})' if len(series) > 1 else title)}",
        f"    x-axis [{', '.join(_quote(str(x_labels[i])) for i in keep)}]",
        f"    y-axis {_quote(y_title)} {_number(low)} --> {_number(high)}",
    ]
    for _, values in series:
        points = ", ".join(_number(float(values[i])) for i in keep)
        lines.append(f"    {kind} [{points}]")
    lines.append("```")
    return "\n".join(lines)
