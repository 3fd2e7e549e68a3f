"""boto3 plumbing every MLOps Lambda needs: cached clients and "describe, or None if it does not exist"."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError


@functools.cache
def aws_clients(region: str, services: tuple[str, ...]) -> dict[str, Any]:
    """One boto3 client per service, created once per Lambda container and reused by later invocations."""
    return {service: boto3.client(service, region_name=region) for service in services}


def describe_or_none(describe: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any] | None:
    """Call a SageMaker Describe* API; None when the resource does not exist.

    SageMaker answers a missing training job, endpoint, model or endpoint config with a ValidationException
    ("Could not find ..."). The names passed here are valid by construction, so that code means "not found".
    """
    try:
        return describe(**params)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":
            return None
        raise
