"""The reports a run writes: HTML (self-contained, escaped), summary.csv/.md, junit.xml, the
summary schema, the gallery, notebook display, and ``medrobust report``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.base import ArrayDataset, DataInfo
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError
from medrobust.heads import HeadKind
from medrobust.models.adapter import ModelAdapter
from medrobust.reports import write_reports
from medrobust.reports.gallery import gallery_figure
from medrobust.reports.html import render_report
from medrobust.reports.junit import Thresholds, load_thresholds, render_junit
from medrobust.reports.plots import png_base64
from medrobust.results.gallery import (
    GALLERY,
    GALLERY_SIZE,
    Gallery,
    middle_slice,
)
from medrobust.results.results import Results

EVIL = "<script>alert(1)</script>"
EPS = (0, "2/255", "8/255")


@pytest.fixture(scope="module")
def run(binary_model: ModelAdapter, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """A small sweep on data whose name and class names carry HTML, with subgroups."""
    base = synthetic(48, task="binary", seed=5)
    info = DataInfo(name=f"syn{EVIL}", task=HeadKind.BINARY, label_names=("normal", "lesion <&>"))
    data = ArrayDataset(base.images, base.label_array, info, meta=base.meta, ids=[f"s{i}" for i in range(48)])
    out = tmp_path_factory.mktemp("report") / "run"
    return evaluate(
        binary_model,
        data,
        attacks=["fgsm", {"name": "pgd", "steps": 3}],
        eps=EPS,
        subgroups=["sex", "site"],
        out_dir=out,
        bootstrap=30,
        batch_size=32,
    )


def test_a_run_writes_every_report(run: Results) -> None:
    folder = run.path
    assert folder is not None
    for name in ("report.html", "summary.csv", "summary.md", "junit.xml", GALLERY, "summary.json", "manifest.json"):
        assert (folder / name).is_file(), name
    csv = pd.read_csv(folder / "summary.csv", dtype={"label": str})
    assert len(csv) == 2 * len(EPS)
    assert {
        "attack",
        "eps",
        "label",
        "robust_accuracy",
        "robust_accuracy_ci_low",
        "robust_accuracy_ci_high",
        "auroc_ci_low",
    } <= set(csv.columns)
    pgd8 = csv[(csv["attack"] == "pgd-linf") & (csv["label"] == "8/255")].iloc[0]
    assert pgd8["robust_accuracy"] == pytest.approx(run.metric("pgd", 8 / 255))
    assert pgd8["robust_accuracy_ci_low"] <= pgd8["robust_accuracy"] <= pgd8["robust_accuracy_ci_high"]
    md = (folder / "summary.md").read_text()
    assert "| attack | budget |" in md and "| pgd-linf | 8/255 |" in md and "&lt;script&gt;" in md and EVIL not in md


def test_summary_json_follows_its_schema(run: Results) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).resolve().parents[1] / "medrobust" / "results" / "summary.schema.json"
    schema = json.loads(schema_path.read_text())
    assert run.path is not None
    summary = json.loads((run.path / "summary.json").read_text())
    jsonschema.validate(summary, schema, cls=jsonschema.Draft202012Validator)
    broken = {**summary, "attacks": {"pgd-linf": {"budgets": [{"eps": "2/255"}]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_html_is_self_contained_escaped_and_complete(run: Results) -> None:
    assert run.path is not None
    page = (run.path / "report.html").read_text()
    assert "<script" not in page.lower(), "values must be escaped and the report carries no script"
    assert "syn&lt;script&gt;alert(1)&lt;/script&gt;" in page and "lesion &lt;&amp;&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page), "no external resources"
    assert "Content-Security-Policy" in page
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # curves, two subgroup splits, gallery
    for section in (
        "Robustness curves",
        "Per class",
        "by sex",
        "by site",
        "Gallery",
        "Run manifest",
        "Library versions",
    ):
        assert section in page, section
    assert run.manifest["model"]["fingerprint"] in page and run.manifest["data"]["fingerprint"] in page
    for b in run.curve("pgd"):
        assert f"{b['robust_accuracy']:.3f}" in page


def test_warnings_appear_in_every_report(run: Results, tmp_path: Path) -> None:
    summary = run.summary.to_dict()
    summary["warnings"] = [{"code": "iterative-weaker-than-fgsm", "message": "pgd-linf leaves <more> than FGSM"}]
    edited = Results(summary, run.manifest, run.clean, run.rows, gallery=run.gallery)
    paths = write_reports(edited, tmp_path)
    page = paths["report.html"].read_text()
    assert "Trust warnings" in page and "iterative-weaker-than-fgsm" in page and "leaves &lt;more&gt;" in page
    assert "iterative-weaker-than-fgsm" in paths["summary.md"].read_text()


def test_junit_without_thresholds_passes_and_carries_the_numbers(run: Results) -> None:
    assert run.path is not None
    root = ET.parse(run.path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 2 * len(EPS) and root.get("failures") == "0"
    case = next(c for c in cases if c.get("name") == "pgd-linf at 8/255")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert float(props["robust_accuracy"]) == pytest.approx(run.metric("pgd", 8 / 255))
    assert props["label_255"] == "8/255" and case.find("failure") is None


def test_junit_thresholds_decide_pass_and_fail(run: Results, tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text('thresholds:\n  pgd: {"0": 0.0, "8/255": 1.01}\n  fgsm-linf: {"16/255": 0.1}\n')
    limits = load_thresholds(path)
    root = ET.fromstring(render_junit(run, limits).split("\n", 1)[1])
    failed = {
        c.get("name"): c.find("failure").get("message") for c in root.iter("testcase") if c.find("failure") is not None
    }
    assert set(failed) == {"pgd-linf at 8/255", "fgsm-linf at 16/255"}
    assert (
        "below the threshold 1.01" in failed["pgd-linf at 8/255"] and "not evaluated" in failed["fgsm-linf at 16/255"]
    )
    assert root.get("tests") == str(2 * len(EPS) + 1) and root.get("failures") == "2"
    with pytest.raises(ConfigError, match="not a number"):
        Thresholds.from_mapping({"pgd": {"2/255": "high"}})


def test_gallery_keeps_pixels_of_the_first_samples_at_the_largest_budget(run: Results) -> None:
    assert run.path is not None
    with np.load(run.path / GALLERY, allow_pickle=False) as z:
        assert set(z.files) == {"sample", "clean", "attacks", "adversarial"}
        assert z["clean"].shape == (GALLERY_SIZE, 1, 28, 28)
    g = Results.load(run.path).gallery
    assert g is not None and run.gallery is not None
    assert list(g.sample) == list(range(GALLERY_SIZE)) and set(g.adversarial) == {"fgsm-linf", "pgd-linf"}
    np.testing.assert_array_equal(g.clean, run.gallery.clean)
    for adv in g.adversarial.values():
        assert np.abs(adv - g.clean).max() <= 8 / 255 + 1e-6 and adv.min() >= 0.0 and adv.max() <= 1.0
    broken = run.rows[
        (run.rows["attack"] == "pgd-linf")
        & (run.rows["eps"] == run.rows["eps"].max())
        & (run.rows["sample"] < GALLERY_SIZE)
    ]
    changed = np.abs(g.adversarial["pgd-linf"] - g.clean).reshape(GALLERY_SIZE, -1).max(axis=1) > 0
    clean_ok = run.clean.set_index("sample").loc[list(range(GALLERY_SIZE)), "correct"].to_numpy(dtype=bool)
    assert not changed[~clean_ok].any(), "samples wrong when clean are never attacked"
    assert len(broken) == GALLERY_SIZE


def test_gallery_of_3d_and_rgb_images() -> None:
    vol = torch.rand(3, 1, 5, 6, 7)
    g = Gallery.from_examples([10, 11, 12], {"fgsm-linf": (vol, (vol + 0.01).clamp(0, 1))})
    assert g.clean.shape == (3, 1, 6, 7)
    np.testing.assert_array_equal(g.clean, vol[:, :, 2].numpy())
    assert middle_slice(np.zeros((2, 3, 4, 5))).shape == (2, 3, 4, 5)
    rgb = Gallery(
        np.array([0, 1]),
        np.random.rand(2, 3, 8, 8).astype(np.float32),
        {"pgd-linf": np.random.rand(2, 3, 8, 8).astype(np.float32)},
    )
    clean = pd.DataFrame(
        {"sample": [0, 1], "y_0": [1, 0], "y_1": [0, 0], "pred_0": [1, 1], "pred_1": [0, 1], "correct": [True, False]}
    )
    rows = clean.assign(attack="pgd-linf", eps=0.1)
    fig = gallery_figure(rgb, "pgd-linf", clean, rows, ["effusion", "mass"])
    assert fig.axes[0].get_title().startswith("#0 true: effusion")
    assert "not attacked" in fig.axes[1 * 2 + 1].get_title()  # second sample, adversarial row
    assert len(png_base64(fig)) > 1000


def test_notebook_display_and_plot(run: Results) -> None:
    fragment = run._repr_html_()
    assert "<table" in fragment and "data:image/png;base64," in fragment and "<html" not in fragment
    fig = run.plot()
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "robust accuracy"
    assert len(fig.axes[0].collections) >= 2  # one confidence band per attack


def test_multilabel_reports_render(multilabel_model: ModelAdapter, tmp_path: Path) -> None:
    data = synthetic(24, task="multilabel", seed=8)
    results = evaluate(multilabel_model, data, attacks=["fgsm"], eps=[0, "4/255"], out_dir=tmp_path, bootstrap=0)
    page = (tmp_path / "report.html").read_text()
    assert "calcification" in page and page.count("data:image/png;base64,") == 2
    assert results.gallery is not None and ET.parse(tmp_path / "junit.xml").getroot().get("tests") == "2"


def test_report_command_rewrites_the_reports(run: Results, tmp_path: Path) -> None:
    assert run.path is not None
    folder = tmp_path / "copy"
    run.save(folder, reports=False)
    assert not (folder / "report.html").exists()
    limits = tmp_path / "t.json"
    limits.write_text(json.dumps({"pgd-linf": {"8/255": 1.01}}))
    result = CliRunner().invoke(main, ["report", str(folder), "--thresholds", str(limits)])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").is_file() and "wrote" in result.output
    assert ET.parse(folder / "junit.xml").getroot().get("failures") == "1"
    assert render_report(Results.load(folder)).count("data:image/png;base64,") == 4
    bad = CliRunner().invoke(main, ["report", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "not a complete results folder" in bad.output
