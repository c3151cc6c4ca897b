"""Any ART evasion attack, by class name and parameters, as a medrobust :class:`Attack`.

``art("SquareAttack", max_iter=500)`` (``art:SquareAttack`` in configs and the CLI) runs
ART's attack on the adapter handed to ART by :func:`medrobust.models.art_estimator.to_art`,
with the sweep's budget as ART's ``eps``. ART works on host numpy arrays, so this path
leaves the device; the native attacks are the fast path. The result is projected onto the
budget ball and bounds, so the attack's guarantees hold whatever ART returns.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medrobust.attacks.base import Attack, AttackableModel, AttackOutput
from medrobust.attacks.norms import Norm, clip_to_ball, per_sample
from medrobust.errors import ConfigError

# ART attacks that only accept 2D images (N, C, H, W); 3D volumes get a clear error.
IMAGE_ONLY = frozenset(
    {
        "SquareAttack",
        "SpatialTransformation",
        "ShadowAttack",
        "PixelAttack",
        "ThresholdAttack",
        "GeoDA",
        "SimBA",
        "AdversarialPatch",
        "AdversarialPatchPyTorch",
        "AdversarialPatchNumpy",
        "LaserAttack",
        "GRAPHITEBlackbox",
        "GRAPHITEWhiteboxPyTorch",
        "FeatureAdversariesPyTorch",
    }
)
_GRADIENT_MIXINS = ("LossGradientsMixin", "ClassGradientsMixin")


def art_class(name: str) -> type:
    """The ART evasion attack class called ``name``; :class:`ConfigError` if there is none."""
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    cls = getattr(evasion, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, EvasionAttack)):
        known = sorted(n for n, c in vars(evasion).items() if inspect.isclass(c) and issubclass(c, EvasionAttack))
        raise ConfigError(f"art:{name} is not an ART evasion attack; choose from {', '.join(known)}")
    return cls


def _norm_of(value: Any) -> Norm:
    """ART's ``norm`` parameter (``np.inf``, ``"inf"``, 2, ...) as a medrobust norm name."""
    if value is None or value in (np.inf, "inf", "linf", float("inf")):
        return "linf"
    if value in (2, "2", "l2"):
        return "l2"
    raise ConfigError(f"ART norm {value!r} is not supported by the harness (use inf or 2)")


class ArtAttack(Attack):
    """An ART evasion attack inside the sweep.

    Args:
        attack: ART class name, e.g. ``"ProjectedGradientDescent"`` or ``"SquareAttack"``.
        eps_step_rel: for attacks with ``eps_step``: the step as a fraction of the budget
            (default ``2.5 / max_iter``, as native PGD); an explicit ``eps_step`` wins.
        seed: seeds numpy's global generator (which ART uses) for each call, then restores it.
        target: in a sweep, the class every sample is pushed towards (implies targeted).
        **params: passed to the ART class (``max_iter``, ``norm``, ``num_random_init``, ...);
            ``eps`` is set per call from the sweep's budget.
    """

    name = "art"

    def __init__(
        self,
        attack: str,
        *,
        eps_step_rel: float | None = None,
        seed: int = 0,
        target: int | None = None,
        **params: Any,
    ) -> None:
        cls = art_class(attack)
        if "eps" in params:
            raise ConfigError(f"art:{attack}: eps comes from the sweep's budgets; do not pass it")
        accepted = set(getattr(cls, "attack_params", ()))
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ConfigError(f"art:{attack}: unknown parameter(s) {unknown}; ART accepts {sorted(accepted)}")
        self.attack = attack
        self.params = dict(params)
        self.eps_step_rel = eps_step_rel
        self.seed = seed
        self.target = target
        self.targeted = bool(params.get("targeted", False)) or target is not None
        if self.targeted and "targeted" not in accepted:
            raise ConfigError(f"art:{attack} has no targeted mode")
        self.norm = _norm_of(params.get("norm", _default(cls, "norm")))
        reqs = {c.__name__ for c in getattr(cls, "_estimator_requirements", ())}
        self.black_box = not any(m in reqs for m in _GRADIENT_MIXINS)
        self._accepted = accepted
        self._cache: tuple[Any, Any, Any] | None = None  # (model, estimator, ART attack)

    @property
    def label(self) -> str:
        """E.g. ``art:SquareAttack-linf``."""
        return f"art:{self.attack}-{self.norm}"

    def describe(self) -> dict[str, object]:
        """Parameters for the run manifest."""
        return {
            "attack": self.attack,
            "params": dict(self.params),
            "eps_step_rel": self.eps_step_rel,
            "seed": self.seed,
            "target": self.target,
            "black_box": self.black_box,
        }

    def check(self, model: AttackableModel, x: Tensor) -> None:
        """Clear errors, before ART runs, where ART cannot serve this model or input."""
        from medrobust.models.art_estimator import art_classes

        art_classes(model.head)
        if x.ndim != 4 and self.attack in IMAGE_ONLY:
            raise ConfigError(
                f"art:{self.attack} attacks 2D images (N, C, H, W) only, but the input has shape "
                f"{tuple(x.shape)}; use the native attacks (apgd, square) for 3D volumes"
            )

    def run(
        self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor, *, seed: int | None = None
    ) -> AttackOutput:
        self.check(model, x)
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x)
        _, art_attack = self._build(model)
        x_np = x.cpu().numpy().astype(np.float32)
        labels = _one_hot(model, y).cpu().numpy()
        out = np.empty_like(x_np)
        state = np.random.get_state()
        try:
            np.random.seed((self.seed if seed is None else seed) % (2**32))
            with model.evaluating(freeze=True):  # type: ignore[attr-defined]
                flat = e.reshape(-1)
                for value in torch.unique(flat).tolist():  # one ART call per distinct budget
                    rows = (flat == value).nonzero().reshape(-1).cpu().numpy()
                    art_attack.set_params(**self._budget_params(float(value), len(rows)))
                    out[rows] = self._generate(art_attack, x_np[rows], labels[rows])
        finally:
            np.random.set_state(state)
        x_adv = torch.as_tensor(out, device=x.device, dtype=x.dtype)
        x_adv = clip_to_ball(x_adv, x, e, self.norm, model.bounds)
        with model.evaluating(freeze=True), torch.no_grad():  # type: ignore[attr-defined]
            logits = model(x_adv).float()
        success = model.head.is_adversarial(logits, y, self.targeted)
        return AttackOutput(x_adv, logits, success)

    def _budget_params(self, eps: float, n: int) -> dict[str, Any]:
        """``eps`` (and ``eps_step``, ``batch_size`` unless given) for one ART call."""
        params: dict[str, Any] = {}
        if "eps" in self._accepted:
            params["eps"] = eps
        if "batch_size" in self._accepted and "batch_size" not in self.params:
            params["batch_size"] = max(1, n)
        if "eps_step" in self._accepted and "eps_step" not in self.params:
            steps = int(self.params.get("max_iter", _default(art_class(self.attack), "max_iter") or 10))
            rel = self.eps_step_rel if self.eps_step_rel is not None else 2.5 / max(steps, 1)
            params["eps_step"] = max(eps * rel, 1e-12)
        return params

    def _generate(self, art_attack: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(art_attack.generate(x=x, y=y), dtype=np.float32)
        except ModuleNotFoundError as exc:  # ART imports some attacks' dependencies only when they run
            raise ConfigError(
                f"art:{self.attack} needs the package {exc.name!r}, which is not installed: pip install {exc.name}"
            ) from None
        except (ValueError, TypeError, IndexError, NotImplementedError) as exc:  # e.g. a 3-class attack on 2
            raise ConfigError(f"art:{self.attack} failed on input of shape {x.shape}: {exc}") from exc

    def _build(self, model: AttackableModel) -> tuple[Any, Any]:
        """ART estimator and attack for ``model`` (built once per model)."""
        if self._cache is not None and self._cache[0] is model:
            return self._cache[1], self._cache[2]
        from medrobust.models.adapter import ModelAdapter
        from medrobust.models.art_estimator import to_art

        if not isinstance(model, ModelAdapter):
            raise ConfigError(f"art:{self.attack} needs a ModelAdapter, got {type(model).__name__}")
        estimator = to_art(model)
        cls = art_class(self.attack)
        params = dict(self.params)
        if self.targeted and "targeted" in self._accepted:
            params["targeted"] = True
        if "verbose" in self._accepted:
            params.setdefault("verbose", False)
        arg = "estimator" if "estimator" in inspect.signature(cls).parameters else "classifier"
        try:
            art_attack = cls(**{arg: estimator}, **params)
        except Exception as exc:  # ART validates the estimator and parameters here
            raise ConfigError(f"art:{self.attack} cannot attack this model: {exc}") from exc
        self._cache = (model, estimator, art_attack)
        return estimator, art_attack


def _one_hot(model: AttackableModel, y: Tensor) -> Tensor:
    """Labels (or targets) as ART's one-hot matrix over the classes ART sees."""
    from medrobust.models.art_estimator import art_classes

    k = art_classes(model.head)
    return torch.nn.functional.one_hot(y.long().reshape(-1), k).float()


def _default(cls: type, param: str) -> Any:
    """The default of ``param`` in ``cls.__init__`` (``None`` when it has none)."""
    p = inspect.signature(cls).parameters.get(param)
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def art(attack: str, **params: Any) -> ArtAttack:
    """``art("SquareAttack", max_iter=500)``: ART's attack by name, ready for the sweep."""
    return ArtAttack(attack, **params)
