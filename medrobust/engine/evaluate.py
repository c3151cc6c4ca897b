"""``medrobust.evaluate``: one call from a model, data, attacks and budgets to results."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm  # plain bars: no ipywidgets warning in notebooks

from medrobust.attacks.base import UNFINGERPRINTABLE, Attack
from medrobust.attacks.budgets import parse_budgets
from medrobust.attacks.registry import build_attack
from medrobust.attacks.suite import Suite, build_suite, expand
from medrobust.datasets.base import MedicalDataset, collate
from medrobust.engine.combine import combine_rows
from medrobust.engine.state import RunState
from medrobust.engine.sweep import SweepOptions, sweep_batch
from medrobust.engine.trust import PROBE_SIZE, probe_model, run_checks, trust_context
from medrobust.errors import ConfigError, DataError, ModelError
from medrobust.heads import Head, HeadKind
from medrobust.models.adapter import ModelAdapter
from medrobust.results.gallery import GALLERY_SIZE, Gallery
from medrobust.results.manifest import device_description, library_versions, now
from medrobust.results.privacy import private_skipped
from medrobust.results.results import Results
from medrobust.results.summarize import summarize
from medrobust.results.summary import TrustContext

log = logging.getLogger(__name__)

AttackSpec = Attack | str | dict[str, Any]


def evaluate(
    model: ModelAdapter | nn.Module,
    data: MedicalDataset,
    attacks: Sequence[AttackSpec] = ("fgsm", "pgd"),
    eps: Sequence[float | str] = (0, "1/255", "2/255", "4/255", "8/255"),
    *,
    batch_size: int = 256,
    n: int | None = None,
    subgroups: Sequence[str] = (),
    out_dir: str | Path | None = None,
    resume: bool = True,
    seed: int = 0,
    bootstrap: int = 200,
    verify: bool = True,
    progress: bool = False,
    num_workers: int = 0,
    config: dict[str, Any] | None = None,
    suite: str | dict[str, Any] | Suite | None = None,
    known_robust: bool = False,
    schedule: str = "ascending",
    precision: str = "fp32",
    channels_last: bool = False,
) -> Results:
    """Sweep ``attacks`` over budgets ``eps`` (ascending) on ``data`` and return the results.

    A plain ``nn.Module`` is wrapped with the dataset's task and bounds. With ``out_dir``,
    every batch's rows are written as they finish and an interrupted run resumes.
    ``suite="strong"`` adds the strong suite's members and its combined worst-case curve;
    ``known_robust`` silences the trust check that expects accuracy to fall towards chance.
    ``schedule``, ``precision`` and ``channels_last`` are speed options (see :class:`SweepOptions`).
    """
    started = now()
    budgets = parse_budgets(eps)
    options = SweepOptions(schedule, precision, channels_last)
    attack_objs = [_build(a) for a in attacks]
    if not attack_objs:
        raise ConfigError("no attacks given")
    labels = [a.label for a in attack_objs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"attack labels must be unique, got {labels}")
    data = data.subset(n, seed=seed)
    if len(data) == 0:
        raise DataError(data.info.name, "the dataset is empty")
    adapter = _adapter(model, data)
    head = _compatible_head(adapter, data)
    if head != adapter.head:
        adapter = copy.copy(adapter)  # the sweep's own view: the caller's adapter is never changed
        adapter.head = head
    suites = [build_suite(suite, head)] if suite is not None else []
    suites += [a for a in attack_objs if isinstance(a, Suite)]
    if len({s.label for s in suites}) != len(suites):
        raise ConfigError(f"suite labels must be unique, got {[s.label for s in suites]}")
    attack_objs = expand(attack_objs, suites)  # suite members run as attacks of their own
    for col in subgroups:
        if col not in data[0][2]:
            raise ConfigError(
                f"subgroup {col!r} is not a metadata column of {data.info.name} (has: {sorted(data[0][2])})"
            )

    t0 = time.perf_counter()
    model_fp = adapter.fingerprint()
    data_fp = data.fingerprint()
    timings: dict[str, float] = {"fingerprints": time.perf_counter() - t0}
    per_budget: dict[str, float] = {}
    run_config = {
        "attacks": [{"label": a.label, "class": type(a).__name__, **_jsonable(a.describe())} for a in attack_objs],
        "eps": [{"value": b.value, "label": b.label} for b in budgets],
        "batch_size": batch_size,
        "n": len(data),
        "seed": seed,
        "subgroups": list(subgroups),
        "bootstrap": bootstrap,
        **({"suites": {s.label: s.member_labels for s in suites}} if suites else {}),
        **options.changed(),
        **(config or {}),
    }
    code = library_versions()["medrobust"]  # a resumed run never mixes rows from two versions
    key = hashlib.sha256(
        json.dumps([model_fp, data_fp, run_config, code], sort_keys=True, default=str).encode()
    ).hexdigest()
    batches = [list(range(i, min(i + batch_size, len(data)))) for i in range(0, len(data), batch_size)]
    folder = Path(out_dir) if out_dir is not None else None
    blind = [a["label"] for a in run_config["attacks"] if UNFINGERPRINTABLE in json.dumps(a, default=str)]
    if folder is not None and resume and blind:
        log.warning(
            "%s: attack(s) %s use a callable whose code cannot be fingerprinted: not resuming, the run starts afresh",
            folder,
            ", ".join(blind),
        )
        resume = False
    state = RunState.open(folder, key, len(batches), resume) if folder else RunState(key, len(batches))
    if folder is not None and state.complete:
        log.info("%s: run already complete, loading results", folder)
        return Results.load(folder)
    if state.done:
        log.info("resuming: %d of %d batches already done", len(state.done), len(batches))
    cleans, rows = state.load_parts(folder) if folder else ([], [])

    todo = [i for i in range(len(batches)) if i not in set(state.done)]
    loader = DataLoader(
        data,
        batch_sampler=[batches[i] for i in todo],
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=adapter.device.type == "cuda",
    )
    n_probe = min(PROBE_SIZE, batch_size, len(data))
    probe_x, probe_y, _ = collate([data[i] for i in range(n_probe)])
    _check_batch(data, np.arange(n_probe), probe_x, probe_y, head)
    probes = probe_model(adapter, probe_x.float(), probe_y, verify=verify)  # once, outside the attack loop
    gallery = Gallery.load(folder) if folder is not None and 0 in state.done else None
    with tqdm(total=len(batches), initial=len(state.done), disable=not progress, desc="sweep", unit="batch") as bar:
        for b, (x, y, meta) in zip(todo, _timed(loader, timings, "data"), strict=True):
            index = np.asarray(batches[b])
            _check_batch(data, index, x, y, head)
            out = sweep_batch(
                adapter,
                x,
                y,
                meta,
                index,
                [data.sample_id(int(i)) for i in index],
                attack_objs,
                budgets,
                seed,
                keep=GALLERY_SIZE if b == 0 else 0,
                options=options,
            )
            if out.examples:  # the report's gallery: pixels of the first batch's first samples
                gallery = Gallery.from_examples(index, out.examples)
                if folder is not None:
                    gallery.save(folder)
            for k, v in out.seconds.items():
                timings[k] = timings.get(k, 0.0) + v
            for k, v in out.budget_seconds.items():
                per_budget[k] = per_budget.get(k, 0.0) + v
            cleans.append(out.clean)
            rows.append(out.attacks)
            if folder is not None:
                state.record(folder, b, out.clean, out.attacks)
            bar.update(1)

    t0 = time.perf_counter()
    clean = pd.concat(cleans, ignore_index=True).sort_values("sample", kind="stable").reset_index(drop=True)
    all_rows = pd.concat(rows, ignore_index=True)
    for s in suites:  # the suite's curve: worst case over its members' rows
        all_rows = pd.concat([all_rows, combine_rows(all_rows, s)], ignore_index=True)
    summary = summarize(
        clean,
        all_rows,
        task=head.kind,
        label_names=data.info.label_names,
        bounds=adapter.bounds,
        subgroups=subgroups,
        bootstrap=bootstrap,
        seed=seed,
    )
    trust = trust_context(
        clean,
        attack_objs,
        adapter.bounds,
        known_robust=known_robust,
        probes=probes,
        suites={s.label: s.member_labels for s in suites},
    )
    summary = summary.model_copy(update={"trust": TrustContext.model_validate(trust)})
    summary = summary.with_warnings(run_checks(summary))
    timings["metrics"] = time.perf_counter() - t0
    manifest = {
        "medrobust_run": key,
        "started": started,
        "finished": now(),
        "config": run_config,
        "model": {**adapter.describe(), "fingerprint": model_fp},
        "data": {
            "name": data.info.name,
            "task": data.info.task.value,
            "label_names": list(data.info.label_names),
            "bounds": list(data.info.bounds),
            "units": data.info.units,
            "spatial_dims": data.info.spatial_dims,
            "n": len(data),
            "fingerprint": data_fp,
            "skipped": private_skipped(data.skipped),  # paths hashed: folders may carry patient names
            "extra": _jsonable(dict(data.info.extra)),  # reader settings, e.g. window, checksum status
        },
        "libraries": library_versions(),
        "device": device_description(adapter.device),
        "seconds": {k: round(v, 4) for k, v in timings.items()},
        "seconds_per_budget": {k: round(v, 4) for k, v in per_budget.items()},
    }
    for w in summary.warnings:
        log.warning("[%s] %s", w.code, w.message)
    results = Results(summary, manifest, clean, all_rows, gallery=gallery)
    if folder is not None:
        results.save(folder)
        state.finish(folder)
    return results


def _build(spec: AttackSpec) -> Attack:
    if isinstance(spec, Attack):
        return spec
    if isinstance(spec, str):
        return build_attack(spec)
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"attack spec {spec!r} has no 'name'")
        return build_attack(name, **params)
    raise ConfigError(f"cannot build an attack from {spec!r}")


def _adapter(model: ModelAdapter | nn.Module, data: MedicalDataset) -> ModelAdapter:
    sample = data[0][0]
    if isinstance(model, ModelAdapter):
        if model.bounds != tuple(data.info.bounds):
            raise ModelError(
                f"model {model.name} declares bounds {model.bounds} but {data.info.name} yields {data.info.bounds}"
            )
        if model.input_shape is None:
            model = copy.copy(model)  # a shallow copy: same network, the caller's adapter unchanged
            model.input_shape = tuple(sample.shape)
            model.check_output_shape()
        return model
    return ModelAdapter(model, data.info.task, bounds=data.info.bounds, input_shape=tuple(sample.shape))


def _compatible_head(adapter: ModelAdapter, data: MedicalDataset) -> Head:
    """The head the sweep uses; a 2-logit multiclass head on binary data becomes binary."""
    head, task, k = adapter.head, data.info.task, data.info.num_classes
    if task == HeadKind.BINARY and head.kind == HeadKind.MULTICLASS and head.num_logits == 2:
        return Head(HeadKind.BINARY, 2, head.threshold)
    if head.kind != task or head.num_classes != k:
        raise ModelError(
            f"model {adapter.name} has a {head.kind.value} head with {head.num_logits} output(s), "
            f"but {data.info.name} is a {task.value} task with {k} {'labels' if task == HeadKind.MULTILABEL else 'classes'}"  # noqa: E501
        )
    return head


def _check_batch(data: MedicalDataset, index: np.ndarray, x: torch.Tensor, y: torch.Tensor, head: Head) -> None:
    """Fail on NaN pixels, out-of-bounds images or labels, naming the first bad sample."""
    flat = x.reshape(x.shape[0], -1)
    bad = ~torch.isfinite(flat).all(dim=1)
    if bool(bad.any()):
        i = int(index[int(bad.nonzero()[0])])
        raise DataError(f"{data.info.name} sample {data.sample_id(i)}", "NaN or infinite pixels")
    lo, hi = data.info.bounds
    outside = (flat.amin(dim=1) < lo - 1e-6) | (flat.amax(dim=1) > hi + 1e-6)
    if bool(outside.any()):
        i = int(index[int(outside.nonzero()[0])])
        raise DataError(
            f"{data.info.name} sample {data.sample_id(i)}", f"pixels outside the declared bounds {data.info.bounds}"
        )
    problem = head.check_labels(y)
    if problem:
        raise DataError(data.info.name, problem)


def _timed(items: Iterable[Any], timings: dict[str, float], key: str) -> Iterator[Any]:
    """Yield from ``items``, adding the seconds spent waiting for each to ``timings[key]``."""
    it = iter(items)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        yield item


def _jsonable(d: dict[str, object]) -> dict[str, object]:
    return {
        k: v if isinstance(v, int | float | str | bool | type(None) | list | tuple) else str(v) for k, v in d.items()
    }
