"""One threshold concept and one text formatter for every report and gate (issue 10)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from medrobust.gates.assertions import Check
from medrobust.gates.thresholds import Threshold, Thresholds
from medrobust.text import PLAIN_MISSING, markdown_table, num

ROOT = Path(__file__).resolve().parents[1]


def test_a_file_threshold_and_a_keyword_threshold_are_the_same_thing() -> None:
    from_file = Thresholds.from_mapping({"pgd": {"2/255": 0.7}}).resolve(["pgd-linf"])
    bound = from_file[("pgd-linf", round(2 / 255, 12))]
    keyword = Check("m on d", "pgd-linf", "2/255", 2 / 255, "min_accuracy", 0.7, 0.65)
    assert bound == keyword.bound == Threshold.minimum("robust_accuracy", 0.7)
    assert bound.describe(0.65) == keyword.describe() == "robust accuracy 0.650 < 0.700 (min_accuracy)"
    assert not bound.holds(math.nan) and Threshold("max_drop", 0.1).holds(0.1)
    assert Threshold.minimum("sensitivity", 0.9).describe(0.95) == "sensitivity 0.950 >= 0.900 (min_sensitivity)"


def test_numbers_and_tables_are_formatted_once() -> None:
    assert (num(0.5), num(None), num(math.nan, width=4, missing=PLAIN_MISSING), num(0.25, signed=True)) == (
        "0.500",
        "–",
        "   -",
        "+0.250",
    )
    assert markdown_table(["a|b"], [["x|y<z>"]]) == ["| a\\|b |", "|---|", "| x\\|y&lt;z&gt; |"]


def test_only_the_text_module_writes_a_markdown_table() -> None:
    rule = re.compile(r"""["']\|---|join\(["']---""")
    writers = [str(p.relative_to(ROOT)) for p in (ROOT / "medrobust").rglob("*.py") if rule.search(p.read_text())]
    assert writers == ["medrobust/text.py"]
