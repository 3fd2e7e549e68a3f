"""Compliance of the synthesized templates: cdk-nag (AwsSolutions), cfn-lint, checkov, and IAM wildcards.

Both session-synthesized configurations are checked (defaults, and the variant with API keys, an explicit
model and a p3 instance), since acknowledgments and resources differ between them.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.cdk_app import REPO_ROOT, as_list, flatten, policy_statements

#: W3005 (redundant DependsOn): CDK makes each Lambda function DependsOn its role *and* the role's policy, so
#: the function never starts without its permissions; the role half is already implied by Fn::GetAtt.
CFN_LINT_IGNORED = ["W3005"]

#: Statements allowed to use a wildcard action or the "*" resource, each for a stated reason.
#: (stack role, logical id prefix of the policy holder, actions) -> why
WILDCARD_EXCEPTIONS = {
    ("data", "EncryptionKey", frozenset({"kms:*"})): "CDK's default key policy statement: the account's IAM "
    "policies decide who uses the key (resource '*' in a key policy is the key itself).",
    ("data", "EncryptionKey", frozenset({"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"})): "Key policy for CloudWatch Logs (resource '*' is the key itself).",
    ("data", "EncryptionKey", frozenset({"kms:Decrypt", "kms:GenerateDataKey"})): "Key policy for CloudWatch "
    "alarms publishing to the encrypted topic (resource '*' is the key itself).",
    ("data", "SageMakerExecutionPolicy", frozenset({"ecr:GetAuthorizationToken"})): "No resource type exists.",
    ("data", "SageMakerExecutionPolicy", frozenset({"cloudwatch:PutMetricData"})): "No resource type exists; "
    "limited to SageMaker namespaces by condition.",
    ("training", "ModelRegistryRegistrarRole", frozenset({"sagemaker:ListModelPackages"})): "No resource type.",
    ("training", "ModelRegistryDeployerRole", frozenset({"application-autoscaling:DescribeScalableTargets"})): "No "
    "resource type (read-only).",
}  # fmt: skip


@pytest.fixture(scope="module", params=["default", "variant"])
def synthesized(request):
    return request.getfixturevalue("cdk_app" if request.param == "default" else "cdk_app_variant")


def test_cdk_nag_reports_no_unacknowledged_findings(synthesized):
    assert synthesized.validation_error is None, synthesized.validation_error
    (report,) = [
        r for r in synthesized.validation_report["pluginReports"] if r["pluginName"] == "AwsSolutions"
    ] or [{"violations": [], "suppressedViolations": []}]
    assert report["violations"] == []


def test_cdk_nag_actually_runs(tmp_path):
    """A deliberately non-compliant app fails synthesis: the plugin really checks (the test above can fail)."""
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path))
    s3.Bucket(Stack(app, "Broken"), "NoLogsNoTls")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_every_acknowledged_finding_has_a_specific_reason(synthesized):
    suppressed = [
        v for r in synthesized.validation_report["pluginReports"] for v in r["suppressedViolations"]
    ]
    assert len(suppressed) >= 10
    for violation in suppressed:
        assert violation["acknowledgedId"].startswith("AwsSolutions::AwsSolutions-")
        assert len(violation["reason"]) >= 50, violation["acknowledgedId"]
    assert {v["ruleName"].split("[")[0] for v in suppressed} >= {
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
        "AwsSolutions-APIG3",
    }


def _template_paths(synthesized):
    return [synthesized.template_path(role) for role in ("data", "training", "serving")]


def test_cfn_lint_is_clean(synthesized):
    result = subprocess.run(
        [
            str(REPO_ROOT / ".venv/bin/cfn-lint"),
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--",
            *map(str, _template_paths(synthesized)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_checkov_has_no_failed_checks_and_every_skip_has_a_reason(synthesized):
    result = subprocess.run(
        [str(REPO_ROOT / ".venv-checkov/bin/checkov"), "-d", str(synthesized.outdir), "--framework", "cloudformation",
         "--output", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    report = json.loads(result.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50
    for skipped in results["skipped_checks"]:
        assert len(skipped.get("check_result", {}).get("suppress_comment", "")) >= 40, skipped["check_id"]


def test_no_wildcard_action_or_resource_outside_the_documented_exceptions(synthesized):
    found = set()
    for role, template in synthesized.templates.items():
        for holder, statement in policy_statements(template):
            actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
            resources = [flatten(r) for r in as_list(statement.get("Resource", []))]
            if not any("*" in a for a in actions) and "*" not in resources:
                continue
            if statement["Effect"] == "Deny":
                continue  # a wildcard in a Deny (TLS-only policies) takes away, it grants nothing
            matches = [
                key
                for key in WILDCARD_EXCEPTIONS
                if key[0] == role and holder.startswith(key[1]) and key[2] == frozenset(actions)
            ]
            assert matches, (
                f"{role}/{holder}: wildcard in {actions} on {resources} is not a documented exception"
            )
            found.update(matches)
    assert found == set(WILDCARD_EXCEPTIONS)
