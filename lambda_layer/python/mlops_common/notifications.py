"""SNS notifications for platform engineers: a short subject and a JSON body with the details."""

from __future__ import annotations

import json
import re
from typing import Any

#: SNS rejects subjects of 100 characters or more, and any control characters or non-ASCII text.
MAX_SUBJECT_LENGTH = 99


def sns_subject(text: str) -> str:
    """Make `text` a valid SNS subject: ASCII, one line, under 100 characters."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    one_line = re.sub(r"[\x00-\x1f\x7f]+", " ", ascii_text).strip()
    if len(one_line) > MAX_SUBJECT_LENGTH:
        one_line = one_line[: MAX_SUBJECT_LENGTH - 3].rstrip() + "..."
    return one_line or "notification"


def notify(sns_client: Any, topic_arn: str, subject: str, details: dict[str, Any]) -> str:
    """Publish `details` as indented JSON under `subject`; returns the SNS message id."""
    response = sns_client.publish(
        TopicArn=topic_arn,
        Subject=sns_subject(subject),
        Message=json.dumps(details, indent=2, sort_keys=True, default=str),
    )
    return response["MessageId"]
