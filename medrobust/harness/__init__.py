"""Deprecated: the pre-0.2 home of the engine, results, reports, gates and front ends.

Every ``medrobust.harness.X`` module is an alias of its new home (see :data:`MOVED`), kept
for one minor version; importing one warns once with the new name. ``from
medrobust.harness import evaluate`` yields the function, as it always should have, whatever was
imported before (so ``import medrobust.harness.evaluate as m`` binds the function too; import
``medrobust.engine.evaluate`` for the module).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED: dict[str, str] = {
    "assertions": "medrobust.gates.assertions",
    "atomic": "medrobust.results.atomic",
    "bench_suite": "medrobust.suites.grid",
    "budgets": "medrobust.attacks.budgets",
    "cli": "medrobust.cli.commands",
    "compare": "medrobust.gates.compare",
    "config": "medrobust.engine.config",
    "demo": "medrobust.engine.demo",
    "evaluate": "medrobust.engine.evaluate",
    "manifest": "medrobust.results.manifest",
    "metrics": "medrobust.results.metrics",
    "pytest_plugin": "medrobust.pytest_plugin",
    "reports": "medrobust.reports",
    "reports.format": "medrobust.reports.format",
    "reports.gallery": "medrobust.reports.gallery",
    "reports.html": "medrobust.reports.html",
    "reports.junit": "medrobust.reports.junit",
    "reports.markdown": "medrobust.reports.markdown",
    "reports.plots": "medrobust.reports.plots",
    "reports.privacy": "medrobust.results.privacy",
    "results": "medrobust.results.results",
    "rows": "medrobust.engine.rows",
    "run": "medrobust.engine.run",
    "state": "medrobust.engine.state",
    "summary": "medrobust.results.summarize",
    "suites": "medrobust.attacks.suite",
    "sweep": "medrobust.engine.sweep",
    "trust": "medrobust.engine.trust",
}

NAMES: dict[str, tuple[str, str]] = {
    "evaluate": ("medrobust.engine.evaluate", "evaluate"),
    "Results": ("medrobust.results.results", "Results"),
    "Budget": ("medrobust.attacks.budgets", "Budget"),
    "parse_budget": ("medrobust.attacks.budgets", "parse_budget"),
    "parse_budgets": ("medrobust.attacks.budgets", "parse_budgets"),
}

__all__ = sorted(NAMES)


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; import {new} instead", DeprecationWarning, stacklevel=3)


class _AliasLoader(importlib.abc.Loader):
    """Loads ``medrobust.harness.X`` as the module that replaced it."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _warn(spec.name, self.target)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names of :data:`MOVED`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        prefix = f"{__name__}."
        if not fullname.startswith(prefix) or fullname[len(prefix) :] not in MOVED:
            return None
        new = MOVED[fullname[len(prefix) :]]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new), is_package=new == "medrobust.reports")


class _HarnessPackage(ModuleType):
    """Keeps the moved public names (``evaluate``) from being shadowed by their old submodules.

    Importing ``medrobust.harness.evaluate`` makes Python bind the submodule on the package;
    this package drops that binding so ``from medrobust.harness import evaluate`` stays the
    function whatever was imported first.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in NAMES and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _HarnessPackage

if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())


def __getattr__(name: str) -> Any:
    """The moved public names (``evaluate`` is the function, not its module)."""
    if name in NAMES:
        module, attr = NAMES[name]
        _warn(f"medrobust.harness.{name}", f"{module}.{attr}")
        return getattr(importlib.import_module(module), attr)
    if name in MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
