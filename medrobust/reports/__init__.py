"""Reports over a results folder: HTML (plots, gallery), CSV, Markdown and JUnit XML.

:func:`write_reports` is called by :meth:`Results.save` and by ``medrobust report``;
submodules import matplotlib lazily, so importing this package stays cheap.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from medrobust.results.atomic import write_csv, write_text
from medrobust.results.folder import JUNIT, REPORT, REPORTS, SUMMARY_CSV, SUMMARY_MD

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from medrobust.gates.compare import Comparison
    from medrobust.reports.junit import Thresholds
    from medrobust.results.results import Results

log = logging.getLogger(__name__)

__all__ = ["JUNIT", "REPORT", "SUMMARY_CSV", "SUMMARY_MD", "ReportRenderer", "write_reports"]


def write_reports(
    results: Results,
    folder: str | Path,
    *,
    thresholds: Thresholds | None = None,
    comparison: Comparison | None = None,
) -> dict[str, Path]:
    """Write ``report.html``, ``summary.csv``, ``summary.md`` and ``junit.xml`` atomically into ``folder``."""
    from medrobust.reports.html import render_report
    from medrobust.reports.junit import render_junit
    from medrobust.reports.markdown import render_markdown

    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in REPORTS}
    write_csv(paths[SUMMARY_CSV], results.to_dataframe())
    md = render_markdown(results)
    if comparison is not None:
        md += "\n" + comparison.markdown()
    write_text(paths[SUMMARY_MD], md)
    write_text(paths[JUNIT], render_junit(results, thresholds, comparison))
    write_text(paths[REPORT], render_report(results))
    log.info("reports written to %s in %.2f s", folder, time.perf_counter() - t0)
    return paths


class ReportRenderer:
    """What :class:`~medrobust.results.results.Results` calls for its figure, notebook view and reports."""

    def figure(self, results: Results) -> Figure:
        from medrobust.reports.plots import curves_figure

        return curves_figure(results.summary, str(results.manifest.get("data", {}).get("units", "")))

    def html_fragment(self, results: Results) -> str:
        from medrobust.reports.html import render_fragment

        return render_fragment(results)

    def write_reports(self, results: Results, folder: Path) -> dict[str, Path]:
        return write_reports(results, folder)


def _register() -> None:
    from medrobust.results.results import Results

    Results.renderer = ReportRenderer()


_register()

__all__ = ["JUNIT", "REPORT", "SUMMARY_CSV", "SUMMARY_MD", "ReportRenderer", "write_reports"]
