"""Bias field: a smooth multiplicative field ``exp(sum c_k P_k)``, low-order polynomials of the coordinates.

As in torchio's ``RandomBiasField`` (MRI intensity inhomogeneity), with the coefficients'
magnitude from the severity table and no constant term (no global brightness change).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from medrobust.attacks.shifts.base import Shift

ORDER = 2
"""Highest total degree of the polynomial terms."""


class BiasField(Shift):
    """``lo + (x - lo) x exp(sum_k c_k P_k)``, coordinates in [-1, 1], ``c_k = d_k x level``, ``d_k`` in [-1, 1]."""

    name = "bias_field"
    PARAMETER = "max |coefficient|"
    UNITS = "log-intensity per unit coordinate power"
    TABLE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

    def draw(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Coefficients ``d_k`` uniform in [-1, 1], one per polynomial term."""
        k = len(_exponents(x.ndim - 2))
        return torch.rand((x.shape[0], k), generator=gen, device=x.device, dtype=x.dtype) * 2 - 1

    def apply(self, x: Tensor, params: Tensor, level: Tensor, bounds: tuple[float, float]) -> Tensor:
        """Multiply the intensities above the lower bound by the field."""
        lo, hi = bounds
        terms = _terms(tuple(x.shape[2:]), x.device, x.dtype)  # (K, *spatial)
        log_field = torch.einsum("nk,k...->n...", params * level[:, None], terms)
        return (lo + (x - lo) * torch.exp(log_field)[:, None]).clamp(lo, hi)


def _exponents(dims: int) -> list[tuple[int, ...]]:
    """Exponent tuples of every monomial of total degree 1..ORDER in ``dims`` coordinates."""
    return [e for e in itertools.product(range(ORDER + 1), repeat=dims) if 0 < sum(e) <= ORDER]


def _terms(spatial: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """The monomials on the image grid, coordinates in [-1, 1]: shape (K, *spatial)."""
    axes = [torch.linspace(-1, 1, n, device=device, dtype=dtype) for n in spatial]
    grids = torch.meshgrid(*axes, indexing="ij")
    out = []
    for e in _exponents(len(spatial)):
        term = torch.ones(spatial, device=device, dtype=dtype)
        for g, p in zip(grids, e, strict=True):
            term = term * g**p
        out.append(term)
    return torch.stack(out)
