"""Plan a run: resolve the spec's attacks, suites and budgets against a model and data, and key it.

Everything here happens before the first attack: bad input fails fast, with the file or
option named, and the run key (model, data, spec, code) is fixed once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medrobust.attacks.acquisition import is_acquisition
from medrobust.attacks.base import UNFINGERPRINTABLE, Attack
from medrobust.attacks.budgets import Budget, parse_budgets
from medrobust.attacks.norms import NORMS
from medrobust.attacks.registry import build_attack
from medrobust.attacks.suite import Suite, build_suite, expand
from medrobust.datasets.base import MedicalDataset, collate
from medrobust.datasets.file_space import Grid
from medrobust.engine.adapt import Adaptation, adapt_suite, records
from medrobust.engine.probes import PROBE_SIZE
from medrobust.engine.resources import MAX_BATCH, auto_batch_size, settings_log
from medrobust.engine.spec import AttackSpec, RunSpec, SweepOptions
from medrobust.errors import ConfigError, DataError, ModelError
from medrobust.heads import Head, HeadKind
from medrobust.models.adapter import ModelAdapter
from medrobust.results.corruption import Reference, check_same_data, check_same_shifts, load_reference
from medrobust.results.manifest import library_versions, now

log = logging.getLogger(__name__)

OUTSIDE_KEY = frozenset({"known_robust", "allow_large_budgets", "reference"})
"""Spec fields that change how results are read, not which rows are computed."""


@dataclass
class Plan:
    """A run resolved and keyed: what :func:`medrobust.engine.evaluate.execute` works through."""

    spec: RunSpec
    adapter: ModelAdapter
    data: MedicalDataset
    attacks: list[Attack]
    suites: list[Suite]
    budgets: list[Budget]
    batches: list[list[int]]
    record: dict[str, Any]
    key: str
    model_fp: str
    data_fp: str
    folder: Path | None
    started: str
    timings: dict[str, float] = field(default_factory=dict)
    timings_per_budget: dict[str, float] = field(default_factory=dict)
    model_unreliable: tuple[str, ...] = ()
    """Why the model's fingerprint misses part of it (empty: reliable), from ``ModelAdapter.model_fingerprint``."""
    adaptations: list[Adaptation] = field(default_factory=list)
    """The adaptive members the suites added, and why (:mod:`medrobust.engine.adapt`)."""
    executor: dict[str, Any] = field(default_factory=lambda: {"kind": "serial"})
    """Where the batches ran, for the manifest (a sharded run: Ray, its shards and restarts)."""
    reference: Reference | None = None
    """The reference run of the acquisition suite's mean corruption error, read when the run is planned."""

    @property
    def batch_size(self) -> int:
        """The batch size the run uses (an automatic one resolved)."""
        return self.spec.batch_size or len(self.batches[0])

    @property
    def head(self) -> Head:
        """The head the sweep uses (possibly binary for a 2-logit model on binary data)."""
        return self.adapter.head

    def covered(self, suite: Suite) -> list[str]:
        """The attacks a suite's curve combines: its members, then every other attack of its norm."""
        members = suite.member_labels
        return [*members, *(a.label for a in self.attacks if a.norm == suite.norm and a.label not in members)]

    @property
    def unfingerprintable(self) -> list[str]:
        """Labels of attacks whose callables (e.g. a custom loss) cannot be fingerprinted."""
        return [a["label"] for a in self.record["attacks"] if UNFINGERPRINTABLE in json.dumps(a, default=str)]

    @property
    def model_reliable(self) -> bool:
        """True when the model's fingerprint covers its weights, structure and code, so a finished run may be reused."""
        return not self.model_unreliable


def plan_run(
    model: ModelAdapter | nn.Module,
    data: MedicalDataset,
    spec: RunSpec,
    out_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
) -> Plan:
    """Resolve ``spec`` against ``model`` and ``data``; ``config`` is extra provenance for the record."""
    started = now()
    attacks = [build(a) for a in spec.attacks]
    labels = [a.label for a in attacks]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"attack labels must be unique, got {labels}")
    data = data.subset(spec.n, seed=spec.seed)
    if len(data) == 0:
        raise DataError(data.info.name, "the dataset is empty")
    adapter = _adapter(model, data)
    head = _compatible_head(adapter, data)
    if head != adapter.head:
        adapter = copy.copy(adapter)  # the sweep's own view: the caller's adapter is never changed
        adapter.head = head
    channels = int(data[0][0].shape[0]) if spec.suite is not None else None  # which acquisition shifts fit
    suites = [build_suite(spec.suite, head, data.info.modality, channels)] if spec.suite is not None else []
    suites += [a for a in attacks if isinstance(a, Suite)]
    if len({s.label for s in suites}) != len(suites):
        raise ConfigError(f"suite labels must be unique, got {[s.label for s in suites]}")
    suites, adaptations = _adapted(suites, adapter, data, spec.seed)
    attacks = [next((s for s in suites if s.label == a.label), a) if isinstance(a, Suite) else a for a in attacks]
    attacks = expand(attacks, suites)  # suite members run as attacks of their own
    for col in spec.subgroups:
        if col not in data[0][2]:
            raise ConfigError(
                f"subgroup {col!r} is not a metadata column of {data.info.name} (has: {sorted(data[0][2])})"
            )
    reference = _reference(spec, suites)
    _check_one_kind_of_budget(attacks)
    budgets = parse_budgets(spec.eps)
    if reference is not None:
        shifts = [m.label for s in suites if is_acquisition(s) for m in s.members]
        check_same_shifts(reference, shifts, [b.value for b in budgets])
    _check_budget_range(attacks, budgets, adapter, spec.allow_large_budgets)
    _check_grid_step(budgets, data.info.grid)
    _check_region(attacks, data)
    spec = _sized(spec, adapter, budgets)  # the record (and the run key) holds the batch size used
    t0 = time.perf_counter()
    fp, data_fp = adapter.model_fingerprint(), data.fingerprint()
    model_fp = fp.digest
    if reference is not None:
        check_same_data(reference, data_fp)
    seconds = time.perf_counter() - t0
    record = run_record(spec, attacks, budgets, suites, len(data), config)
    if adaptations:
        record["adaptive"] = records(adaptations)
    code = library_versions()["medrobust"]  # a resumed run never mixes rows from two versions
    key = hashlib.sha256(
        json.dumps([model_fp, data_fp, record, code], sort_keys=True, default=str).encode()
    ).hexdigest()
    size = spec.batch_size or MAX_BATCH  # always set by _sized
    batches = [list(range(i, min(i + size, len(data)))) for i in range(0, len(data), size)]
    folder = Path(out_dir) if out_dir is not None else None
    return Plan(
        spec, adapter, data, attacks, suites, budgets, batches, record, key, model_fp, data_fp, folder, started,
        {"fingerprints": seconds}, model_unreliable=fp.reasons, adaptations=adaptations, reference=reference,
    )  # fmt: skip


def run_record(
    spec: RunSpec,
    attacks: list[Attack],
    budgets: list[Budget],
    suites: list[Suite],
    n: int,
    config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The spec as the manifest records it and the run key hashes: attacks resolved, budgets labelled.

    Every spec field is in it (a new field joins the key by itself) except :data:`OUTSIDE_KEY`;
    speed options appear only when changed, so default runs keep their key.
    """
    resolved = {"attacks", "eps", "suite", "n", *SweepOptions.model_fields, *OUTSIDE_KEY}
    return {
        "attacks": [{"label": a.label, "class": type(a).__name__, **jsonable(a.describe())} for a in attacks],
        "eps": [{"value": b.value, "label": b.label} for b in budgets],
        **spec.model_dump(mode="json", exclude=resolved),
        "n": n,
        **({"suites": {s.label: s.member_labels for s in suites}} if suites else {}),
        **spec.changed(),
        **(config or {}),
    }


def _adapted(
    suites: list[Suite], adapter: ModelAdapter, data: MedicalDataset, seed: int
) -> tuple[list[Suite], list[Adaptation]]:
    """The suites with the adaptive members the model calls for (one small probe batch, read only if needed)."""
    if not any(s.adaptive for s in suites):
        return suites, []
    probe_x = collate([data[i] for i in range(min(PROBE_SIZE, len(data)))])[0]
    out: list[Suite] = []
    found: list[Adaptation] = []
    for s in suites:
        adapted, why = adapt_suite(s, adapter, probe_x, seed)
        out.append(adapted)
        found += why
    return out, found


def _sized(spec: RunSpec, adapter: ModelAdapter, budgets: list[Budget]) -> RunSpec:
    """``spec`` with an automatic batch size resolved from the input's voxels, the schedule and the memory (logged)."""
    if spec.batch_size is not None:
        return spec
    parallel = sum(b.value > 0 for b in budgets) if spec.schedule == "parallel" else 1
    size, why = auto_batch_size(adapter.input_shape or (1,), adapter.device, parallel_budgets=parallel)
    settings_log.info("batch size: %d (%s; --batch-size sets it)", size, why)
    return spec.model_copy(update={"batch_size": size})


def _check_budget_range(attacks: list[Attack], budgets: list[Budget], adapter: ModelAdapter, allow: bool) -> None:
    """A budget whose ball holds the whole box (L-inf: the bounds' range) measures nothing: refuse it."""
    lo, hi = adapter.bounds
    size = math.prod(adapter.input_shape) if adapter.input_shape else 1
    largest = budgets[-1]
    for a in attacks:
        norm = str(a.describe().get("norm", "linf"))
        if norm not in NORMS:  # a severity (acquisition shifts) is no ball in image units
            continue
        limit = (hi - lo) * (math.sqrt(size) if norm == "l2" else 1.0)
        if largest.value >= limit:
            message = (
                f"budget {largest.label} for {a.label} is at least the {norm} diameter {limit:g} of the bounds "
                f"({lo:g}, {hi:g}): every image is within reach and the curve measures nothing"
            )
            if not allow:
                raise ConfigError(f"{message}; pass --allow-large-budgets to run it anyway")
            log.warning(message)


def _reference(spec: RunSpec, suites: list[Suite]) -> Reference | None:
    """The reference run for the mCE, read up front so a wrong folder fails before anything is attacked."""
    if spec.reference is None:
        return None
    if not any(is_acquisition(s) for s in suites):
        raise ConfigError("reference: a reference run is for the acquisition suite's mCE; add --suite acquisition")
    return load_reference(spec.reference)


def _check_one_kind_of_budget(attacks: list[Attack]) -> None:
    """One run has one budget grid: L-p balls and shift severities cannot share it."""
    lp = [a.label for a in attacks if a.norm in NORMS]
    other = [a.label for a in attacks if a.norm not in NORMS]
    if lp and other:
        raise ConfigError(
            f"{', '.join(other)} read eps as a severity and {', '.join(lp)} as an L-p radius: one run has one "
            "budget grid, so run the acquisition shifts and the L-p attacks (and suites) separately"
        )


def _check_grid_step(budgets: list[Budget], grid: Grid | None) -> None:
    """A non-zero budget below the file's stored-value step cannot change a stored value: say so."""
    if grid is None:
        return
    small = [b.label for b in budgets if 0 < b.value < grid.step]
    if small:
        log.warning(
            "budget(s) %s are below the stored-value step %g of the files: their quantised curve is flat by "
            "construction (an edit that small cannot be stored)",
            ", ".join(small),
            grid.step,
        )


def _check_region(attacks: list[Attack], data: MedicalDataset) -> None:
    """A region mask is an element-wise L-inf budget: attacks of another norm cannot keep to it."""
    if data.info.region is None:
        return
    other = [a.label for a in attacks if a.norm != "linf"]
    if other:
        raise ConfigError(f"a mask restricts L-inf budgets only; {', '.join(other)} use another norm")


def build(spec: AttackSpec) -> Attack:
    """An attack from a name, a ``{"name": ..., **params}`` mapping or an attack object."""
    if isinstance(spec, Attack):
        return spec
    if isinstance(spec, str):
        return build_attack(spec)
    if isinstance(spec, Mapping):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"attack spec {spec!r} has no 'name'")
        return build_attack(name, **params)
    raise ConfigError(f"cannot build an attack from {spec!r}")


def check_batch(data: MedicalDataset, index: np.ndarray, x: torch.Tensor, y: torch.Tensor, head: Head) -> None:
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


def _adapter(model: ModelAdapter | nn.Module, data: MedicalDataset) -> ModelAdapter:
    sample = data[0][0]
    if isinstance(model, ModelAdapter):
        if model.bounds != tuple(data.info.bounds):
            raise ModelError(
                f"model {model.name} declares bounds {model.bounds} but {data.info.name} yields {data.info.bounds}"
            )
        if tuple(model.preprocess.stages) != tuple(data.info.stages):
            need = [st.describe() for st in data.info.stages]
            raise ModelError(
                f"{data.info.name} is file-space data whose model must take over its preprocessing {need}, but model "
                f"{model.name} has {[st.describe() for st in model.preprocess.stages]}: "
                "wrap it with ModelAdapter(..., stages=data.info.stages)"
            )
        if model.input_shape is None:
            model = copy.copy(model)  # a shallow copy: same network, the caller's adapter unchanged
            model.input_shape = tuple(sample.shape)
            model.check_output_shape()
        return model
    return ModelAdapter(
        model, data.info.task, bounds=data.info.bounds, input_shape=tuple(sample.shape), stages=data.info.stages
    )


def _compatible_head(adapter: ModelAdapter, data: MedicalDataset) -> Head:
    """The head the sweep uses; a 2-logit multiclass head on binary data becomes binary."""
    head, task, k = adapter.head, data.info.task, data.info.num_classes
    if task == HeadKind.BINARY and head.kind == HeadKind.MULTICLASS and head.num_logits == 2:
        return Head(HeadKind.BINARY, 2, head.threshold)
    if head.kind != task or head.num_classes != k:
        what = "labels" if task == HeadKind.MULTILABEL else "classes"
        raise ModelError(
            f"model {adapter.name} has a {head.kind.value} head with {head.num_logits} output(s), "
            f"but {data.info.name} is a {task.value} task with {k} {what}"
        )
    return head


def jsonable(d: dict[str, object]) -> dict[str, object]:
    """Plain values kept, anything else as its ``str`` (for manifests)."""
    return {
        k: v if isinstance(v, int | float | str | bool | type(None) | list | tuple) else str(v) for k, v in d.items()
    }
