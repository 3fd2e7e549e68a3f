"""Instance families whose storage is local NVMe (instance store) rather than EBS.

SageMaker rejects a customer KMS key for such storage (CreateTrainingJob `ResourceConfig.VolumeKmsKeyId`,
CreateEndpointConfig `KmsKeyId`): it is encrypted by a hardware module on the instance instead. See
"Instance Store Volumes" in the SageMaker developer guide. A manifest may pick any training instance type, so
the launcher decides per job, and the deployer per endpoint config; the CDK app decides for the serving stack's own
endpoint config (tests/test_config.py checks that it agrees).
"""

from __future__ import annotations

#: ML instance families (the part between "ml." and the size) with local NVMe instance storage.
LOCAL_STORAGE_FAMILIES = frozenset(
    {
        "c5d",
        "c6gd",
        "c6id",
        "g4dn",
        "g5",
        "g6",
        "g6e",
        "gr6",
        "m5d",
        "m6gd",
        "m6id",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "r5d",
        "r6gd",
        "r6id",
        "trn1",
        "trn1n",
        "trn2",
    }
)


def instance_family(instance_type: str) -> str:
    """`ml.g5.2xlarge` -> `g5`."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml" or not parts[1] or not parts[2]:
        raise ValueError(f"not a SageMaker ML instance type (expected ml.<family>.<size>): {instance_type!r}")
    return parts[1]


def has_local_storage(instance_type: str) -> bool:
    """True where SageMaker encrypts the volume in hardware and refuses a KMS key for it."""
    return instance_family(instance_type) in LOCAL_STORAGE_FAMILIES
