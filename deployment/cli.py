"""Ops CLI for platform engineers: `python -m deployment.cli <command>` (boto3, your usual AWS credentials).

    train --dataset toxic --version v2 [--hyperparameter num_train_epochs=5 ...]   start a training job
    status | jobs | packages | endpoint                                             see what is going on
    approve <package> | reject <package>                                            decide on a pending model
    deploy <package>                                                                roll a package out again
    rollback [--to <package>]                                                       back to the previous model

<package> is a model package ARN or its version number in the app's group. Resource names come from the
CloudFormation outputs of the `<prefix>-data`, `<prefix>-training` and `<prefix>-serving` stacks (prefix: the
app's `name_prefix`, `--prefix` or $TEXTCLF_PREFIX, default "textclf"); any of them can be given as a flag.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

DEFAULT_PREFIX = "textclf"
GATE_METRIC = "eval_f1_macro"
STACK_ROLES = ("data", "training", "serving")
#: Stack outputs the CLI reads (CDK may suffix a hash to an output key declared inside a construct).
OUTPUTS = {
    "launcher_function": "LauncherFunctionName",
    "deployer_function": "DeployerFunctionName",
    "model_package_group": "ModelPackageGroupName",
    "endpoint_name": "EndpointName",
    "deployed_model_parameter": "DeployedModelParameterName",
}
#: Exit codes: 0 done, 1 refused / rejected / not found (the message says why), 2 a Lambda failed.
REFUSED, FAILED = 1, 2
ACCEPTED_STATUSES = {"started", "exists", "deploying", "creating_endpoint", "already_deployed"}

ClientFactory = Callable[[str], Any]


class CliError(Exception):
    """Something the operator can fix; printed without a traceback."""


@dataclass
class Settings:
    """Names of the deployed resources, from stack outputs, the app's naming conventions, or flags."""

    prefix: str
    launcher_function: str | None
    deployer_function: str | None
    model_package_group: str
    endpoint_name: str
    deployed_model_parameter: str

    @classmethod
    def discover(cls, args: argparse.Namespace, client: ClientFactory) -> Settings:
        outputs = _stack_outputs(client("cloudformation"), args.prefix)
        conventions = {
            "model_package_group": f"{args.prefix}-models",
            "endpoint_name": f"{args.prefix}-endpoint",
            "deployed_model_parameter": f"/{args.prefix}/deployed-model/model-data-url",
        }
        values = {
            field: getattr(args, field) or outputs.get(output) or conventions.get(field)
            for field, output in OUTPUTS.items()
        }
        return cls(prefix=args.prefix, **values)

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            raise CliError(
                f"cannot find the {OUTPUTS[field]} output in the {self.prefix}-* stacks; "
                f"deploy the app (cdk deploy --all) or pass --{field.replace('_', '-')}"
            )
        return value


def _stack_outputs(cloudformation: Any, prefix: str) -> dict[str, str]:
    """Outputs of the app's stacks by plain name (`LauncherFunctionName`, even if CDK made it `...NameAD5C22C5`)."""
    found: dict[str, str] = {}
    for role in STACK_ROLES:
        try:
            stacks = cloudformation.describe_stacks(StackName=f"{prefix}-{role}")["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                continue
            raise
        for output in stacks[0].get("Outputs", []):
            for name in OUTPUTS.values():
                if re.fullmatch(rf"[A-Za-z0-9]*?{name}(?:[0-9A-F]{{8}})?", output["OutputKey"]):
                    found.setdefault(name, output["OutputValue"])
    return found


# --- commands ----------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    request: dict[str, Any] = (
        {"dataset_uri": args.dataset_uri}
        if args.dataset_uri
        else {"dataset": args.dataset, "version": args.version}
    )
    optional = {
        "text_columns": args.text_columns,
        "label_column": args.label_column,
        "multi_hot_label_columns": args.multi_hot_label_columns,
        "label_names_file": args.label_names_file,
        "instance_type": args.instance_type,
        "instance_count": args.instance_count,
        "base_model": args.base_model,
        "use_spot_instances": args.spot,
        "distributed": args.distributed,
        "max_runtime_seconds": args.max_runtime_seconds,
        "run_id": args.run_id,
    }
    request.update({key: value for key, value in optional.items() if value is not None})
    if args.hyperparameter:
        request["hyperparameters"] = dict(args.hyperparameter)
    return _invoke(client("lambda"), settings.require("launcher_function"), request)


def cmd_jobs(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    jobs = client("sagemaker").list_training_jobs(
        NameContains=f"{settings.prefix}-",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=args.limit,
    )["TrainingJobSummaries"]
    print(f"Training jobs ({settings.prefix}-*), newest first:")
    for job in jobs:
        print(
            f"  {job['TrainingJobName']:<63}  {job['TrainingJobStatus']:<10}  {job['CreationTime']:%Y-%m-%d %H:%M}"
        )
    if not jobs:
        print("  (none)")
    return 0


def cmd_packages(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    sagemaker = client("sagemaker")
    deployed = _deployed_model(client("ssm"), settings)
    print(f"Model packages in {settings.model_package_group}, newest first (* = deployed):")
    packages = _packages(sagemaker, settings, limit=args.limit)
    for package in packages:
        metadata = package.get("CustomerMetadataProperties") or {}
        marker = "*" if _model_data_url(package) == deployed else " "
        print(
            f" {marker} v{package['ModelPackageVersion']:<4} {package['ModelApprovalStatus']:<22} "
            f"{GATE_METRIC}={metadata.get(GATE_METRIC, '?'):<9} {metadata.get('training_job_name', '')}"
        )
    if not packages:
        print("  (none)")
    return 0


def cmd_endpoint(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    sagemaker = client("sagemaker")
    recorded = _deployed_model(client("ssm"), settings)
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=settings.endpoint_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationException":
            raise
        print(f"Endpoint {settings.endpoint_name}: not deployed yet (deployed-model record: {recorded})")
        return 0
    print(f"Endpoint {settings.endpoint_name}: {endpoint['EndpointStatus']}")
    for variant in endpoint.get("ProductionVariants", []):
        print(f"  variant {variant['VariantName']}: {variant.get('CurrentInstanceCount', '?')} instance(s)")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    serving = model["PrimaryContainer"].get("ModelDataUrl")
    print(f"  serving:  {serving}")
    differs = (
        "" if serving == recorded else "  (differs: a deployment is in progress or was just rolled back)"
    )
    print(f"  recorded: {recorded}{differs}")
    if endpoint.get("FailureReason"):
        print(f"  failure:  {endpoint['FailureReason']}")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    for command in (cmd_jobs, cmd_packages, cmd_endpoint):
        command(args, settings, client)
        print()
    return 0


def cmd_approve(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    return _decide(args, settings, client, "Approved")


def cmd_reject(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    return _decide(args, settings, client, "Rejected")


def cmd_deploy(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    package_arn = _package_arn(client("sagemaker"), settings, args.package)
    request = {"model_package_arn": package_arn, "reason": args.reason or "deployment requested from the CLI"}
    return _invoke(client("lambda"), settings.require("deployer_function"), request)


def cmd_rollback(args: argparse.Namespace, settings: Settings, client: ClientFactory) -> int:
    sagemaker = client("sagemaker")
    if args.to:
        target = _package_arn(sagemaker, settings, args.to)
    else:
        target = _previous_approved(
            _packages(sagemaker, settings, status="Approved"), _deployed_model(client("ssm"), settings)
        )
    request = {"model_package_arn": target, "reason": args.reason or "rollback requested from the CLI"}
    return _invoke(client("lambda"), settings.require("deployer_function"), request)


# --- helpers ------------------------------------------------------------------------------------------------


def _decide(args: argparse.Namespace, settings: Settings, client: ClientFactory, status: str) -> int:
    sagemaker = client("sagemaker")
    package_arn = _package_arn(sagemaker, settings, args.package)
    note = args.note or f"{status} from the CLI by {os.environ.get('USER', 'an operator')}"
    sagemaker.update_model_package(
        ModelPackageArn=package_arn, ModelApprovalStatus=status, ApprovalDescription=note
    )
    print(f"{package_arn}: {status}")
    if status == "Approved":
        print("The deployer rolls it out now (watch: python -m deployment.cli endpoint).")
    return 0


def _invoke(lambda_client: Any, function: str, payload: dict[str, Any]) -> int:
    """Invoke a Lambda synchronously, print its answer, and turn it into an exit code."""
    response = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    answer = json.loads(response["Payload"].read() or b"null")
    print(json.dumps(answer, indent=2, sort_keys=True))
    if response.get("FunctionError"):
        return FAILED
    return 0 if isinstance(answer, dict) and answer.get("status") in ACCEPTED_STATUSES else REFUSED


def _deployed_model(ssm: Any, settings: Settings) -> str:
    return ssm.get_parameter(Name=settings.deployed_model_parameter)["Parameter"]["Value"]


def _model_data_url(package: dict[str, Any]) -> str:
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]


def _packages(
    sagemaker: Any, settings: Settings, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Model packages of the group, newest first, fully described."""
    filters = {"ModelApprovalStatus": status} if status else {}
    summaries = sagemaker.list_model_packages(
        ModelPackageGroupName=settings.model_package_group,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=limit,
        **filters,
    )["ModelPackageSummaryList"]
    return [sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]


def _package_arn(sagemaker: Any, settings: Settings, package: str) -> str:
    """An ARN as given, or the ARN of version N of the app's group."""
    if package.startswith("arn:"):
        return package
    if not package.lstrip("v").isdigit():
        raise CliError(f"{package!r} is neither a model package ARN nor a version number")
    version = int(package.lstrip("v"))
    for candidate in _packages(sagemaker, settings):
        if candidate["ModelPackageVersion"] == version:
            return candidate["ModelPackageArn"]
    raise CliError(f"no version {version} in model package group {settings.model_package_group}")


def _previous_approved(approved_newest_first: list[dict[str, Any]], deployed_url: str) -> str:
    """The approved package registered before the deployed one: what a rollback goes back to."""
    urls = [_model_data_url(p) for p in approved_newest_first]
    if deployed_url not in urls:
        raise CliError(
            f"the deployed model {deployed_url} is not an approved package of the group; name one with --to"
        )
    older = approved_newest_first[urls.index(deployed_url) + 1 :]
    if not older:
        raise CliError("no approved package older than the deployed one; name one with --to")
    return older[0]["ModelPackageArn"]


def _key_value(text: str) -> tuple[str, Any]:
    """`name=value` -> (name, value as JSON when it parses: 3 -> int, true -> bool, else the text)."""
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deployment.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--prefix", default=os.environ.get("TEXTCLF_PREFIX", DEFAULT_PREFIX), help="name_prefix"
    )
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    for field, output in OUTPUTS.items():
        parser.add_argument(f"--{field.replace('_', '-')}", help=f"override the {output} stack output")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="start a training job (invokes the launcher Lambda)")
    where = train.add_mutually_exclusive_group(required=True)
    where.add_argument("--dataset", help="dataset name (datasets/<dataset>/<version>/)")
    where.add_argument("--dataset-uri", help="s3://<datasets bucket>/datasets/<dataset>/<version>/")
    train.add_argument("--version", help="dataset version (with --dataset)")
    train.add_argument("--hyperparameter", "-p", action="append", type=_key_value, metavar="NAME=VALUE")
    train.add_argument("--text-columns", type=_names, metavar="A,B")
    train.add_argument("--label-column")
    train.add_argument("--multi-hot-label-columns", type=_names, metavar="A,B")
    train.add_argument("--label-names-file")
    train.add_argument("--instance-type")
    train.add_argument("--instance-count", type=int)
    train.add_argument("--base-model")
    train.add_argument(
        "--spot", action=argparse.BooleanOptionalAction, default=None, help="managed spot training"
    )
    train.add_argument("--distributed", action=argparse.BooleanOptionalAction, default=None, help="torchrun")
    train.add_argument("--max-runtime-seconds", type=int)
    train.add_argument("--run-id", help="train again on unchanged data and settings")
    train.set_defaults(handler=cmd_train)

    for name, handler, text in (
        ("status", cmd_status, "training jobs, model packages and the endpoint"),
        ("jobs", cmd_jobs, "recent training jobs"),
        ("packages", cmd_packages, "model packages and their approval status"),
        ("endpoint", cmd_endpoint, "the endpoint and the model it serves"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--limit", type=int, default=10)
        command.set_defaults(handler=handler)
    for name, handler, text in (
        ("approve", cmd_approve, "approve a model package: the deployer rolls it out"),
        ("reject", cmd_reject, "reject a model package: it is never deployed"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("package", help="model package ARN or version number")
        command.add_argument("--note", help="approval description")
        command.set_defaults(handler=handler)
    deploy = commands.add_parser(
        "deploy", help="roll an approved package out (again), e.g. after a busy endpoint"
    )
    deploy.add_argument("package", help="model package ARN or version number")
    deploy.add_argument("--reason")
    deploy.set_defaults(handler=cmd_deploy)
    rollback = commands.add_parser("rollback", help="deploy the approved package before the deployed one")
    rollback.add_argument("--to", help="model package ARN or version number to go back to")
    rollback.add_argument("--reason")
    rollback.set_defaults(handler=cmd_rollback)
    return parser


def main(argv: Sequence[str] | None = None, client: ClientFactory | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train" and args.dataset and not args.version:
        build_parser().error("--dataset needs --version")
    if client is None:
        client = functools.cache(boto3.Session(region_name=args.region).client)
    try:
        settings = Settings.discover(args, client)
        return args.handler(args, settings, client)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return REFUSED


if __name__ == "__main__":
    sys.exit(main())
