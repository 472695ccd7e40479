"""Configuration of the twin's Prometheus and Alertmanager, generated from the repository's own.

Prometheus gets the repository's alert rules (``monitoring/prometheus/rules/*.yml``) with only
the ``for:`` durations the twin profile names overridden, scrapes the Pushgateway
(``honor_labels``) and the pod targets the fake cluster writes into ``file_sd/*.json``
(ServiceMonitor-like labels), and alerts to the twin's Alertmanager. Alertmanager runs
``monitoring/alertmanager/alertmanager.yml`` with its routes unchanged and every receiver's
integrations replaced by one webhook to the sink at ``/receiver/<receiver name>``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipelines.io import atomic
from twin.errors import TwinError
from twin.profile import Monitoring

RULES_DIR = Path("monitoring/prometheus/rules")
ALERTMANAGER_FILE = Path("monitoring/alertmanager/alertmanager.yml")
# Integrations and their default send_resolved (Alertmanager's documented defaults).
_INTEGRATIONS = {
    "pagerduty_configs": True,
    "slack_configs": False,
    "email_configs": False,
    "webhook_configs": True,
    "opsgenie_configs": True,
    "pushover_configs": True,
    "victorops_configs": True,
    "wechat_configs": False,
    "telegram_configs": True,
    "sns_configs": True,
    "discord_configs": True,
    "webex_configs": True,
    "msteams_configs": True,
}
_ROUTE_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TwinError(f"{path}: cannot read ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise TwinError(f"{path}: expected a mapping")
    return doc


def write_rules(
    source: Path,
    out_dir: Path,
    alert_for: dict[str, str],
    group_interval: dict[str, str],
) -> list[Path]:
    """Copy the repository's rule files with the profile's ``for:`` and ``interval`` overrides.

    Raises:
        TwinError: When the profile names an alert or a rule group that no rule file defines.
    """
    files = sorted((source / RULES_DIR).glob("*.yml"))
    if not files:
        raise TwinError(f"{source / RULES_DIR}: no rule files")
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    groups_seen: set[str] = set()
    written: list[Path] = []
    for file in files:
        doc = _load(file)
        for group in doc.get("groups") or []:
            if group.get("name") in group_interval:
                group["interval"] = group_interval[group["name"]]
                groups_seen.add(group["name"])
            for rule in group.get("rules") or []:
                name = rule.get("alert")
                if name in alert_for:
                    rule["for"] = alert_for[name]
                    seen.add(name)
        target = out_dir / file.name
        atomic.write_text(target, yaml.safe_dump(doc, sort_keys=False))
        written.append(target)
    missing = sorted(set(alert_for) - seen)
    if missing:
        raise TwinError(f"twin profile: monitoring.alert_for names unknown alerts {missing}")
    unknown = sorted(set(group_interval) - groups_seen)
    if unknown:
        raise TwinError(
            f"twin profile: monitoring.group_interval names unknown rule groups {unknown}"
        )
    return written


def prometheus_config(
    prometheus_dir: Path, profile: Monitoring, *, pushgateway: str, alertmanager: str
) -> dict[str, Any]:
    """``prometheus.yml`` for the twin (``host:port`` of the Pushgateway and Alertmanager)."""
    return {
        "global": {
            "scrape_interval": profile.scrape_interval,
            "evaluation_interval": profile.evaluation_interval,
        },
        "rule_files": [str(prometheus_dir / "rules" / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [pushgateway]}],
            },
            {
                # Targets (pod IP:port) and labels (job, namespace, pod, ...) come from the fake
                # cluster, as the Prometheus operator derives them from a ServiceMonitor.
                "job_name": "pods",
                "file_sd_configs": [
                    {
                        "files": [str(prometheus_dir / "file_sd" / "*.json")],
                        "refresh_interval": profile.file_sd_refresh_interval,
                    }
                ],
            },
        ],
    }


def write_prometheus(
    source: Path, prometheus_dir: Path, profile: Monitoring, *, pushgateway: str, alertmanager: str
) -> Path:
    """Write rules and ``prometheus.yml`` under ``prometheus_dir``; returns the config path."""
    write_rules(source, prometheus_dir / "rules", profile.alert_for, profile.group_interval)
    (prometheus_dir / "file_sd").mkdir(parents=True, exist_ok=True)
    config = prometheus_config(
        prometheus_dir, profile, pushgateway=pushgateway, alertmanager=alertmanager
    )
    path = prometheus_dir / "prometheus.yml"
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _retime(route: dict[str, Any], timings: dict[str, str], root: bool) -> None:
    for key in _ROUTE_TIMINGS:
        if key in timings and (root or key in route):
            route[key] = timings[key]
    for child in route.get("routes") or []:
        _retime(child, timings, root=False)


def _receiver_names(route: dict[str, Any]) -> set[str]:
    names = {str(route["receiver"])} if "receiver" in route else set()
    for child in route.get("routes") or []:
        names |= _receiver_names(child)
    return names


def alertmanager_config(source: Path, sink_url: str, timings: dict[str, str]) -> dict[str, Any]:
    """The repository's Alertmanager config with every receiver pointed at the sink."""
    path = source / ALERTMANAGER_FILE
    doc = copy.deepcopy(_load(path))
    receivers: list[dict[str, Any]] = []
    for receiver in doc.get("receivers") or []:
        name = str(receiver["name"])
        send_resolved = [
            bool(cfg.get("send_resolved", default))
            for key, default in _INTEGRATIONS.items()
            for cfg in receiver.get(key) or []
        ]
        unknown = sorted(k for k in receiver if k != "name" and k not in _INTEGRATIONS)
        if unknown:
            raise TwinError(f"{path}: receiver {name}: integration {unknown} is not mapped")
        webhook = {"url": f"{sink_url}/receiver/{name}", "send_resolved": any(send_resolved)}
        receivers.append({"name": name, "webhook_configs": [webhook]})
    doc["receivers"] = receivers
    routed = _receiver_names(doc.get("route") or {})
    missing = sorted(routed - {r["name"] for r in receivers})
    if missing:
        raise TwinError(f"{path}: routes name receivers that do not exist: {missing}")
    # Secrets and SMTP/Slack endpoints belong to the real integrations, which the sink replaces.
    doc["global"] = {"resolve_timeout": timings.get("resolve_timeout", "5m")}
    _retime(doc.setdefault("route", {}), timings, root=True)
    return doc


def write_alertmanager(source: Path, out_dir: Path, sink_url: str, timings: dict[str, str]) -> Path:
    """Write ``alertmanager.yml`` under ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "alertmanager.yml"
    atomic.write_text(
        path, yaml.safe_dump(alertmanager_config(source, sink_url, timings), sort_keys=False)
    )
    return path
