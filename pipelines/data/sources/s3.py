"""Objects under a prefix of any S3-compatible store, read through boto3."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipelines.data.params import S3Source
from pipelines.data.sources import RawItem
from pipelines.errors import DataError

log = logging.getLogger(__name__)


def client(params: S3Source) -> Any:
    """A boto3 S3 client for ``params`` (credentials come from the usual AWS chain)."""
    import boto3

    return boto3.client("s3", endpoint_url=params.endpoint_url, region_name=params.region)


def fetch(
    params: S3Source,
    s3: Any = None,
    seen: Mapping[str, str] | None = None,
    required: bool = True,
) -> list[RawItem]:
    """Download the objects under ``s3://bucket/prefix`` not ingested yet (sorted by key).

    Args:
        params: ``data.s3`` of params.yaml.
        s3: A boto3 S3 client (built from params when None).
        seen: ETag of every object already ingested, by ``s3://`` URL; those are not
            downloaded again.
        required: Whether no object under the prefix is an error (else nothing is read).

    Returns:
        One raw item per new or changed object, named by its key below the prefix.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = s3 if s3 is not None else client(params)
    seen = seen or {}
    where = f"s3://{params.bucket}/{params.prefix}"
    items = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=params.bucket, Prefix=params.prefix
        )
        objects = sorted(
            (obj["Key"], obj["ETag"])
            for page in pages
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        )
        if not objects and not required:
            return []
        if not objects:
            raise DataError(f"{where}: no objects under the prefix (expected data.s3.prefix)")
        for key, etag in objects:
            origin = f"s3://{params.bucket}/{key}"
            if seen.get(origin) == etag:
                continue
            body = s3.get_object(Bucket=params.bucket, Key=key, IfMatch=etag)["Body"].read()
            items.append(
                RawItem(
                    name=key[len(params.prefix) :].lstrip("/") or key.rsplit("/", 1)[-1],
                    data=body,
                    layout=params.layout,
                    instrument=params.instrument,
                    origin=origin,
                    version=etag,
                )
            )
            log.info("s3: read %s (%d bytes)", origin, len(body))
    except (BotoCoreError, ClientError) as exc:
        raise DataError(f"{where}: cannot read from S3 ({exc})") from None
    log.info("s3: %d new or changed of %d objects under %s", len(items), len(objects), where)
    return items
