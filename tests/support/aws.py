"""Offline AWS for the MLOps tests: moto accounts, an SNS inbox, and a recorder of API requests.

moto serves the AWS APIs in process (no network, no account). Where a test also needs the exact request a
Lambda sent (moto does not keep every field, e.g. it replaces a training job's MetricDefinitions), it
records the request parameters with a botocore `before-parameter-build` hook on the client.
"""

from __future__ import annotations

import copy
import json
from typing import Any

REGION = "us-east-1"
#: moto's default account id.
ACCOUNT_ID = "123456789012"


def fake_credentials(monkeypatch) -> None:
    """Make sure nothing can reach a real account, whatever the developer's environment holds."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class SnsInbox:
    """An SQS queue subscribed to a topic: what a platform engineer's e-mail subscription would receive."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str):
        self._sqs = sqs
        self._queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def messages(self) -> list[dict[str, Any]]:
        """Every notification so far as {"subject", "details"} (details = the JSON body, parsed)."""
        received = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append(
                    {"subject": envelope.get("Subject"), "details": json.loads(envelope["Message"])}
                )
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def record_requests(client: Any, operation: str) -> list[dict[str, Any]]:
    """A list that fills with a deep copy of the parameters of every `operation` call on `client`."""
    recorded: list[dict[str, Any]] = []
    service = client.meta.service_model.service_id.hyphenize()

    def remember(params, **_):
        recorded.append(copy.deepcopy(params))

    client.meta.events.register(f"before-parameter-build.{service}.{operation}", remember)
    return recorded


def serve_handler_from(
    monkeypatch, handler: Any, clients: dict[str, Any], environment: dict[str, str]
) -> None:
    """Point a Lambda handler module at these (moto / stubbed) clients and set its environment variables, so
    `handler.lambda_handler(event, None)` runs as in Lambda and the tests' request recorders see its calls."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_clients", lambda region: clients)
