"""YAML loading through libyaml when PyYAML was built with it (several times faster).

``yaml.CSafeLoader`` builds the same Python objects as ``yaml.SafeLoader`` (same resolver and
constructors); only the scanner and parser are C. Lint and the renderers load every manifest,
workflow and rendered overlay of the repository, so the pure-Python parser was a second per run.
Text libyaml refuses is parsed again by the pure-Python parser, so an error names the same line
and problem as ``yaml.safe_load`` would.
"""

from __future__ import annotations

from typing import Any

import yaml

FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """The one document in ``text`` (None when empty), as ``yaml.safe_load``.

    Raises:
        yaml.YAMLError: As ``yaml.safe_load`` raises it.
    """
    try:
        return yaml.load(text, Loader=FastLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)


def load_all(text: str) -> list[Any]:
    """Every document in ``text``, as ``list(yaml.safe_load_all(text))``.

    Raises:
        yaml.YAMLError: As ``yaml.safe_load_all`` raises it.
    """
    try:
        return list(yaml.load_all(text, Loader=FastLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return list(yaml.safe_load_all(text))
