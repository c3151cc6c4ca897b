"""Deprecated alias of :mod:`medrobust.heads` (heads are shared by models, datasets and attacks)."""

from __future__ import annotations

import warnings

from medrobust.heads import Head, HeadKind, make_head

__all__ = ["Head", "HeadKind", "make_head"]

warnings.warn("medrobust.models.heads is deprecated; import medrobust.heads instead", DeprecationWarning, stacklevel=2)
