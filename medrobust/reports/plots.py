"""Robustness plots with matplotlib (no pyplot state): curves with bootstrap bands, subgroups.

Figures are built with :class:`matplotlib.figure.Figure` directly, so no GUI backend is
needed and nothing leaks between calls; :func:`png_base64` embeds them in HTML.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medrobust.reports.format import as_summary, is_missing
from medrobust.results.summary import Group, Summary, SummaryLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_METRICS = (("robust_accuracy", "accuracy"), ("auroc", "auroc"))


def curves_figure(summary: SummaryLike, units: str = "") -> Figure:
    """Accuracy and AUROC against budget, one line per attack, bootstrap bands, clean level dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), dpi=90)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.22)
    s = as_summary(summary)
    for ax, (metric, clean_key) in zip(axes, _METRICS, strict=True):
        for attack, a in s.attacks.items():
            budgets = sorted(a.budgets, key=lambda b: b.eps)
            xs = [b.eps for b in budgets]
            ys = [_nan(getattr(b, metric)) for b in budgets]
            (line,) = ax.plot(xs, ys, marker="o", ms=4, label=attack)
            cis = [getattr(b, f"{metric}_ci") for b in budgets]
            lo = [_nan(c[0]) for c in cis]
            hi = [_nan(c[1]) for c in cis]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
        level = getattr(s.clean, clean_key)
        if not is_missing(level):
            ax.axhline(level, color="0.3", linestyle="--", linewidth=1, label=f"clean {level:.3f}")
        _budget_axis(ax, s, units)
        ax.set_ylabel("robust accuracy" if metric == "robust_accuracy" else "AUROC")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_title("accuracy under attack (95% bootstrap band)", fontsize=10)
    axes[1].set_title("AUROC under attack (95% bootstrap band)", fontsize=10)
    return fig


def subgroup_figure(summary: SummaryLike, column: str, units: str = "") -> Figure | None:
    """Robust accuracy per group of ``column``: one panel per attack, one line per group."""
    from matplotlib.figure import Figure

    s = as_summary(summary)
    split = s.subgroups.get(column)
    groups: Mapping[str, Group] = split.groups if split is not None else {}
    attacks = list(s.attacks)
    if not groups or not attacks:
        return None
    fig = Figure(figsize=(min(5.0 * len(attacks), 15), 3.6), dpi=90)
    axes = fig.subplots(1, len(attacks), squeeze=False)[0]
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    for ax, attack in zip(axes, attacks, strict=True):
        eps_of = {b.label: b.eps for b in s.attacks[attack].budgets}
        for value, g in groups.items():
            curve = g.robust_accuracy.get(attack, {})
            points = sorted((eps_of[label], _nan(acc)) for label, acc in curve.items() if label in eps_of)
            if points:
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="o",
                    ms=4,
                    label=f"{value} (n={g.n})",
                )
        _budget_axis(ax, s, units, attack)
        ax.set_title(f"{attack} by {column}", fontsize=10)
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    return fig


def png_base64(fig: Figure) -> str:
    """The figure as a base64 PNG string (for ``<img src="data:image/png;base64,...">``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _budget_axis(ax: Axes, summary: Summary, units: str, attack: str | None = None) -> None:
    """Ticks at the evaluated budgets, labelled as the user wrote them."""
    names = [attack] if attack else list(summary.attacks)
    ticks: dict[float, str] = {}
    for name in names:
        for b in summary.attacks[name].budgets:
            ticks.setdefault(float(b.eps), str(b.label))
    if ticks:
        xs = sorted(ticks)
        ax.set_xticks(xs, [ticks[x] for x in xs], fontsize=8, rotation=45 if len(xs) > 6 else 0)
    ax.set_xlabel(f"budget ({units})" if units else "budget")


def _nan(v: Any) -> float:
    return float("nan") if is_missing(v) else float(v)


def figure_names(summary: SummaryLike) -> Sequence[str]:
    """Subgroup columns that have a plot."""
    return [c for c, s in as_summary(summary).subgroups.items() if s.groups]
