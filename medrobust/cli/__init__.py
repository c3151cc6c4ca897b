"""The ``medrobust`` command line: ``demo``, ``run``, ``report``, ``compare`` and ``bench``.

Every command builds a run specification or reads a results folder, then hands it to the
engine, reports or gates; the commands themselves hold no logic of their own.
"""

from __future__ import annotations

from medrobust.cli import bench  # noqa: F401  (registers the bench command on main)
from medrobust.cli.commands import main

__all__ = ["main"]
