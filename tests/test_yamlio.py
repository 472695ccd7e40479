"""pipelines.io.yamlio: the same objects and the same errors as PyYAML's safe loaders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.io import yamlio

ROOT = Path(__file__).resolve().parents[1]


def test_the_repositorys_yaml_loads_to_the_same_objects() -> None:
    files = [
        *ROOT.glob(".github/workflows/*.yml"),
        *ROOT.glob("environments/**/*.yaml"),
        *ROOT.glob("deploy/argo/*.yaml"),
        *ROOT.glob("monitoring/**/*.yml"),
        ROOT / "params.yaml",
        ROOT / "dvc.yaml",
    ]
    assert len(files) > 20
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert yamlio.load_all(text) == list(yaml.safe_load_all(text)), file


@pytest.mark.parametrize(
    "text",
    [
        "model: [",
        "a: 1\n  b: 2\n",
        "a: 'x\n",
        "- a\nb: 1\n",
        "a: *nope\n",
        "a: !!python/name:os.system ''",
    ],
)
def test_bad_text_raises_what_safe_load_raises(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as ours:
        yamlio.load(text)
    with pytest.raises(yaml.YAMLError) as theirs:
        yaml.safe_load(text)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(yaml.YAMLError) as ours_all:
        yamlio.load_all(text)
    assert str(ours_all.value) == str(theirs.value)


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    assert yamlio.FastLoader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert yamlio.load("on: push\nn: 012\n") == {True: "push", "n": 10}  # YAML 1.1 as before
