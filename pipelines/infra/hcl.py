"""Load a Terraform tree with python-hcl2 into plain dicts, and the shared finding type.

Only this module reads files; the rules in ``checks`` and ``conventions`` are pure functions of
the loaded :class:`TfTree`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from pipelines.errors import PipelineError

_META_KEYS = frozenset({"__is_block__", "__comments__", "__start_line__", "__end_line__"})
# The one variable of each environment root: its terraform.tfvars sets the sizing as this object.
SETTINGS_VARIABLE = "platform"


@dataclass(frozen=True)
class Finding:
    """One broken rule: where it is and what was expected.

    Attributes:
        path: File path relative to the scanned root.
        where: Block address inside the file, e.g. ``aws_s3_bucket.data``.
        message: What is wrong and what was expected.
    """

    path: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message}"


@dataclass(frozen=True)
class TfFile:
    """One parsed ``.tf`` or ``.tfvars`` file.

    Attributes:
        path: Path relative to the scanned root (POSIX separators).
        doc: python-hcl2 output with string quotes stripped.
        text: Raw file text (for comment-level rules such as checkov skip reasons).
    """

    path: str
    doc: dict[str, Any]
    text: str

    @property
    def directory(self) -> str:
        """Directory of the file relative to the root ('' for the root itself)."""
        parent = str(Path(self.path).parent)
        return "" if parent == "." else parent


@dataclass(frozen=True)
class TfTree:
    """Every Terraform file under a root, grouped by directory.

    Attributes:
        files: Parsed files in path order.
        dirs: Names of all files (parsed or not) in each directory that holds ``.tf`` files.
    """

    files: tuple[TfFile, ...]
    dirs: dict[str, frozenset[str]] = field(default_factory=dict)

    def in_dir(self, directory: str, suffix: str = ".tf") -> list[TfFile]:
        """Files of one directory whose name ends with ``suffix``."""
        return [f for f in self.files if f.directory == directory and f.path.endswith(suffix)]


def blocks(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(label, body)`` of every one-label block (variable, output, module, provider).

    Args:
        doc: A parsed file.
        kind: Block type, e.g. ``variable``.
    """
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            if label not in _META_KEYS and isinstance(body, dict):
                yield label, body


def resources(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield ``(type, name, body)`` of every managed resource in a parsed file."""
    for rtype, by_name in blocks(doc, "resource"):
        for name, body in by_name.items():
            if name not in _META_KEYS and isinstance(body, dict):
                yield rtype, name, body


def sub_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Nested blocks called ``name`` inside a block body (empty when absent)."""
    value = body.get(name, [])
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def environment_settings(tree: TfTree, env: str) -> tuple[str, dict[str, Any]] | None:
    """``(path, settings)`` of ``environments/<env>/terraform.tfvars``, or None when absent.

    The settings are the :data:`SETTINGS_VARIABLE` object; an empty dict when the file does not
    set it as an object (the wiring rule reports that).
    """
    files = tree.in_dir(f"environments/{env}", suffix="terraform.tfvars")
    if not files:
        return None
    settings = files[0].doc.get(SETTINGS_VARIABLE)
    return files[0].path, settings if isinstance(settings, dict) else {}


def walk_strings(value: Any) -> Iterator[str]:
    """Yield every string inside a parsed value, skipping comments and metadata."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _META_KEYS:
                yield key
                yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def is_expression(value: Any) -> bool:
    """Whether a parsed value is (or contains) an expression rather than a pure literal."""
    return isinstance(value, str) and "${" in value


_VERSIONED = re.compile(r"\.(tf|tfvars)$")


def load_tree(root: Path) -> TfTree:
    """Parse every ``.tf`` and ``.tfvars`` file under ``root``.

    Args:
        root: Directory to scan recursively (``.terraform`` folders are ignored).

    Returns:
        The parsed tree.

    Raises:
        PipelineError: A file is not valid HCL (the message names the file).
    """
    if not hasattr(hcl2, "SerializationOptions"):
        raise PipelineError("python-hcl2 >= 8 is required (SerializationOptions is missing)")
    options = hcl2.SerializationOptions(strip_string_quotes=True)
    files: list[TfFile] = []
    dirs: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if ".terraform" in relative.parts or not path.is_file():
            continue
        if not _VERSIONED.search(path.name):
            continue
        text = path.read_text(encoding="utf-8")
        try:
            doc = hcl2.loads(text, serialization_options=options)
        except Exception as exc:  # python-hcl2 raises lark errors of several types
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise PipelineError(f"{path}: not valid HCL: {first_line}") from exc
        files.append(TfFile(relative.as_posix(), doc, text))
        if path.suffix == ".tf":
            parent = relative.parent.as_posix()
            key = "" if parent == "." else parent
            dirs.setdefault(key, set()).update(p.name for p in path.parent.iterdir())
    return TfTree(tuple(files), {key: frozenset(names) for key, names in dirs.items()})
