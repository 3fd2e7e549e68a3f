"""Training stack: launcher, registrar and deployer Lambdas, their triggers, permissions and packaging.

Assertions on the template synthesized once per session (tests/conftest.py: cdk_app). The Lambda code itself
is tested by the MLOps tests; here: that each function is wired as the briefing's contract 6 says.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from stacks.monitoring import rollback_alarm_names
from stacks.training_launcher import SOURCE_TARBALL
from tests.support.cdk_app import REPO_ROOT, as_list, flatten, policy_statements

CONTRACT_ENVIRONMENT = {
    "Launcher": {
        "DATASETS_BUCKET", "MODELS_BUCKET", "SAGEMAKER_ROLE_ARN", "TRAINING_IMAGE_URI", "TRAINING_SOURCE_S3_URI",
        "KMS_KEY_ARN", "NOTIFICATION_TOPIC_ARN", "NAME_PREFIX", "TRAINING_INSTANCE_TYPE", "TRAINING_INSTANCE_COUNT",
        "BASE_MODEL_ID", "MAX_RUNTIME_SECONDS", "USE_SPOT_INSTANCES", "DEFAULT_HYPERPARAMETERS",
    },
    "Registrar": {
        "MODEL_PACKAGE_GROUP_NAME", "INFERENCE_IMAGE_URI", "NOTIFICATION_TOPIC_ARN", "MIN_MACRO_F1",
        "MAX_F1_REGRESSION", "DEPLOYED_MODEL_PARAMETER", "NAME_PREFIX", "MODELS_BUCKET",
    },
    "Deployer": {
        "ENDPOINT_NAME", "SAGEMAKER_ROLE_ARN", "INSTANCE_TYPE", "INITIAL_INSTANCE_COUNT",
        "KMS_KEY_ARN", "ROLLBACK_ALARM_NAMES", "CANARY_PERCENT", "WAIT_INTERVAL_SECONDS", "DEPLOYED_MODEL_PARAMETER",
        "SERVING_STACK_NAME", "NOTIFICATION_TOPIC_ARN", "MODEL_ENVIRONMENT",
    },
}  # fmt: skip
CODE_DIRS = {
    "Launcher": "training/launcher",
    "Registrar": "deployment/registrar",
    "Deployer": "deployment/deployer",
}


def _function(cdk_app, name: str) -> tuple[str, dict]:
    functions = cdk_app.resources("training", "AWS::Lambda::Function")
    (match,) = [(k, v) for k, v in functions.items() if name in k]
    return match


def _role_statements(cdk_app, function_name: str) -> list[dict]:
    _, function = _function(cdk_app, function_name)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    template = cdk_app.templates["training"]
    policies = [
        rid
        for rid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"].get("Roles", [])
    ]
    return [s for rid, s in policy_statements(template) if rid in policies]


def _env(cdk_app, name: str) -> dict:
    return _function(cdk_app, name)[1]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("name", sorted(CONTRACT_ENVIRONMENT))
def test_function_is_hardened_and_has_the_contract_environment(cdk_app, name):
    _, function = _function(cdk_app, name)
    props = function["Properties"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Runtime"] == "python3.11"
    assert set(props["Environment"]["Variables"]) == CONTRACT_ENVIRONMENT[name] | {"POWERTOOLS_SERVICE_NAME"}
    assert "KmsKeyArn" in props and "DeadLetterConfig" in props and "LoggingConfig" in props
    common_layer, powertools = props["Layers"]
    assert flatten(powertools) == (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27"
    )
    (layer_id,) = cdk_app.resources("training", "AWS::Lambda::LayerVersion")
    assert common_layer == {"Ref": layer_id}
    role = cdk_app.templates["training"]["Resources"][props["Role"]["Fn::GetAtt"][0]]
    assert "ManagedPolicyArns" not in role["Properties"]


@pytest.mark.parametrize("name", sorted(CODE_DIRS))
def test_the_code_reads_every_variable_of_its_environment(name):
    """No setting is passed that the function ignores (and silently believes it applies)."""
    code = "".join(path.read_text(encoding="utf-8") for path in (REPO_ROOT / CODE_DIRS[name]).rglob("*.py"))
    assert {variable for variable in CONTRACT_ENVIRONMENT[name] if f'"{variable}"' not in code} == set()


@pytest.mark.parametrize("name", sorted(CODE_DIRS))
def test_each_function_is_packaged_from_its_own_directory_alone(cdk_app, name):
    _, function = _function(cdk_app, name)
    asset_dir = cdk_app.outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    source = REPO_ROOT / CODE_DIRS[name]
    packaged = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*") if p.is_file()}
    expected = {
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and "tests" not in p.parts
    }
    assert "handler.py" in packaged
    assert packaged == expected


def test_environment_values_follow_the_configuration(cdk_app):
    launcher = _env(cdk_app, "Launcher")
    assert launcher["TRAINING_INSTANCE_TYPE"] == "ml.g4dn.xlarge"
    assert launcher["USE_SPOT_INSTANCES"] == "false"
    assert launcher["MAX_RUNTIME_SECONDS"] == "14400"
    assert (
        flatten(launcher["TRAINING_IMAGE_URI"])
        == "${Map:DlcImagesMapping90D55EFE:${AWS::Region}:trainingUri}"
    )
    registrar = _env(cdk_app, "Registrar")
    assert registrar["MIN_MACRO_F1"] == "0.5" and registrar["MODEL_PACKAGE_GROUP_NAME"] == "textclf-models"
    assert registrar["DEPLOYED_MODEL_PARAMETER"] == "/textclf/deployed-model/model-data-url"
    deployer = _env(cdk_app, "Deployer")
    assert deployer["ENDPOINT_NAME"] == "textclf-endpoint"
    assert deployer["SERVING_STACK_NAME"] == "textclf-serving"
    assert '"SAGEMAKER_PROGRAM": "inference.py"' in deployer["MODEL_ENVIRONMENT"]
    assert deployer["INSTANCE_TYPE"] == "ml.g4dn.xlarge"


def test_deployer_follows_the_configured_serving_instance_type(cdk_app_variant):
    """The deployer decides the volume key from INSTANCE_TYPE (tests/test_config.py: it agrees with the stack)."""
    functions = cdk_app_variant.resources("training", "AWS::Lambda::Function")
    (deployer,) = [f for k, f in functions.items() if "Deployer" in k]
    environment = deployer["Properties"]["Environment"]["Variables"]
    assert environment["INSTANCE_TYPE"] == "ml.p3.2xlarge"


def test_rollback_alarm_names_match_the_serving_stack_alarms(cdk_app):
    names = _env(cdk_app, "Deployer")["ROLLBACK_ALARM_NAMES"].split(",")
    assert names == rollback_alarm_names(cdk_app.application.config)
    serving_alarms = {
        a["Properties"]["AlarmName"] for a in cdk_app.resources("serving", "AWS::CloudWatch::Alarm").values()
    }
    assert set(names) <= serving_alarms


def test_training_source_is_the_packaged_tarball_asset(cdk_app):
    uri = flatten(_env(cdk_app, "Launcher")["TRAINING_SOURCE_S3_URI"])
    assert uri.startswith("s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/")
    object_key = uri.rsplit("/", 1)[1]
    (staged,) = [
        p
        for p in cdk_app.outdir.glob("asset.*.tar.gz")
        if p.name.startswith(f"asset.{object_key.split('.')[0]}")
    ]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(staged.read_bytes()))) as archive:
        names = archive.getnames()
    assert {"train.py", "training/train.py", "inference/inference.py"} <= set(names)
    assert not [n for n in names if n.startswith("training/launcher/")]
    assert Path(SOURCE_TARBALL).is_relative_to(REPO_ROOT / "build")


def test_sagemaker_role_may_read_exactly_the_source_object(cdk_app):
    uri = flatten(_env(cdk_app, "Launcher")["TRAINING_SOURCE_S3_URI"])
    (statement,) = [
        s
        for rid, s in policy_statements(cdk_app.templates["training"])
        if rid.startswith("TrainingLauncherSageMakerReads")
    ]
    assert statement["Action"] == "s3:GetObject"
    assert flatten(statement["Resource"]).endswith("/" + uri.rsplit("/", 1)[1])


def test_manifest_upload_rule_triggers_the_launcher(cdk_app):
    rules = cdk_app.resources("training", "AWS::Events::Rule")
    (rule,) = [r for k, r in rules.items() if "DatasetManifestUploaded" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert [flatten(n) for n in pattern["detail"]["bucket"]["name"]] == [
        "textclf-datasets-${AWS::AccountId}-${AWS::Region}"
    ]
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "datasets/*/*/manifest.json"}]
    launcher_id, _ = _function(cdk_app, "Launcher")
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Fn::GetAtt": [launcher_id, "Arn"]}]
    permissions = cdk_app.resources("training", "AWS::Lambda::Permission").values()
    assert any(
        p["Properties"]["FunctionName"] == {"Fn::GetAtt": [launcher_id, "Arn"]}
        and p["Properties"]["Principal"] == "events.amazonaws.com"
        for p in permissions
    )


def test_operators_get_a_policy_to_invoke_the_launcher_directly(cdk_app):
    (policy,) = cdk_app.resources("training", "AWS::IAM::ManagedPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    launcher_id, _ = _function(cdk_app, "Launcher")
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": [launcher_id, "Arn"]}


def test_training_state_rule_triggers_the_registrar_for_this_apps_jobs(cdk_app):
    rules = cdk_app.resources("training", "AWS::Events::Rule")
    (rule,) = [r for k, r in rules.items() if "TrainingJobFinished" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["SageMaker Training Job State Change"]
    assert pattern["detail"] == {
        "TrainingJobName": [{"prefix": "textclf-"}],
        "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
    }
    registrar_id, _ = _function(cdk_app, "Registrar")
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [registrar_id, "Arn"]}


def test_approval_rule_triggers_the_deployer_for_this_group(cdk_app):
    (group,) = cdk_app.resources("training", "AWS::SageMaker::ModelPackageGroup").values()
    assert group["Properties"]["ModelPackageGroupName"] == "textclf-models"
    assert group["DeletionPolicy"] == "Retain"
    rules = cdk_app.resources("training", "AWS::Events::Rule")
    (rule,) = [r for k, r in rules.items() if "ModelPackageApproved" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["SageMaker Model Package State Change"]
    assert pattern["detail"] == {
        "ModelPackageGroupName": ["textclf-models"],
        "ModelApprovalStatus": ["Approved"],
    }
    deployer_id, _ = _function(cdk_app, "Deployer")
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [deployer_id, "Arn"]}


def test_training_failures_have_an_alarm(cdk_app):
    (alarm,) = cdk_app.resources("training", "AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert props["AlarmName"] == "textclf-training-failures"
    assert props["Namespace"] == "AWS/Events" and props["MetricName"] == "TriggeredRules"
    rules = cdk_app.resources("training", "AWS::Events::Rule")
    (failed_id,) = [k for k in rules if "TrainingJobFailed" in k]
    assert props["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": failed_id}}]
    assert rules[failed_id]["Properties"]["EventPattern"]["detail"]["TrainingJobStatus"] == ["Failed"]
    assert props["AlarmActions"]


def _pass_role_statements(statements: list[dict]) -> list[dict]:
    return [s for s in statements if "iam:PassRole" in as_list(s["Action"])]


def test_launcher_passes_only_the_sagemaker_role_only_to_sagemaker(cdk_app):
    statements = _role_statements(cdk_app, "Launcher")
    (pass_role,) = _pass_role_statements(statements)
    assert pass_role["Action"] == "iam:PassRole"
    assert flatten(pass_role["Resource"]).startswith(
        "${Import:textclf-data:ExportsOutputFnGetAttSageMakerExecutionRole"
    )
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    (create,) = [s for s in statements if "sagemaker:CreateTrainingJob" in as_list(s["Action"])]
    assert flatten(create["Resource"]).endswith(":training-job/textclf-*")
    (put,) = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert flatten(put["Resource"]).endswith("/datasets/*/_rejected.json")
    assert not [s for s in statements if "s3:DeleteObject" in as_list(s["Action"])]


def test_endpoint_state_changes_of_this_endpoint_reach_the_deployer(cdk_app):
    rules = cdk_app.resources("training", "AWS::Events::Rule")
    (rule,) = [r for k, r in rules.items() if "EndpointStateChanged" in k]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == [
        "SageMaker Endpoint State Change",
        "SageMaker Endpoint Deployment State Change",
    ]
    assert pattern["detail"] == {"EndpointName": ["textclf-endpoint"]}
    deployer_id, _ = _function(cdk_app, "Deployer")
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [deployer_id, "Arn"]}


def test_deployer_may_read_the_serving_stacks_generated_model_and_config(cdk_app):
    """CloudFormation names them `<logical id>-<random>`: the patterns follow the serving template's ids."""
    (statement,) = [
        s
        for s in _role_statements(cdk_app, "Deployer")
        if s.get("Sid") == "ReadTheServingStacksModelAndEndpointConfig"
    ]
    serving = cdk_app.templates["serving"]["Resources"]
    (model_id,) = [k for k, r in serving.items() if r["Type"] == "AWS::SageMaker::Model"]
    (config_id,) = [k for k, r in serving.items() if r["Type"] == "AWS::SageMaker::EndpointConfig"]
    assert sorted(flatten(r).rsplit(":", 1)[1] for r in statement["Resource"]) == sorted(
        [f"endpoint-config/{config_id.lower()}*", f"model/{model_id.lower()}*"]
    )


def test_deployer_updates_only_the_serving_stack_and_passes_roles_narrowly(cdk_app):
    statements = _role_statements(cdk_app, "Deployer")
    (update,) = [s for s in statements if "cloudformation:UpdateStack" in as_list(s["Action"])]
    assert (
        flatten(update["Resource"])
        == "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/textclf-serving/*"
    )
    passed = {
        s["Condition"]["StringEquals"]["iam:PassedToService"]: flatten(s["Resource"])
        for s in _pass_role_statements(statements)
    }
    assert set(passed) == {"sagemaker.amazonaws.com", "cloudformation.amazonaws.com"}
    assert "cfn-exec-role" in passed["cloudformation.amazonaws.com"]
    (endpoint,) = [s for s in statements if "sagemaker:UpdateEndpoint" in as_list(s["Action"])]
    assert flatten(endpoint["Resource"]).endswith(":endpoint/textclf-endpoint")
    (ssm,) = [s for s in statements if "ssm:PutParameter" in as_list(s["Action"])]
    assert "Import:" in flatten(ssm["Resource"])


def test_registrar_registers_only_into_its_group(cdk_app):
    statements = _role_statements(cdk_app, "Registrar")
    (register,) = [s for s in statements if "sagemaker:CreateModelPackage" in as_list(s["Action"])]
    assert sorted(flatten(r).rsplit(":", 1)[1] for r in register["Resource"]) == [
        "model-package-group/textclf-models",
        "model-package/textclf-models/*",
    ]
    assert not _pass_role_statements(statements)
    (report,) = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert flatten(report["Resource"]).endswith("/training-jobs/*/evaluation/metrics.json")


def test_mlops_common_layer_is_packaged_for_import_from_opt_python(cdk_app):
    (layer,) = cdk_app.resources("training", "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    asset_dir = cdk_app.outdir / f"asset.{layer['Properties']['Content']['S3Key'].removesuffix('.zip')}"
    packaged = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*.py")}
    source = REPO_ROOT / "lambda_layer"
    assert packaged == {
        p.relative_to(source).as_posix() for p in source.rglob("*.py") if "__pycache__" not in p.parts
    }
    assert "python/mlops_common/__init__.py" in packaged


def test_outputs_the_ops_cli_reads(cdk_app):
    """deployment/cli.py finds the app's parts by these output names (CDK may suffix a hash)."""
    outputs = {
        name
        for role in ("data", "training", "serving")
        for name in cdk_app.templates[role].get("Outputs", {})
    }
    for expected in (
        "LauncherFunctionName",
        "DeployerFunctionName",
        "ModelPackageGroupName",
        "EndpointName",
        "DeployedModelParameterName",
    ):
        assert expected in outputs
