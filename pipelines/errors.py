"""Errors that end a command with one readable line and a non-zero exit."""

from __future__ import annotations


class PipelineError(Exception):
    """A failure the user can act on, reported as one line with no traceback.

    The message names the file, row or field and what was expected.

    Attributes:
        exit_code: Process exit status the CLI uses for this error.
    """

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(PipelineError):
    """params.yaml (or another config file) is missing a key, has an unknown key or a wrong type."""


class DataError(PipelineError):
    """Input data failed a hard rule: schema, empty input, unreadable or undecodable file."""


class GateFailed(PipelineError):
    """A promotion gate did not pass (exit status 1, not an error in the tool)."""

    exit_code = 1
