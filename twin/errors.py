"""The twin's one error type: a message that names what failed and what was expected."""

from __future__ import annotations


class TwinError(Exception):
    """A twin step failed; the message is one line naming the seam (service, step, object)."""
