"""Release gates for the lesion classifier on synthetic lesion images.

Each marker is a threshold checked at every budget up to ``eps`` against one shared sweep;
a failure names the first budget that fell short and prints the robustness curve.
"""

from __future__ import annotations

import pytest

from medrobust import Results
from medrobust.gates.assertions import assert_robust


@pytest.mark.robustness(attack="pgd", eps="1/255", min_accuracy=0.85)
def test_pgd_keeps_accuracy_at_1_255(robustness: Results) -> None:
    """PGD at an imperceptible budget does not break the classifier."""


@pytest.mark.robustness(attack="fgsm", eps="2/255", max_drop=0.3, min_auroc=0.85)
def test_fgsm_drop_and_auroc_at_2_255(robustness: Results) -> None:
    """FGSM at 2/255: accuracy falls by at most 0.3 and AUROC stays above 0.85."""


def test_subgroups_are_equally_robust(robustness: Results) -> None:
    """No sex or site loses much more robustness than another at 1/255 (plain assertion helper).

    With 32 images a subgroup holds about 16, so one image moves its accuracy by about 0.06: the gate
    allows three."""
    assert_robust(robustness, attack="pgd", eps="1/255", max_subgroup_gap=0.2)


def test_model_breaks_at_large_budgets(robustness: Results) -> None:
    """A sanity check on the evaluation itself: an undefended CNN must break at 8/255."""
    assert robustness.metric("pgd", 8 / 255) < 0.5
    assert not [w for w in robustness.warnings if w["code"] == "zero-budget-mismatch"]
