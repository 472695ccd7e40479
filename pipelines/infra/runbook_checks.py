"""Offline checks of a runbook block's command lines against the tools' own definitions.

``pipelines`` and ``dvc`` lines are parsed by their own argument parsers; ``aws`` lines are
checked against botocore's service models (the AWS CLI's options are the operations' input
members, kebab-cased; booleans also take ``--no-``), and ``aws <service> wait`` against the
waiter models. Shell expansions stay as words: a ``"${args[@]}"`` array is dropped and any other
``$VAR`` stands for one value.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from typing import Any

from pipelines.infra.runbook import RunbookBlock, command_lines

_ARRAY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\[@\]\}$")
AWS_GLOBAL = frozenset({"--region", "--query", "--output", "--profile", "--no-cli-pager"})
# CLI commands that are not service operations (customizations of the AWS CLI).
AWS_CUSTOM = {("eks", "update-kubeconfig"), ("s3", "ls"), ("s3", "cp"), ("s3", "sync")}


def _words(argv: list[str]) -> list[str]:
    return [word for word in argv if not _ARRAY.match(word)]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _parse(parser: Any, argv: list[str], logger: str = "") -> str | None:
    """None when ``parser`` accepts ``argv``, else its error line.

    argparse writes its error to stderr and exits; DVC's parser logs it and raises.
    """
    stderr = io.StringIO()
    records = _Records()
    log = logging.getLogger(logger) if logger else None
    if log:
        log.addHandler(records)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            return None
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {exc.code}"
    except Exception as exc:  # noqa: BLE001 - DVC raises its own parser error after logging
        return records.messages[-1] if records.messages else f"{type(exc).__name__}: {exc}"
    finally:
        if log:
            log.removeHandler(records)
    return None


def pipelines_problems(block: RunbookBlock) -> list[str]:
    """``pipelines ...`` lines the CLI's parser rejects."""
    from pipelines.cli import build_parser

    problems = []
    for argv in command_lines(block.script, "pipelines"):
        error = _parse(build_parser(), _words(argv))
        if error:
            problems.append(f"{block.name}: pipelines {' '.join(argv)}: {error}")
    return problems


def dvc_problems(block: RunbookBlock) -> list[str]:
    """``dvc ...`` lines DVC's parser rejects."""
    from dvc.cli.parser import get_main_parser

    problems = []
    for argv in command_lines(block.script, "dvc"):
        error = _parse(get_main_parser(), _words(argv), logger="dvc")
        if error:
            problems.append(f"{block.name}: dvc {' '.join(argv)}: {error}")
    return problems


def _aws_options(argv: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in argv if word.startswith("--")]


def aws_problems(block: RunbookBlock) -> list[str]:
    """``aws <service> <operation>|wait <waiter> --options`` unknown to botocore's models."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    problems = []
    for argv in command_lines(block.script, "aws"):
        words = _words(argv)
        where = f"{block.name}: aws {' '.join(words[:2])}"
        if len(words) < 2 or (words[0], words[1]) in AWS_CUSTOM:
            continue
        try:
            model = session.get_service_model(words[0])
        except Exception:  # noqa: BLE001 - botocore raises UnknownServiceError and kin
            problems.append(f"{where}: no service {words[0]}")
            continue
        if words[1] == "wait" and len(words) > 2:
            waiters = {
                xform_name(n, "-"): n for n in session.get_waiter_model(words[0]).waiter_names
            }
            if words[2] not in waiters:
                problems.append(f"{where}: no waiter {words[2]}")
                continue
            waiter = session.get_waiter_model(words[0]).get_waiter(waiters[words[2]])
            operation = model.operation_model(waiter.operation)
        else:
            operations = {xform_name(n, "-"): n for n in model.operation_names}
            if words[1] not in operations:
                problems.append(f"{where}: no operation {words[1]}")
                continue
            operation = model.operation_model(operations[words[1]])
        members = operation.input_shape.members if operation.input_shape else {}
        allowed = set(AWS_GLOBAL)
        for name, shape in members.items():
            option = f"--{xform_name(name, '-')}"
            allowed.add(option)
            if shape.type_name == "boolean":
                allowed.add(f"--no-{option[2:]}")
        for option in _aws_options(words):
            if option not in allowed:
                problems.append(f"{where}: no option {option}")
    return problems


def block_problems(block: RunbookBlock) -> list[str]:
    """Every offline problem of one block (empty: it is well formed)."""
    from pipelines.infra.runbook import bash_problems, variable_problems

    return [
        *bash_problems(block),
        *variable_problems(block),
        *pipelines_problems(block),
        *dvc_problems(block),
        *aws_problems(block),
    ]


_RUNBOOK_NAME = re.compile(r"\$\{?NAME_PREFIX\}?-([a-z0-9][a-z0-9-]*)")
_TERRAFORM_NAME = re.compile(r"\$\{var\.name_prefix\}-((?:[A-Za-z0-9_.-]|\$\{[^}]+\})+)")
# Names the runbook gives new instances itself (the restored database before the swap).
RUNBOOK_CREATES = frozenset({"mlflow-restored", "mlflow-damaged"})


def terraform_names(tree: Any) -> set[str]:
    """Suffixes after ``<name_prefix>-`` of every name Terraform gives (variables resolved)."""
    from pipelines.infra.hcl import blocks, walk_strings

    found: set[str] = set()
    for directory in sorted(d for d in tree.dirs if d.startswith("modules/")):
        files = tree.in_dir(directory)
        defaults = {
            name: body.get("default") for tf in files for name, body in blocks(tf.doc, "variable")
        }
        for tf in files:
            for text in walk_strings({k: v for k, v in tf.doc.items() if k != "variable"}):
                for match in _TERRAFORM_NAME.finditer(text):
                    found.add(_with_defaults(match.group(1), defaults))
    return found


def _with_defaults(text: str, defaults: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        return str(defaults.get(match.group(1), match.group(0)))

    return re.sub(r"\$\{var\.([A-Za-z0-9_]+)\}", value, text)


def terraform_name_problems(block: RunbookBlock, names: set[str]) -> list[str]:
    """``$NAME_PREFIX-<name>`` in a block that Terraform does not create (nor the block)."""
    return [
        f"{block.name}: $NAME_PREFIX-{suffix}: Terraform names nothing so"
        for suffix in sorted(set(_RUNBOOK_NAME.findall(block.script)) - names - RUNBOOK_CREATES)
    ]
