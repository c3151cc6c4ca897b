"""A suite's combined rows: per sample and budget, the worst case over its members."""

from __future__ import annotations

import pandas as pd

from medrobust.attacks.suite import Suite


def combine_rows(rows: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """The suite's rows: per sample x budget, the first member row (suite order) that is
    broken, else the first member's row; relabelled with the suite's label.
    """
    members = suite.member_labels
    sub = rows[rows["attack"].isin(members)]
    missing = set(members) - set(sub["attack"].unique())
    if missing:
        raise ValueError(f"suite {suite.label}: no rows for member(s) {sorted(missing)}")
    order = sub["attack"].map({m: i for i, m in enumerate(members)})
    ranked = sub.assign(_broken=~sub["correct"].astype(bool), _order=order)
    ranked = ranked.sort_values(
        ["eps", "sample", "_broken", "_order"], ascending=[True, True, False, True], kind="stable"
    )
    first = ranked.drop_duplicates(["eps", "sample"], keep="first").drop(columns=["_broken", "_order"])
    return first.assign(attack=suite.label).reset_index(drop=True)
