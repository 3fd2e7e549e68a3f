"""Synthesize the CDK app in-process (no AWS account, no credentials) for the stack tests.

Synthesis takes seconds, so each configuration is synthesized once per test session (see the session-scoped
fixtures in tests/conftest.py) and every test reads the same templates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from aws_cdk import App

from stacks.application import Application, build_application

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class SynthesizedApp:
    """One synthesized cloud assembly: the stacks, their templates (by role) and cdk-nag's report."""

    application: Application
    outdir: Path
    templates: dict[str, dict] = field(default_factory=dict)
    validation_error: str | None = None

    @property
    def validation_report(self) -> dict:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}

    def resources(self, role: str, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.templates[role]["Resources"].items() if v["Type"] == resource_type}

    def template_path(self, role: str) -> Path:
        return self.outdir / f"{self.application.config.stack_name(role)}.template.json"


def synthesize(outdir: Path, **overrides: object) -> SynthesizedApp:
    """Synthesize with cdk.json's context plus `overrides` (given as the CLI would: any JSON value or string)."""
    app = App(outdir=str(outdir), context={**cdk_json_context(), **overrides})
    synthesized = SynthesizedApp(application=build_application(app), outdir=outdir)
    try:
        app.synth()
    except Exception as error:  # cdk-nag findings fail synthesis; the nag test reports them
        synthesized.validation_error = str(error)
    for role in ("data", "training", "serving"):
        path = synthesized.template_path(role)
        if path.exists():
            synthesized.templates[role] = json.loads(path.read_text())
    return synthesized


def policy_statements(template: dict) -> list[tuple[str, dict]]:
    """Every IAM statement in a template, with the logical id of the resource that carries it.

    Covers identity policies (roles' inline policies, AWS::IAM::Policy, managed policies) and resource policies
    (bucket, topic, queue and key policies).
    """
    found = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("KeyPolicy")]
        documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
        for document in filter(None, documents):
            found += [(logical_id, statement) for statement in document["Statement"]]
    return found


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def statements_with_action(template: dict, action: str) -> list[tuple[str, dict]]:
    return [(rid, s) for rid, s in policy_statements(template) if action in as_list(s.get("Action", []))]


def flatten(value: object) -> str:
    """A CloudFormation value as readable text: Fn::Join parts joined, Refs as ${Name}, GetAtts as ${Id.Attr}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(flatten(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, key, attribute = value["Fn::FindInMap"]
        return "${Map:" + mapping + ":" + flatten(key) + ":" + attribute + "}"
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return "${Import:" + flatten(value["Fn::ImportValue"]) + "}"
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
    return json.dumps(value, sort_keys=True)
