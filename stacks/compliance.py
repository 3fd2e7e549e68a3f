"""Compliance checks: cdk-nag 3.x acknowledgments and checkov skips, each with its stated reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, *, finding: str | None = None) -> None:
    """Acknowledge AwsSolutions-<rule> (optionally one finding of it, e.g. `Resource::*`) on `scope` and below."""
    rule_id = f"AwsSolutions::AwsSolutions-{rule}" + (f"[{finding}]" if finding else "")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcard_resources(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge IAM5 for each wildcard resource ARN (as used in the policy) with its own reason."""
    for arn, reason in reasons.items():
        acknowledge(scope, "IAM5", reason, finding=f"Resource::{_as_nag_text(Stack.of(scope).resolve(arn))}")


def _as_nag_text(value: object) -> str:
    """Render a resolved CloudFormation value the way cdk-nag names it in findings (`<AWS::Region>`, `<Id.Arn>`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_as_nag_text(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise ValueError(f"cannot name {value!r} the way cdk-nag does")


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a checkov skip, with its reason, in the resource's CloudFormation metadata (where checkov reads it)."""
    resource = construct.node.default_child or construct
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"].append({"id": check_id, "comment": reason})
    resource.add_metadata("checkov", metadata)
