"""Rollback's registry lookup and alias moves against a real local MLflow (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.delivery.digests import MlflowRegistry, move_alias
from pipelines.registry.tags import DIGEST_TAG, ran_successfully


@pytest.mark.slow
def test_digest_lookup_and_alias(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("strategy-lgbm")
    for version, sha in (("1", "a" * 64), ("2", "b" * 64)):
        mv = client.create_model_version("strategy-lgbm", source=str(tmp_path / version))
        assert str(mv.version) == version
        client.set_model_version_tag("strategy-lgbm", version, DIGEST_TAG, sha)

    registry = MlflowRegistry(uri)
    assert registry.knows("strategy-lgbm", "1", "a" * 64)
    assert not registry.knows("strategy-lgbm", "1", "b" * 64)
    assert not registry.knows("strategy-lgbm", "9", "a" * 64)
    assert not registry.knows("other-model", "1", "a" * 64)

    assert move_alias(uri, "strategy-lgbm", "prod", "1") is None
    assert move_alias(uri, "strategy-lgbm", "prod", "2") == "1"
    assert str(client.get_model_version_by_alias("strategy-lgbm", "prod").version) == "2"
    assert str(client.get_model_version_by_alias("strategy-lgbm", "prod-previous").version) == "1"

    image = "ghcr.io/trading-pipelines/strategy-service@sha256:" + "ab" * 32
    assert ran_successfully(registry.tags("strategy-lgbm", "2") or {}, "prod") is not None
    registry.record_deployed("strategy-lgbm", "2", "prod", image)
    assert ran_successfully(registry.tags("strategy-lgbm", "2") or {}, "prod", image) is None
    registry.record_rolled_back("strategy-lgbm", "2", "prod")
    why = ran_successfully(registry.tags("strategy-lgbm", "2") or {}, "prod", image)
    assert why is not None and why.startswith("was rolled back out of prod")
    assert registry.tags("strategy-lgbm", "9") is None
