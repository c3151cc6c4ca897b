"""``medrobust bench SUITE.yaml``: a nightly suite's cells, serially or as Ray tasks, gated against a baseline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from medrobust.cli._options import check_writable, machine_settings, threads_option
from medrobust.cli.commands import handle_errors, main


@main.command()
@click.argument("suite_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Suite output folder (default: the suite's `out`).")
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="A previous suite output folder: gate every cell, exit 1 on regression.",
)
@click.option("--only", multiple=True, help="Run only cells whose id matches this glob (repeatable).")
@click.option("--set", "overrides", multiple=True, help="Override a suite value, e.g. defaults.n=32 (repeatable).")
@click.option("--fresh", is_flag=True, help="Re-run cells that already finished.")
@click.option("--allow-code", is_flag=True, help="Let python model kinds import and run the code they name.")
@click.option("--ray", "use_ray", is_flag=True, help="Run the cells as Ray tasks (the [ray] extra).")
@click.option("--ray-address", help="A running Ray cluster for --ray (default: RAY_ADDRESS, else a local instance).")
@threads_option
@click.option("--quiet", is_flag=True, help="No progress bars nor settings lines.")
@handle_errors
def bench(
    suite_file: Path,
    out: Path | None,
    baseline: Path | None,
    only: tuple[str, ...],
    overrides: tuple[str, ...],
    fresh: bool,
    allow_code: bool,
    quiet: bool,
    threads: int | None,
    use_ray: bool,
    ray_address: str | None,
) -> None:
    """Run a benchmark suite (models x datasets x attack sets x budgets); exit 1 on regression, 2 on a failed cell."""
    from medrobust.io import parse_overrides
    from medrobust.suites.grid import BENCH_MD, run_suite

    def show(cell: Any) -> None:
        gate = f"  gate: {cell.gate['status']}" if cell.gate else ""
        note = f"  ({cell.message})" if cell.message else ""
        click.echo(f"{cell.status:>8}  {cell.id}  {cell.seconds:.1f} s{gate}{note}")

    if out is not None:
        check_writable(out)
    machine_settings(threads, quiet)
    run = run_suite(
        suite_file,
        out=out,
        baseline=baseline,
        overrides=parse_overrides(overrides),
        only=only,
        fresh=fresh,
        progress=not quiet,
        on_cell=show,
        allow_code=allow_code,
        ray=use_ray or None,
        ray_address=ray_address,
    )
    click.echo(f"summary: {run.out / BENCH_MD}")
    for cell in run.regressions:
        click.echo(f"REGRESSION in {cell.id}: {cell.gate.get('verdict', '')}", err=True)
    sys.exit(run.exit_code)
