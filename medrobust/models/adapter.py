"""The common adapter: one class that wraps any classifier for the harness.

It maps image space to the model's input (preprocessing, device, dtype), returns logits
of shape (N, K), declares bounds, head kind and dimensionality, and can prove with
:meth:`ModelAdapter.verify` that wrapping did not change the clean predictions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from medrobust.datasets.file_space import Stage, Window
from medrobust.datasets.transforms import linear_window, resize
from medrobust.errors import ModelError
from medrobust.heads import Head, HeadKind, make_head
from medrobust.models.fingerprint import ModelFingerprint, fingerprint_module
from medrobust.models.preprocessing import Preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`ModelAdapter.verify` checked."""

    samples: int
    agree: int
    max_abs_logit_diff: float
    deterministic: bool


class ModelAdapter(nn.Module):
    """Wrap a classifier so attacks work on image intensities within ``bounds``.

    Args:
        model: the native classifier (already built, weights loaded).
        head: ``"multiclass"``, ``"binary"``, ``"multilabel"`` or a :class:`Head`.
        num_outputs: logits the model returns; probed from ``input_shape`` when omitted.
        bounds: (low, high) of image intensities the attacks must respect.
        mean, std: normalisation applied inside the adapter (per channel).
        channels: channels the model expects; a grey image is repeated to this many.
        input_shape: one sample's shape in image space, e.g. (1, 28, 28) or (1, 64, 64, 64);
            when given, the model is probed once and a wrong output shape fails here.
        threshold: operating threshold for sigmoid heads.
        device: where the model runs (defaults to the model's parameters' device).
        name: a short name for reports.
        stages: preprocessing before the channel repeat and normalisation; file-space data
            declare theirs (``stages=data.info.stages``: the window and resize).
    """

    def __init__(
        self,
        model: nn.Module,
        head: Head | HeadKind | str = "multiclass",
        *,
        num_outputs: int | None = None,
        bounds: tuple[float, float] = (0.0, 1.0),
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        channels: int | None = None,
        input_shape: Sequence[int] | None = None,
        threshold: float = 0.5,
        device: torch.device | str | None = None,
        name: str | None = None,
        stages: Sequence[Stage] = (),
    ) -> None:
        super().__init__()
        if not bounds[0] < bounds[1]:
            raise ModelError(f"bounds must satisfy low < high, got {bounds}")
        self.model = model
        self.random_init = False
        """True when medrobust built the network with seeded random weights (a smoke test, not a real model)."""
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape else None
        self.name = name or type(model).__name__
        takes = channels if channels is not None else self.input_shape[0] if self.input_shape else None
        _check_lengths(self.name, mean, std, takes)
        _check_values(self.name, mean, std)
        self.preprocess = Preprocess(channels, mean, std, stages)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        if device is None:
            p = next(iter(model.parameters()), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.to(self.device)
        if isinstance(head, Head):
            self.head = head
        else:
            if num_outputs is None:
                if self.input_shape is None:
                    raise ModelError("give num_outputs or input_shape so the head can be sized")
                num_outputs = self._probe_outputs()
            try:
                self.head = make_head(head, num_outputs, threshold)
            except ValueError as exc:
                raise ModelError(f"model {self.name}: {exc}") from None
        if self.input_shape is not None:
            self.check_output_shape()

    @property
    def spatial_dims(self) -> int | None:
        """2 for images, 3 for volumes, ``None`` when no input shape was declared."""
        return None if self.input_shape is None else len(self.input_shape) - 1

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K) for image-space input ``x``."""
        out = self.model(self.preprocess(x.to(self.device)))
        if isinstance(out, tuple | list):
            out = out[0]
        if out.ndim == 1:
            out = out[:, None]
        return out

    def logits(self, x: Tensor) -> Tensor:
        """Clean logits in eval mode without autograd; the model's mode is restored."""
        with self.evaluating(), torch.inference_mode():
            out = self(x).float()
        return out.clone()  # a normal tensor, so callers may update it in place

    @contextmanager
    def evaluating(self, freeze: bool = False) -> Iterator[None]:
        """Put the model in eval mode (and freeze parameters); restore both afterwards."""
        was_training = self.model.training
        flags = [(p, p.requires_grad) for p in self.model.parameters()] if freeze else []
        self.model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            self.model.train(was_training)

    def check_output_shape(self, x: Tensor | None = None) -> None:
        """Fail with a clear message when the model's output does not fit the head."""
        if x is None:
            if self.input_shape is None:
                raise ModelError("no input_shape declared and no sample given")
            x = torch.full((2, *self.input_shape), self.bounds[0], device=self.device)
        try:
            out = self.logits(x)
        except Exception as exc:  # the native model rejected the input
            raise ModelError(f"model {self.name} failed on an input of shape {tuple(x.shape)}: {exc}") from exc
        expected = (x.shape[0], self.head.num_logits)
        if tuple(out.shape) != expected:
            raise ModelError(
                f"model {self.name} returned logits of shape {tuple(out.shape)}, but a "
                f"{self.head.kind.value} head with {self.head.num_logits} output(s) expects {expected}"
            )

    def verify(
        self,
        x: Tensor,
        reference: Tensor | Callable[[Tensor], Tensor] | None = None,
        atol: float = 1e-4,
        require_deterministic: bool = True,
    ) -> VerifyReport:
        """Check that the adapter's clean predictions equal the native model's.

        ``reference`` is what the user's own pipeline gives for ``x``: native logits, or a
        callable mapping image-space ``x`` to native logits. Without it, the native model is
        called on an independent re-implementation of the preprocessing. Raises
        :class:`ModelError` on any disagreement or (unless ``require_deterministic`` is
        False, as in the sweep, which reports randomness as a trust warning) on
        non-deterministic outputs.
        """
        ours = self.logits(x)
        again = self.logits(x)
        deterministic = bool(torch.equal(ours, again))
        if reference is None:
            reference = self._native_reference
        with self.evaluating(), torch.inference_mode():
            ref = reference(x) if callable(reference) else reference
            ref = torch.as_tensor(ref).to(ours.device).float().reshape(ours.shape)
        agree_mask = self.head.predict(ours) == self.head.predict(ref)
        if agree_mask.ndim > 1:
            agree_mask = agree_mask.all(dim=1)
        agree = int(agree_mask.sum())
        diff = float((ours - ref).abs().max()) if ours.numel() else 0.0
        report = VerifyReport(int(x.shape[0]), agree, diff, deterministic)
        if not deterministic and require_deterministic:
            raise ModelError(
                f"model {self.name} gives different logits for the same input in eval mode "
                "(randomness in the forward pass): robustness numbers would not be reproducible"
            )
        if agree != x.shape[0] or diff > atol * max(1.0, float(ref.abs().max())):
            first = int((~agree_mask).nonzero()[0]) if agree != x.shape[0] else -1
            raise ModelError(
                f"model {self.name}: wrapped predictions differ from the native model's on "
                f"{x.shape[0] - agree} of {x.shape[0]} samples (first at index {first}; "
                f"max logit difference {diff:.3g}). Check mean/std, channels and bounds."
            )
        log.info("verified %s on %d samples (max logit diff %.2e)", self.name, agree, diff)
        return report

    def check_finite(self, logits: Tensor, ids: Sequence[str]) -> None:
        """Refuse NaN or infinite logits (they would count as class 0), naming the first bad sample."""
        bad = ~torch.isfinite(logits.reshape(logits.shape[0], -1)).all(dim=1)
        if bool(bad.any()):  # one host sync per clean batch, outside the attack loops
            first = int(bad.nonzero()[0])
            raise ModelError(
                f"model {self.name} returned NaN or infinite logits for {int(bad.sum())} of {logits.shape[0]} "
                f"samples (first: sample {ids[first]}); check the weights and the preprocessing"
            )

    def _native_reference(self, x: Tensor) -> Tensor:
        """The native model on an independently preprocessed copy of ``x``."""
        z = x.to(self.device, dtype=torch.float32, copy=True)  # never normalise the caller's tensor in place
        z = loader_stages(z, self.preprocess.stages)
        desc = self.preprocess.describe()
        channels = desc["channels"]
        if isinstance(channels, int) and z.shape[1] == 1 and channels > 1:
            z = torch.cat([z] * channels, dim=1)
        for c in range(z.shape[1]):
            mean = desc["mean"]
            std = desc["std"]
            if isinstance(mean, list):
                z[:, c] -= mean[c % len(mean)]
            if isinstance(std, list):
                z[:, c] /= std[c % len(std)]
        out = self.model(z)
        if isinstance(out, tuple | list):
            out = out[0]
        return out.reshape(z.shape[0], -1)

    def model_fingerprint(self) -> ModelFingerprint:
        """The model's weights, structure and code with this adapter's preprocessing, head and bounds.

        ``reliable`` is False (with the reasons) when part of the model cannot be read, e.g. a
        class without source: such a model's finished runs are reused only on explicit resume.
        """
        head = {"kind": self.head.kind.value, "num_logits": self.head.num_logits, "threshold": self.head.threshold}
        extra = {"preprocessing": self.preprocess.describe(), "head": head, "bounds": list(self.bounds)}
        return fingerprint_module(self.model, extra)

    def fingerprint(self) -> str:
        """SHA-256 digest of :meth:`model_fingerprint` (run key, manifest, comparisons)."""
        return self.model_fingerprint().digest

    def describe(self) -> dict[str, object]:
        """Plain description for the run manifest."""
        return {
            "name": self.name,
            "head": self.head.kind.value,
            "num_logits": self.head.num_logits,
            "threshold": self.head.threshold,
            "bounds": list(self.bounds),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "preprocessing": self.preprocess.describe(),
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "random_init": self.random_init,
        }

    def _probe_outputs(self) -> int:
        assert self.input_shape is not None
        x = torch.full((2, *self.input_shape), self.bounds[0], device=self.device)
        try:
            out = self.logits(x)
        except Exception as exc:
            raise ModelError(f"model {self.name} failed on an input of shape {tuple(x.shape)}: {exc}") from exc
        if out.ndim != 2 or out.shape[0] != 2:
            raise ModelError(f"model {self.name} returned shape {tuple(out.shape)}; expected (N, K) logits")
        return int(out.shape[1])


def _check_lengths(
    name: str, mean: Sequence[float] | float | None, std: Sequence[float] | float | None, channels: int | None
) -> None:
    """Mean and std hold one value or one per channel the model takes: a wrong count fails here, not mid-sweep."""
    given = (("mean", mean), ("std", std))
    counts = {k: 1 if isinstance(v, int | float) else len(v) for k, v in given if v is not None}
    if not counts:
        return
    if channels is not None:
        ok = all(n in (1, channels) for n in counts.values())
    else:
        ok = len(set(counts.values()) - {1}) <= 1
    if not ok:
        has = f"mean has {counts.get('mean', 'no')} value(s) and std {counts.get('std', 'no')}"
        if channels is None:
            takes, want = "the channel count is unknown", "1 or the same number of values"
        else:
            takes = f"the model takes {channels} channel(s)"
            want = "1 value" if channels == 1 else f"1 or {channels} values"
        raise ModelError(f"model {name}: {has}, but {takes}; give {want} each")


def _check_values(name: str, mean: Sequence[float] | float | None, std: Sequence[float] | float | None) -> None:
    """Std must be finite and > 0 and mean finite: a zero std divides by zero and every logit becomes inf or NaN."""
    for label, given, positive in (("mean", mean, False), ("std", std, True)):
        if given is None:
            continue
        values = [given] if isinstance(given, int | float) else list(given)
        for i, v in enumerate(values):
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ModelError(f"model {name}: {label} value {v!r} is not a number") from None
            if not math.isfinite(x) or (positive and x <= 0):
                want = "finite and > 0" if positive else "finite"
                where = f"{label}[{i}]" if len(values) > 1 else label
                raise ModelError(f"model {name}: {where} is {v!r}; every {label} value must be {want}")


def loader_stages(z: Tensor, stages: Sequence[Stage]) -> Tensor:
    """File-space stages done as the model-space loader does them (numpy window, per-image resize)."""
    for stage in stages:
        if isinstance(stage, Window):
            w = linear_window(z.detach().cpu().double().numpy(), stage.center, stage.width)
            z = torch.from_numpy(1.0 - w if stage.invert else w).float().to(z.device)
        else:
            z = torch.stack([resize(image, stage.size) for image in z])
    return z
