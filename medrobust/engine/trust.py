"""Trust checks: signs that an evaluation itself cannot be trusted, as report warnings.

Every check reads the summary. What needs the model (randomness between two identical
passes, input gradients) is probed once on a small batch outside the attack loop by
:func:`medrobust.engine.probes.probe_model`, and recorded in ``summary["trust"]`` with the chance level, the
attacks' norms and kinds, and ``known_robust``; the checks read it from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from medrobust.attacks.base import Attack
from medrobust.attacks.norms import NORMS
from medrobust.attacks.square import DEFAULT_QUERIES
from medrobust.datasets.file_space import QUANTISED
from medrobust.results.summary import AttackInfo, Summary, TrustWarning

# Thresholds (documented in the README's attacks section).
CHANCE_FRACTION = 0.5
"""Warn when robust accuracy at the largest budget > chance + CHANCE_FRACTION x (clean - chance)."""
LARGE_LINF = 8 / 255
"""... and that largest L-inf budget is at least this fraction of the bounds' range."""
MIN_SKILL = 0.1
"""... and clean accuracy exceeds chance by at least this much (else there is nothing to fall)."""
VANISHING_SHARE = 0.1
"""Warn when more than this share of the probed samples has a vanishing loss gradient."""
BLACK_BOX_MARGIN = 0.02
"""Warn when a black-box attack leaves this much (and >= 1.5 samples) less accuracy than every white-box one."""

Check = Callable[[Summary], list[TrustWarning]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register a check that reads the summary and returns warnings."""
    CHECKS.append(fn)
    return fn


MASKING = frozenset(
    {
        "iterative-weaker-than-fgsm",
        "attack-weaker-than-another",
        "not-falling-to-chance",
        "vanishing-gradients",
        "black-box-stronger",
    }
)
"""The warnings that point to gradient masking (when they fire, the black-box budget matters)."""


def run_checks(summary: Summary | dict[str, Any], extra: Sequence[TrustWarning] = ()) -> list[TrustWarning]:
    """All registered checks' warnings, plus ``extra`` found during the sweep."""
    typed = Summary.from_dict(summary)
    out = list(extra)
    for fn in CHECKS:
        out.extend(fn(typed))
    return out + black_box_budget(typed, out)


def black_box_budget(summary: Summary, found: Sequence[TrustWarning]) -> list[TrustWarning]:
    """When a masking check fired, a black-box attack below its default queries may overstate robustness."""
    if not any(w.code in MASKING for w in found) or summary.trust is None:
        return []
    return [
        _warn(
            "weak-black-box",
            f"gradient masking is suspected and {name} ran {info.queries} queries (default {DEFAULT_QUERIES}): "
            "with masked gradients the worst case rests on the black-box attack, and a smaller query budget "
            f"overstates robustness; rerun with queries={DEFAULT_QUERIES} or more",
        )
        for name, info in summary.trust.attacks.items()
        if info.black_box and info.queries is not None and info.queries < DEFAULT_QUERIES
    ]


def _warn(code: str, message: str) -> TrustWarning:
    return TrustWarning(code=code, message=message)


@check
def zero_budget_equals_clean(summary: Summary) -> list[TrustWarning]:
    """Accuracy at budget 0 must equal clean accuracy (else: randomness or a broken wrapper)."""
    clean = summary.clean.accuracy
    return [
        _warn(
            "zero-budget-mismatch",
            f"{attack}: accuracy at budget 0 is {b.robust_accuracy:.4f} but clean accuracy is {clean:.4f}; "
            "the model's outputs change between identical passes or the wrapper is broken",
        )
        for attack, a in summary.attacks.items()
        for b in a.budgets
        if b.eps == 0 and abs(b.robust_accuracy - clean) > 1e-9
    ]


@check
def pgd_not_weaker_than_fgsm(summary: Summary) -> list[TrustWarning]:
    """An iterative attack weaker than FGSM at the same budget points to gradient masking."""
    out = []
    for norm in ("linf", "l2"):
        fgsm = summary.attacks.get(f"fgsm-{norm}")
        if fgsm is None:
            continue
        base = {b.eps: b.robust_accuracy for b in fgsm.budgets}
        for name, a in summary.attacks.items():
            if name == f"fgsm-{norm}" or not name.endswith(norm) or _black_box(summary, name):
                continue
            for b in a.budgets:
                f = base.get(b.eps)
                if b.eps > 0 and f is not None and b.robust_accuracy > f + 1e-9:
                    out.append(
                        _warn(
                            "iterative-weaker-than-fgsm",
                            f"{name} leaves {b.robust_accuracy:.3f} accuracy at {b.label} but FGSM only {f:.3f}: "
                            "a sign of gradient masking or too few steps",
                        )
                    )
    return out


@check
def no_attack_weaker_than_a_simpler_one(summary: Summary) -> list[TrustWarning]:
    """An iterative attack left above another white-box attack of its norm that is meant to be no
    stronger (APGD above PGD, or two PGDs apart), by more than the noise, points to gradient masking."""
    out: list[TrustWarning] = []
    tol = _noise(summary)
    suites = set(summary.trust.suites) if summary.trust else set()
    names = [
        a
        for a in summary.attacks
        if a not in suites and not _black_box(summary, a) and _strength(summary, a) and _norm(summary, a) in NORMS
    ]  # L-p attacks only: two acquisition shifts (norm "severity") are different shifts, not weaker and stronger
    for name in names:
        curve = {b.eps: b for b in summary.attacks[name].budgets if b.eps > 0}
        for other in names:
            if other == name or _norm(summary, other) != _norm(summary, name):
                continue
            if _strength(summary, other) > _strength(summary, name):
                continue
            gaps = [
                (curve[b.eps].robust_accuracy - b.robust_accuracy, b)
                for b in summary.attacks[other].budgets
                if b.eps in curve and curve[b.eps].robust_accuracy > b.robust_accuracy + tol
            ]
            if not gaps:
                continue
            at = max(gaps, key=lambda g: g[0])[1]
            out.append(
                _warn(
                    "attack-weaker-than-another",
                    f"{name} leaves {curve[at.eps].robust_accuracy:.3f} accuracy at {at.label} but {other}, meant to "
                    f"be no stronger, only {at.robust_accuracy:.3f} (more than the noise, {tol:.3f}): a sign of "
                    f"gradient masking or too few steps; {_combined(summary, _norm(summary, name))}",
                )
            )
    return out


@check
def falls_towards_chance(summary: Summary) -> list[TrustWarning]:
    """At a large L-inf budget the strongest attack should bring accuracy close to chance.

    Fires when, at the largest L-inf budget (>= 8/255 of the range), the lowest robust
    accuracy over all attacks is above ``chance + 0.5 x (clean - chance)``; silenced by
    ``known_robust`` (a model trained to be robust may legitimately stay high).
    """
    trust = summary.trust
    clean = summary.clean.accuracy
    if trust is None or trust.known_robust or math.isnan(trust.chance) or not clean - trust.chance >= MIN_SKILL:
        return []
    chance = trust.chance
    lo, hi = trust.bounds
    curves = {n: a.budgets for n, a in summary.attacks.items() if _norm(summary, n) == "linf" and a.budgets}
    if not curves:
        return []
    largest = max(b.eps for bs in curves.values() for b in bs)
    if largest < LARGE_LINF * (hi - lo) - 1e-12:
        return []
    at = {n: b.robust_accuracy for n, bs in curves.items() for b in bs if abs(b.eps - largest) < 1e-12}
    best = min(at, key=lambda n: at[n])
    limit = chance + CHANCE_FRACTION * (clean - chance)
    if at[best] <= limit:
        return []
    label = next(b.label for b in curves[best] if abs(b.eps - largest) < 1e-12)
    return [
        _warn(
            "not-falling-to-chance",
            f"at {label} the strongest attack ({best}) still leaves {at[best]:.3f} accuracy (clean {clean:.3f}, "
            f"chance {chance:.3f}, warning above {limit:.3f}): a sign of gradient masking or too weak attacks; "
            "run --suite strong, or declare the model known robust if it was trained to be",
        )
    ]


@check
def gradients_not_vanishing(summary: Summary) -> list[TrustWarning]:
    """The loss's input gradient must not be zero on a noticeable share of samples."""
    g = summary.trust.gradients if summary.trust else None
    if g is None or g.probed == 0 or not g.vanishing_share > VANISHING_SHARE:
        return []
    if g.margin_vanishing_share <= VANISHING_SHARE:
        why = (
            "the loss saturates (the margin still has gradients): trust margin-based attacks "
            "(apgd-margin, apgd-dlr, --suite strong) over CE-based ones"
        )
    else:
        why = (
            "the model's input gradient is zero (non-differentiable steps such as quantisation or thresholding): "
            "gradient attacks see nothing; differentiate through an approximation (BPDA): flag the layer "
            "non_differentiable and run --suite strong (it adds bpda=identity members) or --attack apgd:bpda=identity, "
            "or name it (bpda: {module: NAME, with: identity}); see docs/defended-models.md"
        )
    return [
        _warn(
            "vanishing-gradients",
            f"the loss's input gradient vanishes on {g.vanishing_share:.0%} of {g.probed} probed samples: {why}",
        )
    ]


@check
def black_box_not_stronger(summary: Summary) -> list[TrustWarning]:
    """A score-based attack beating every gradient attack means the gradients mislead them."""
    out: list[TrustWarning] = []
    tol = _noise(summary)
    suites = set(summary.trust.suites) if summary.trust else set()
    for norm in ("linf", "l2"):
        names = [a for a in summary.attacks if _norm(summary, a) == norm and a not in suites]
        black = [a for a in names if _black_box(summary, a)]
        white = [a for a in names if not _black_box(summary, a)]
        if not black or not white:
            continue
        acc = {a: {b.eps: b.robust_accuracy for b in summary.attacks[a].budgets} for a in names}
        for eps in sorted(acc[black[0]]):
            if eps == 0 or any(eps not in acc[a] for a in names):
                continue
            b_name = min(black, key=lambda a: acc[a][eps])
            w_name = min(white, key=lambda a: acc[a][eps])
            if acc[b_name][eps] < acc[w_name][eps] - tol:
                label = next(b.label for b in summary.attacks[b_name].budgets if b.eps == eps)
                out.append(
                    _warn(
                        "black-box-stronger",
                        f"at {label} the black-box {b_name} leaves {acc[b_name][eps]:.3f} accuracy but the best "
                        f"white-box attack ({w_name}) {acc[w_name][eps]:.3f}: the gradients mislead the white-box "
                        f"attacks (gradient masking); {_combined(summary, norm)}; then see through the masking: "
                        "bpda= on the non-differentiable layers, eot= for randomness, or a surrogate= model "
                        "(docs/defended-models.md)",
                    )
                )
    return out


@check
def outputs_deterministic(summary: Summary) -> list[TrustWarning]:
    """Two identical forward passes in eval mode must give the same logits."""
    d = summary.trust.determinism if summary.trust else None
    if d is None or d.deterministic:
        return []
    return [
        _warn(
            "random-outputs",
            f"two identical forward passes in eval mode differ (max logit difference {d.max_abs_diff:.3g}): "
            "randomness in the model (active dropout, noise, stochastic defences) makes one pass a random draw and "
            "can hide gradients; every example here is judged by the mean prediction of fresh passes (their mean and "
            "worst single-pass accuracy are under 'passes' in summary.json); remove the randomness, or attack its "
            "expectation: eot=k (--attack apgd:eot=8; --suite strong adds EOT members by itself)",
        )
    ]


def _noise(summary: Summary) -> float:
    """The accuracy gap two attacks may show by chance: a margin, and at least 1.5 samples."""
    return max(BLACK_BOX_MARGIN, 1.5 / max(summary.n, 1))


def _combined(summary: Summary, norm: str) -> str:
    """What to report instead: the run's combined curve of ``norm`` (the worst case over every attack)."""
    suites = summary.trust.suites if summary.trust else {}
    label = next((s for s in suites if _norm(summary, s) == norm), None)
    if label is not None:
        return f"report {label}, the worst case per sample over every {norm} attack in this run"
    return f"run --suite strong and report its curve, the worst case per sample over every {norm} attack in the run"


def _strength(summary: Summary, name: str) -> int:
    """How strong an attack is meant to be (recorded in the summary; else by name: FGSM 0, APGD 2, others 1)."""
    info = _attack_info(summary, name)
    if info is not None:
        return info.strength
    return 0 if name.startswith("fgsm") else 2 if name.startswith("apgd") else 1


def _attack_info(summary: Summary, name: str) -> AttackInfo | None:
    return summary.trust.attacks.get(name) if summary.trust else None


def _black_box(summary: Summary, name: str) -> bool:
    """Whether attack ``name`` uses only outputs (recorded in the summary; else by name)."""
    info = _attack_info(summary, name)
    if info is not None:
        return info.black_box
    return name.startswith(("square", "art:SquareAttack"))


def _norm(summary: Summary, name: str) -> str:
    """An attack's norm (recorded in the summary; else from its label's suffix)."""
    info = _attack_info(summary, name)
    return info.norm if info is not None else name.rsplit("-", 1)[-1]


def chance_accuracy(clean: pd.DataFrame) -> float:
    """Accuracy of always predicting the most common label (vector, for multi-label)."""
    cols = ["y"] if "y" in clean.columns else sorted(c for c in clean.columns if c.startswith("y_"))
    if clean.empty or not cols:
        return math.nan
    return float(clean.groupby(cols).size().max() / len(clean))


def trust_context(
    clean: pd.DataFrame,
    attacks: Sequence[Attack],
    bounds: tuple[float, float],
    *,
    known_robust: bool = False,
    probes: dict[str, Any] | None = None,
    suites: dict[str, list[str]] | None = None,
    quantised: bool = False,
    adaptive: Sequence[dict[str, object]] = (),
) -> dict[str, Any]:
    """``summary["trust"]``: what the checks need beyond the curves (``quantised``: file space's rounded curves too;
    ``adaptive``: the options the suites added, :mod:`medrobust.engine.adapt`)."""
    info: dict[str, dict[str, Any]] = {
        a.label: {
            "norm": a.norm,
            "black_box": bool(a.black_box),
            "strength": a.strength,
            "queries": getattr(a, "queries", None) if a.black_box else None,
        }
        for a in attacks
    }
    for label, members in (suites or {}).items():
        info[label] = {"norm": info[members[0]]["norm"] if members else "linf", "black_box": False, "members": members}
    if quantised:
        info.update({f"{label}{QUANTISED}": dict(a) for label, a in info.items()})
    return {
        "chance": chance_accuracy(clean),
        "known_robust": known_robust,
        "bounds": [float(bounds[0]), float(bounds[1])],
        "attacks": info,
        "suites": dict(suites or {}),
        **(probes or {}),
        **({"adaptive": list(adaptive)} if adaptive else {}),
    }
