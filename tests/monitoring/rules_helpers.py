"""Shared loaders for the alert-rule tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

PROM_DIR = REPO_ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((PROM_DIR / "tests").glob("*.test.yml"))
ALERTMANAGER = REPO_ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"


def alerts() -> list[dict[str, Any]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(r for r in group["rules"] if "alert" in r)
    return out


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            number += ch
            i += 1
            continue
        unit = "ms" if text[i : i + 2] == "ms" else ch
        total += int(number) * units[unit]
        number = ""
        i += len(unit)
    return total


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
