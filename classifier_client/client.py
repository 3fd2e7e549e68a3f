"""Client of the classification REST API (POST /classify): deployed behind API Gateway or the local front door."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from classifier_client.auth import NoAuth
from classifier_client.batching import MAX_BATCH_ITEMS, MAX_BODY_BYTES, split_requests
from classifier_client.errors import ConnectionFailedError, ProtocolError, api_error_from_response
from classifier_client.results import ClassifyResult, merge_results, parse_response

USER_AGENT = "classifier-client/0.1"


def is_retryable(status: int) -> bool:
    """Throttling and server-side failures are worth another try; other 4xx will fail the same way again."""
    return status == 429 or status >= 500


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse Retry-After (delta seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class Client:
    """Classify texts through the API.

    `url` is the stage URL (https://{id}.execute-api.{region}.amazonaws.com/{stage}) or the front door's
    (http://127.0.0.1:8080); `/classify` is appended unless already there. Classification has no side
    effects, so every request may be retried: on 429, 5xx and connection errors, up to `max_attempts` in all,
    waiting Retry-After when the server sends it, else exponential backoff with full jitter.
    """

    def __init__(
        self,
        url: str,
        auth=None,
        *,
        timeout: float = 60.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_items: int = MAX_BATCH_ITEMS,
        max_bytes: int = MAX_BODY_BYTES,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/classify") else base + "/classify"
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.session = session or requests.Session()
        self._sleep = sleep
        self._jitter = jitter

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def classify(
        self,
        texts: str | Sequence[str],
        thresholds: dict[str, float] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        return_all_scores: bool = False,
    ) -> ClassifyResult:
        """Classify one text or a list of any length; predictions come back in input order.

        `threshold` replaces every tuned threshold, `thresholds` overrides single labels (after `threshold`),
        `top_k` returns the k best scores, `return_all_scores` every label's score.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        parameters: dict[str, Any] = {}
        if threshold is not None:
            parameters["threshold"] = threshold
        if thresholds:
            parameters["thresholds"] = dict(thresholds)
        if top_k is not None:
            parameters["top_k"] = top_k
        if return_all_scores:
            parameters["return_all_scores"] = True
        batches = split_requests(texts, parameters, self.max_items, self.max_bytes)
        return merge_results(
            [parse_response(self._post(body), texts[start:end]) for start, end, body in batches]
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return self._jitter() * min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    def _post(self, body: bytes) -> Any:
        """POST one body, retrying what is retryable; the parsed JSON answer or an exception."""
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
            headers.update(self.auth.headers("POST", self.endpoint, body, headers))
            try:
                response = self.session.post(self.endpoint, data=body, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.max_attempts:
                    raise ConnectionFailedError(
                        f"could not reach {self.endpoint} after {attempt} attempts: {exc}"
                    ) from exc
                self._sleep(self._backoff(attempt, None))
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ProtocolError(f"200 response is not JSON: {response.text[:200]!r}") from exc
            if is_retryable(response.status_code) and attempt < self.max_attempts:
                self._sleep(self._backoff(attempt, retry_after_seconds(response.headers.get("Retry-After"))))
                continue
            request_id = response.headers.get("x-amzn-RequestId")
            raise api_error_from_response(response.status_code, response.content, request_id)
