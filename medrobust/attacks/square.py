"""Square attack (Andriushchenko et al. 2020): score-based, no gradients, 2D and 3D.

Random search over square (cube, in 3D) patches of the perturbation, keeping a change
only when it lowers the head's margin. Because it never uses gradients, it is the
check on gradient masking: if it beats the white-box attacks, their numbers are wrong.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from medrobust.attacks.base import Attack, AttackableModel, AttackOutput, make_generator
from medrobust.attacks.norms import check_norm, clip_to_ball, per_sample

# (upper bound of the rescaled iteration, divisor of p_init), from the reference code
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256), (10000, 512))


def p_schedule(p_init: float, it: int, queries: int) -> float:
    """Fraction of pixels changed at query ``it``: halves along the reference schedule."""
    t = int(it / queries * 10000)
    for upper, div in _SCHEDULE:
        if t <= upper:
            return p_init / div
    return p_init / 512


class Square(Attack):
    """Square attack within an L-inf ball, on the head's margin (any head kind, 2D or 3D).

    Args:
        norm: ``"linf"`` (the L2 variant is not implemented natively; use
            ``art:SquareAttack`` with ``norm=2`` for 2D images).
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
        queries: int = 1000,
        p_init: float = 0.8,
        early_stop: bool = True,
        seed: int = 0,
        compact_every: int | None = None,
    ) -> None:
        if check_norm(norm) != "linf":
            raise ValueError("the native Square attack supports norm=linf only (art:SquareAttack has L2 for 2D)")
        if queries < 1:
            raise ValueError("queries must be >= 1")
        if not 0 < p_init <= 1:
            raise ValueError("p_init must lie in (0, 1]")
        self.norm = "linf"
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
        gen = make_generator(x.device, self.seed if seed is None else seed)
        head = model.head
        lo, hi = model.bounds
        with model.evaluating(freeze=True), torch.no_grad():  # type: ignore[attr-defined]
            # start: vertical stripes of +-eps (one sign per channel and last-axis position)
            stripes = (x.shape[0], x.shape[1], *([1] * (x.ndim - 3)), x.shape[-1])
            signs = torch.randint(0, 2, stripes, generator=gen, device=x.device).to(x.dtype) * 2 - 1
            best = torch.clamp(x + e * signs, lo, hi)
            logits = model(best).float()
            margin = head.margin(logits, y)
            out_x, out_logits = best.clone(), logits.clone()
            done = head.is_adversarial(logits, y)
            active = torch.arange(x.shape[0], device=x.device)
            x0, y0, e0 = x, y, e
            spatial = x.shape[2:]
            numel = math.prod(spatial)
            every = self.compact_every or (1 if x.device.type == "cpu" else 10)
            for it in range(self.queries):
                side = _side(self.p_init, it, self.queries, numel, spatial)
                window = _window(best.shape, spatial, side, gen, best.device)
                shape = (best.shape[0], best.shape[1], *([1] * len(spatial)))
                vals = (torch.randint(0, 2, shape, generator=gen, device=x.device).to(x.dtype) * 2 - 1) * e0
                cand = torch.where(window, x0 + vals, best)
                cand = clip_to_ball(cand, x0, e0, "linf", model.bounds)
                c_logits = model(cand).float()
                c_margin = head.margin(c_logits, y0)
                better = c_margin < margin
                best = torch.where(better.reshape(shape), cand, best)
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
