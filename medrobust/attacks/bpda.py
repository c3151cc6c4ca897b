"""BPDA (Athalye et al. 2018): the real forward pass, a differentiable stand-in on the backward pass.

A stand-in maps a module's input to an approximation of its output. A forward hook
returns ``approx + (real - approx).detach()``: the value is the real module's, the
gradient the stand-in's. ``identity`` is the straight-through estimator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medrobust.errors import ConfigError

log = logging.getLogger(__name__)

StandIn = Callable[[Tensor], Tensor]
"""A differentiable approximation of a module: its input to (roughly) its output."""
BpdaSpec = Union[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]  # noqa: UP007 (read by pydantic at runtime)
"""``"identity"`` (every module flagged ``non_differentiable``), ``{module: name, with: stand-in}``,
``{name: stand-in, ...}``, or a list of the first form."""


def identity(x: Tensor) -> Tensor:
    """The straight-through estimator: the layer's gradient taken as one."""
    return x


def soft_quantise(levels: int, sharpness: float = 10.0) -> StandIn:
    """A smooth staircase onto ``levels`` levels in [0, 1]: rounding with a sigmoid in each step."""
    if levels < 2:
        raise ValueError("levels must be >= 2")
    n = levels - 1

    def f(x: Tensor) -> Tensor:
        s = x * n
        base = torch.floor(s).detach()
        return (base + torch.sigmoid(sharpness * (s - base - 0.5))) / n

    return f


def soft_threshold(threshold: float = 0.5, sharpness: float = 50.0) -> StandIn:
    """A sigmoid in place of ``x > threshold``."""
    return lambda x: torch.sigmoid(sharpness * (x - threshold))


def mean_filter(kernel: int = 3) -> StandIn:
    """A box filter in place of a median filter of the same size (2D, N C H W)."""
    return lambda x: F.avg_pool2d(x, kernel, stride=1, padding=kernel // 2, count_include_pad=False)


STAND_INS: dict[str, StandIn] = {
    "identity": identity,
    "jpeg": identity,
    "quantise": identity,
    "threshold": soft_threshold(),
    "median": mean_filter(),
}
"""Stand-ins by name, for configs and the CLI."""


def stand_in(spec: str | StandIn) -> StandIn:
    """The stand-in called ``spec``, or ``spec`` itself when it is a function."""
    if callable(spec):
        return spec
    fn = STAND_INS.get(str(spec).lower())
    if fn is None:
        raise ConfigError(f"unknown BPDA stand-in {spec!r}; choose from {', '.join(sorted(STAND_INS))}")
    return fn


def resolve(model: object, spec: BpdaSpec) -> list[tuple[str, nn.Module, StandIn]]:
    """The (name, module, stand-in) triples ``spec`` names in ``model`` (an adapter or any module)."""
    if not isinstance(model, nn.Module):
        raise ConfigError("bpda needs a model that is a torch module")
    if isinstance(spec, str) or callable(spec):
        fn = stand_in(spec)
        found = [(n, m, fn) for n, m in model.named_modules() if getattr(m, "non_differentiable", False)]
        if not found:
            log.warning("bpda=%s: no module is flagged non_differentiable; the gradient is unchanged", spec)
        return found
    items = [spec] if isinstance(spec, Mapping) else list(spec)
    out: list[tuple[str, nn.Module, StandIn]] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ConfigError(f"bpda entry {item!r} must be a mapping")
        if "module" in item:
            pairs = [(str(item["module"]), item.get("with", "identity"))]
        else:
            pairs = [(str(k), v) for k, v in item.items()]
        out += [(name, _module(model, name), stand_in(w)) for name, w in pairs]
    return out


def _module(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name`` of the adapter, else of the wrapped network (``model.model``)."""
    for root in (model, getattr(model, "model", None)):
        if isinstance(root, nn.Module):
            try:
                return root.get_submodule(name)
            except AttributeError:
                continue
    names = ", ".join(n for n, _ in model.named_modules() if n) or "none"
    raise ConfigError(f"bpda: the model has no submodule {name!r}; it has {names}")


def _hook(name: str, fn: StandIn) -> Callable[[nn.Module, tuple[Any, ...], Any], Tensor]:
    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Tensor:
        approx = fn(inputs[0])
        if approx.shape != output.shape:
            raise ConfigError(
                f"bpda: the stand-in for {name!r} gives shape {tuple(approx.shape)}, the module {tuple(output.shape)}"
            )
        return approx + (output - approx).detach()

    return hook


@contextmanager
def bpda_hooks(model: object, spec: BpdaSpec | None) -> Iterator[None]:
    """While inside, the modules ``spec`` names pass gradients through their stand-ins."""
    if spec is None:
        yield
        return
    handles = [m.register_forward_hook(_hook(n, fn)) for n, m, fn in resolve(model, spec)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
