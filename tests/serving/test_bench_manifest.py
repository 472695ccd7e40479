"""The serving benchmark starts the service on a manifest the service accepts.

The benchmark is not in CI (it needs a quiet machine); this keeps its manifest in step with the
registry's schema, which once tightened and left ``make bench`` failing at start-up.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.bench_serving import bench_manifest
from pipelines.serving.source import load_manifest


def test_the_benchmark_manifest_is_one_the_service_loads(tmp_path: Path) -> None:
    uri = (tmp_path / "bundle.json").as_uri()
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(bench_manifest(uri, "ab" * 32), sort_keys=False))
    ref = load_manifest(path)
    assert ref is not None
    assert (ref.uri, ref.sha256) == (uri, "ab" * 32)
