"""Base class for every typed section of params.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen pydantic model that rejects unknown keys and does not coerce types loosely."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)
