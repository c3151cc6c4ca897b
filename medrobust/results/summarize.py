"""Build the schema-versioned summary from the clean and attack rows."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from medrobust.attacks.budgets import as_255
from medrobust.heads import HeadKind
from medrobust.results.metrics import curve_area, frame_metrics, minimal_budgets, pass_accuracy
from medrobust.results.summary import SCHEMA_VERSION, Summary

__all__ = ["SCHEMA_VERSION", "subgroup_summary", "summarize"]


def summarize(
    clean: pd.DataFrame,
    rows: pd.DataFrame,
    *,
    task: HeadKind,
    label_names: Sequence[str],
    bounds: tuple[float, float],
    subgroups: Sequence[str] = (),
    bootstrap: int = 200,
    seed: int = 0,
    passes: int | None = None,
    severities: Collection[str] = (),
) -> Summary:
    """Clean metrics, per-attack curves and per-subgroup curves (no warnings, no trust context yet).

    ``passes``: the model was random and each row judged by that many passes (see ``pass_accuracy``).
    ``severities``: attacks whose budgets are severities (acquisition shifts): no ``k/255`` label.
    """
    clean = clean.sort_values("sample").reset_index(drop=True)
    cc = clean["correct"].to_numpy(dtype=bool)
    clean_m = frame_metrics(task, clean, label_names, cc, bootstrap, seed)
    clean_m.pop("success_rate")
    clean_m["passes"] = pass_accuracy(clean, passes)
    mins = minimal_budgets(rows, clean)
    attacks: dict[str, Any] = {}
    for attack in rows["attack"].unique():
        a_rows = rows[rows["attack"] == attack]
        budgets = []
        for eps, group in a_rows.groupby("eps", sort=True):
            g = _aligned(group, clean)
            m = frame_metrics(task, g, label_names, cc, bootstrap, seed)
            acc = m.pop("accuracy")
            budgets.append(
                {
                    "eps": float(eps),
                    "label": str(group["eps_label"].iloc[0]),
                    "label_255": "" if attack in severities else as_255(float(eps), bounds),
                    "robust_accuracy": acc,
                    "robust_accuracy_ci": m.pop("accuracy_ci"),
                    "drop": clean_m["accuracy"] - acc,
                    "relative_drop": (clean_m["accuracy"] - acc) / clean_m["accuracy"]
                    if clean_m["accuracy"]
                    else math.nan,
                    "mean_linf": float(g["linf"].mean()),
                    "mean_l2": float(g["l2"].mean()),
                    **perceptibility_means(g),
                    **mean_of_draws(g),
                    **m,
                    "passes": pass_accuracy(g, passes),
                }
            )
        a_min = mins.loc[mins["attack"] == attack, "min_budget"].to_numpy()
        finite = a_min[np.isfinite(a_min)]
        attacks[str(attack)] = {
            "budgets": budgets,
            "curve_area": curve_area(
                [b["eps"] for b in budgets], [b["robust_accuracy"] for b in budgets], clean_m["accuracy"]
            ),
            "median_min_budget": float(np.median(a_min)) if len(a_min) else math.nan,
            "broken_fraction": float(len(finite) / len(a_min)) if len(a_min) else math.nan,
        }
    return Summary.from_dict(
        {
            "schema_version": SCHEMA_VERSION,
            "task": task.value,
            "label_names": list(label_names),
            "n": len(clean),
            "clean": clean_m,
            "attacks": attacks,
            "subgroups": {col: subgroup_summary(clean, rows, col) for col in subgroups},
            "warnings": [],
        }
    )


def mean_of_draws(g: pd.DataFrame) -> dict[str, float]:
    """A shift's random mode: ``mean_accuracy``, the mean over samples of the fraction of draws still correct.

    The expected accuracy under one random draw, next to the worst of the draws (the robust
    accuracy); nothing for attacks whose rows have no fraction.
    """
    if "correct_fraction" not in g.columns or not g["correct_fraction"].notna().all():
        return {}
    return {"mean_accuracy": float(g["correct_fraction"].mean())}


def perceptibility_means(g: pd.DataFrame) -> dict[str, float | None]:
    """File space: the largest change, the mean absolute change, mean PSNR (edited images) and SSIM; else nothing."""
    if "ssim" not in g.columns:
        return {}

    def mean(column: str) -> float | None:
        value = float(g[column].mean())  # pandas skips NaN: PSNR of an unchanged image is undefined
        return value if math.isfinite(value) else None

    return {
        "max_linf": float(g["linf"].max()),
        "mean_abs_change": mean("mean_abs_change"),
        "mean_psnr": mean("psnr"),
        "mean_ssim": mean("ssim"),
    }


def subgroup_summary(clean: pd.DataFrame, rows: pd.DataFrame, column: str) -> dict[str, Any]:
    """Clean and robust accuracy per group of meta ``column``, and the gap between groups."""
    key = f"meta_{column}"
    if key not in clean.columns:
        return {"error": f"no metadata column {column!r}"}
    groups: dict[str, Any] = {}
    merged = rows.merge(clean[["sample", key]], on="sample")
    for value, cg in clean.groupby(key, sort=True):
        robust: dict[str, dict[str, float]] = {}
        for (attack, label), g in merged[merged[key] == value].groupby(["attack", "eps_label"], sort=False):
            robust.setdefault(str(attack), {})[str(label)] = float(g["correct"].mean())
        groups[str(value)] = {"n": len(cg), "clean_accuracy": float(cg["correct"].mean()), "robust_accuracy": robust}
    gap: dict[str, dict[str, float]] = {}
    clean_accs = [g["clean_accuracy"] for g in groups.values()]
    for g in groups.values():
        for attack, curve in g["robust_accuracy"].items():
            for label in curve:
                vals = [o["robust_accuracy"].get(attack, {}).get(label, math.nan) for o in groups.values()]
                gap.setdefault(attack, {})[label] = float(np.nanmax(vals) - np.nanmin(vals))
    return {
        "groups": groups,
        "clean_gap": float(max(clean_accs) - min(clean_accs)) if clean_accs else math.nan,
        "gap": gap,
    }


def _aligned(group: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Attack rows for one budget, ordered like ``clean`` and carrying its label columns."""
    labels = [c for c in clean.columns if c == "y" or c.startswith("y_")]
    g = group.drop(columns=[c for c in labels if c in group.columns])
    return clean[["sample", *labels]].merge(g, on="sample", how="left")
