"""The S3 bucket names of the twin, read from Terraform exactly as production would name them.

``terraform/modules/platform/main.tf`` builds ``local.name_prefix`` from the prod settings in
``terraform/environments/prod/terraform.tfvars``, and ``terraform/modules/storage/main.tf`` names
each data bucket from it and the account id. Reading both (python-hcl2) means a Terraform rename
changes the twin, or breaks it with a message naming the file, never silently diverges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from twin.errors import TwinError

# moto's default account: bucket names carry it as AWS's do.
ACCOUNT_ID = "123456789012"
ENVIRONMENT = "prod"
# Terraform's module label in storage/main.tf -> the role of that bucket in the twin.
STORAGE_MODULES = {"dvc": "dvc_bucket", "raw": "raw_bucket", "mlflow": "mlflow_bucket"}
# The landing prefix of market data inside the raw bucket (the nightly ingest reads it).
LANDING_PREFIX = "bars/"

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Buckets:
    """The twin's buckets: DVC remote, raw archive (market-data landing), MLflow artifacts."""

    dvc: str
    raw: str
    mlflow: str
    name_prefix: str

    def all(self) -> list[str]:
        """Every bucket name."""
        return [self.dvc, self.raw, self.mlflow]


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            doc: dict[str, Any] = hcl2.load(handle)
    except FileNotFoundError:
        raise TwinError(f"{path}: not found (the twin names its buckets from Terraform)") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure becomes one line
        raise TwinError(f"{path}: not valid HCL ({type(exc).__name__})") from None
    return doc


def interpolate(template: str, values: dict[str, str], where: str) -> str:
    """Replace ``${name}`` references by ``values[name]``; an unknown reference is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            raise TwinError(
                f"{where}: cannot resolve ${{{name}}} (expected one of {sorted(values)})"
            )
        return values[name]

    return _INTERPOLATION.sub(replace, _unquote(template))


def _settings(source: Path) -> dict[str, str]:
    path = source / "terraform" / "environments" / ENVIRONMENT / "terraform.tfvars"
    platform = _load(path).get("platform")
    if not isinstance(platform, dict):
        raise TwinError(f"{path}: expected a `platform = {{...}}` object")
    return {
        f"var.settings.{_unquote(k)}": str(_unquote(v))
        for k, v in platform.items()
        if isinstance(_unquote(v), str | int)
    }


def name_prefix(source: Path) -> str:
    """The ``name_prefix`` the platform module gives the twin's Terraform environment."""
    path = source / "terraform" / "modules" / "platform" / "main.tf"
    for block in _load(path).get("locals", []):
        if "name_prefix" in block:
            return interpolate(block["name_prefix"], _settings(source), f"{path}: name_prefix")
    raise TwinError(f"{path}: no `locals {{ name_prefix = ... }}`")


def bucket_names(source: Path) -> Buckets:
    """The prod bucket names for the source tree at ``source``.

    Raises:
        TwinError: When a file is missing, a module is renamed, or a name cannot be resolved.
    """
    prefix = name_prefix(source)
    path = source / "terraform" / "modules" / "storage" / "main.tf"
    modules: dict[str, Any] = {}
    for block in _load(path).get("module", []):
        modules.update({_unquote(k): v for k, v in block.items()})
    values = {"var.name_prefix": prefix, "local.account_id": ACCOUNT_ID}
    names: dict[str, str] = {}
    for role, label in STORAGE_MODULES.items():
        body = modules.get(label)
        if not isinstance(body, dict) or "bucket_name" not in body:
            raise TwinError(f"{path}: expected module {label!r} with a bucket_name")
        names[role] = interpolate(body["bucket_name"], values, f"{path}: module.{label}")
    return Buckets(dvc=names["dvc"], raw=names["raw"], mlflow=names["mlflow"], name_prefix=prefix)
