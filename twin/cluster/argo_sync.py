"""Argo's ``synchronization.mutexes``: one holder per mutex, a FIFO queue of waiters, never a drop.

Keys are Argo's: ``<namespace>/Mutex/<name>``. A waiter shows Argo's message ("Waiting for
argo/Mutex/deploy-prod lock. Lock status: 0/1") until it holds the lock; it leaves the queue
only when it gets the lock or is cancelled (its workflow was stopped or deleted).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from twin.errors import TwinError


def mutex_keys(synchronization: dict[str, object] | None, namespace: str) -> list[str]:
    """The mutex keys a ``synchronization`` block asks for (sorted: no lock-order deadlock).

    Raises:
        TwinError: ``mutex`` (singular, removed in Argo Workflows v4) or ``semaphores``.
    """
    if not synchronization:
        return []
    if "mutex" in synchronization:
        raise TwinError(
            "synchronization.mutex was removed in Argo Workflows v4 (the API server drops "
            "it, so nothing would be locked): use mutexes: [{name: ...}]"
        )
    if synchronization.get("semaphores"):
        raise TwinError("synchronization.semaphores are not supported by the twin")
    keys = []
    for mutex in synchronization.get("mutexes") or []:  # type: ignore[attr-defined]
        if not isinstance(mutex, dict) or not mutex.get("name"):
            raise TwinError("synchronization.mutexes: every entry needs a name")
        keys.append(f"{mutex.get('namespace') or namespace}/Mutex/{mutex['name']}")
    return sorted(set(keys))


class Mutexes:
    """The cluster's mutexes (shared by every workflow of the executor)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders: dict[str, str] = {}
        self._queues: dict[str, list[str]] = {}

    def acquire(
        self, key: str, holder: str, waiting: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> bool:
        """Block until ``holder`` holds ``key`` (True) or ``cancelled()`` (False)."""
        with self._cond:
            queue = self._queues.setdefault(key, [])
            if holder not in queue and self._holders.get(key) != holder:
                queue.append(holder)
            told = False
            while True:
                if self._holders.get(key) == holder:
                    return True
                if key not in self._holders and queue and queue[0] == holder:
                    queue.pop(0)
                    self._holders[key] = holder
                    return True
                if cancelled():
                    if holder in queue:
                        queue.remove(holder)
                    self._cond.notify_all()
                    return False
                if not told:
                    waiting(f"Waiting for {key} lock. Lock status: 0/1")
                    told = True
                self._cond.wait(timeout=0.5)

    def release(self, key: str, holder: str) -> None:
        """Give ``key`` back (no-op unless ``holder`` holds it)."""
        with self._cond:
            if self._holders.get(key) == holder:
                del self._holders[key]
                self._cond.notify_all()

    def status(self, holder: str) -> dict[str, list[dict[str, str]]]:
        """``status.synchronization.mutex`` for one workflow: what it holds and waits for."""
        with self._cond:
            holding = [
                {"mutex": k, "holder": holder} for k, h in self._holders.items() if h == holder
            ]
            waiting = [
                {"mutex": k, "holder": self._holders.get(k, "")}
                for k, q in self._queues.items()
                if holder in q
            ]
        return {"holding": holding, "waiting": waiting}
