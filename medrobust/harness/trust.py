"""Trust checks: signs that an evaluation itself cannot be trusted, as report warnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Warning_ = dict[str, str]
Check = Callable[[dict[str, Any]], list[Warning_]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register a check that reads the summary and returns warnings."""
    CHECKS.append(fn)
    return fn


def run_checks(summary: dict[str, Any], extra: list[Warning_] | None = None) -> list[Warning_]:
    """All registered checks' warnings, plus ``extra`` found during the sweep."""
    out = list(extra or [])
    for fn in CHECKS:
        out.extend(fn(summary))
    return out


@check
def zero_budget_equals_clean(summary: dict[str, Any]) -> list[Warning_]:
    """Accuracy at budget 0 must equal clean accuracy (else: randomness or a broken wrapper)."""
    out = []
    clean = summary["clean"]["accuracy"]
    for attack, a in summary["attacks"].items():
        for b in a["budgets"]:
            if b["eps"] == 0 and abs(b["robust_accuracy"] - clean) > 1e-9:
                out.append(
                    {
                        "code": "zero-budget-mismatch",
                        "message": f"{attack}: accuracy at budget 0 is {b['robust_accuracy']:.4f} but clean accuracy is {clean:.4f}; the model's outputs change between identical passes or the wrapper is broken",
                    }
                )
    return out


@check
def pgd_not_weaker_than_fgsm(summary: dict[str, Any]) -> list[Warning_]:
    """An iterative attack weaker than FGSM at the same budget points to gradient masking."""
    out = []
    attacks = summary["attacks"]
    for norm in ("linf", "l2"):
        fgsm = attacks.get(f"fgsm-{norm}")
        if fgsm is None:
            continue
        base = {b["eps"]: b["robust_accuracy"] for b in fgsm["budgets"]}
        for name, a in attacks.items():
            if name == f"fgsm-{norm}" or not name.endswith(norm) or name.startswith("square"):
                continue
            for b in a["budgets"]:
                f = base.get(b["eps"])
                if f is not None and b["robust_accuracy"] > f + 1e-9:
                    out.append(
                        {
                            "code": "iterative-weaker-than-fgsm",
                            "message": f"{name} leaves {b['robust_accuracy']:.3f} accuracy at {b['label']} but FGSM only {f:.3f}: a sign of gradient masking or too few steps",
                        }
                    )
    return out
