"""Concurrency groups with GitHub's rule: at most one running and one pending per group.

A newcomer to a busy group waits as *pending* and cancels the group's older pending entry
(``queue: single``, the default; ``queue: max`` keeps up to 100 pending in FIFO order).
``cancel-in-progress`` also cancels what is running. Group names ignore case.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.github.expr_values import ExpressionError, to_str, truthy
from twin.github.expressions import Context, render, render_str

MAX_QUEUE = 100


@dataclass(eq=False)
class Holder:
    """A run or job that takes a place in a group."""

    name: str
    cancelled: threading.Event
    on_cancel: Callable[[str], None] = lambda message: None
    on_pending: Callable[[], None] = lambda: None

    def cancel(self, message: str) -> None:
        """Cancel this holder with GitHub's message."""
        self.on_cancel(message)
        self.cancelled.set()


@dataclass
class _Group:
    running: Holder | None = None
    pending: deque[Holder] = field(default_factory=deque)


class ConcurrencyGroups:
    """Every group of the repository."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._groups: dict[str, _Group] = {}

    def acquire(
        self, group: str, holder: Holder, *, cancel_in_progress: bool, queue: str = "single"
    ) -> bool:
        """Wait for the group's running place; False when cancelled while pending."""
        key = group.casefold()
        message = f"Canceling since a higher priority waiting request for {group} exists"
        with self._cond:
            entry = self._groups.setdefault(key, _Group())
            if cancel_in_progress:
                if entry.running is not None:
                    entry.running.cancel(message)
                while entry.pending:
                    entry.pending.popleft().cancel(message)
            if entry.running is None and not entry.pending:
                entry.running = holder
                return True
            if queue == "single":
                while entry.pending:
                    entry.pending.popleft().cancel(message)
            elif len(entry.pending) >= MAX_QUEUE:
                holder.cancel(f"the concurrency queue of {group} is full")
                return False
            entry.pending.append(holder)
            holder.on_pending()
            self._cond.notify_all()
            while True:
                if holder.cancelled.is_set():
                    if holder in entry.pending:
                        entry.pending.remove(holder)
                    self._cond.notify_all()
                    return False
                if entry.running is None and entry.pending and entry.pending[0] is holder:
                    entry.pending.popleft()
                    entry.running = holder
                    return True
                self._cond.wait(timeout=0.5)

    def release(self, group: str, holder: Holder) -> None:
        """Free the group's running place (when ``holder`` holds it)."""
        with self._cond:
            entry = self._groups.get(group.casefold())
            if entry is not None and entry.running is holder:
                entry.running = None
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake pending holders (one was cancelled from outside)."""
        with self._cond:
            self._cond.notify_all()


def concurrency_spec(spec: Any, ctx: Context) -> tuple[str | None, bool, str]:
    """``(group, cancel-in-progress, queue)`` of a ``concurrency`` value, evaluated."""
    if spec is None:
        return None, False, "single"
    if isinstance(spec, str):
        return render_str(spec, ctx) or None, False, "single"
    group = render_str(spec.get("group"), ctx)
    cancel = truthy(render(spec.get("cancel-in-progress", False), ctx))
    queue = to_str(spec.get("queue", "single"))
    if queue not in ("single", "max") or (queue == "max" and cancel):
        raise ExpressionError(f"concurrency: queue '{queue}' is invalid here")
    return group or None, cancel, queue
