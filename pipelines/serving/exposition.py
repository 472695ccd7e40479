"""The ``/metrics`` body in Prometheus' text format, each series' name and labels written once.

prometheus_client's ``generate_latest`` escapes, sorts and formats every label of every sample
at every scrape. The service exports about 800 series (per instrument, reason and traffic, all
declared at zero) and its pods are scraped every 15 s in production and every 500 ms in the
twin's profile: those label strings were most of a pod's own CPU. :class:`TextExposition`
keeps each series' ``name{labels} `` prefix and formats only the values; its output is byte for
byte ``generate_latest``'s (``tests/serving/test_exposition.py``, ``benchmarks/bench_metrics.py``).
"""

from __future__ import annotations

from prometheus_client.openmetrics import exposition as om
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# OpenMetrics types and their name suffix in the Prometheus text format (as generate_latest).
_TYPES = {
    "counter": ("_total", "counter"),
    "info": ("_info", "gauge"),
    "stateset": ("", "gauge"),
    "gaugehistogram": ("", "histogram"),
    "unknown": ("", "untyped"),
}
# OpenMetrics-only samples: generate_latest moves them to a gauge family after their own.
_MOVED = ("_created", "_gsum", "_gcount")
ESCAPING = om.UNDERSCORES


def _doc(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _value(text: str) -> str:
    # Label values are always UTF-8; only backslash, newline and double quote are escaped.
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _family_name(name: str) -> str:
    return str(om.escape_metric_name(name, ESCAPING))


class TextExposition:
    """Renders a registry as ``generate_latest`` does, from cached per-series prefixes.

    Label values must be bounded (the cache holds one entry per series ever exported); the
    cache is dropped if it grows past four times the series of the last render.
    """

    def __init__(self, registry: Collector) -> None:
        """Render ``registry`` (a ``CollectorRegistry`` or any collector)."""
        self.registry = registry
        self._heads: dict[tuple[str, str, str], str] = {}
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}

    def _prefix(self, name: str, labels: dict[str, str]) -> str:
        key = (name, tuple(labels.items()))
        prefix = self._prefixes.get(key)
        if prefix is None:
            if labels:
                pairs = ",".join(
                    f'{om.escape_label_name(k, ESCAPING)}="{_value(v)}"'
                    for k, v in sorted(labels.items())
                )
                prefix = f"{_family_name(name)}{{{pairs}}} "
            else:
                prefix = f"{_family_name(name)} "
            self._prefixes[key] = prefix
        return prefix

    def _head(self, name: str, kind: str, documentation: str) -> str:
        key = (name, kind, documentation)
        head = self._heads.get(key)
        if head is None:
            suffix, shown = _TYPES.get(kind, ("", kind))
            family = _family_name(name + suffix)
            head = f"# HELP {family} {_doc(documentation)}\n# TYPE {family} {shown}\n"
            self._heads[key] = head
        return head

    def render(self) -> bytes:
        """The registry's samples now, in the Prometheus text format (UTF-8)."""
        out: list[str] = []
        series = 0
        for metric in self.registry.collect():
            out.append(self._head(metric.name, metric.type, metric.documentation))
            moved: dict[str, list[str]] = {}
            for sample in metric.samples:
                line = self._prefix(sample.name, sample.labels) + floatToGoString(sample.value)
                if sample.timestamp is not None:
                    line += f" {int(float(sample.timestamp) * 1000):d}"
                line += "\n"
                series += 1
                tail = sample.name[len(metric.name) :]
                if sample.name.startswith(metric.name) and tail in _MOVED:
                    moved.setdefault(tail, []).append(line)
                else:
                    out.append(line)
            for tail, lines in sorted(moved.items()):
                family = _family_name(metric.name + tail)
                out.append(f"# HELP {family} {_doc(metric.documentation)}\n")
                out.append(f"# TYPE {family} gauge\n")
                out.extend(lines)
        if len(self._prefixes) > 4 * series + 64:
            self._prefixes.clear()
        return "".join(out).encode("utf-8")
