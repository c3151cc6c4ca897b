"""A combined curve: per sample and budget, the worst case over several attacks' rows.

The suite's curve combines its members and every other attack of its norm in the run, so
the headline worst case is never above any attack's curve. A sample is broken at a budget
if any attack broke it there; each attack's curve is monotone, so the combination is too.
For a random model (rows with ``pass_rate``) ties go to the row with fewer correct passes.
A shift's mean over its draws (``correct_fraction``) is not carried into a combined curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def combine_rows(rows: pd.DataFrame, label: str, attacks: Sequence[str]) -> pd.DataFrame:
    """Rows labelled ``label``: per sample x budget, a broken row of ``attacks`` (first in their order)
    if there is one, else the first attack's row; rows with a lower ``pass_rate`` come first."""
    order = list(attacks)
    sub = rows[rows["attack"].isin(order)]
    missing = set(order) - set(sub["attack"].unique())
    if missing:
        raise ValueError(f"{label}: no rows for attack(s) {sorted(missing)}")
    rank = {a: i for i, a in enumerate(order)}
    ranked = sub.assign(_broken=~sub["correct"].astype(bool), _order=sub["attack"].map(rank))
    keys, ascending = ["eps", "sample", "_broken"], [True, True, False]
    if "pass_rate" in ranked.columns:
        keys, ascending = [*keys, "pass_rate"], [*ascending, True]
    ranked = ranked.sort_values([*keys, "_order"], ascending=[*ascending, True], kind="stable")
    first = ranked.drop_duplicates(["eps", "sample"], keep="first").drop(columns=["_broken", "_order"])
    first = first.drop(columns=["correct_fraction"], errors="ignore")  # a worst case has no mean over draws
    return first.assign(attack=label).reset_index(drop=True)
