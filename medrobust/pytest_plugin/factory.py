"""The ``robustness_factory`` fixture's object: one sweep per key per session, gated against a baseline."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medrobust.io import slug
from medrobust.pytest_plugin.session import INDEX, Run, SessionState

if TYPE_CHECKING:
    from medrobust.engine.spec import RunSpec
    from medrobust.results.results import Results

log = logging.getLogger(__name__)


class RobustnessFactory:
    """``factory(model, data, attacks, eps, **options) -> Results``, once per key per session.

    ``model`` is a :class:`ModelAdapter`, an ``nn.Module`` or a builder (a callable returning
    either; called only when the run is not cached). ``data`` is a dataset or a builder.
    ``name`` names the run in reports and baselines (default: model and data names).
    ``options`` are :class:`~medrobust.engine.spec.RunSpec` fields (``n=64``, ``suite="strong"``;
    or a whole ``spec=``) and :func:`~medrobust.engine.evaluate.evaluate` keywords (``verify``).
    """

    def __init__(self, state: SessionState) -> None:
        self.state = state

    def __call__(
        self,
        model: Any,
        data: Any,
        attacks: Sequence[Any] | None = None,
        eps: Sequence[float | str] | None = None,
        *,
        name: str | None = None,
        spec: RunSpec | None = None,
        **kwargs: Any,
    ) -> Results:
        from medrobust.engine.evaluate import evaluate
        from medrobust.engine.spec import RunSpec

        options = {k: kwargs.pop(k) for k in list(kwargs) if k in RunSpec.model_fields}
        run_spec = RunSpec.build(spec, attacks=attacks, eps=eps, **options)  # defaults: the spec's, nowhere else
        kwargs.setdefault("progress", False)
        key = self._key(model, data, run_spec, name, kwargs)
        run = self.state.runs.get(key)
        if run is None:
            net = model() if _is_builder(model) else model
            dataset = data() if _is_builder(data) else data
            run_name = self._name(name, net, dataset, key)
            given = kwargs.pop("out_dir", None)  # an explicit folder wins over --robustness-report
            folder = Path(given) if given is not None else self.state.report / run_name if self.state.report else None
            if given is None:  # the report's own folders: each session's run replaces the last one's
                kwargs.setdefault("overwrite", True)
            results = evaluate(net, dataset, spec=run_spec, out_dir=folder, **kwargs)
            run = Run(run_name, key, results, folder)  # with a folder, evaluate also wrote the HTML report
            self._gate(run)
            self.state.runs[key] = run
        if self.state.current:
            self.state.used.setdefault(self.state.current, []).append(key)
        return run.results

    def _key(self, model: Any, data: Any, spec: RunSpec, name: str | None, kwargs: dict[str, Any]) -> str:
        """Model and data identities, the whole spec (attack objects described) and the other options."""
        parts = [self._identity(model), self._identity(data), spec.model_dump(mode="json"), name, kwargs]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()

    def _identity(self, obj: Any) -> str:
        """A builder by qualified name; a model or dataset by content fingerprint (cached by id)."""
        if _is_builder(obj):
            return f"builder:{_qualname(obj)}"
        hit = self.state.fingerprints.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        fp = _fingerprint(obj)
        self.state.fingerprints[id(obj)] = (obj, fp)
        return fp

    def _name(self, name: str | None, model: Any, data: Any, key: str) -> str:
        model_name = getattr(model, "name", None) or type(model).__name__
        from medrobust.results.privacy import private_name

        base = slug(name or f"{model_name}-{private_name(data.info.name)}")  # folder names stay out of reports
        candidate, i = base, 2
        while self.state.names.get(candidate, key) != key:
            candidate, i = f"{base}-{i}", i + 1
        self.state.names[candidate] = key
        return candidate

    def _gate(self, run: Run) -> None:
        """Compare ``run`` with its baseline when ``--robustness-baseline`` is given."""
        if self.state.baseline is None:
            return
        index = _baseline_index(self.state.baseline) or {}
        folder = index.get(run.name, index.get("*"))
        if folder is None:
            run.baseline = None
            return
        from medrobust.errors import MedrobustError
        from medrobust.gates.assertions import regression_gate

        run.baseline = str(folder)
        try:
            comparison = regression_gate(folder, run.results, tolerance=self.state.tolerance)
        except MedrobustError as exc:
            run.compared = True
            run.regression = f"{run.name}: cannot compare with the baseline {folder}: {exc}"
            return
        run.compared = True
        if not comparison.ok:
            run.regression = (
                f"{run.name} regressed against the baseline {folder} "
                f"(tolerance {self.state.tolerance:g}):\n{comparison.table()}"
            )


def _baseline_index(path: Path) -> dict[str, Path] | None:
    """Run name -> baseline results folder (``*``: one folder for every run); ``None`` if unusable."""
    from medrobust.results.folder import SUMMARY, ResultsFolder

    if path.is_dir() and (path / INDEX).is_file():
        path = path / INDEX
    if path.is_file() and path.name == SUMMARY:
        path = path.parent
    if path.is_dir() and ResultsFolder(path).has_summary():
        return {"*": path}
    if path.is_file():
        try:
            runs = json.loads(path.read_text()).get("runs", {})
        except (json.JSONDecodeError, AttributeError):
            return None
        if not isinstance(runs, dict):
            return None
        return {
            name: path.parent / str(info.get("folder", name)) for name, info in runs.items() if isinstance(info, dict)
        }
    return None


def _is_builder(obj: Any) -> bool:
    """A callable that is not itself a model or a dataset."""
    from torch import nn

    from medrobust.datasets.base import MedicalDataset

    return callable(obj) and not isinstance(obj, nn.Module | MedicalDataset)


def _qualname(fn: Any) -> str:
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None:
        return f"{_qualname(inner)}(*{getattr(fn, 'args', ())!r}, **{getattr(fn, 'keywords', {})!r})"
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _fingerprint(obj: Any) -> str:
    """Weights, structure and code of a model (a wrapper without parameters too); an unreliable one by object."""
    from torch import nn

    from medrobust.models.adapter import ModelAdapter
    from medrobust.models.fingerprint import fingerprint_module

    if isinstance(obj, nn.Module):
        if isinstance(obj, ModelAdapter):
            model = obj.model_fingerprint()
            text = f"model:{model.digest}:{json.dumps(obj.describe(), sort_keys=True, default=str)}"
        else:
            model = fingerprint_module(obj)
            text = f"module:{model.digest}"
        return text if model.reliable else f"{text}:object:{id(obj)}"  # unreliable: never shared with another object
    fp = getattr(obj, "fingerprint", None)
    return f"data:{fp()}" if callable(fp) else f"object:{id(obj)}"
