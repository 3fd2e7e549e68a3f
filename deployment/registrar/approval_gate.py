"""The approval gate: is a newly trained model good enough to replace the deployed one automatically?

Approve when validation macro-F1 reaches the configured minimum and is not worse than the deployed model's by
more than the configured tolerance. Anything that cannot be judged (metric missing, deployed model unknown)
is left for a person: PendingManualApproval. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The metric the gate compares: validation macro-F1 as printed by training/train.py.
GATE_METRIC = "eval_f1_macro"


@dataclass(frozen=True)
class DeployedModel:
    """What is live now, as far as the model registry knows it."""

    model_data_url: str
    model_package_arn: str | None  # None: the live model is not in the model package group
    macro_f1: float | None


@dataclass(frozen=True)
class GateDecision:
    approved: bool
    reason: str


def decide(
    candidate_f1: float | None,
    deployed: DeployedModel | None,
    min_macro_f1: float,
    max_f1_regression: float,
) -> GateDecision:
    """Approve or leave for manual review, with the reason spelled out either way."""
    if candidate_f1 is None:
        return GateDecision(False, f"the training job reported no {GATE_METRIC}; review the model by hand")
    if candidate_f1 < min_macro_f1:
        return GateDecision(
            False, f"{GATE_METRIC} {candidate_f1:.4f} is below the minimum {min_macro_f1:.4f}"
        )
    if deployed is None:
        return GateDecision(
            True, f"{GATE_METRIC} {candidate_f1:.4f} >= minimum {min_macro_f1:.4f}; no model is deployed yet"
        )
    if deployed.model_package_arn is None:
        return GateDecision(
            False,
            f"the deployed model {deployed.model_data_url} is not in the model package group, so "
            f"{GATE_METRIC} {candidate_f1:.4f} cannot be compared with it; review by hand",
        )
    if deployed.macro_f1 is None:
        return GateDecision(
            False,
            f"the deployed model package {deployed.model_package_arn} has no recorded {GATE_METRIC}; "
            "review by hand",
        )
    floor = deployed.macro_f1 - max_f1_regression
    if candidate_f1 < floor:
        return GateDecision(
            False,
            f"{GATE_METRIC} {candidate_f1:.4f} is worse than the deployed model's {deployed.macro_f1:.4f} by more "
            f"than the allowed {max_f1_regression:.4f}",
        )
    return GateDecision(
        True,
        f"{GATE_METRIC} {candidate_f1:.4f} >= minimum {min_macro_f1:.4f} and within {max_f1_regression:.4f} of "
        f"the deployed model's {deployed.macro_f1:.4f}",
    )
