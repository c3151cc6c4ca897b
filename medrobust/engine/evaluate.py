"""``medrobust.evaluate``: one call from a model, data and a run spec to results: plan, execute, finish."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrobust.attacks.acquisition import is_acquisition
from medrobust.attacks.norms import NORMS
from medrobust.attacks.shifts import Shift
from medrobust.datasets.base import MedicalDataset, collate
from medrobust.datasets.file_space import QUANTISED
from medrobust.engine.adapt import records
from medrobust.engine.adversarial_out import AdversarialWriter
from medrobust.engine.combine import at_least_random, combine_rows
from medrobust.engine.plan import Plan, check_batch, jsonable, plan_run
from medrobust.engine.probes import PROBE_SIZE, probe_model
from medrobust.engine.progress import sweep_progress
from medrobust.engine.ray_runtime import RayOptions, import_ray
from medrobust.engine.resources import release_freed_memory
from medrobust.engine.spec import AttackSpec, RunSpec
from medrobust.engine.state import STATE, RunState, folder_lock
from medrobust.engine.sweep import BatchRows
from medrobust.engine.trust import run_checks, trust_context
from medrobust.engine.work import BatchWork
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.results.corruption import corruption_summary
from medrobust.results.gallery import Gallery
from medrobust.results.manifest import device_description, library_versions, now
from medrobust.results.privacy import private_name, private_skipped
from medrobust.results.results import Results
from medrobust.results.summarize import summarize
from medrobust.results.summary import Summary, TrustContext

log = logging.getLogger(__name__)

Parts = dict[int, tuple[pd.DataFrame, pd.DataFrame]]
"""Each finished batch's clean rows and attack rows, by batch number."""


def evaluate(
    model: ModelAdapter | nn.Module,
    data: MedicalDataset,
    attacks: Sequence[AttackSpec] | None = None,
    eps: Sequence[float | str] | None = None,
    *,
    spec: RunSpec | None = None,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
    overwrite: bool = False,
    verify: bool = True,
    progress: bool = False,
    num_workers: int = 0,
    config: dict[str, Any] | None = None,
    write_adversarial: str | Path | None = None,
    executor: RayOptions | str | None = None,
    **options: Any,
) -> Results:
    """Sweep the attacks over ascending budgets on ``data`` and return the results.

    The run is ``spec`` (default: :class:`RunSpec`'s defaults) with ``attacks``, ``eps`` and
    any :class:`RunSpec` field given as a keyword (``batch_size=64``, ``suite="strong"``,
    ``schedule="parallel"``) applied. A plain ``nn.Module`` is wrapped with the dataset's
    task and bounds. With ``out_dir``, every batch's rows are written as they finish and an
    interrupted or finished run of the same key is reused: ``resume=None`` (the default) reuses
    it only when model and attacks are fingerprinted reliably, ``True`` always, ``False`` never
    (see :func:`open_state`). A folder holding a different run is an error naming both run keys;
    ``overwrite=True`` replaces it. ``config`` is extra provenance recorded in the manifest.
    ``write_adversarial``: a folder (never inside ``out_dir``) where file-space DICOM data get each
    computed batch's quantised examples written back as DICOM (:mod:`medrobust.engine.adversarial_out`).
    ``executor``: ``"ray"`` or :class:`RayOptions` spreads the batches over Ray workers (``shards``
    of them; the same rows and summary as this process would compute; needs the ``[ray]`` extra).
    """
    sharded = ray_options(executor)
    if sharded is not None:
        import_ray()  # a missing extra fails before anything is planned
        if write_adversarial is not None:
            raise ConfigError("write_adversarial (--write-adversarial) runs in one process: drop it or Ray")
    run = plan_run(model, data, RunSpec.build(spec, attacks=attacks, eps=eps, **options), out_dir, config)
    writer = AdversarialWriter(data, write_adversarial, run.folder) if write_adversarial is not None else None
    with folder_lock(run.folder) if run.folder is not None else nullcontext():  # one writer per folder
        state = open_state(run, resume, overwrite)
        if run.folder is not None and state.complete:
            log.info("%s: run already complete, loading results", run.folder)
            return rejudge(Results.load(run.folder), run.spec)
        parts: Parts = state.load_parts(run.folder) if run.folder else {}
        gallery, probes = execute(
            run,
            state,
            parts,
            verify=verify,
            progress=progress,
            num_workers=num_workers,
            writer=writer,
            executor=sharded,
        )
        ordered = [parts[b] for b in sorted(parts)]  # batch order, however the batches finished
        return finish(run, state, [c for c, _ in ordered], [r for _, r in ordered], gallery, probes)


def ray_options(executor: RayOptions | str | None) -> RayOptions | None:
    """``None`` or ``"serial"``: this process; ``"ray"``: Ray with the default options; or the options given."""
    if executor is None or executor == "serial":
        return None
    if executor == "ray":
        return RayOptions()
    if isinstance(executor, RayOptions):
        return executor
    raise ConfigError(f"executor must be 'serial', 'ray' or RayOptions, got {executor!r}")


def rejudge(results: Results, spec: RunSpec) -> Results:
    """A finished run read back, its trust checks rerun when ``known_robust`` changed since.

    ``known_robust`` decides which warnings fire, not which rows are computed, so it is not in
    the run key: the same run reused with the other setting is judged again and rewritten.
    """
    trust = results.summary.trust
    if trust is None or trust.known_robust == spec.known_robust:
        return results
    summary = results.summary.model_copy(update={"trust": trust.model_copy(update={"known_robust": spec.known_robust})})
    judged = replace(results, summary=summary.with_warnings(run_checks(summary)))
    for w in judged.summary.warnings:
        log.warning("[%s] %s", w.code, w.message)
    if results.path is not None:
        judged.save(results.path)
    return judged


def open_state(run: Plan, resume: bool | None = None, overwrite: bool = False) -> RunState:
    """The run's resume state: which batches are already done in its folder.

    ``None`` reuses them only when model and attacks are fingerprinted reliably (else it warns
    and starts afresh: the key might not tell two runs apart), ``True`` reuses them anyway, ``False`` never.
    A folder holding a different run is refused unless ``overwrite`` (see :meth:`RunState.open`).
    """
    if run.folder is None:
        return RunState(run.key, len(run.batches)).begin(run.started)
    unsure = _unsure(run)
    held = (run.folder / STATE).is_file()
    asked = resume
    if resume is None:
        resume = not unsure
    elif resume and unsure:
        log.info("%s: reusing the results in this folder as asked, although %s", run.folder, "; ".join(unsure))
    state = RunState.open(run.folder, run.key, len(run.batches), resume, overwrite, run.started)
    if asked is None and unsure and held:
        log.warning(
            "%s: %s: not reusing the results in this folder, the run starts afresh; "
            "resume explicitly (--resume, resume=True) to reuse them anyway",
            run.folder,
            "; ".join(unsure),
        )
    if state.done and not state.complete:  # a warning: the CLI shows warnings and errors only by default
        log.warning(
            "%s: resuming run %s: %d of %d batches already done (--no-resume starts afresh)",
            run.folder,
            run.key[:12],
            len(state.done),
            len(run.batches),
        )
    return state


def _unsure(run: Plan) -> list[str]:
    """Why the run key may not tell this run from an earlier one: parts of model or attacks it cannot read."""
    why = []
    if run.unfingerprintable:
        why.append(f"attack(s) {', '.join(run.unfingerprintable)} use a callable whose code cannot be fingerprinted")
    if not run.model_reliable:
        shown = "; ".join(run.model_unreliable[:3]) + ("; ..." if len(run.model_unreliable) > 3 else "")
        why.append(f"model {run.adapter.name} cannot be fingerprinted reliably ({shown})")
    return why


def execute(
    run: Plan,
    state: RunState,
    parts: Parts,
    *,
    verify: bool = True,
    progress: bool = False,
    num_workers: int = 0,
    writer: AdversarialWriter | None = None,
    executor: RayOptions | None = None,
) -> tuple[Gallery | None, dict[str, Any]]:
    """Sweep the batches not yet done, adding their rows to ``parts`` (by batch) and the folder.

    ``executor``: spread the batches over Ray workers (:mod:`medrobust.engine.shards`); the rows are the same.
    """
    data, adapter, head, folder = run.data, run.adapter, run.head, run.folder
    todo = [i for i in range(len(run.batches)) if i not in set(state.done)]
    n_probe = min(PROBE_SIZE, run.batch_size, len(data))
    probe_x, probe_y, _ = collate([data[i] for i in range(n_probe)])
    check_batch(data, np.arange(n_probe), probe_x, probe_y, head)
    probes = probe_model(
        adapter, probe_x.float(), probe_y, verify=verify, seed=run.spec.seed
    )  # once, outside the attack loop
    work = BatchWork.of(run, random_passes(run, probes))
    gallery = Gallery.load(folder) if folder is not None and 0 in state.done else None
    total, done = len(run.batches), len(state.done)
    steps = len(run.attacks) * len(run.budgets)
    with sweep_progress(total, done, steps, enabled=progress) as bar:  # no bar off a terminal

        def finished(b: int, out: BatchRows) -> None:
            nonlocal gallery
            if out.examples:  # the report's gallery: pixels of the first batch's first samples
                gallery = Gallery.from_examples(np.asarray(run.batches[b]), out.examples)
                if folder is not None:
                    gallery.save(folder)
            for k, v in out.seconds.items():
                run.timings[k] = run.timings.get(k, 0.0) + v
            for k, v in out.budget_seconds.items():
                run.timings_per_budget[k] = run.timings_per_budget.get(k, 0.0) + v
            parts[b] = (out.clean, out.attacks)
            if folder is not None:
                state.record(folder, b, out.clean, out.attacks)
            release_freed_memory()  # decoded images fragment the heap: keep a streamed run flat in n
            bar.batch_done()

        if executor is not None:
            from medrobust.engine.shards import execute_sharded

            run.executor = execute_sharded(work, todo, executor, finished)
            return gallery, probes
        loader = DataLoader(
            data,
            batch_sampler=[run.batches[i] for i in todo],
            collate_fn=collate,
            num_workers=num_workers,
            pin_memory=adapter.device.type == "cuda",
        )
        for b, (x, y, meta) in zip(todo, _timed(loader, run.timings, "data"), strict=True):
            finished(b, work.sweep(b, x, y, meta, on_step=bar.step, writer=writer))
    return gallery, probes


def random_passes(run: Plan, probes: dict[str, Any]) -> int | None:
    """Fresh passes per example when the probe found the model's outputs random, else ``None``."""
    return None if probes["determinism"]["deterministic"] else run.spec.random_passes


def finish(
    run: Plan,
    state: RunState,
    cleans: list[pd.DataFrame],
    rows: list[pd.DataFrame],
    gallery: Gallery | None,
    probes: dict[str, Any],
) -> Results:
    """Combine suites, summarise, run the trust checks, write the results folder."""
    spec, data, adapter, head = run.spec, run.data, run.adapter, run.head
    t0 = time.perf_counter()
    clean = pd.concat(cleans, ignore_index=True).sort_values("sample", kind="stable").reset_index(drop=True)
    all_rows = at_least_random(pd.concat(rows, ignore_index=True), _mode_pairs(run))
    for s in run.suites:  # the suite's curve: worst case over every attack of its norm
        all_rows = pd.concat([all_rows, combine_rows(all_rows, s.label, run.covered(s))], ignore_index=True)
    summary = summarize(
        clean,
        all_rows,
        task=head.kind,
        label_names=data.info.label_names,
        bounds=adapter.bounds,
        subgroups=spec.subgroups,
        bootstrap=spec.bootstrap,
        seed=spec.seed,
        passes=random_passes(run, probes),
        severities={a.label + q for a in run.attacks if a.norm not in NORMS for q in ("", QUANTISED)},
    )
    summary = _with_corruption(run, summary)
    trust = trust_context(
        clean,
        run.attacks,
        adapter.bounds,
        known_robust=spec.known_robust,
        probes=probes,
        suites={s.label: run.covered(s) for s in run.suites},
        quantised=data.info.grid is not None,
        adaptive=records(run.adaptations),
    )
    summary = summary.model_copy(update={"trust": TrustContext.model_validate(trust)})
    measured = {k: v for k, v in summary.attacks.items() if not k.endswith(QUANTISED)}  # rounded copies: not checked
    summary = summary.with_warnings(run_checks(summary.model_copy(update={"attacks": measured})))
    run.timings["metrics"] = time.perf_counter() - t0
    for w in summary.warnings:
        log.warning("[%s] %s", w.code, w.message)
    for a in run.adaptations:
        log.warning("%s added %s (%s): %s", a.suite, a.option, ", ".join(a.members), a.reason)
    state.tick()  # this session's entry as the manifest records it
    results = Results(summary, _manifest(run, state), clean, all_rows, gallery=gallery)
    if run.folder is not None:
        results.save(run.folder)
        state.finish(run.folder)
    return results


def _mode_pairs(run: Plan) -> list[tuple[str, str]]:
    """``(adversarial, random)`` labels of the shifts the run has in both modes (and their quantised copies)."""
    shifts = [a for a in run.attacks if isinstance(a, Shift)]
    labels = {a.label for a in shifts}
    found = []
    for a in shifts:
        twin = f"{a.name}-random"
        if a.mode == "adversarial" and twin in labels:
            found += (
                [(a.label, twin), (a.label + QUANTISED, twin + QUANTISED)] if run.data.info.grid else [(a.label, twin)]
            )
    return found


def _with_corruption(run: Plan, summary: Summary) -> Summary:
    """The summary with the acquisition suite's mean corruption error, when the run has that suite."""
    shifts = {
        m.label: (m.name, m.mode) for s in run.suites if is_acquisition(s) for m in s.members if isinstance(m, Shift)
    }
    if not shifts:
        return summary
    corruption = corruption_summary(summary, shifts, run.reference, run.data_fp)
    return summary.model_copy(update={"corruption": corruption})


def _manifest(run: Plan, state: RunState) -> dict[str, Any]:
    data, adapter = run.data, run.adapter
    return {
        "medrobust_run": run.key,
        "started": state.sessions[0]["started"] if state.sessions else run.started,  # a resumed run's first session
        "finished": now(),
        "resumed": state.resumed,
        "sessions": [dict(s) for s in state.sessions],
        "config": run.record,
        "model": {
            **adapter.describe(),
            "fingerprint": run.model_fp,
            "fingerprint_reliable": run.model_reliable,  # False: only an explicit --resume reuses this run
        },
        "data": {
            "name": private_name(data.info.name),  # folder names may carry patient names
            "task": data.info.task.value,
            "label_names": list(data.info.label_names),
            "bounds": list(data.info.bounds),
            "units": data.info.units,
            "spatial_dims": data.info.spatial_dims,
            "n": len(data),
            "fingerprint": run.data_fp,
            "skipped": private_skipped(data.skipped),  # paths hashed: folders may carry patient names
            "extra": jsonable(dict(data.info.extra)),  # reader settings, e.g. window, checksum status
        },
        "libraries": library_versions(),
        "device": device_description(adapter.device),
        "executor": run.executor,  # serial, or Ray: shards and restarted workers
        "threads": torch.get_num_threads(),  # the sweep's torch threads (medrobust.engine.resources)
        "seconds": {k: round(v, 4) for k, v in run.timings.items()},
        "seconds_per_budget": {k: round(v, 4) for k, v in run.timings_per_budget.items()},
    }


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
