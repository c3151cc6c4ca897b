"""``junit.xml``: one test case per attack x budget, for CI systems that read JUnit.

A thresholds file (minimum metric per attack and budget) and/or a :class:`Comparison`
with a baseline decide pass or fail; without either every case passes and carries its
numbers as properties.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from medrobust.gates.thresholds import Thresholds, load_thresholds, missing_attack
from medrobust.text import as_float, is_missing, num

if TYPE_CHECKING:
    from medrobust.gates.compare import Comparison
    from medrobust.results.results import Results

__all__ = ["PROPERTIES", "Thresholds", "load_thresholds", "render_junit"]

PROPERTIES = ("eps", "label_255", "robust_accuracy", "drop", "success_rate", "auroc", "sensitivity", "specificity")


def render_junit(results: Results, thresholds: Thresholds | None = None, comparison: Comparison | None = None) -> str:
    """The JUnit XML document for ``results``."""
    s = results.summary
    model = str(results.manifest.get("model", {}).get("name", "model"))
    limits = thresholds.resolve(list(s.attacks)) if thresholds else {}
    verdicts = {(r["attack"], round(r["eps"], 12)): r for r in comparison.rows} if comparison else {}
    suite = ET.Element("testsuite", name=f"medrobust.{model}")
    failures = 0
    cases = 0
    seen: set[tuple[str, float]] = set()
    for attack, a in s.attacks.items():
        for b in sorted(a.budgets, key=lambda b: b.eps):
            key = (attack, round(float(b.eps), 12))
            seen.add(key)
            case = ET.SubElement(suite, "testcase", classname=f"medrobust.{attack}", name=f"{attack} at {b.label}")
            props = ET.SubElement(case, "properties")
            for name in PROPERTIES:
                value = getattr(b, name)
                ET.SubElement(props, "property", name=name, value="" if is_missing(value) else str(value))
            problems = []
            bound = limits.get(key)
            if bound is not None:
                ET.SubElement(props, "property", name=f"min_{bound.metric}", value=str(bound.limit))
                value = as_float(getattr(b, bound.metric, None))  # a thresholds file may name any metric
                if not bound.holds(value):
                    problems.append(f"{bound.metric} {num(value)} is below the threshold {bound.limit:g}")
            verdict = verdicts.get(key)
            if verdict is not None and comparison is not None:
                ET.SubElement(props, "property", name=f"baseline_{comparison.metric}", value=_str(verdict["baseline"]))
                if verdict["status"] in ("worse", "missing"):
                    problems.append(
                        f"{comparison.metric} {num(verdict['current'])} vs baseline {num(verdict['baseline'])}: "
                        f"{verdict['status']} (tolerance {comparison.tolerance:g})"
                    )
            cases += 1
            failures += _fail(case, problems)
    for (attack, eps), bound in limits.items():
        if (attack, eps) not in seen and thresholds is not None:
            label = thresholds.label(eps)
            problem = (
                f"threshold {bound.limit:g} set but budget {label} was not evaluated"
                if attack in s.attacks
                else missing_attack(attack, list(s.attacks))
            )
            cases += 1
            failures += _fail(_case(suite, attack, label), [problem])
    for key, r in verdicts.items():
        if key not in seen:
            cases += 1
            failures += _fail(
                _case(suite, r["attack"], r["label"]),
                [f"in the baseline ({num(r['baseline'])}) but missing from this run"],
            )
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element("testsuites", tests=str(cases), failures=str(failures), errors="0")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(suite: ET.Element, attack: str, label: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=f"medrobust.{attack}", name=f"{attack} at {label}")


def _fail(case: ET.Element, problems: list[str]) -> int:
    if not problems:
        return 0
    failure = ET.SubElement(case, "failure", message="; ".join(problems), type="robustness")
    failure.text = "\n".join(problems)
    return 1


def _str(v: Any) -> str:
    return "" if is_missing(v) or (isinstance(v, float) and math.isinf(v)) else str(v)
