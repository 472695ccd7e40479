"""Objects under a prefix of any S3-compatible store, read through boto3."""

from __future__ import annotations

import logging
from typing import Any

from pipelines.data.params import S3Source
from pipelines.data.sources import RawItem
from pipelines.errors import DataError

log = logging.getLogger(__name__)


def client(params: S3Source) -> Any:
    """A boto3 S3 client for ``params`` (credentials come from the usual AWS chain)."""
    import boto3

    return boto3.client("s3", endpoint_url=params.endpoint_url, region_name=params.region)


def fetch(params: S3Source, s3: Any = None) -> list[RawItem]:
    """Download every object under ``s3://bucket/prefix`` (sorted by key).

    Args:
        params: ``data.s3`` of params.yaml.
        s3: A boto3 S3 client (built from params when None).

    Returns:
        One raw item per object, named by its key below the prefix.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = s3 if s3 is not None else client(params)
    where = f"s3://{params.bucket}/{params.prefix}"
    items = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=params.bucket, Prefix=params.prefix
        )
        keys = sorted(
            obj["Key"]
            for page in pages
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        )
        for key in keys:
            body = s3.get_object(Bucket=params.bucket, Key=key)["Body"].read()
            name = key[len(params.prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            items.append(
                RawItem(
                    name=name,
                    data=body,
                    layout=params.layout,
                    instrument=params.instrument,
                    origin=f"s3://{params.bucket}/{key}",
                )
            )
            log.info("s3: read s3://%s/%s (%d bytes)", params.bucket, key, len(body))
    except (BotoCoreError, ClientError) as exc:
        raise DataError(f"{where}: cannot read from S3 ({exc})") from None
    if not items:
        raise DataError(f"{where}: no objects under the prefix (expected data.s3.prefix)")
    return items
