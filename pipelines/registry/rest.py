"""The few registry calls of a deploy, promotion or rollback through MLflow's REST API.

A deploy's ``registry-alias`` step, ``pipelines promote`` and ``pipelines rollback`` read one
model version's tags, set tags and move an alias. Through :class:`mlflow.MlflowClient` each
such command first imports MLflow (with pandas: 1.3-1.7 s of a 3.3 s step on 2 cores); these
calls are plain JSON over HTTP (``/api/2.0/mlflow/...``, the endpoints the client itself uses).

Only where that is the same thing: an ``http(s)://`` tracking server with none of the
``MLFLOW_TRACKING_*`` authentication or TLS variables set. With any of them, or a local store
(``sqlite:///...``), :mod:`pipelines.registry.versions` uses the MLflow client, which handles
them all. :class:`RestClient` has the client's method names and arguments, so the registry
code is written once for both. Transient failures (connection refused, 429, 5xx) are retried
with backoff, as the client retries them.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

# Set any of these and the MLflow client (which knows them all) makes the call instead.
CLIENT_ONLY_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_AUTH",
)
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 5
TIMEOUT_SECONDS = 60


class RestError(Exception):
    """The server answered with an MLflow error (``error_code``) or could not be reached."""

    def __init__(self, message: str, error_code: str = "", status: int = 0) -> None:
        """Keep the server's error code and HTTP status for callers to branch on."""
        super().__init__(message)
        self.error_code = error_code
        self.status = status


def applies(tracking_uri: str) -> bool:
    """Whether ``tracking_uri`` is a server these calls reach exactly as the client would."""
    scheme = urllib.parse.urlsplit(tracking_uri).scheme
    return scheme in ("http", "https") and not any(os.environ.get(v) for v in CLIENT_ONLY_VARIABLES)


def _request(
    tracking_uri: str, method: str, endpoint: str, payload: dict[str, str]
) -> urllib.request.Request:
    url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/{endpoint}"
    if method == "GET":
        return urllib.request.Request(f"{url}?{urllib.parse.urlencode(payload)}", method="GET")  # noqa: S310 - http(s) only (applies)
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    return urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310


def call(tracking_uri: str, method: str, endpoint: str, payload: dict[str, str]) -> dict[str, Any]:
    """One REST call; its JSON answer.

    Raises:
        RestError: The server refused it (its ``error_code``), or stayed unreachable.
    """
    delay = 0.5
    for attempt in range(1, ATTEMPTS + 1):
        request = _request(tracking_uri, method, endpoint, payload)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                return dict(json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if exc.code not in RETRIED_STATUS or attempt == ATTEMPTS:
                try:
                    error = json.loads(text)
                except ValueError:
                    error = {}
                message = error.get("message") or text.strip()[:200] or exc.reason
                raise RestError(
                    f"{endpoint}: HTTP {exc.code}: {message}", error.get("error_code", ""), exc.code
                ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == ATTEMPTS:
                raise RestError(f"{endpoint}: {getattr(exc, 'reason', exc)}") from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Version:
    """The fields of an MLflow ``ModelVersion`` that the delivery calls read."""

    version: str
    tags: dict[str, str]


def _version(found: dict[str, Any]) -> Version:
    version = found["model_version"]
    pairs = version.get("tags", [])
    return Version(str(version["version"]), {t["key"]: t.get("value", "") for t in pairs})


@dataclass(frozen=True)
class RestClient:
    """The :class:`mlflow.MlflowClient` methods of a deploy's registry calls, same arguments."""

    tracking_uri: str

    def get_model_version(self, name: str, version: str) -> Version:
        """One model version (:class:`RestError` with error code when it does not exist)."""
        payload = {"name": name, "version": version}
        return _version(call(self.tracking_uri, "GET", "model-versions/get", payload))

    def get_model_version_by_alias(self, name: str, alias: str) -> Version:
        """The version ``alias`` points at (:class:`RestError` when it is unset)."""
        payload = {"name": name, "alias": alias}
        return _version(call(self.tracking_uri, "GET", "registered-models/alias", payload))

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set one tag on a model version."""
        payload = {"name": name, "version": version, "key": key, "value": value}
        call(self.tracking_uri, "POST", "model-versions/set-tag", payload)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        payload = {"name": name, "alias": alias, "version": version}
        call(self.tracking_uri, "POST", "registered-models/alias", payload)
