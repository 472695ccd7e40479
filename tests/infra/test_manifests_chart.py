"""The local chart that installs the platform's own objects: one version, verbatim rendering."""

from __future__ import annotations

import yaml

from pipelines.infra.hcl import blocks, load_tree
from tests.conftest import REPO_ROOT

CHART = REPO_ROOT / "terraform" / "charts" / "manifests"


def test_every_module_pins_the_chart_s_own_version() -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    tree = load_tree(REPO_ROOT / "terraform")
    pins = {
        tf.directory: body.get("default")
        for tf in tree.files
        for name, body in blocks(tf.doc, "variable")
        if name == "manifests_chart_version"
    }
    assert sorted(pins) == ["modules/argo", "modules/cluster-base", "modules/monitoring"]
    assert set(pins.values()) == {version}


def test_the_template_renders_values_as_data() -> None:
    # toYaml of each object: Helm never evaluates {{ ... }} inside the values (no tpl).
    template = (CHART / "templates" / "manifests.yaml").read_text(encoding="utf-8")
    assert "{{ toYaml . }}" in template and "tpl" not in template
