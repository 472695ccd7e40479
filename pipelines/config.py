"""The typed view of ``params.yaml``: the only place that parses it.

Every stage receives a frozen :class:`Params`; a wrong key or type ends in one line naming the
key and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.data.params import (
    DataParams,
    FeatureParams,
    HealthParams,
    LabelParams,
    ScaleParams,
    ValidationParams,
)
from pipelines.delivery.params import DeliveryParams
from pipelines.errors import ConfigError
from pipelines.io import yamlio
from pipelines.monitoring.params import MonitoringParams
from pipelines.params_base import StrictModel
from pipelines.serving.params import ServingParams
from pipelines.training.params import GatesParams, TrainingParams

DEFAULT_PARAMS_PATH = Path("params.yaml")


class PathsParams(StrictModel):
    """Files and folders the stages read and write (templated into dvc.yaml)."""

    raw_archive: str = "data/raw"
    ingested: str = "data/ingested/bars.parquet"
    ingest_state: str = "data/ingested/state.json"
    events: str = "data/ingested/events.parquet"
    reference: str = "data/reference"
    quarantine: str = "data/quarantine"
    validated: str = "data/validated/bars.parquet"
    validation_report: str = "reports/validation.json"
    features: str = "data/features"
    feature_parts: str = "data/feature_parts"
    labels: str = "data/labels/labels.parquet"
    health_report: str = "reports/data_health.json"
    reports: str = "reports"
    models: str = "models"


class Params(StrictModel):
    """All of params.yaml."""

    paths: PathsParams = PathsParams()
    data: DataParams = DataParams()
    validation: ValidationParams = ValidationParams()
    features: FeatureParams = FeatureParams()
    label: LabelParams = LabelParams()
    health: HealthParams = HealthParams()
    scale: ScaleParams = ScaleParams()
    training: TrainingParams = TrainingParams()
    gates: GatesParams = GatesParams()
    delivery: DeliveryParams = DeliveryParams()
    serving: ServingParams = ServingParams()
    monitoring: MonitoringParams = MonitoringParams()


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (not in the typed config)"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    if error["type"] == "value_error":  # a cross-check of several keys: its own message
        return f"{key}: {str(error['msg']).removeprefix('Value error, ')}"
    return f"{key}: {error['msg']}, got {error.get('input')!r}"


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded mapping into :class:`Params`.

    Args:
        raw: The mapping loaded from YAML.
        source: Name used in error messages.

    Returns:
        The frozen typed params.

    Raises:
        ConfigError: On the first wrong key or type, as one line.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{source}: {_describe(dict(first))}") from None


def load_params(path: str | Path = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate a params file.

    Args:
        path: The YAML file, ``params.yaml`` by default.

    Returns:
        The frozen typed params.

    Raises:
        ConfigError: If the file is missing, is not YAML, or fails validation.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: params file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: expected UTF-8 text") from None
    try:
        raw = yamlio.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}:{where} not valid YAML") from None
    return parse_params(raw, str(file))
