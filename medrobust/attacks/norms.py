"""Per-sample norm helpers: budgets as broadcastable tensors, projections, steps."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Norm = Literal["linf", "l2"]
NORMS: tuple[Norm, ...] = ("linf", "l2")
_TINY = 1e-12


def per_sample(eps: float | Tensor, x: Tensor) -> Tensor:
    """Budget(s) as a tensor of shape (N, 1, ..., 1) on ``x``'s device and dtype.

    A budget of ``x``'s own shape is an element-wise L-inf budget (a region mask times eps:
    zero outside the region) and is returned as it is.
    """
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if e.shape == x.shape and x.ndim > 1:
        return e
    if e.ndim == 0:
        e = e.expand(x.shape[0])
    if e.shape != (x.shape[0],):
        raise ValueError(f"eps must be a scalar or have shape ({x.shape[0]},), got {tuple(e.shape)}")
    return e.reshape(-1, *([1] * (x.ndim - 1)))


def flat_norm(v: Tensor, norm: Norm) -> Tensor:
    """Per-sample norm (N,) of ``v`` over all but the first dimension."""
    flat = v.reshape(v.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(p=2, dim=1)


def project(delta: Tensor, eps: Tensor, norm: Norm) -> Tensor:
    """Project ``delta`` onto the ``norm`` ball of per-sample radius ``eps``."""
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps), -eps)
    n = flat_norm(delta, "l2").reshape(eps.shape)
    return delta * torch.clamp(eps / (n + _TINY), max=1.0)


def ascent_direction(grad: Tensor, norm: Norm) -> Tensor:
    """Steepest-ascent direction of unit ``norm`` for gradient ``grad``."""
    if norm == "linf":
        return grad.sign()
    n = flat_norm(grad, "l2").reshape(-1, *([1] * (grad.ndim - 1)))
    return grad / (n + _TINY)


def random_start(x: Tensor, eps: Tensor, norm: Norm, generator: torch.Generator | None) -> Tensor:
    """A random point in the ``norm`` ball around ``x`` (uniform in L-inf; random radius in L2)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (u * 2 - 1) * eps
    d = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    d = d / (flat_norm(d, "l2").reshape(eps.shape) + _TINY)
    r = torch.rand(eps.shape, generator=generator, device=x.device, dtype=x.dtype)
    return d * r * eps


def clip_to_ball(x_adv: Tensor, x: Tensor, eps: Tensor, norm: Norm, bounds: tuple[float, float]) -> Tensor:
    """Project ``x_adv`` onto the budget ball around ``x``, then into ``bounds``.

    Clipping into the box after projecting never increases the perturbation's norm,
    because ``x`` itself lies inside the box.
    """
    return torch.clamp(x + project(x_adv - x, eps, norm), bounds[0], bounds[1])


def check_norm(norm: str) -> Norm:
    """Validate a norm name."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose from {NORMS}")
    return norm
