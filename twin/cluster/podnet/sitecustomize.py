"""The twin's pod network namespace, for Python processes of a pod (loaded from PYTHONPATH).

Active only when ``TWIN_POD_IP`` is set (the pod runner sets it for project images):

- ``bind(0.0.0.0 | "" | ::, p)`` binds the pod IP; ``bind(127.0.0.1 | localhost | ::1, p)``
  binds the pod's private loopback, which is not the pod IP: a server without ``--host``
  is unreachable from kubelet's probes and from Services, exactly as in Kubernetes;
- ``connect(127.0.0.1, p)`` reaches the pod's private loopback (the pod talks to itself);
  ``connect(TWIN_HOST_ALIAS, p)`` reaches the host's 127.0.0.1 (the twin's own servers,
  which the DNS table below names);
- ``getaddrinfo(name, port)`` answers cluster names from ``TWIN_DNS_FILE`` (re-read when it
  changes): ``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]`` and the twin's servers;
  an unknown ``*.svc`` name fails as NXDOMAIN; anything else goes to the system resolver.

- ``pwd.getpwuid`` of the pod's own uid answers as the image's ``/etc/passwd`` would;
- ``aiodns`` is hidden, so that aiohttp resolves through ``getaddrinfo`` too.

Standard library only; never raises at import (a broken pod network shows as refused
connections, which the probes report).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from typing import Any

_POD_IP = os.environ.get("TWIN_POD_IP", "")
_LOOPBACK = os.environ.get("TWIN_POD_LOOPBACK", "")
_HOST_ALIAS = os.environ.get("TWIN_HOST_ALIAS", "")
_NAMESPACE = os.environ.get("TWIN_POD_NAMESPACE", "default")
_DNS_FILE = os.environ.get("TWIN_DNS_FILE", "")
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".twin.internal", ".cluster.local")
_table: dict[str, list[list[Any]]] = {}
_table_mtime = -1.0


def _load() -> dict[str, list[list[Any]]]:
    global _table, _table_mtime  # noqa: PLW0603 - one cached table per process
    try:
        mtime = os.stat(_DNS_FILE).st_mtime  # noqa: PTH116 - keep this module minimal
        if mtime != _table_mtime:
            with open(_DNS_FILE, encoding="utf-8") as handle:  # noqa: PTH123
                _table, _table_mtime = json.load(handle), mtime
    except (OSError, ValueError):
        pass
    return _table


def _map_bind(family: int, address: Any) -> Any:
    if not isinstance(address, tuple) or not address:
        return address
    host = address[0]
    if family == socket.AF_INET:
        if host in ("", "0.0.0.0"):  # noqa: S104 - that is what is being rewritten
            return (_POD_IP, *address[1:])
        if host in ("127.0.0.1", "localhost"):
            return (_LOOPBACK, *address[1:])
    if family == socket.AF_INET6:
        if host in ("", "::"):
            return (f"::ffff:{_POD_IP}", *address[1:])
        if host in ("::1", "localhost"):
            return (f"::ffff:{_LOOPBACK}", *address[1:])
    return address


def _map_connect(family: int, address: Any) -> Any:
    if not isinstance(address, tuple) or not address:
        return address
    host = address[0]
    if family == socket.AF_INET:
        if host in ("127.0.0.1", "localhost"):
            return (_LOOPBACK, *address[1:])
        if host == _HOST_ALIAS:
            return ("127.0.0.1", *address[1:])
    if family == socket.AF_INET6 and host in ("::1", "::ffff:127.0.0.1"):
        return (f"::ffff:{_LOOPBACK}", *address[1:])
    return address


def _candidates(host: str) -> list[str]:
    name = host.rstrip(".").lower()
    if "." not in name:
        return [f"{name}.{_NAMESPACE}.svc", name]
    parts = name.split(".")
    if len(parts) == 2:  # svc.namespace
        return [f"{name}.svc", name]
    return [name]


def _install() -> None:
    original_bind = socket.socket.bind
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def bind(self: socket.socket, address: Any) -> None:
        original_bind(self, _map_bind(self.family, address))

    def connect(self: socket.socket, address: Any) -> None:
        original_connect(self, _map_connect(self.family, address))

    def connect_ex(self: socket.socket, address: Any) -> int:
        return original_connect_ex(self, _map_connect(self.family, address))

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]  # noqa: A002
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.lower() in ("localhost", "localhost.localdomain"):
            host = "127.0.0.1"
        if isinstance(host, str) and host:
            try:
                number = int(port) if port is not None else 0
            except ValueError:
                number = socket.getservbyname(str(port))
            table = _load()
            for name in _candidates(host):
                targets = table.get(f"{name}:{number}")
                if not targets and not number:  # a name without a port: any of its entries
                    prefix = f"{name}:"
                    targets = [[t[0][0], 0] for k, t in table.items() if k.startswith(prefix)][:1]
                if targets:
                    found = []
                    for ip, target_port in targets:
                        found.extend(
                            original_getaddrinfo(
                                str(ip), int(str(target_port)), family, type, proto, flags
                            )
                        )
                    return found
            if host.rstrip(".").lower().endswith(_CLUSTER_SUFFIXES):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return original_getaddrinfo(host, port, family, type, proto, flags)

    def gethostbyname(host: str) -> str:
        return str(getaddrinfo(host, 0, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])

    socket.socket.bind = bind  # type: ignore[method-assign,assignment]
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname


def _install_passwd() -> None:
    """The image's user for ``pwd.getpwuid``: pods run as a uid the host's passwd lacks.

    A real image lists its user in its own ``/etc/passwd`` (the Dockerfile's ``useradd``), and
    tools ask for it (``getpass.getuser()``: DVC fails with ``getpwuid(): uid not found``).
    """
    import pwd

    uid = os.getuid()
    try:
        pwd.getpwuid(uid)
    except KeyError:
        name = os.environ.get("TWIN_POD_USER") or f"uid{uid}"
        home = os.environ.get("HOME", "/")
        entry = pwd.struct_passwd((name, "x", uid, os.getgid(), "", home, "/usr/sbin/nologin"))
        original = pwd.getpwuid

        def getpwuid(value: int) -> pwd.struct_passwd:
            return entry if value == uid else original(value)

        pwd.getpwuid = getpwuid


if _POD_IP and _LOOPBACK:
    with contextlib.suppress(Exception):  # never break a pod's interpreter at start
        _install()
        # c-ares (aiodns) resolves names itself, past getaddrinfo: aiohttp (DVC's S3 client)
        # then takes its threaded resolver, which asks getaddrinfo as every other client does.
        sys.modules.setdefault("aiodns", None)  # type: ignore[arg-type]
    with contextlib.suppress(Exception):
        _install_passwd()
