"""The ``medrobust`` command line: demo, run (and report, compare, bench).

Every command is a thin layer over the one sweep. Bad input exits with code 2 and a
message naming the input and the problem; an interrupted run exits 130 and resumes.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from medrobust.cli._options import (
    BatchSize,
    attack_spec,
    check_writable,
    floats,
    machine_settings,
    parse_kv,
    threads_option,
)
from medrobust.cli.logs import configure_logging
from medrobust.engine.ray_runtime import RayOptions
from medrobust.engine.resources import passive_openmp_waits
from medrobust.errors import ConfigError, MedrobustError

F = TypeVar("F", bound=Callable[..., Any])
STRICT_EXIT = 3
"""Exit code of ``run --strict`` when a trust check warned (results are still written)."""
BAD_INPUT_EXIT = 2
"""Exit code of bad input, and of any error that escapes a command (an internal error)."""
INTERRUPTED_EXIT = 130
DEBUG_KEY = "medrobust.debug"
log = logging.getLogger("medrobust")
DEFAULT_SHARDS = RayOptions.model_fields["shards"].default
_attack_spec = attack_spec  # the name tests and old callers import


def handle_errors(fn: F) -> F:
    """Bad input and any escaping error become one line on stderr and exit 2 (``--debug``: the traceback too).

    Ctrl-C exits 130; click's own usage errors and exits pass through unchanged.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("medrobust: interrupted; finished batches are saved, run again to resume", err=True)
            sys.exit(INTERRUPTED_EXIT)
        except MedrobustError as exc:
            _fail(f"medrobust: error: {exc}")
        except OSError as exc:
            if exc.filename is None:
                _fail(f"medrobust: internal error: {type(exc).__name__}: {exc}", internal=True)
            _fail(f"medrobust: error: {exc.filename}: {exc.strerror or exc}")
        except Exception as exc:
            _fail(f"medrobust: internal error: {type(exc).__name__}: {exc}", internal=True)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, internal: bool = False) -> NoReturn:
    """Print ``message`` as one line (after the traceback under ``--debug``) and exit 2."""
    ctx = click.get_current_context(silent=True)
    debug = bool(ctx is not None and ctx.meta.get(DEBUG_KEY))
    if debug:
        click.echo(traceback.format_exc().rstrip(), err=True)
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    if internal and not debug:
        line += " (run with --debug for the traceback)"
    click.echo(line, err=True)
    sys.exit(BAD_INPUT_EXIT)


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show the Python traceback of any error.")
@click.version_option(package_name="medrobust")
@click.pass_context
def main(ctx: click.Context, verbose: int, debug: bool) -> None:
    """Adversarial-robustness test harness for medical imaging classifiers.

    Exit codes: 0 done, 1 regression (compare, bench), 2 bad input or an internal error,
    3 trust warnings under run --strict, 130 interrupted.
    """
    ctx.meta[DEBUG_KEY] = debug
    passive_openmp_waits()  # before torch is imported: idle threads sleep rather than spin on a busy machine
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    configure_logging(level)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("medrobust-results/demo"), show_default=True)
@click.option("--n", type=click.IntRange(min=2), default=512, show_default=True, help="Test images.")
@click.option("--seed", type=int, default=0, show_default=True)
@threads_option
@click.option("--quiet", is_flag=True, help="No progress bars nor settings lines.")
@handle_errors
def demo(out: Path, n: int, seed: int, threads: int | None, quiet: bool) -> None:
    """Train a small CNN on synthetic lesion images and sweep FGSM and PGD (no network needed)."""
    from medrobust.engine.demo import run_demo

    check_writable(out)
    click.echo("medrobust demo: training a small CNN on synthetic lesion images (seeded) ...")
    machine_settings(threads, quiet)
    results = run_demo(out, n=n, seed=seed, progress=not quiet)
    click.echo(results.table())
    click.echo(f"results written to {out}")


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), help="YAML config file.")
@click.option("--model", "model_kind", help="demo, smallcnn, torchvision, monai, torchscript or python.")
@click.option("--model-name", help="Architecture name (resnet18, DenseNet121, pkg.mod:factory).")
@click.option("--weights", type=click.Path(path_type=Path), help="State-dict or TorchScript file.")
@click.option(
    "--random-init", is_flag=True, default=None, help="No weights: a smoke test on a network seeded from --seed."
)
@click.option("--head", type=click.Choice(["multiclass", "binary", "multilabel"]))
@click.option("--num-classes", type=int, help="Logits the model returns.")
@click.option("--in-channels", type=int)
@click.option("--spatial-dims", type=click.Choice(["2", "3"]))
@click.option("--threshold", type=float, help="Operating threshold for sigmoid heads.")
@click.option("--mean", help="Normalisation mean, comma-separated.")
@click.option("--std", help="Normalisation std, comma-separated.")
@click.option("--channels", type=int, help="Channels the model expects (grey is repeated).")
@click.option("-M", "--model-opt", multiple=True, help="Extra model option KEY=VALUE.")
@click.option("--data", "data_kind", help="Data kind (synthetic, medmnist, dicom, nifti, folder).")
@click.option("-D", "--data-opt", multiple=True, help="Data option KEY=VALUE (root=..., split=test).")
@click.option("--attack", "attacks", multiple=True, help="Attack, e.g. fgsm or pgd:norm=l2,steps=20.")
@click.option("--eps", help="Budgets, comma-separated and ascending: 0,1/255,2/255.")
@click.option("--n", type=int, help="Evaluate a stratified subset of this size.")
@click.option("--batch-size", type=BatchSize(), help="Images per batch, or auto (the default: from input and memory).")
@click.option("--seed", type=int)
@click.option("--subgroup", "subgroups", multiple=True, help="Metadata column to split metrics by.")
@click.option("--out", type=click.Path(path_type=Path), help="Results folder.")
@click.option("--write-adversarial", type=click.Path(path_type=Path), help="Write file-space DICOM examples here.")
@click.option("--device", help="cpu, cuda, cuda:1 or auto.")
@click.option("--bootstrap", type=int, help="Bootstrap draws for confidence intervals (0: none).")
@click.option("--no-resume", is_flag=True, help="Start over even if the results folder has finished batches.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a different run found in --out.")
@click.option(
    "--resume",
    is_flag=True,
    help="Reuse the folder's finished batches even when the model cannot be fingerprinted reliably.",
)
@click.option(
    "--suite",
    help="Attack suite to add: strong (or strong:steps=50,norm=l2); acquisition[:mode=random,modality=MR] "
    "runs the shifts that fit the data at severities 0..5.",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    help="Results of --suite acquisition on a reference model: the mean corruption error (mCE) against it.",
)
@click.option("--strict", is_flag=True, default=None, help="Exit with code 3 when any trust check warns.")
@click.option(
    "--known-robust", is_flag=True, default=None, help="The model is trained to be robust: no chance-level check."
)
@click.option(
    "--schedule",
    type=click.Choice(["ascending", "parallel"]),
    help="Budgets one after another, or all remaining in one batch (GPU).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    help="bf16 autocast for the model's passes (check against fp32).",
)
@click.option("--channels-last", is_flag=True, default=None, help="channels_last memory format during each batch.")
@click.option(
    "--allow-large-budgets", is_flag=True, default=None, help="Run budgets at least the bounds' range (a warning)."
)
@click.option("--allow-code", is_flag=True, help="Let the python model kind import and run the code it names.")
@click.option("--ray", "use_ray", is_flag=True, default=None, help="Spread the batches over Ray workers ([ray] extra).")
@click.option("--shards", type=click.IntRange(min=1), help=f"Ray workers for --ray (default {DEFAULT_SHARDS}).")
@click.option("--ray-address", help="A running Ray cluster for --ray (default: RAY_ADDRESS, else a local instance).")
@threads_option
@click.option("--quiet", is_flag=True, help="No progress bars nor settings lines.")
@handle_errors
def run(
    config_path: Path | None,
    quiet: bool,
    threads: int | None,
    no_resume: bool,
    resume: bool,
    allow_code: bool,
    **flags: Any,
) -> None:
    """Run a sweep from a YAML config and/or flags; flags override the config.

    A results folder's finished batches are reused when the run key matches and the model is
    fingerprinted reliably; --resume reuses them anyway, --no-resume never. A folder holding a
    different run is refused (exit 2) unless --overwrite. A smallcnn, torchvision or monai model
    needs --weights, or --random-init for a smoke test on a network seeded from --seed.

    Exit codes: 0 done, 2 bad input, 3 trust warnings under --strict, 130 interrupted.
    """
    from medrobust.engine.config import load_config
    from medrobust.engine.run import resolve_device, run_config

    overrides: dict[str, Any] = {}
    names: dict[str, str] = {}  # override key -> the flag that set it, for error messages
    simple = {
        "model_kind": "model.kind",
        "model_name": "model.name",
        "weights": "model.weights",
        "head": "model.head",
        "num_classes": "model.num_classes",
        "in_channels": "model.in_channels",
        "threshold": "model.threshold",
        "channels": "model.channels",
        "data_kind": "data.kind",
        "n": "n",
        "batch_size": "batch_size",
        "seed": "seed",
        "out": "out",
        "reference": "reference",
        "write_adversarial": "write_adversarial",
        "device": "device",
        "bootstrap": "bootstrap",
        "schedule": "schedule",
        "precision": "precision",
    }
    for flag, key in simple.items():
        if flags.get(flag) is not None:
            overrides[key] = str(flags[flag]) if isinstance(flags[flag], Path) else flags[flag]
            names[key] = {"model_kind": "--model", "data_kind": "--data"}.get(flag, "--" + flag.replace("_", "-"))
    if flags.get("spatial_dims"):
        overrides["model.spatial_dims"] = int(flags["spatial_dims"])
    for flag in ("mean", "std"):
        if flags.get(flag):
            overrides[f"model.{flag}"] = floats(flags[flag], f"--{flag}", positive=flag == "std")
    for key, value in parse_kv(flags["model_opt"], "--model-opt").items():
        overrides[f"model.{key}"] = value
        names[f"model.{key}"] = f"--model-opt {key}"
    for key, value in parse_kv(flags["data_opt"], "--data-opt").items():
        overrides[f"data.{key}"] = value
        names[f"data.{key}"] = f"-D {key}"
    if flags["attacks"]:
        overrides["attacks"] = [attack_spec(a) for a in flags["attacks"]]
        names["attacks"] = "--attack"
    if flags.get("eps"):
        overrides["eps"] = [e.strip() for e in flags["eps"].split(",")]
        names["eps"] = "--eps"
    if flags["subgroups"]:
        overrides["subgroups"] = list(flags["subgroups"])
        names["subgroups"] = "--subgroup"
    if resume and no_resume:
        raise ConfigError("--resume and --no-resume contradict each other: give one of them")
    if resume or no_resume:
        overrides["resume"] = resume
    if flags.get("suite"):
        overrides["suite"] = attack_spec(flags["suite"], "--suite")
        names["suite"] = "--suite"
    if flags.get("use_ray"):
        overrides["executor"] = "ray"
    elif flags.get("shards") is not None or flags.get("ray_address") is not None:
        raise ConfigError("--shards and --ray-address go with --ray")
    for flag, key in (("shards", "ray.shards"), ("ray_address", "ray.address")):
        if flags.get(flag) is not None:
            overrides[key], names[key] = flags[flag], "--" + flag.replace("_", "-")
    for flag in ("strict", "known_robust", "channels_last", "allow_large_budgets", "overwrite"):
        if flags.get(flag):
            overrides[flag] = True
    if flags.get("random_init"):
        overrides["model.random_init"] = True
    cfg = load_config(config_path, overrides, names)
    resolve_device(cfg.device)  # an unusable device or results folder fails before anything is built
    check_writable(cfg.out, "--out" if flags.get("out") is not None else "results folder (out)")
    machine_settings(threads, quiet)
    results = run_config(cfg, progress=not quiet, allow_code=allow_code)
    click.echo(results.table())
    click.echo(f"results written to {cfg.out}")
    if cfg.strict and results.warnings:
        click.echo(f"medrobust: {len(results.warnings)} trust warning(s) under --strict", err=True)
        sys.exit(STRICT_EXIT)


# Further commands register themselves below (report, compare, bench).


@main.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option(
    "--thresholds", type=click.Path(path_type=Path), help="YAML/JSON minimum per attack and budget (JUnit pass/fail)."
)
@click.option(
    "--baseline", type=click.Path(path_type=Path), help="Baseline results: JUnit cases fail where this run is worse."
)
@click.option("--tolerance", type=float, default=0.02, show_default=True, help="Allowed drop against --baseline.")
@click.option("--metric", type=click.Choice(["robust_accuracy", "auroc"]), default="robust_accuracy", show_default=True)
@click.option("--allow-different", is_flag=True, help="Compare with a baseline on another model or data.")
@handle_errors
def report(
    results_dir: Path,
    thresholds: Path | None,
    baseline: Path | None,
    tolerance: float,
    metric: str,
    allow_different: bool,
) -> None:
    """(Re)write report.html, summary.csv, summary.md and junit.xml in RESULTS_DIR."""
    from medrobust.gates.compare import compare
    from medrobust.reports import write_reports
    from medrobust.reports.junit import load_thresholds
    from medrobust.results.results import Results

    results = Results.load(results_dir)
    limits = load_thresholds(thresholds) if thresholds else None
    comparison = (
        compare(baseline, results, tolerance=tolerance, metric=metric, allow_different=allow_different)
        if baseline
        else None
    )
    paths = write_reports(results, results_dir, thresholds=limits, comparison=comparison)
    if comparison is not None:
        click.echo(comparison.verdict())
    for path in paths.values():
        click.echo(f"wrote {path}")


@main.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--tolerance", type=float, default=0.02, show_default=True, help="Largest allowed drop of the metric.")
@click.option("--metric", type=click.Choice(["robust_accuracy", "auroc"]), default="robust_accuracy", show_default=True)
@click.option("--allow-different", is_flag=True, help="Compare runs on a different model or data.")
@click.option(
    "--markdown", "markdown_path", type=click.Path(path_type=Path), help="Also append the Markdown table to this file."
)
@handle_errors
def compare(
    baseline: Path, current: Path, tolerance: float, metric: str, allow_different: bool, markdown_path: Path | None
) -> None:
    """Gate CURRENT against BASELINE (results folders or summary.json): exit 1 on regression."""
    from medrobust.gates.compare import compare as compare_runs

    result = compare_runs(baseline, current, tolerance=tolerance, metric=metric, allow_different=allow_different)
    click.echo(result.table())
    if markdown_path is not None:
        with markdown_path.open("a", encoding="utf-8") as f:
            f.write(result.markdown())
    if not result.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
