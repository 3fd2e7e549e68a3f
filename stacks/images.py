"""Hugging Face DLC image URIs per region, from the SageMaker SDK's own image data.

The stacks are environment-agnostic, so the region is only known at deploy time. The URIs for every region the
SDK knows are computed at synth time (`sagemaker.core.image_uris.retrieve`, the same call a notebook makes) and
written into a CloudFormation mapping; `Fn::FindInMap` on `AWS::Region` picks the right one when deploying.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from unittest import mock

from aws_cdk import Aws, CfnMapping, Fn
from constructs import Construct

from stacks.config import AppConfig

#: Instance type used only to pick the GPU flavour of each image (every allowed instance type is a GPU type).
_GPU_INSTANCE_TYPE = "ml.g4dn.xlarge"


@dataclass(frozen=True)
class DlcImage:
    """One regional image: its full URI, and the account + repository that IAM must allow pulling from."""

    uri: str
    account: str
    repository: str


def _retrieve(region: str, scope: str, transformers: str, pytorch: str, py_version: str) -> DlcImage:
    from sagemaker.core import image_uris

    uri = image_uris.retrieve(
        "huggingface",
        region=region,
        version=transformers,
        base_framework_version=f"pytorch{pytorch}",
        py_version=py_version,
        instance_type=_GPU_INSTANCE_TYPE,
        image_scope=scope,
    )
    registry, _, _ = uri.partition("/")
    repository = uri.split("/", 1)[1].split(":", 1)[0]
    return DlcImage(uri=uri, account=registry.split(".", 1)[0], repository=repository)


@cache
def regional_images(
    transformers: str, pytorch_training: str, training_py: str, pytorch_inference: str, inference_py: str
) -> dict[str, dict[str, DlcImage]]:
    """{region: {"training": DlcImage, "inference": DlcImage}} for every region that has both images."""
    from sagemaker.core import common_utils, image_uris

    registries = image_uris.config_for_framework("huggingface")["inference"]["versions"][transformers]
    regions = sorted(registries[f"pytorch{pytorch_inference}"]["registries"])
    images = {}
    # retrieve() re-reads botocore's endpoint data on every call (~0.1 s); reuse one resolver for this loop.
    resolver = common_utils._botocore_resolver()
    with mock.patch.object(common_utils, "_botocore_resolver", return_value=resolver):
        for region in regions:
            try:
                images[region] = {
                    "training": _retrieve(region, "training", transformers, pytorch_training, training_py),
                    "inference": _retrieve(
                        region, "inference", transformers, pytorch_inference, inference_py
                    ),
                }
            except ValueError:
                continue  # the training image is not published in this region: leave the region out
    return images


def images_for(config: AppConfig) -> dict[str, dict[str, DlcImage]]:
    return regional_images(
        config.transformers_version,
        config.pytorch_training_version,
        config.training_py_version,
        config.pytorch_inference_version,
        config.inference_py_version,
    )


class DlcImages(Construct):
    """A `region -> image` CloudFormation mapping and deploy-time lookups into it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        mapping = {
            region: {
                f"{scope_name}{field}": getattr(image, attribute)
                for scope_name, image in by_scope.items()
                for field, attribute in (("Uri", "uri"), ("Account", "account"), ("Repository", "repository"))
            }
            for region, by_scope in images_for(config).items()
        }
        self.mapping = CfnMapping(self, "Mapping", mapping=mapping)

    def _lookup(self, key: str) -> str:
        return self.mapping.find_in_map(Aws.REGION, key)

    @property
    def training_image_uri(self) -> str:
        return self._lookup("trainingUri")

    @property
    def inference_image_uri(self) -> str:
        return self._lookup("inferenceUri")

    def repository_arn(self, scope_name: str) -> str:
        """ARN of the ECR repository holding the `training` or `inference` image in the deploy region."""
        return Fn.join(
            "",
            [
                f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:",
                self._lookup(f"{scope_name}Account"),
                f":repository/{self._lookup(f'{scope_name}Repository')}",
            ],
        )
