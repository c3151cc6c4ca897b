"""medrobust against ART, torchattacks and foolbox: same model, data, budgets, steps, batch size.

Run from the repository root, e.g.::

    python benchmarks/sweep_vs_peers.py --model smallcnn --out benchmarks/results/cpu-smallcnn.json

Each repeat runs every tool once (the order rotates between repeats), the PGD sweep then
the FGSM sweep; the report gives per tool and budget the robust accuracy and seconds
(median and min over repeats), sweep totals, each peer's time over medrobust's, the
per-image forward+backward cost measured in the same run, and two checks: medrobust is
never weaker than the strongest peer (by more than 0.5 point) and the speed target.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import Tensor

from benchmarks import environment, ours
from benchmarks.data import Split, load_split
from benchmarks.models import ZOO, load_or_train
from benchmarks.peers import ATTACKS, PEERS, Peer, installed
from medrobust.attacks.budgets import parse_budgets
from medrobust.models.adapter import ModelAdapter
from medrobust.results.atomic import write_json

log = logging.getLogger("benchmarks")

BUDGETS = ("1/255", "2/255", "4/255", "8/255")
TOLERANCE = 0.005  # robust accuracy: medrobust may exceed the strongest peer by at most 0.5 point
TARGETS = {("cpu", "smallcnn"): 1.5, ("cuda", "densenet121"): 5.0}
CPU_ABLATIONS = (
    "medrobust:channels-last",
    "torchattacks:channels-last",
    "medrobust:no-early-stop",
    "medrobust:independent",
    "medrobust:independent+no-early-stop",
    "medrobust:independent+no-early-stop+unfrozen",
    "medrobust:parallel",
)
GPU_ABLATIONS = (*CPU_ABLATIONS, "medrobust:bf16", "medrobust:compile")
SAME_ALGORITHM = ("medrobust:bf16", "medrobust:channels-last", "medrobust:compile")  # must match fp32 within 0.5 point

Runner = Callable[[str], ours.SweepTiming]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", choices=sorted(ZOO), default="smallcnn")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument(
        "--tools", default="medrobust,torchattacks,foolbox,art", help="comma-separated; missing peers are skipped"
    )
    p.add_argument(
        "--ablations",
        action="store_true",
        help="also run medrobust with one speed feature switched off (or a GPU option on)",
    )
    p.add_argument(
        "--variants", default="", help="comma-separated extra medrobust variants: " + ", ".join(ours.VARIANTS)
    )
    p.add_argument("--attacks", default="pgd,fgsm")
    p.add_argument("--n", type=int, help="test images (default: the whole test split)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--train-steps", type=int, help="override the model's training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 24 images, batches of 12, 2 steps, 1 repeat, briefly trained model",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n = args.n or 24
        args.batch_size = 12 if args.batch_size == 256 else args.batch_size
        args.steps = 2 if args.steps == 10 else args.steps
        args.repeats = 1
        args.train_steps = 30 if args.train_steps is None else args.train_steps
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; return (and optionally write) the report."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    load_before = environment.load_average()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    spec = ZOO[args.model]
    train = load_split(spec.subset, "train", file_size=spec.file_size, skip_checksum=spec.skip_checksum, raw=True)
    test = load_split(
        spec.subset, "test", file_size=spec.file_size, size=spec.size, n=args.n, skip_checksum=spec.skip_checksum
    )
    model, training = load_or_train(spec, train, device, args.train_steps, args.seed)
    x, y = test.images.to(device), test.labels.to(device)
    clean_acc = _clean_accuracy(model, x, y, args.batch_size)
    log.info("%s on %s: %d test images, clean accuracy %.3f", spec.name, device, len(y), clean_acc)
    rel_stepsize = 2.5 / args.steps
    attacks = [a for a in args.attacks.split(",") if a in ATTACKS]
    tools, models = _tools(args, device, model, x, y, test.name, rel_stepsize)
    counter = PassCounter(models)
    costs: list[dict[str, float]] = []
    records: dict[str, dict[str, list[ours.SweepTiming]]] = {t: {a: [] for a in attacks} for t in tools}
    passes: dict[str, dict[str, dict[str, int]]] = {t: {} for t in tools}
    memory: dict[str, dict[str, dict[str, float]]] = {t: {} for t in tools}
    names = list(tools)
    for r in range(args.repeats):
        costs.append(probe_cost(model, x[: args.batch_size]))  # per repeat: the load drifts
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            for kind in attacks:
                gc.collect()
                torch.manual_seed(args.seed + r)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                counter.reset()
                cpu0 = time.process_time()
                with environment.PeakMemory() as mem:
                    timing = tools[name](kind)
                timing.extra["cpu_seconds"] = time.process_time() - cpu0
                records[name][kind].append(timing)
                passes[name][kind] = dict(counter.counts)
                memory[name][kind] = {
                    "peak_rss_mib": round(mem.peak_mib, 1),
                    "rss_increase_mib": round(mem.peak_mib - mem.start_mib, 1),
                    **(
                        {"cuda_peak_allocated_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
                        if device.type == "cuda"
                        else {}
                    ),
                }
                log.info(
                    "repeat %d %-44s %-4s %7.2f s  %s",
                    r + 1,
                    name,
                    kind,
                    timing.total,
                    " ".join(f"{b}:{a:.3f}" for b, a in timing.accuracy.items()),
                )
    counter.close()
    cost = _median_cost(costs)
    report = _report(args, device, spec.name, test, clean_acc, training, cost, records, passes, memory, attacks)
    report["load_average"] = {"before": load_before, "after": environment.load_average()}
    report["process_peak_rss_mib"] = environment.peak_rss_mib()
    report["started"] = started
    _log_summary(report)
    if args.out:
        write_json(args.out, report)
        log.info("wrote %s", args.out)
    return report


def _tools(
    args: argparse.Namespace,
    device: torch.device,
    model: ModelAdapter,
    x: Tensor,
    y: Tensor,
    data_name: str,
    rel_stepsize: float,
) -> tuple[dict[str, Runner], list[ModelAdapter]]:
    """The tools to time, each a function ``kind -> SweepTiming``, and every model they attack."""
    tools: dict[str, Runner] = {}
    models = [model]
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    variants = [v for v in args.variants.split(",") if v]
    if args.ablations:
        variants += [v for v in (GPU_ABLATIONS if device.type == "cuda" else CPU_ABLATIONS) if v not in variants]
    data = ours.dataset(x.cpu(), y.cpu(), data_name)
    for name in [n for n in wanted if n == "medrobust"] + [v for v in variants if v.startswith("medrobust")]:
        if name not in ours.VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(ours.VARIANTS)}")
        variant = ours.VARIANTS[name]
        tools[variant.name] = _ours_runner(variant, ours.prepare(variant, model), data, args, rel_stepsize)
    for name in [n for n in wanted if n != "medrobust"] + [v for v in variants if not v.startswith("medrobust")]:
        base, _, option = name.partition(":")
        if base not in PEERS or option not in ("", "channels-last"):
            raise SystemExit(
                f"unknown tool {name!r}; choose from medrobust, {', '.join(PEERS)} (optionally :channels-last)"
            )
        if not installed(base):
            log.warning("%s is not installed: skipped (pip install -e '.[bench]')", base)
            continue
        target = channels_last_copy(model) if option else model
        if target is not model:
            models.append(target)
        peer = PEERS[base](target, args.steps, rel_stepsize, args.batch_size)
        tools[name] = _peer_runner(peer, x, y, args.batch_size)
    return tools, models


def channels_last_copy(model: ModelAdapter) -> ModelAdapter:
    """A deep copy of the model with channels-last weights: what any tool gains from the layout alone."""
    twin = copy.deepcopy(model)
    dims = twin.spatial_dims or 2
    twin.model.to(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
    return twin


def _ours_runner(variant: ours.Variant, model: ModelAdapter, data: Any, args: argparse.Namespace, rel: float) -> Runner:
    def run(kind: str) -> ours.SweepTiming:
        return ours.run(variant, model, data, kind, BUDGETS, args.batch_size, args.steps, rel, args.seed)

    return run


def _peer_runner(peer: Peer, x: Tensor, y: Tensor, batch_size: int) -> Runner:
    def run(kind: str) -> ours.SweepTiming:
        accuracy: dict[str, float] = {}
        seconds: dict[str, float | None] = {}
        for b in parse_budgets(BUDGETS):
            _sync(x.device)
            t0 = time.perf_counter()
            correct = [
                peer.robust(kind, x[i : i + batch_size], y[i : i + batch_size], b.value)
                for i in range(0, len(y), batch_size)
            ]
            _sync(x.device)
            seconds[b.label] = time.perf_counter() - t0
            accuracy[b.label] = float(torch.cat(correct).float().mean())
        return ours.SweepTiming(accuracy, seconds, sum(s or 0.0 for s in seconds.values()), {})

    return run


def probe_cost(model: ModelAdapter, x: Tensor, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per image for one forward pass and one forward+backward (input gradient)."""
    with model.evaluating(freeze=True):
        fwd, fb = [], []
        for _ in range(repeats + 1):
            _sync(x.device)
            t0 = time.perf_counter()
            with torch.inference_mode():
                model(x)
            _sync(x.device)
            fwd.append(time.perf_counter() - t0)
            xg = x.clone().requires_grad_(True)
            t0 = time.perf_counter()
            torch.autograd.grad(model(xg).sum(), xg)
            _sync(x.device)
            fb.append(time.perf_counter() - t0)
    n = x.shape[0]
    return {
        "batch": n,
        "forward_ms_per_image": round(1000 * statistics.median(fwd[1:]) / n, 4),
        "forward_backward_ms_per_image": round(1000 * statistics.median(fb[1:]) / n, 4),
    }


def _median_cost(costs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-image costs over the repeats: the median, and the minimum (least disturbed by load)."""
    out: dict[str, float] = {"batch": costs[0]["batch"], "repeats": len(costs)}
    for key in ("forward_ms_per_image", "forward_backward_ms_per_image"):
        values = [c[key] for c in costs]
        out[key] = round(statistics.median(values), 4)
        out[key.replace("_ms", "_min_ms")] = round(min(values), 4)
    return out


class PassCounter:
    """Counts images through the native networks, split into gradient and plain passes."""

    def __init__(self, models: Sequence[ModelAdapter]) -> None:
        self.counts = {"grad": 0, "plain": 0}
        self._handles = [m.model.register_forward_pre_hook(self._hook) for m in models]

    def _hook(self, _module: Any, inputs: tuple[Any, ...]) -> None:
        if inputs and isinstance(inputs[0], Tensor):
            self.counts["grad" if torch.is_grad_enabled() else "plain"] += int(inputs[0].shape[0])

    def reset(self) -> None:
        self.counts = {"grad": 0, "plain": 0}

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def _report(
    args: argparse.Namespace,
    device: torch.device,
    model_name: str,
    test: Split,
    clean_acc: float,
    training: dict[str, Any],
    cost: dict[str, float],
    records: dict[str, dict[str, list[ours.SweepTiming]]],
    passes: dict[str, dict[str, dict[str, int]]],
    memory: dict[str, dict[str, dict[str, float]]],
    attacks: Sequence[str],
) -> dict[str, Any]:
    """Aggregate repeats into the JSON report: medians, minima, ratios and checks."""
    n = len(test.labels)
    results: dict[str, Any] = {}
    for kind in attacks:
        results[kind] = {}
        for tool, by_kind in records.items():
            runs = by_kind[kind]
            if not runs:
                continue
            totals = [r.total for r in runs]
            cpu = [r.extra.get("cpu_seconds", 0.0) for r in runs]
            budgets = {}
            for b in BUDGETS:
                secs = [s for r in runs if (s := r.seconds.get(b)) is not None]
                accs = [r.accuracy[b] for r in runs]
                budgets[b] = {
                    "robust_accuracy": round(statistics.mean(accs), 4),
                    "robust_accuracy_max": round(max(accs), 4),
                    "robust_accuracy_min": round(min(accs), 4),
                    "seconds_median": round(statistics.median(secs), 4) if secs else None,
                    "seconds_min": round(min(secs), 4) if secs else None,
                }
            results[kind][tool] = {
                "budgets": budgets,
                "total_seconds_median": round(statistics.median(totals), 4),
                "total_seconds_min": round(min(totals), 4),
                "total_seconds": [round(t, 4) for t in totals],
                "cpu_seconds_median": round(statistics.median(cpu), 4),
                "image_passes": passes[tool].get(kind, {}),
                "memory": memory[tool].get(kind, {}),
                **({"medrobust_stages": runs[-1].extra["stages"]} if "stages" in runs[-1].extra else {}),
            }
    peers = [t for t in records if t in PEERS]
    ratios = {
        kind: {
            tool: round(
                results[kind][tool]["total_seconds_median"] / results[kind]["medrobust"]["total_seconds_median"], 3
            )
            for tool in results[kind]
            if tool != "medrobust" and "medrobust" in results[kind]
        }
        for kind in attacks
    }
    detail = {kind: _ratio_detail(results[kind]) for kind in attacks}
    checks = {
        "not_weaker": _not_weaker(results, peers, attacks),
        "speed_target": _speed_target(ratios, detail, peers, device, model_name),
    }
    variants = [t for t in records if t.startswith("medrobust:")]
    report_variants: dict[str, Any] = {}
    if variants and "medrobust" in records:
        agree = _variants_agree(results, variants, attacks)
        checks["numerics_agree_with_fp32"] = {v: a for v, a in agree.items() if v in SAME_ALGORITHM}
        report_variants = {v: a for v, a in agree.items() if v not in SAME_ALGORITHM}
    lower = {
        "peer_pgd_sweep_seconds_lower_bound": round(
            n
            * len(BUDGETS)
            * (args.steps * cost["forward_backward_ms_per_image"] + cost["forward_ms_per_image"])
            / 1000,
            3,
        ),
        "peer_fgsm_sweep_seconds_lower_bound": round(
            n * len(BUDGETS) * (cost["forward_backward_ms_per_image"] + cost["forward_ms_per_image"]) / 1000, 3
        ),
    }
    return {
        "benchmark": "sweep_vs_peers",
        "schema": 1,
        "command": "python benchmarks/sweep_vs_peers.py " + " ".join(sys.argv[1:])
        if sys.argv[0].endswith("sweep_vs_peers.py")
        else None,
        "machine": environment.machine(device),
        "libraries": environment.libraries(),
        "settings": {
            "model": model_name,
            "data": test.name,
            "data_checksum": test.checksum,
            "n": n,
            "budgets": list(BUDGETS),
            "norm": "linf",
            "pgd_steps": args.steps,
            "pgd_step_size": f"{2.5 / args.steps:.4g} * eps",
            "random_start": True,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "seed": args.seed,
            "quick": args.quick,
            "tools": list(records),
        },
        "model": {"name": model_name, "clean_accuracy": round(clean_acc, 4), "training": training},
        "cost": {**cost, **lower},
        "results": results,
        "ratios_peer_over_medrobust": ratios,
        "ratios_detail": detail,
        "checks": checks,
        "ablation_accuracy_vs_medrobust": report_variants,
    }


def _not_weaker(results: dict[str, Any], peers: Sequence[str], attacks: Sequence[str]) -> dict[str, Any]:
    """At every budget medrobust's (highest) robust accuracy <= the strongest peer run's + 0.5 point."""
    out: dict[str, Any] = {"tolerance": TOLERANCE, "passed": True, "detail": {}}
    for kind in attacks:
        if "medrobust" not in results[kind] or not any(p in results[kind] for p in peers):
            continue
        for b in BUDGETS:
            ours_acc = results[kind]["medrobust"]["budgets"][b]["robust_accuracy_max"]
            best_peer = min(results[kind][p]["budgets"][b]["robust_accuracy_min"] for p in peers if p in results[kind])
            ok = ours_acc <= best_peer + TOLERANCE
            out["detail"][f"{kind}@{b}"] = {"medrobust": ours_acc, "lowest_peer": best_peer, "passed": ok}
            out["passed"] = out["passed"] and ok
    return out


def _ratio_detail(by_tool: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each tool's time over medrobust's: of the medians, of the minima, and the median of the
    per-repeat ratios (each repeat's two runs are close in time, so slow drifts in the load cancel)."""
    if "medrobust" not in by_tool:
        return {}
    ours_runs = by_tool["medrobust"]["total_seconds"]
    out = {}
    for tool, r in by_tool.items():
        if tool == "medrobust":
            continue
        paired = [t / o for t, o in zip(r["total_seconds"], ours_runs, strict=False) if o > 0]
        out[tool] = {
            "of_medians": round(r["total_seconds_median"] / by_tool["medrobust"]["total_seconds_median"], 3),
            "of_minima": round(r["total_seconds_min"] / by_tool["medrobust"]["total_seconds_min"], 3),
            "paired_median": round(statistics.median(paired), 3) if paired else float("nan"),
        }
    return out


def _speed_target(
    ratios: dict[str, dict[str, float]],
    detail: dict[str, dict[str, dict[str, float]]],
    peers: Sequence[str],
    device: torch.device,
    model_name: str,
) -> dict[str, Any]:
    """The issue's target for this machine and model, against the fastest peer's PGD sweep (median times)."""
    target = TARGETS.get((device.type, model_name))
    pgd = {p: r for p, r in ratios.get("pgd", {}).items() if p in peers}
    if not pgd:
        return {"target": target, "passed": None, "note": "no peer timed"}
    fastest = min(pgd, key=lambda p: pgd[p])
    return {
        "target": target,
        "fastest_peer": fastest,
        "speedup_over_fastest_peer": pgd[fastest],
        "speedup_detail": detail.get("pgd", {}).get(fastest, {}),
        "passed": None if target is None else pgd[fastest] >= target,
        **({"missed_by": round(target - pgd[fastest], 3)} if target is not None and pgd[fastest] < target else {}),
    }


def _variants_agree(results: dict[str, Any], variants: Sequence[str], attacks: Sequence[str]) -> dict[str, Any]:
    """Each variant's robust accuracy minus the default sweep's; same-algorithm variants must stay within 0.5 point."""
    out: dict[str, Any] = {}
    for v in variants:
        diffs = {
            f"{kind}@{b}": round(
                results[kind][v]["budgets"][b]["robust_accuracy"]
                - results[kind]["medrobust"]["budgets"][b]["robust_accuracy"],
                4,
            )
            for kind in attacks
            for b in BUDGETS
            if v in results[kind]
        }
        out[v] = {"max_abs_difference": max((abs(d) for d in diffs.values()), default=0.0), "differences": diffs}
        out[v]["within_tolerance"] = out[v]["max_abs_difference"] <= TOLERANCE
    return out


def _clean_accuracy(model: ModelAdapter, x: Tensor, y: Tensor, batch_size: int) -> float:
    correct = [
        model.head.correct(model.logits(x[i : i + batch_size]), y[i : i + batch_size])
        for i in range(0, len(y), batch_size)
    ]
    return float(torch.cat(correct).float().mean())


def _log_summary(report: dict[str, Any]) -> None:
    s = report["settings"]
    log.info(
        "\n%s, %s, n=%d, batch %d, %d repeats on %s (%s)",
        s["model"],
        s["data"],
        s["n"],
        s["batch_size"],
        s["repeats"],
        report["machine"]["device"],
        report["machine"]["cpu"],
    )
    for kind, by_tool in report["results"].items():
        log.info("%-44s %s %9s %9s %8s", kind, "  ".join(f"{b:>13}" for b in BUDGETS), "median s", "min s", "x ours")
        for tool, r in by_tool.items():
            cells = "  ".join(
                f"{r['budgets'][b]['robust_accuracy']:.3f}/{_fmt(r['budgets'][b]['seconds_median'])}" for b in BUDGETS
            )
            ratio = report["ratios_peer_over_medrobust"][kind].get(tool)
            log.info(
                "%-44s %s %9.2f %9.2f %8s",
                tool,
                cells,
                r["total_seconds_median"],
                r["total_seconds_min"],
                f"{ratio:.2f}" if ratio else "",
            )
    log.info("checks: %s", {k: v.get("passed", v) for k, v in report["checks"].items()})


def _fmt(v: float | None) -> str:
    return f"{v:6.2f}s" if v is not None else "     -"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
