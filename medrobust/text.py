"""Text output every report and front end shares: numbers, intervals and the one Markdown table.

One implementation each, so ``summary.md``, the compare table, the nightly ``bench.md``,
terminal tables and assertion messages show a number (and a missing one) the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "–"
"""How an undefined metric (``None``, NaN) is shown in reports."""
PLAIN_MISSING = "-"
"""The same in terminal tables and assertion messages (plain ASCII)."""


def is_missing(v: Any) -> bool:
    """True for ``None`` and NaN (how JSON ``null`` metrics come back)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def as_float(v: Any) -> float:
    """A metric as a float; ``None`` and anything unreadable as NaN."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def num(v: Any, digits: int = 3, *, width: int = 0, missing: str = MISSING, signed: bool = False) -> str:
    """A metric with ``digits`` decimals (``signed``: always with its sign), or ``missing`` when undefined."""
    if is_missing(v):
        text = missing
    elif isinstance(v, bool) or not isinstance(v, int | float):
        text = str(v)
    else:
        text = f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    return f"{text:>{width}}" if width else text


def interval(pair: Any, digits: int = 3) -> str:
    """A confidence interval as ``[lo, hi]``, or empty when there is none."""
    if not isinstance(pair, list | tuple) or len(pair) != 2 or any(is_missing(v) for v in pair):
        return ""
    return f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def md_cell(v: Any) -> str:
    """A value safe inside a Markdown table cell: ``|``, newlines and HTML brackets escaped."""
    return str(v).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, raw: bool = False) -> list[str]:
    """A GitHub-flavoured Markdown table, one string per line; cells escaped unless ``raw``."""
    cell = str if raw else md_cell
    out = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out
