"""Batch-job metrics pushed to the Prometheus Pushgateway (CI runners and Argo pods are ephemeral).

Every push goes to one group, keyed by ``job`` (always ``pipelines``), ``pipeline`` (``data``,
``training``, ``feature_health``, ``deployment``, ``promotion``, ...) and ``environment`` (the
environment the run served). Prometheus scrapes the gateway with ``honor_labels: true``, so these
labels reach the alert rules unchanged. A push replaces the whole group (``push_to_gateway``,
HTTP PUT), so what a run does not repeat is carried forward from the group's current values:
the previous outcome's timestamp and the run counters survive the next run.

The gateway's URL comes from ``PUSHGATEWAY_URL``; without it, commands write textfiles instead
(local runs). The environment label comes from ``--environment`` or ``PIPELINES_ENVIRONMENT``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import httpx
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from pipelines.errors import PipelineError

JOB = "pipelines"
URL_ENV = "PUSHGATEWAY_URL"
ENVIRONMENT_ENV = "PIPELINES_ENVIRONMENT"
DEFAULT_ENVIRONMENT = "local"
TIMEOUT_SECONDS = 10.0
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]+$")


class PushError(PipelineError):
    """The Pushgateway could not be read or refused a push."""


def gateway_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Pushgateway URL from the environment, or None (write textfiles instead)."""
    value = (os.environ if environ is None else environ).get(URL_ENV, "").strip()
    return value.rstrip("/") or None


def environment_label(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The ``environment`` grouping label: ``explicit``, else the environment variable.

    Raises:
        PipelineError: The value has characters other than letters, digits and ``_.:-``.
    """
    env = os.environ if environ is None else environ
    value = explicit or env.get(ENVIRONMENT_ENV, "").strip() or DEFAULT_ENVIRONMENT
    if not _LABEL_VALUE.match(value):
        raise PipelineError(f"--environment: expected letters, digits or _.:-, got {value!r}")
    return value


def grouping_key(pipeline: str, environment: str) -> dict[str, str]:
    """The labels besides ``job`` that name a run's group."""
    return {"pipeline": pipeline, "environment": environment}


def group_text(url: str, pipeline: str, environment: str) -> str:
    """The group's current samples as text exposition (empty when the group does not exist).

    Only samples of this exact group are kept (``job``, ``pipeline`` and ``environment`` all
    match); the gateway's own ``push_time_seconds`` series are dropped, and so are the ``job``
    label and the empty ``instance`` label the gateway adds.

    Raises:
        PushError: The gateway cannot be reached or does not answer 200.
    """
    try:
        response = httpx.get(f"{url}/metrics", timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise PushError(f"{URL_ENV}={url}: cannot read the Pushgateway ({exc})") from None
    if response.status_code != 200:
        raise PushError(f"{URL_ENV}={url}: GET /metrics answered HTTP {response.status_code}")
    wanted = {"job": JOB, **grouping_key(pipeline, environment)}
    lines = []
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("push_") or any(
                sample.labels.get(k) != v for k, v in wanted.items()
            ):
                continue
            labels = ",".join(
                f'{k}="{_escape(v)}"'
                for k, v in sorted(sample.labels.items())
                if k != "job" and not (k == "instance" and v == "")
            )
            lines.append(f"{sample.name}{{{labels}}} {sample.value!r}")
    return "\n".join(lines) + ("\n" if lines else "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def push(url: str, pipeline: str, environment: str, registry: CollectorRegistry) -> None:
    """Replace the run's group with ``registry`` (``push_to_gateway``, HTTP PUT).

    Raises:
        PushError: The gateway cannot be reached or refused the push.
    """
    try:
        push_to_gateway(
            url,
            job=JOB,
            registry=registry,
            grouping_key=grouping_key(pipeline, environment),
            timeout=TIMEOUT_SECONDS,
        )
    except OSError as exc:  # URLError and HTTPError are OSErrors
        where = f"{URL_ENV}={url}: push of {pipeline}/{environment}"
        raise PushError(f"{where} failed ({exc})") from None
