"""Loopback addresses for pods and Service cluster IPs, unique across every twin on the machine.

Linux routes all of 127.0.0.0/8 to the loopback device, so each pod gets an address of its
own: 127.0.0.2 upward (127.0.0.2-127.0.63.254). Its pod-private loopback (what the pod sees as
127.0.0.1) is the same address with the second octet set to 1 (127.0.0.2 -> 127.1.0.2), so it
is unreachable on the pod IP. Cluster IPs for Services start at 127.0.64.1.

Several twins (tests of several checkouts) may run at once: an address is held by an exclusive
``flock`` on a file in the system temp folder, released by the kernel when the holder dies,
so a crashed cluster never leaks addresses. Freed addresses go to the back of the queue, so a
stale client of a deleted pod does not reach the next pod at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import IO

from twin.errors import TwinError

POD_RANGE = (2, 63 * 256 + 254)  # offsets from 127.0.0.0
SERVICE_RANGE = (64 * 256 + 1, 127 * 256 + 254)


def _address(offset: int) -> str:
    return f"127.0.{offset // 256}.{offset % 256}"


def _usable(offset: int) -> bool:
    return offset % 256 not in (0, 255)


def private_loopback(pod_ip: str) -> str:
    """The pod-private address that stands for the pod's 127.0.0.1 (127.0.A.B -> 127.1.A.B)."""
    parts = pod_ip.split(".")
    return f"127.1.{parts[2]}.{parts[3]}"


class AddressPool:
    """Hands out loopback addresses from a range, one machine-wide lock file per address."""

    def __init__(self, first: int, last: int, lock_dir: Path | None = None) -> None:
        self._free: deque[int] = deque(o for o in range(first, last + 1) if _usable(o))
        self._held: dict[str, IO[bytes]] = {}
        self._lock = threading.Lock()
        self._dir = lock_dir or Path(tempfile.gettempdir()) / "twin-podnet"
        self._dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            self._dir.chmod(0o1777)

    def acquire(self) -> str:
        """The next free address (held until ``release``).

        Raises:
            TwinError: Every address of the range is held.
        """
        with self._lock:
            for _ in range(len(self._free)):
                offset = self._free.popleft()
                address = _address(offset)
                handle = (self._dir / f"{address}.lock").open("ab")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    self._free.append(offset)  # held by another twin on this machine
                    continue
                handle.truncate(0)
                handle.write(f"{os.getpid()}\n".encode())
                handle.flush()
                self._held[address] = handle
                return address
        raise TwinError("pod network: no free loopback address left")

    def release(self, address: str) -> None:
        """Give an address back (to the end of the queue)."""
        with self._lock:
            handle = self._held.pop(address, None)
            if handle is None:
                return
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            parts = [int(p) for p in address.split(".")]
            self._free.append(parts[2] * 256 + parts[3])

    def held(self) -> list[str]:
        """Addresses this pool holds now."""
        with self._lock:
            return sorted(self._held)


def pod_pool(lock_dir: Path | None = None) -> AddressPool:
    """The pool of pod IPs (127.0.0.2 upward)."""
    return AddressPool(*POD_RANGE, lock_dir=lock_dir)


def service_pool(lock_dir: Path | None = None) -> AddressPool:
    """The pool of Service cluster IPs (127.0.64.1 upward)."""
    return AddressPool(*SERVICE_RANGE, lock_dir=lock_dir)
