"""Reports over a results folder: HTML (plots, gallery), CSV, Markdown and JUnit XML.

:func:`write_reports` is called by :meth:`Results.save` and by ``medrobust report``;
submodules import matplotlib lazily, so importing this package stays cheap.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from medrobust.harness.atomic import write_csv, write_text

if TYPE_CHECKING:
    from medrobust.harness.compare import Comparison
    from medrobust.harness.reports.junit import Thresholds
    from medrobust.harness.results import Results

log = logging.getLogger(__name__)

REPORT = "report.html"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
JUNIT = "junit.xml"


def write_reports(
    results: Results,
    folder: str | Path,
    *,
    thresholds: Thresholds | None = None,
    comparison: Comparison | None = None,
) -> dict[str, Path]:
    """Write ``report.html``, ``summary.csv``, ``summary.md`` and ``junit.xml`` atomically into ``folder``."""
    from medrobust.harness.reports.html import render_report
    from medrobust.harness.reports.junit import render_junit
    from medrobust.harness.reports.markdown import render_markdown

    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in (REPORT, SUMMARY_CSV, SUMMARY_MD, JUNIT)}
    write_csv(paths[SUMMARY_CSV], results.to_dataframe())
    md = render_markdown(results)
    if comparison is not None:
        md += "\n" + comparison.markdown()
    write_text(paths[SUMMARY_MD], md)
    write_text(paths[JUNIT], render_junit(results, thresholds, comparison))
    write_text(paths[REPORT], render_report(results))
    log.info("reports written to %s in %.2f s", folder, time.perf_counter() - t0)
    return paths


__all__ = ["JUNIT", "REPORT", "SUMMARY_CSV", "SUMMARY_MD", "write_reports"]
