"""How a request proves who sends it: IAM (SigV4), an API key, or nothing (the local front door).

Each scheme returns the headers to add to one request. IAM signs with botocore's own SigV4 signer, on every
attempt anew, because a signature is only valid for a few minutes and retries can outlive it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

#: https://{rest-api-id}.execute-api.{region}.amazonaws.com/{stage}
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class NoAuth:
    """No credentials: for the local front door, which mirrors the gateway without its authorizer."""

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {}


@dataclass
class ApiKeyAuth:
    """API Gateway API key, sent as `x-api-key` (the stage's usage plan decides quota and throttling)."""

    api_key: str

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api-key auth needs a non-empty API key (--api-key or CLASSIFIER_API_KEY)")

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {"x-api-key": self.api_key}


@dataclass
class IamAuth:
    """SigV4 for service `execute-api` with credentials from botocore's standard chain (env, profile, role...).

    `region` defaults to the one in an execute-api URL, else the botocore session's region.
    """

    region: str | None = None
    credentials: object | None = None
    service: str = "execute-api"
    _session: botocore.session.Session = field(default_factory=botocore.session.Session, repr=False)

    def resolve_region(self, url: str) -> str:
        if self.region:
            return self.region
        match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
        region = match.group(1) if match else self._session.get_config_variable("region")
        if not region:
            raise ValueError(
                f"IAM auth needs a region: none in the URL {url!r}; pass --region or set AWS_REGION"
            )
        return region

    def _frozen_credentials(self):
        credentials = self.credentials or self._session.get_credentials()
        if credentials is None:
            raise ValueError(
                "IAM auth found no AWS credentials (environment, shared config/credentials file, SSO, "
                "container or instance role); configure them or use --auth api-key"
            )
        # Refreshable credentials (roles, SSO) may rotate between calls: freeze one consistent triple.
        return credentials.get_frozen_credentials()

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self._frozen_credentials(), self.service, self.resolve_region(url)).add_auth(request)
        signed = dict(request.headers.items())
        return {name: value for name, value in signed.items() if name not in headers}


def auth_from_name(name: str, api_key: str | None = None, region: str | None = None):
    """The scheme for a CLI/config name: 'iam', 'api-key' or 'none'."""
    if name == "iam":
        return IamAuth(region=region)
    if name == "api-key":
        return ApiKeyAuth(api_key or "")
    if name == "none":
        return NoAuth()
    raise ValueError(f"unknown auth {name!r}: use iam, api-key or none")
