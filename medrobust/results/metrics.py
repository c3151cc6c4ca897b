"""Metrics from the sweep's rows: never computed inside the attack loop.

Accuracy, drop, success rate, AUROC, sensitivity and specificity at the operating
threshold, per class, minimal breaking budget, area under the robustness curve, and
percentile-bootstrap confidence intervals over samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medrobust.heads import HeadKind


def score_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The ``score_*`` columns as an (N, K) array."""
    cols = sorted((c for c in frame.columns if c.startswith("score_")), key=lambda c: int(c[6:]))
    return frame[cols].to_numpy(dtype=np.float64)


def label_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Labels: (N,) for class tasks or (N, L) for multi-label."""
    if "y" in frame.columns:
        return frame["y"].to_numpy()
    cols = sorted((c for c in frame.columns if c.startswith("y_")), key=lambda c: int(c[2:]))
    return frame[cols].to_numpy()


def pred_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Predictions: (N,) class indices or (N, L) 0/1."""
    if "pred" in frame.columns:
        return frame["pred"].to_numpy()
    cols = sorted((c for c in frame.columns if c.startswith("pred_")), key=lambda c: int(c[5:]))
    return frame[cols].to_numpy()


def auroc(task: HeadKind, y: np.ndarray, scores: np.ndarray) -> float:
    """AUROC: binary; multi-class one-vs-rest macro; multi-label macro. NaN when undefined."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if task == HeadKind.BINARY:
                return binary_auroc(y == 1, scores[:, -1])
            if task == HeadKind.MULTILABEL:
                per = per_label_auroc(y, scores)
                valid = [v for v in per if not math.isnan(v)]
                return float(np.mean(valid)) if valid else math.nan
            k = scores.shape[1]
            present = np.unique(y)
            if len(present) < 2:
                return math.nan
            if len(present) < k:  # one-vs-rest over the classes present
                vals = [binary_auroc(y == c, scores[:, c]) for c in present]
                return float(np.mean(vals))
            probs = scores / scores.sum(axis=1, keepdims=True)  # one-vs-rest macro, as sklearn's "ovr"
            return float(np.mean([binary_auroc(y == c, probs[:, c]) for c in range(k)]))
    except ValueError:
        return math.nan


def per_label_auroc(y: np.ndarray, scores: np.ndarray) -> list[float]:
    """One AUROC per label column (NaN where a label has a single value)."""
    out = []
    for j in range(scores.shape[1]):
        col = y[:, j]
        out.append(binary_auroc(col == 1, scores[:, j]) if len(np.unique(col)) == 2 else math.nan)
    return out


def binary_auroc(truth: np.ndarray, scores: np.ndarray) -> float:
    """AUROC as the Mann-Whitney statistic (ties count half): sklearn's binary value without its per-call checks.

    The bootstrap calls it thousands of times; sklearn's ``roc_auc_score`` spent 9 ms a call validating its input.
    """
    pos = int(truth.sum())
    neg = len(truth) - pos
    if pos == 0 or neg == 0 or not np.isfinite(scores).all():
        return math.nan
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # 1-based; ties get their average rank
    return float((ranks[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))


def sens_spec(task: HeadKind, y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float]:
    """Sensitivity and specificity at the operating threshold (macro one-vs-rest for K > 2)."""
    if task == HeadKind.BINARY:
        return _ss(y == 1, pred == 1)
    if task == HeadKind.MULTILABEL:
        pairs = [_ss(y[:, j] == 1, pred[:, j] == 1) for j in range(y.shape[1])]
    else:
        pairs = [_ss(y == c, pred == c) for c in range(k)]
    sens = [s for s, _ in pairs if not math.isnan(s)]
    spec = [s for _, s in pairs if not math.isnan(s)]
    return (float(np.mean(sens)) if sens else math.nan, float(np.mean(spec)) if spec else math.nan)


def _ss(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    pos, neg = truth.sum(), (~truth).sum()
    sens = float((truth & pred).sum() / pos) if pos else math.nan
    spec = float((~truth & ~pred).sum() / neg) if neg else math.nan
    return sens, spec


def per_class_accuracy(
    task: HeadKind, y: np.ndarray, correct: np.ndarray, pred: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """Accuracy among samples of each class; per-label accuracy for multi-label."""
    out: dict[str, float] = {}
    if task == HeadKind.MULTILABEL:
        for j, name in enumerate(names):
            out[name] = float((pred[:, j] == y[:, j]).mean()) if len(y) else math.nan
        return out
    for c, name in enumerate(names):
        sel = y == c
        out[name] = float(correct[sel].mean()) if sel.any() else math.nan
    return out


BOOTSTRAP_CHUNK = 1 << 22
"""Resampled indices held at once by :func:`bootstrap_ci` (32 MiB of int64)."""


def bootstrap_ci(values: np.ndarray, draws: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (vectorised)."""
    if draws <= 0 or len(values) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    n = len(values)
    per_chunk = max(1, BOOTSTRAP_CHUNK // n)  # draws x n indices in slices: memory flat in n
    chunks = [min(per_chunk, draws - i) for i in range(0, draws, per_chunk)]
    # the same random stream as one (draws, n) array: chunking does not change the interval
    means = np.concatenate([values[rng.integers(0, n, size=(k, n))].mean(axis=1) for k in chunks])
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def bootstrap_auroc_ci(
    task: HeadKind, y: np.ndarray, scores: np.ndarray, draws: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of AUROC, resampling samples."""
    if draws <= 0 or len(y) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(draws):
        idx = rng.integers(0, len(y), size=len(y))
        v = auroc(task, y[idx], scores[idx])
        if not math.isnan(v):
            vals.append(v)
    if len(vals) < draws // 2:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def curve_area(eps: Sequence[float], accuracy: Sequence[float], clean: float) -> float:
    """Normalised area under the robustness curve from budget 0 (clean) to the largest."""
    xs = [0.0] + [e for e in eps if e > 0]
    ys = [clean] + [a for e, a in zip(eps, accuracy, strict=True) if e > 0]
    if xs[-1] == 0:
        return clean
    return float(np.trapezoid(ys, xs) / xs[-1])


def minimal_budgets(rows: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Each clean-correct sample's smallest breaking budget per attack (inf if none)."""
    ok = clean.loc[clean["correct"], ["sample"]]
    broken = rows.loc[~rows["correct"] & (rows["eps"] > 0), ["sample", "attack", "eps"]]
    first = broken.groupby(["attack", "sample"], as_index=False)["eps"].min()
    out = []
    for attack in rows["attack"].unique():
        m = ok.merge(first[first["attack"] == attack], on="sample", how="left")
        m["attack"] = attack
        m["eps"] = m["eps"].fillna(math.inf)
        out.append(m[["sample", "attack", "eps"]].rename(columns={"eps": "min_budget"}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["sample", "attack", "min_budget"])


def pass_accuracy(frame: pd.DataFrame, passes: int | None) -> dict[str, Any] | None:
    """A random model's single passes: their count, mean accuracy and the worst pass's accuracy.

    ``frame["passes"]`` holds one int64 bit mask per sample (bit j: pass j was correct).
    """
    if not passes or "passes" not in frame.columns:
        return None
    bits = frame["passes"].to_numpy(dtype=np.int64)
    if not len(bits):
        return {"count": passes, "mean_accuracy": math.nan, "worst_accuracy": math.nan}
    each = ((bits[:, None] >> np.arange(passes, dtype=np.int64)) & 1).mean(axis=0)
    return {"count": passes, "mean_accuracy": float(each.mean()), "worst_accuracy": float(each.min())}


def frame_metrics(
    task: HeadKind,
    frame: pd.DataFrame,
    names: Sequence[str],
    clean_correct: np.ndarray,
    draws: int,
    seed: int,
) -> dict[str, Any]:
    """All point metrics (and CIs) for one set of rows aligned with the clean rows."""
    y = label_matrix(frame)
    scores = score_matrix(frame)
    pred = pred_matrix(frame)
    correct = frame["correct"].to_numpy(dtype=bool)
    sens, spec = sens_spec(task, y, pred, len(names))
    acc = float(correct.mean()) if len(correct) else math.nan
    n_ok = int(clean_correct.sum())
    out: dict[str, Any] = {
        "n": len(frame),
        "accuracy": acc,
        "accuracy_ci": list(bootstrap_ci(correct.astype(np.float64), draws, seed)),
        "success_rate": float((~correct & clean_correct).sum() / n_ok) if n_ok else math.nan,
        "auroc": auroc(task, y, scores),
        "auroc_ci": list(bootstrap_auroc_ci(task, y, scores, draws, seed)),
        "sensitivity": sens,
        "specificity": spec,
        "per_class": per_class_accuracy(task, y, correct, pred, names),
    }
    if task == HeadKind.MULTILABEL:
        out["per_label_auroc"] = dict(zip(names, per_label_auroc(y, scores), strict=True))
    return out
