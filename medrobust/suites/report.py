"""The nightly suite's combined summary as Markdown (``bench.md``, a CI job summary)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medrobust.text import markdown_table, md_cell, num

if TYPE_CHECKING:
    from medrobust.suites.grid import SuiteRun


def markdown(run: SuiteRun) -> str:
    """The combined summary as Markdown (a CI job summary): one table, then each regression."""
    lines = [f"# medrobust bench: {run.suite.name}", ""]
    counts = {s: sum(c.status == s for c in run.cells) for s in ("done", "cached", "skipped", "error")}
    lines.append(
        f"{len(run.cells)} cells: {counts['done']} run, {counts['cached']} already finished, "
        f"{counts['skipped']} skipped, {counts['error']} failed."
    )
    if run.baseline is not None:
        lines.append(
            f"Gate against `{run.baseline}` ({run.suite.gate.metric}, tolerance {run.suite.gate.tolerance:g}): **{verdict(run)}**."  # noqa: E501
        )
    rows: list[list[object]] = []
    for c in run.cells:
        gate = c.gate.get("status", "") if c.gate else ""
        if c.results is None:
            rows.append([c.id, c.status, "", "", "", c.message, gate])
            continue
        s = c.results.summary
        for i, (name, a) in enumerate(s.attacks.items()):
            curve = ", ".join(f"{b.label}: {num(b.robust_accuracy)}" for b in a.budgets)
            first = [c.id, c.status, s.n, num(s.clean.accuracy)] if i == 0 else ["", "", "", ""]
            rows.append([*first, name, curve, gate if i == 0 else ""])
    head = ["cell", "status", "n", "clean acc", "attack", "robust accuracy by budget", "gate"]
    lines += ["", *markdown_table(head, rows)]
    for c in run.cells:
        if c.gate.get("status") in ("regression", "error"):
            lines += [
                "",
                f"## {c.id}: {c.gate['status']}",
                "",
                c.gate.get("markdown") or md_cell(c.gate.get("message", "")),
            ]
    return "\n".join(lines).rstrip() + "\n"


def verdict(run: SuiteRun) -> str:
    """ERROR, not gated, REGRESSION when any cell regressed against the baseline, else PASS."""
    if run.errors:
        return "ERROR"
    if run.baseline is None:
        return "not gated"
    return "REGRESSION" if run.regressions else "PASS"
