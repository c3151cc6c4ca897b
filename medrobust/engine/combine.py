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


def at_least_random(rows: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """``rows`` with each adversarial shift's rows the worse, per sample and severity, of its own and its random mode's.

    ``pairs`` are ``(adversarial label, random label)`` of one shift. The random mode's worst
    draw is a point of the adversarial mode's range too, so the worst case is never weaker
    than the random one per sample, whatever draws the two sweeps made (their seeds differ, and
    each attacks only the samples it has not broken yet). Row positions and dtypes are kept;
    a pair without rows (no quantised copies outside file space) is left out.
    """
    present = set(rows["attack"].unique())
    for adversarial, random in pairs:
        if adversarial not in present or random not in present:
            continue
        mask = rows["attack"] == adversarial
        old = rows[mask]
        worse = combine_rows(rows, adversarial, [adversarial, random]).set_index(["eps", "sample"])
        new = worse.reindex(pd.MultiIndex.from_frame(old[["eps", "sample"]])).reset_index()
        new = new.reindex(columns=old.columns)
        new = new.astype({c: old[c].dtype for c in old.columns})
        new.index = old.index
        rows = pd.concat([rows[~mask], new]).sort_index()
    return rows
