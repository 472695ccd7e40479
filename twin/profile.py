"""The twin profile (``twin/profile.yaml``): the one place for twin-only overrides.

:func:`apply_profile` turns a checkout into the twin's "twin profile" commit: it deep-merges the
profile into ``params.yaml`` and each ``environments/<env>/settings.yaml`` and regenerates each
environment's Rollout strategy from the merged settings. A profile key that the target file does
not have is an error, so a rename in the repository breaks the twin loudly instead of leaving an
override that no longer applies. :func:`monitoring` gives the Prometheus/Alertmanager overrides.
"""

from __future__ import annotations

import copy
import importlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.config import load_params
from pipelines.errors import ConfigError
from pipelines.io import atomic
from twin.buckets import bucket_names
from twin.errors import TwinError

PROFILE_PATH = Path(__file__).with_name("profile.yaml")
HEADER = "# Twin profile applied (twin/profile.yaml): twin-only overrides, never on main.\n"
# The writer pipelines.delivery.canary is expected to expose: (env_dir, settings) -> None.
STRATEGY_WRITER = "write_strategy"
_LOG = logging.getLogger(__name__)
_BUCKET_REF = re.compile(r"\$\{buckets\.(dvc|raw|mlflow)\}")


def load_profile(path: Path = PROFILE_PATH) -> dict[str, Any]:
    """The profile document."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TwinError(f"{path}: cannot read the twin profile ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise TwinError(f"{path}: expected a mapping at the top level")
    return copy.deepcopy(doc)  # YAML anchors alias objects: never merge into a shared one


def merge(target: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """``target`` with ``overrides`` deep-merged in; every override key must already exist.

    Raises:
        TwinError: Naming the first override key that ``target`` does not have.
    """
    merged = copy.deepcopy(target)
    for key, value in overrides.items():
        if key not in merged:
            raise TwinError(f"{where}: twin profile key {key!r} is not in the file (renamed?)")
        if isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = merge(merged[key], value, f"{where}.{key}")
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolve_buckets(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _BUCKET_REF.sub(lambda m: names[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _resolve_buckets(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_buckets(v, names) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise TwinError(f"{path}: expected a mapping")
    return copy.deepcopy(doc)


def _write_if_changed(path: Path, doc: dict[str, Any], original: dict[str, Any]) -> bool:
    """Rewrite ``path`` only when the merge changed its content (comments are not kept)."""
    if doc == original:
        return False
    text = HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)
    atomic.write_text(path, text)
    return True


def _regenerate_strategy(env_dir: Path, settings: dict[str, Any]) -> list[str]:
    """Rewrite the env's Rollout strategy through ``pipelines.delivery.canary`` when it can.

    Returns:
        Notices for the caller (empty when the writer ran).
    """
    canary = importlib.import_module("pipelines.delivery.canary")
    writer = getattr(canary, STRATEGY_WRITER, None)
    if writer is None:
        # TODO(rollouts): pipelines.delivery.canary.write_strategy(env_dir, settings) is not
        # there yet; until it is, strategy files keep the seed's windows and delays.
        return [f"{env_dir.name}: strategy not regenerated (no canary.{STRATEGY_WRITER})"]
    writer(env_dir, settings)
    return []


def apply_profile(tree: Path, profile: dict[str, Any] | None = None) -> list[str]:
    """Apply the twin profile to the checkout at ``tree`` (idempotent).

    Args:
        tree: A checkout of the repository (never the developer's own work tree in the twin).
        profile: The profile document (default: ``twin/profile.yaml``).

    Returns:
        The files it changed, relative to ``tree`` (empty on a second run).

    Raises:
        TwinError: A profile key missing from its target, or params that fail validation.
    """
    doc = profile if profile is not None else load_profile()
    names = bucket_names(tree)
    doc = _resolve_buckets(doc, {"dvc": names.dvc, "raw": names.raw, "mlflow": names.mlflow})
    changed: list[str] = []
    params_path = tree / "params.yaml"
    original = _read_yaml(params_path)
    params = merge(original, doc.get("params") or {}, "params.yaml")
    if _write_if_changed(params_path, params, original):
        changed.append("params.yaml")
    try:
        load_params(params_path)
    except ConfigError as exc:
        raise TwinError(f"twin profile: {exc}") from None
    settings_overrides = doc.get("settings") or {}
    for settings_path in sorted((tree / "environments").glob("*/settings.yaml")):
        env = settings_path.parent.name
        rel = str(settings_path.relative_to(tree))
        original = _read_yaml(settings_path)
        settings = merge(original, settings_overrides.get("all") or {}, rel)
        settings = merge(settings, settings_overrides.get(env) or {}, rel)
        if _write_if_changed(settings_path, settings, original):
            changed.append(rel)
        before = _snapshot(settings_path.parent)
        for notice in _regenerate_strategy(settings_path.parent, settings):
            _LOG.warning("twin profile: %s", notice)
        changed += [str(p.relative_to(tree)) for p in _changed(settings_path.parent, before)]
    return changed


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.glob("*.yaml")}


def _changed(folder: Path, before: dict[Path, bytes]) -> list[Path]:
    return [p for p in sorted(folder.glob("*.yaml")) if before.get(p) != p.read_bytes()]


@dataclass(frozen=True)
class Monitoring:
    """The twin's Prometheus and Alertmanager overrides."""

    scrape_interval: str
    evaluation_interval: str
    file_sd_refresh_interval: str
    alert_for: dict[str, str]
    alertmanager: dict[str, str]
    group_interval: dict[str, str]


def monitoring(profile: dict[str, Any] | None = None) -> Monitoring:
    """The ``monitoring`` and ``alertmanager`` sections of the profile."""
    doc = profile if profile is not None else load_profile()
    section = doc.get("monitoring") or {}
    try:
        return Monitoring(
            scrape_interval=str(section["scrape_interval"]),
            evaluation_interval=str(section["evaluation_interval"]),
            file_sd_refresh_interval=str(section["file_sd_refresh_interval"]),
            alert_for={str(k): str(v) for k, v in (section.get("alert_for") or {}).items()},
            alertmanager={str(k): str(v) for k, v in (doc.get("alertmanager") or {}).items()},
            group_interval={
                str(k): str(v) for k, v in (section.get("group_interval") or {}).items()
            },
        )
    except KeyError as exc:
        raise TwinError(f"{PROFILE_PATH}: monitoring.{exc.args[0]} is required") from None
