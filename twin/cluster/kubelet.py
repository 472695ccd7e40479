"""The kubelet of one pod: init containers, containers, probes, restarts, termination.

Runs in a thread per pod. Containers restart by ``restartPolicy`` (Always: any exit;
OnFailure: non-zero) with kubelet's back-off (10 s doubling to 300 s); a liveness or startup
probe past its failure threshold kills and restarts the container; readiness flips
``Pod.ready``. ``terminate`` runs each container's ``preStop`` hook (exec, httpGet or sleep)
then sends the image's stop signal and SIGKILLs what is left after the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from twin.cluster import reaper
from twin.cluster.containers import Launch
from twin.cluster.interfaces import Obj, Pod
from twin.cluster.probes import ProbeCounter, check

TICK = 0.1
BACKOFF_FIRST, BACKOFF_MAX = 10.0, 300.0


@dataclass
class Container:
    """One container's spec, launch recipe and observed state."""

    spec: Obj
    launch: Launch
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exit_code: int | None = None
    started: float = 0.0
    backoff_until: float = 0.0
    waiting: str = ""  # why it is not running (kubelet's back-off reason)
    counters: list[ProbeCounter] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The container's name."""
        return self.launch.name

    def ready(self) -> bool:
        """Running, started, and its readiness probe (if any) passing."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        return all(c.passing for c in self.counters if c.kind in ("Readiness", "Startup"))

    def run_exec(self, command: list[str], timeout: float) -> tuple[int, str]:
        """Run ``command`` inside the container's context (exec probes and hooks)."""
        launch = self.launch
        argv = [launch.mapper.rewrite(a) for a in command]
        try:
            done = subprocess.run(  # noqa: S603 - the pod spec's command
                argv,
                env=launch.env,
                cwd=launch.cwd,
                user=launch.user,
                group=launch.group,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return 1, f"command timed out after {timeout:.0f}s"
        except OSError as exc:
            return 126, str(exc)
        return done.returncode, (done.stdout + done.stderr).decode(errors="replace")

    def start(self) -> None:
        """(Re)start the process; probe counters start over."""
        self.proc = self.launch.start()
        reaper.record(self.launch.log_dir.parent, self.proc.pid)
        self.started = time.monotonic()
        self.exit_code = None
        self.counters = []
        for key, kind in (
            ("startupProbe", "Startup"),
            ("livenessProbe", "Liveness"),
            ("readinessProbe", "Readiness"),
        ):
            if key in self.spec:
                probe = self.spec[key]
                counter = ProbeCounter(kind, probe, passing=kind == "Liveness")
                counter.next_at = self.started + float(probe.get("initialDelaySeconds", 0))
                self.counters.append(counter)

    def signal(self, signum: int) -> None:
        """Send a signal to the container's process group."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)


class Kubelet:
    """Drives one pod (see module doc); ``notify`` is called on every visible change."""

    def __init__(
        self,
        pod: Pod,
        containers: list[Container],
        init: list[Container],
        notify: Callable[[Pod], None],
    ) -> None:
        self.pod, self.containers, self.init = pod, containers, init
        self.notify = notify
        self.stopping = threading.Event()
        self.policy = str(pod.spec.get("restartPolicy", "Always"))
        self.ports = {
            str(p["name"]): int(p["containerPort"])
            for c in containers
            for p in c.spec.get("ports") or []
            if "name" in p
        }

    def _set(self, **fields: object) -> None:
        changed = any(getattr(self.pod, k) != v for k, v in fields.items())
        for key, value in fields.items():
            setattr(self.pod, key, value)
        if changed:
            self.notify(self.pod)

    def run(self) -> None:
        """Init containers in order, then the containers until the pod ends or is deleted."""
        for container in self.init:
            container.start()
            while container.proc is not None and container.proc.poll() is None:
                if self.stopping.wait(TICK):
                    return
            code = container.proc.returncode if container.proc else 1
            if code != 0:
                self._set(
                    phase="Failed",
                    exit_code=code,
                    message=f"init container {container.name} exited with code {code}",
                )
                return
        for container in self.containers:
            container.start()
        self._set(phase="Running", message="")
        while not self.stopping.wait(TICK):
            if self._tick():
                return

    def _tick(self) -> bool:
        now = time.monotonic()
        messages: list[str] = []
        for container in self.containers:
            if container.proc is None:
                if now >= container.backoff_until:
                    container.start()
                else:
                    messages.append(container.waiting)
                continue
            code = container.proc.poll()
            if code is not None:
                container.exit_code = code
                if self.policy == "Always" or (self.policy == "OnFailure" and code != 0):
                    self._restart_later(container, f"exited with code {code}", now)
                    messages.append(container.waiting)
                continue
            messages.extend(self._probe(container, now))
        restarts = sum(c.restarts for c in self.containers)
        if all(c.proc is not None and c.proc.poll() is not None for c in self.containers):
            codes = [c.proc.returncode for c in self.containers if c.proc is not None]
            failed = next((c for c in self.containers if c.exit_code), None)
            phase = "Failed" if failed else "Succeeded"
            message = (
                f"container {failed.name} exited with code {failed.exit_code}" if failed else ""
            )
            self._set(
                phase=phase,
                ready=False,
                exit_code=max(codes, key=abs),
                message=message,
                restarts=restarts,
            )
            return True
        ready = all(c.ready() for c in self.containers)
        self._set(ready=ready, restarts=restarts, message="" if ready else "; ".join(messages))
        return False

    def _probe(self, container: Container, now: float) -> list[str]:
        messages = []
        startup_done = all(c.passing for c in container.counters if c.kind == "Startup")
        for counter in container.counters:
            if counter.kind != "Startup" and not startup_done:
                continue
            if now >= counter.next_at:
                counter.next_at = now + counter.period
                passed, why = check(counter.probe, self.pod.ip, self.ports, container.run_exec)
                flipped = counter.record(passed, why)
                if flipped is False and counter.kind in ("Liveness", "Startup"):
                    self._kill(container)
                    self._restart_later(container, counter.last_message, now)
                    return [container.waiting]
            if not counter.passing and counter.last_message:
                messages.append(counter.last_message)
            elif not counter.passing:
                messages.append(
                    f"{counter.kind} probe of container {container.name} has not passed yet"
                )
        return messages

    def _restart_later(self, container: Container, why: str, now: float) -> None:
        container.restarts += 1
        delay = min(BACKOFF_FIRST * 2 ** (container.restarts - 1), BACKOFF_MAX)
        container.backoff_until = now + delay
        container.proc = None
        container.waiting = f"back-off {delay:.0f}s restarting container {container.name} ({why})"

    def _kill(self, container: Container) -> None:
        grace = float(self.pod.spec.get("terminationGracePeriodSeconds", 30))
        container.signal(container.launch.stop_signal)
        if container.proc is not None:
            try:
                container.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                container.signal(signal.SIGKILL)
                container.proc.wait()

    def terminate(self, grace: float) -> None:
        """PreStop hooks, the stop signal, SIGKILL after ``grace`` seconds (all containers)."""
        deadline = time.monotonic() + grace
        running = [
            c
            for c in [*self.init, *self.containers]
            if c.proc is not None and c.proc.poll() is None
        ]
        hooks = [threading.Thread(target=self._pre_stop, args=(c, deadline)) for c in running]
        for thread in hooks:
            thread.start()
        for thread in hooks:
            thread.join(max(0.0, deadline - time.monotonic()))
        for container in running:
            container.signal(container.launch.stop_signal)
        for container in running:
            assert container.proc is not None  # noqa: S101 - filtered above
            try:
                container.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                container.signal(signal.SIGKILL)
                container.proc.wait()

    def _pre_stop(self, container: Container, deadline: float) -> None:
        hook = ((container.spec.get("lifecycle") or {}).get("preStop")) or {}
        left = max(0.0, deadline - time.monotonic())
        if "exec" in hook:
            container.run_exec(list(hook["exec"].get("command") or []), left)
        elif "sleep" in hook:
            time.sleep(min(float(hook["sleep"].get("seconds", 0)), left))
        elif "httpGet" in hook:
            spec = hook["httpGet"]
            port = self.ports.get(str(spec.get("port")), spec.get("port"))
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(
                    f"http://{spec.get('host') or self.pod.ip}:{port}{spec.get('path', '/')}",
                    timeout=left,
                )
