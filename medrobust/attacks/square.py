"""Square attack (Andriushchenko et al. 2020): score-based, no gradients, L-inf and L2, 2D and 3D.

Random search over square (cube, in 3D) patches of the perturbation, keeping a change
only when it lowers the head's margin. Because it never uses gradients, it is the
check on gradient masking: if it beats the white-box attacks, their numbers are wrong.
L-inf sets a random square per sample to +-eps; L2 (as in the reference) moves mass
between two windows, shared by the batch, with a pseudo-Gaussian patch, keeping norm eps.
"""

from __future__ import annotations

import math
import random

import torch
from torch import Tensor

from medrobust.attacks.base import Attack, AttackableModel, AttackOutput, make_generator
from medrobust.attacks.norms import check_norm, clip_to_ball, per_sample

# (upper bound of the rescaled iteration, divisor of p_init), from the reference code
_SCHEDULE = (
    (10, 1),
    (50, 2),
    (200, 4),
    (500, 8),
    (1000, 16),
    (2000, 32),
    (4000, 64),
    (6000, 128),
    (8000, 256),
    (10000, 512),
)


def p_schedule(p_init: float, it: int, queries: int) -> float:
    """Fraction of pixels changed at query ``it``: halves along the reference schedule."""
    t = int(it / queries * 10000)
    for upper, div in _SCHEDULE:
        if t <= upper:
            return p_init / div
    return p_init / 512


DEFAULT_QUERIES = 1000
"""Square's default queries per sample: with masked gradients the strong number rests on them."""


class Square(Attack):
    """Square attack within an L-inf or L2 ball, on the head's margin (any head kind, 2D or 3D).

    Args:
        norm: ``"linf"`` or ``"l2"``.
        queries: model queries per sample (AutoAttack uses 5000).
        p_init: initial fraction of pixels in the square.
        early_stop: stop querying a sample once it is adversarial.
        seed: seed for the random search.
        compact_every: queries between dropping finished samples (default 1 on CPU, 10 on GPU).
    """

    name = "square"
    black_box = True

    def __init__(
        self,
        norm: str = "linf",
        queries: int = DEFAULT_QUERIES,
        p_init: float = 0.8,
        early_stop: bool = True,
        seed: int = 0,
        compact_every: int | None = None,
    ) -> None:
        if queries < 1:
            raise ValueError("queries must be >= 1")
        if not 0 < p_init <= 1:
            raise ValueError("p_init must lie in (0, 1]")
        self.norm = check_norm(norm)
        self.queries = queries
        self.p_init = p_init
        self.early_stop = early_stop
        self.seed = seed
        self.compact_every = compact_every

    def run(
        self, model: AttackableModel, x: Tensor, y: Tensor, eps: float | Tensor, *, seed: int | None = None
    ) -> AttackOutput:
        x = x.detach().to(model.device)
        y = y.to(model.device)
        e = per_sample(eps, x)
        s = self.seed if seed is None else seed
        gen = make_generator(x.device, s)
        host = random.Random(s)  # L2 window positions: drawn on the host, no device sync
        head = model.head
        with model.evaluating(freeze=True), torch.no_grad():  # type: ignore[attr-defined]
            if self.norm == "linf":
                best = _linf_init(x, e, gen, model.bounds)
            else:
                best = _l2_init(x, e, gen, host, model.bounds)
            logits = model(best).float()
            margin = head.margin(logits, y)
            out_x, out_logits = best.clone(), logits.clone()
            done = head.is_adversarial(logits, y)
            active = torch.arange(x.shape[0], device=x.device)
            x0, y0, e0 = x, y, e
            every = self.compact_every or (1 if x.device.type == "cpu" else 10)
            for it in range(self.queries):
                if self.norm == "linf":
                    cand = _linf_step(best, x0, e0, self.p_init, it, self.queries, gen, model.bounds)
                else:
                    cand = _l2_step(best, x0, e0, self.p_init, it, self.queries, gen, host, model.bounds)
                c_logits = model(cand).float()
                c_margin = head.margin(c_logits, y0)
                better = c_margin < margin
                best = torch.where(better.reshape((-1,) + (1,) * (x.ndim - 1)), cand, best)
                margin = torch.where(better, c_margin, margin)
                logits = torch.where(better[:, None], c_logits, logits)
                hit = head.is_adversarial(logits, y0)
                pending = ~done[active]
                _write(out_x, active, pending & better, best)
                _write(out_logits, active, pending & better, logits)
                done[active] = done[active] | hit
                if self.early_stop and (it + 1) % every == 0 and it + 1 < self.queries:
                    keep = (~done[active]).nonzero().squeeze(1)
                    if keep.numel() == 0:
                        break
                    if keep.numel() < active.numel():
                        active, best, margin, logits, x0, y0, e0 = (
                            t[keep] for t in (active, best, margin, logits, x0, y0, e0)
                        )
        return AttackOutput(out_x, out_logits, done)


def _linf_init(x: Tensor, e: Tensor, gen: torch.Generator, bounds: tuple[float, float]) -> Tensor:
    """Vertical stripes of +-eps: one sign per channel and position along the last axis."""
    stripes = (x.shape[0], x.shape[1], *([1] * (x.ndim - 3)), x.shape[-1])
    signs = torch.randint(0, 2, stripes, generator=gen, device=x.device).to(x.dtype) * 2 - 1
    return torch.clamp(x + e * signs, *bounds)


def _linf_step(
    best: Tensor,
    x: Tensor,
    e: Tensor,
    p_init: float,
    it: int,
    queries: int,
    gen: torch.Generator,
    bounds: tuple[float, float],
) -> Tensor:
    """Set one random square (cube) per sample to +-eps, one sign per channel."""
    spatial = tuple(x.shape[2:])
    side = _side(p_init, it, queries, math.prod(spatial), spatial)
    window = _window(best.shape, spatial, side, gen, best.device)
    shape = (best.shape[0], best.shape[1], *([1] * len(spatial)))
    vals = (torch.randint(0, 2, shape, generator=gen, device=x.device).to(x.dtype) * 2 - 1) * e
    return clip_to_ball(torch.where(window, x + vals, best), x, e, "linf", bounds)


def _l2_init(x: Tensor, e: Tensor, gen: torch.Generator, host: random.Random, bounds: tuple[float, float]) -> Tensor:
    """A grid of pseudo-Gaussian tiles with random signs, scaled to norm eps."""
    spatial = tuple(x.shape[2:])
    tile = max(min(spatial) // 5, 1)
    pattern = _pseudo_gaussian((tile,) * len(spatial), host, x.device, x.dtype)
    reps = [math.ceil(n / tile) for n in spatial]
    tiled = pattern.repeat(*reps)[tuple(slice(0, n) for n in spatial)]
    signs = torch.randint(0, 2, (x.shape[0], x.shape[1], *reps), generator=gen, device=x.device).to(x.dtype) * 2 - 1
    for d in range(len(spatial)):
        signs = signs.repeat_interleave(tile, dim=2 + d)
    signs = signs[(slice(None), slice(None), *(slice(0, n) for n in spatial))]
    delta = tiled * signs
    return torch.clamp(x + delta / _norm(delta) * e, *bounds)


def _l2_step(
    best: Tensor,
    x: Tensor,
    e: Tensor,
    p_init: float,
    it: int,
    queries: int,
    gen: torch.Generator,
    host: random.Random,
    bounds: tuple[float, float],
) -> Tensor:
    """Move mass from a second window into a first: a new pseudo-Gaussian patch, norm kept at eps."""
    spatial = tuple(x.shape[2:])
    side = max(_side(p_init, it, queries, math.prod(spatial), spatial), min(3, min(spatial)))
    side = min(side + 1 - side % 2, min(spatial))  # odd, as in the reference
    w1 = tuple(slice(a, a + side) for a in (host.randint(0, n - side) for n in spatial))
    w2 = tuple(slice(a, a + side) for a in (host.randint(0, n - side) for n in spatial))
    at1 = (slice(None), slice(None), *w1)
    at2 = (slice(None), slice(None), *w2)
    axes = tuple(range(2, x.ndim))
    delta = best - x
    mask = torch.zeros_like(delta[:1, :1])
    mask[at1] = 1.0
    mask[at2] = 1.0
    norm_window1 = delta[at1].pow(2).sum(axes, keepdim=True).sqrt()
    norm_image = _norm(delta)
    norm_windows = (delta * mask).pow(2).sum(axes, keepdim=True).sqrt()
    pattern = _pseudo_gaussian((side,) * len(spatial), host, x.device, x.dtype)
    signs = torch.randint(0, 2, (x.shape[0], x.shape[1], *([1] * len(spatial))), generator=gen, device=x.device)
    new = pattern * (signs.to(x.dtype) * 2 - 1) + delta[at1] / (1e-10 + norm_window1)
    room = (torch.clamp(e**2 - norm_image**2, min=0) / x.shape[1] + norm_windows**2).sqrt()
    new = new / (new.pow(2).sum(axes, keepdim=True).sqrt() + 1e-12) * room
    delta = delta.clone()
    delta[at2] = 0.0
    delta[at1] = new
    return clip_to_ball(x + delta / _norm(delta) * e, x, e, "l2", bounds)


def _norm(delta: Tensor) -> Tensor:
    """Per-sample L2 norm, shaped (N, 1, ..., 1), never zero."""
    return delta.reshape(delta.shape[0], -1).norm(dim=1).clamp_min(1e-12).reshape((-1,) + (1,) * (delta.ndim - 1))


def _pseudo_gaussian(shape: tuple[int, ...], host: random.Random, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The reference's pseudo-Gaussian patch, in any dimension: two halves of opposite sign,
    each a stack of concentric boxes weighted 1/(k+1)^2, split along a random axis; unit norm.
    """
    axis = host.randrange(len(shape))
    cut = shape[axis] // 2
    halves = []
    for size, sign in ((cut, 1.0), (shape[axis] - cut, -1.0)):
        part = list(shape)
        part[axis] = size
        halves.append(sign * _boxes(tuple(part), device, dtype))
    out = torch.cat(halves, dim=axis)
    return out / out.norm().clamp_min(1e-12)


def _boxes(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """Sum over concentric boxes around the centre of 1/(k+1)^2 (k: the box's half-width)."""
    if 0 in shape:
        return torch.zeros(shape, device=device, dtype=dtype)
    grids = torch.meshgrid(*[torch.arange(n, device=device) for n in shape], indexing="ij")
    dist = torch.stack([(g - (n // 2)).abs() for g, n in zip(grids, shape, strict=True)]).amax(0)
    k = torch.arange(max(n // 2 + 1 for n in shape), device=device)
    weights = (1.0 / (k + 1).to(dtype) ** 2).flip(0).cumsum(0).flip(0)  # sum over boxes k >= dist
    out = weights[dist]
    return out / out.norm().clamp_min(1e-12)


def _side(p_init: float, it: int, queries: int, numel: int, spatial: tuple[int, ...] | torch.Size) -> int:
    """Side of the square (cube) so that it covers about ``p`` of the pixels."""
    p = p_schedule(p_init, it, queries)
    side = round((p * numel) ** (1 / len(spatial)))
    return max(1, min(side, min(spatial)))


def _window(
    shape: torch.Size, spatial: tuple[int, ...] | torch.Size, side: int, gen: torch.Generator, device: torch.device
) -> Tensor:
    """Boolean mask (N, 1, *spatial): one random square (cube) of ``side`` per sample."""
    n = shape[0]
    mask = torch.ones((n, 1, *([1] * len(spatial))), dtype=torch.bool, device=device)
    for d, size in enumerate(spatial):
        start = torch.randint(0, size - side + 1, (n,), generator=gen, device=device)
        pos = torch.arange(size, device=device)
        inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < start[:, None] + side)
        view = [n, 1] + [1] * len(spatial)
        view[2 + d] = size
        mask = mask & inside.reshape(view)
    return mask


def _write(dst: Tensor, rows: Tensor, mask: Tensor, src: Tensor) -> None:
    """``dst[rows[i]] = src[i]`` where ``mask[i]``, without a host synchronisation."""
    shape = (-1,) + (1,) * (src.ndim - 1)
    dst[rows] = torch.where(mask.reshape(shape), src.to(dst.dtype), dst[rows])
