"""Alertmanager: config valid, severities routed to the right receiver, no secrets inline."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT, require_tool
from tests.monitoring.rules_helpers import ALERTMANAGER, alerts

RECEIVER_BY_SEVERITY = {
    "critical": "pagerduty-critical",
    "warning": "slack-warning",
    "info": "email-info",
}
CASES = yaml.safe_load((REPO_ROOT / "monitoring/alertmanager/route-tests.yml").read_text())


def _route(amtool, labels, receiver):
    return subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"--verify.receivers={receiver}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
    )


def test_amtool_check_config():
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["labels"].get("alertname"))
def test_route_cases(case):
    amtool = require_tool("amtool")
    result = _route(amtool, case["labels"], case["receiver"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_routes_by_its_severity():
    amtool = require_tool("amtool")
    for alert in alerts():
        labels = {"alertname": alert["alert"], **alert["labels"]}
        result = _route(amtool, labels, RECEIVER_BY_SEVERITY[alert["labels"]["severity"]])
        assert result.returncode == 0, (alert["alert"], result.stdout + result.stderr)


def test_a_wrong_receiver_is_caught():
    amtool = require_tool("amtool")
    result = _route(amtool, {"alertname": "X", "severity": "critical"}, "slack-warning")
    assert result.returncode != 0


def test_secrets_are_file_references_only():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    inline = {
        "slack_api_url",
        "smtp_auth_password",
        "routing_key",
        "service_key",
        "api_url",
        "auth_password",
        "auth_secret",
    }

    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                assert key not in inline, f"{path}.{key}: secret inline; use {key}_file"
                if key.endswith("_file"):
                    assert str(value).startswith("/etc/alertmanager/secrets/"), key
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(config)
