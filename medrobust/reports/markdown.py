"""``summary.md``: a short Markdown summary for CI job pages and pull-request comments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medrobust.reports.format import (
    adaptive_text,
    corruption_lines,
    corruption_table,
    mean_head,
    mean_text,
    passes_head,
    passes_text,
    random_init_note,
    visibility_head,
    visibility_text,
)
from medrobust.text import interval, is_missing, markdown_table, md_cell, num

if TYPE_CHECKING:
    from medrobust.results.results import Results


def render_markdown(results: Results) -> str:
    """Headline, per-budget table, subgroup gaps and trust warnings, as GitHub-flavoured Markdown."""
    s, m = results.summary, results.manifest
    model = m.get("model", {}).get("name", "model")
    data = m.get("data", {}).get("name", "data")
    lines = [
        f"## medrobust: {md_cell(model)} on {md_cell(data)}{random_init_note(m)}",
        "",
        f"n = {s.n}, task {s.task}, clean accuracy **{num(s.clean.accuracy)}** "
        f"{interval(s.clean.accuracy_ci)}, clean AUROC {num(s.clean.auroc)}",
        "",
    ]
    if s.clean.passes is not None:
        lines += [
            f"The model's outputs are random: every number is that of its mean prediction over "
            f"{s.clean.passes.count} fresh passes per example; the last column gives the single passes' "
            "mean and worst accuracy.",
            "",
        ]
    head = ["attack", "budget", "k/255", "robust acc", "95% CI", "drop", "success", "AUROC", "sens", "spec"]
    head += mean_head(s) + passes_head(s) + visibility_head(s)
    body = []
    for attack, a in s.attacks.items():
        for b in sorted(a.budgets, key=lambda b: b.eps):
            body.append(
                [
                    attack,
                    b.label,
                    b.label_255 or "",
                    num(b.robust_accuracy),
                    interval(b.robust_accuracy_ci),
                    num(b.drop),
                    num(b.success_rate),
                    num(b.auroc),
                    num(b.sensitivity),
                    num(b.specificity),
                    *mean_text(s, b),
                    *passes_text(s, b),
                    *visibility_text(s, b),
                ]
            )
    lines += markdown_table(head, body)
    if s.corruption is not None:
        head, body = corruption_table(s.corruption)
        lines += ["", "**Acquisition shifts**: corruption error per severity", ""]
        lines += markdown_table(head, [[md_cell(c) for c in row] for row in body])
        lines += ["", *[f"- {md_cell(t)}" for t in corruption_lines(s.corruption)]]
    gaps = []
    for column, split in s.subgroups.items():
        for attack, curve in split.gap.items():
            if curve:
                label, gap = max(curve.items(), key=lambda kv: -1.0 if is_missing(kv[1]) else kv[1])
                gaps.append([column, attack, label, num(gap), num(split.clean_gap)])
    if gaps:
        lines += ["", "**Subgroups**: largest robust-accuracy gap between groups", ""]
        lines += markdown_table(["split", "attack", "at budget", "gap", "clean gap"], gaps)
    warnings = s.warnings
    lines += ["", f"**Trust warnings**: {len(warnings)}" if warnings else "**Trust warnings**: none"]
    lines += [f"- `{md_cell(w.code)}`: {md_cell(w.message)}" for w in warnings]
    adapted = adaptive_text(s)
    lines += ["", "**Adaptive attacks added**:", *[f"- {md_cell(t)}" for t in adapted]] if adapted else []
    lines += [
        "",
        f"<sub>run {str(m.get('medrobust_run', ''))[:12]}, schema {s.schema_version}, "
        f"model {str(m.get('model', {}).get('fingerprint', ''))[:12]}, data {str(m.get('data', {}).get('fingerprint', ''))[:12]}</sub>",  # noqa: E501
        "",
    ]
    return "\n".join(lines)
