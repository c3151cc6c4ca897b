"""The HTML report in a real headless browser (Chromium): it renders with no console errors,
loads no external resource, and its plots decode. Skips where no browser is installed,
except under ``CI=true`` (``.ci/run`` installs Chromium)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.reports.html import CSP

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Test-only probe, appended to a copy of the report: counts images that decoded.
PROBE = """<script>window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-decoded', String(ok));
  document.body.setAttribute('data-tables', String(document.querySelectorAll('table').length));
});</script>"""


def browser() -> str:
    """The Chromium executable; skip (or fail under CI=true) when there is none."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = "no headless browser installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def headless(exe: str, page: Path, tmp: Path) -> tuple[str, str]:
    """Load ``page`` in headless Chromium; return the DOM after load and the browser's log."""
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def test_report_renders_in_chromium_without_console_errors(tmp_path: Path) -> None:
    exe = browser()
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2), "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 28, 28), name="browser-check"
    )
    out = tmp_path / "run"
    evaluate(
        model, synthetic(24, seed=4), attacks=["fgsm"], eps=[0, "4/255"], subgroups=["sex"], out_dir=out, bootstrap=0
    )
    report = (out / "report.html").read_text()
    # the probe needs inline script, which the report's policy forbids: allow it in a copy
    policy = html.escape(CSP, quote=True)
    assert policy in report
    probed = report.replace(policy, html.escape(CSP + "; script-src 'unsafe-inline'", quote=True)).replace(
        "</body>", PROBE + "</body>"
    )
    page = tmp_path / "probe.html"
    page.write_text(probed)

    dom, log = headless(exe, page, tmp_path)
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, "console messages:\n" + "\n".join(console)
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    assert attrs.get("images") == "3", attrs  # curves, subgroup split, gallery
    assert attrs.get("decoded") == "3", f"plots that did not decode: {attrs}"
    assert int(attrs.get("tables", "0")) >= 5
    assert "browser-check" in dom and "Run manifest" in dom

    # the unmodified report loads too, with no console messages (no blocked fetches)
    _, log = headless(exe, out / "report.html", tmp_path)
    assert not [line for line in log.splitlines() if ":CONSOLE" in line]
