"""CI's test status, recorded for the ``tests_passed`` promotion gate.

CI runs the test suite, then records the outcome for the commit it tested; the gates stage reads
the file and fails closed when it is missing, says anything but passed, or names another commit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import Params
from pipelines.errors import PipelineError
from pipelines.io import atomic
from pipelines.io.gitinfo import git_commit

log = logging.getLogger(__name__)


def status_record(passed: bool, commit: str, recorded_at: datetime) -> dict[str, Any]:
    """The JSON the gates read: outcome, commit and time."""
    return {
        "tests_passed": passed,
        "commit": commit,
        "recorded_at": recorded_at.isoformat(),
    }


def main(params: Params, passed: bool, commit: str | None = None) -> int:
    """Write ``gates.ci_status`` for ``commit`` (default: the checked-out HEAD)."""
    sha = commit or git_commit(Path.cwd())
    if not sha:
        raise PipelineError("record-ci: no --commit given and `git rev-parse HEAD` failed")
    record = status_record(passed, sha, datetime.now(UTC))
    atomic.write_json(params.gates.ci_status, record)
    log.info("recorded tests_passed=%s for %s in %s", passed, sha, params.gates.ci_status)
    return 0
