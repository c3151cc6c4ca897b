"""Text the reports share beyond :mod:`medrobust.text`: budgets, class names, the strongest attack."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from medrobust.results.summary import BudgetPoint, Corruption, Summary, SummaryLike
from medrobust.text import MISSING, interval, is_missing, num

__all__ = [
    "MISSING",
    "adaptive_text",
    "as_summary",
    "budget_text",
    "class_text",
    "corruption_lines",
    "corruption_table",
    "interval",
    "is_missing",
    "largest_budget",
    "mean_head",
    "mean_text",
    "num",
    "passes_head",
    "passes_text",
    "random_init_note",
    "sessions_text",
    "strongest_attack",
    "visibility_head",
    "visibility_text",
]

RANDOM_INIT = "random-initialised model (smoke test)"
"""How every report marks a run on a seeded random network (``medrobust run --random-init``)."""

PASSES_HEAD = "single passes: mean / worst"
"""The column a random model's tables add (see :func:`passes_text`)."""


def adaptive_text(summary: Summary) -> list[str]:
    """One line per adaptive option a suite added on its own: which, to which members, why."""
    found = summary.trust.adaptive if summary.trust is not None else []
    return [f"{a.suite} added {a.option} ({', '.join(a.members)}): {a.reason}" for a in found]


def random_init_note(manifest: Mapping[str, Any]) -> str:
    """``, random-initialised model (smoke test)`` for a headline when the model had random weights, else empty."""
    return f", {RANDOM_INIT}" if (manifest.get("model") or {}).get("random_init") else ""


def sessions_text(manifest: Mapping[str, Any]) -> str:
    """``resumed (3 sessions)`` for a run that was interrupted and resumed, else ``one session``."""
    if "sessions" not in manifest:
        return "not recorded"  # a manifest from before sessions were kept
    n = len(manifest["sessions"] or [])
    return f"resumed ({n} sessions)" if manifest.get("resumed") else "one session"


def passes_head(summary: Summary) -> list[str]:
    """The extra column head when the model was random (judged by fresh passes), else none."""
    return [PASSES_HEAD] if summary.clean.passes is not None else []


def as_summary(summary: SummaryLike) -> Summary:
    """The typed summary; a 1.x dict summary is validated once, at a renderer's entry."""
    return summary if isinstance(summary, Summary) else Summary.from_dict(dict(summary))


def passes_text(summary: Summary, point: BudgetPoint) -> list[str]:
    """A random model's single passes at ``point`` (``0.904 / 0.865``), matching :func:`passes_head`."""
    if summary.clean.passes is None:
        return []
    p = point.passes
    return [f"{num(p.mean_accuracy)} / {num(p.worst_accuracy)}" if p is not None else MISSING]


MEAN_HEAD = "mean of draws"
"""The column a run with a shift in random mode adds (see :func:`mean_text`)."""


def mean_head(summary: Summary) -> list[str]:
    """The mean-of-draws column head when some point has ``mean_accuracy`` (a shift's random mode), else none."""
    return [MEAN_HEAD] if _averaged(summary) else []


def mean_text(summary: Summary, point: BudgetPoint) -> list[str]:
    """``point``'s accuracy under one random draw (empty for attacks without one), matching :func:`mean_head`."""
    if not _averaged(summary):
        return []
    value = (point.model_extra or {}).get("mean_accuracy")
    return [num(value) if value is not None else ""]


def _averaged(summary: Summary) -> bool:
    return any("mean_accuracy" in (b.model_extra or {}) for a in summary.attacks.values() for b in a.budgets)


VISIBILITY_HEAD = ["max change", "mean change", "PSNR (dB)", "SSIM"]
"""The columns a file-space run's tables add (see :func:`visibility_text`): how visible each edit is."""


def visibility_head(summary: Summary) -> list[str]:
    """The perceptibility column heads when the run was in file space (its budgets carry them), else none."""
    return VISIBILITY_HEAD if _visible(summary) else []


def visibility_text(summary: Summary, point: BudgetPoint) -> list[str]:
    """``max_linf``, ``mean_abs_change`` (physical units), ``mean_psnr`` and ``mean_ssim`` of ``point``."""
    if not _visible(summary):
        return []
    extra = point.model_extra or {}
    keys = ("max_linf", "mean_abs_change", "mean_psnr", "mean_ssim")
    return [num(extra.get(k), 4 if k == "mean_ssim" else 2) for k in keys]


def _visible(summary: Summary) -> bool:
    return any("mean_ssim" in (b.model_extra or {}) for a in summary.attacks.values() for b in a.budgets)


def budget_text(budget: BudgetPoint) -> str:
    """A budget as the user wrote it, with its ``k/255`` form when that differs."""
    label = str(budget.label)
    k255 = str(budget.label_255 or "")
    return label if not k255 or k255 == label else f"{label} ({k255})"


def class_text(record: Mapping[str, Any], prefix: str, names: Sequence[str]) -> str:
    """The class name in column ``prefix`` (``y``/``pred``), or the findings set for multi-label."""
    if prefix in record:
        k = int(record[prefix])
        return names[k] if 0 <= k < len(names) else str(k)
    found = [n for j, n in enumerate(names) if int(record.get(f"{prefix}_{j}", 0)) == 1]
    return "+".join(found) if found else "none"


def largest_budget(summary: SummaryLike, attack: str) -> BudgetPoint | None:
    """The entry of ``attack`` at its largest budget."""
    budgets = as_summary(summary).attacks[attack].budgets
    return max(budgets, key=lambda b: b.eps) if budgets else None


def strongest_attack(summary: SummaryLike, among: Iterable[str] | None = None) -> str | None:
    """The attack (of ``among``, default all) with the lowest robust accuracy at its largest budget."""
    s = as_summary(summary)
    names = [n for n in (s.attacks if among is None else among) if n in s.attacks]
    best: tuple[float, str] | None = None
    for name in names:
        b = largest_budget(s, name)
        if b is None or is_missing(b.robust_accuracy):
            continue
        if best is None or b.robust_accuracy < best[0]:
            best = (float(b.robust_accuracy), name)
    return best[1] if best else (names[0] if names else None)


def corruption_table(c: Corruption) -> tuple[list[str], list[list[str]]]:
    """The acquisition suite's table: per shift and mode, its error per severity, relative drop, CE."""
    head = ["shift", "mode", *(f"error @{s:g}" for s in c.severities), "relative drop"]
    with_reference = c.reference is not None
    head += ["CE", "relative CE"] if with_reference else []
    body = []
    for e in c.shifts.values():
        row = [e.shift, e.mode, *(num(x) for x in e.errors), num(e.relative_drop)]
        body.append(row + ([num(e.ce), num(e.relative_ce)] if with_reference else []))
    return head, body


def corruption_lines(c: Corruption) -> list[str]:
    """One line per mode: the mean corruption error (with a reference) and the mean relative drop."""
    ref = c.reference
    against = f"against {ref.get('model', '?')} (run {ref.get('run', '')[:12]})" if ref is not None else ""
    lines = []
    for mode, m in c.modes.items():
        mce = f"mCE {num(m.mce)}, relative mCE {num(m.relative_mce)} {against}, " if ref is not None else ""
        lines.append(f"{mode}: {mce}mean relative accuracy drop {num(m.mean_relative_drop)} over {m.shifts} shifts")
    return lines
