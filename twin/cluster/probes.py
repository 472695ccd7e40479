"""Kubelet probes: one check, and the per-probe counters kubelet keeps.

``httpGet`` goes to the **pod IP** (``host`` defaults to it) at a numeric or named port and
passes on 200-399; ``tcpSocket`` connects; ``exec`` runs the command in the container's
context and passes on exit 0. Failure messages are kubelet's event texts, naming the URL:
``Readiness probe failed: Get "http://127.0.0.5:8080/readyz": dial tcp 127.0.0.5:8080:
connect: connection refused``. Defaults are Kubernetes': period 10 s, timeout 1 s, failure
threshold 3, success threshold 1, no initial delay.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from dataclasses import dataclass

from twin.cluster.interfaces import Obj

ExecRunner = Callable[[list[str], float], tuple[int, str]]


def _port(probe_port: object, ports: dict[str, int]) -> int:
    if isinstance(probe_port, int) or (isinstance(probe_port, str) and probe_port.isdigit()):
        return int(probe_port)
    if probe_port in ports:
        return ports[str(probe_port)]
    raise ValueError(f"port {probe_port!r} is not a container port name")


def _dial_error(exc: OSError, host: str, port: int) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"dial tcp {host}:{port}: i/o timeout"
    reason = {
        111: "connection refused",
        113: "no route to host",
        99: "cannot assign requested address",
    }
    return (
        f"dial tcp {host}:{port}: connect: {reason.get(exc.errno or 0, exc.strerror or str(exc))}"
    )


def check(probe: Obj, pod_ip: str, ports: dict[str, int], run_exec: ExecRunner) -> tuple[bool, str]:
    """Run one probe; ``(passed, why not)`` with kubelet's wording (without the prefix)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        spec = probe["httpGet"]
        host = spec.get("host") or pod_ip
        try:
            port = _port(spec.get("port"), ports)
        except ValueError as exc:
            return False, str(exc)
        path = spec.get("path", "/")
        scheme = str(spec.get("scheme", "HTTP")).lower()
        url = f"{scheme}://{host}:{port}{path}"
        if scheme != "http":
            return False, f'Get "{url}": HTTPS probes are not supported by the twin'
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.32")
            conn.request("GET", path, headers=headers)
            status = conn.getresponse().status
        except OSError as exc:
            return False, f'Get "{url}": {_dial_error(exc, host, port)}'
        except http.client.HTTPException as exc:
            return False, f'Get "{url}": {exc.__class__.__name__}'
        finally:
            conn.close()
        if 200 <= status < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {status} ({url})"
    if "tcpSocket" in probe:
        spec = probe["tcpSocket"]
        host = spec.get("host") or pod_ip
        try:
            port = _port(spec.get("port"), ports)
            socket.create_connection((host, port), timeout=timeout).close()
        except ValueError as exc:
            return False, str(exc)
        except OSError as exc:
            return False, _dial_error(exc, host, port)
        return True, ""
    if "exec" in probe:
        code, output = run_exec(list(probe["exec"].get("command") or []), timeout)
        if code == 0:
            return True, ""
        return False, f"command exited with {code}: {output.strip()[-200:]}"
    return False, f"probe type {', '.join(probe)} is not supported by the twin"


@dataclass
class ProbeCounter:
    """Consecutive results of one probe and the state they imply."""

    kind: str  # Liveness | Readiness | Startup
    probe: Obj
    passing: bool = False
    successes: int = 0
    failures: int = 0
    last_message: str = ""
    next_at: float = 0.0

    @property
    def period(self) -> float:
        """Seconds between checks."""
        return float(self.probe.get("periodSeconds", 10))

    def record(self, passed: bool, message: str) -> bool | None:
        """Count a result; returns the new state when it flips (True: passing), else None."""
        if passed:
            self.successes, self.failures = self.successes + 1, 0
            needed = int(self.probe.get("successThreshold", 1))
            if not self.passing and self.successes >= needed:
                self.passing = True
                return True
            return None
        self.failures, self.successes = self.failures + 1, 0
        self.last_message = f"{self.kind} probe failed: {message}"
        if self.passing and self.failures >= int(self.probe.get("failureThreshold", 3)):
            self.passing = False
            return False
        if not self.passing and self.failures >= int(self.probe.get("failureThreshold", 3)):
            return False
        return None
