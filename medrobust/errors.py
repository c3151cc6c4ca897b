"""Errors medrobust raises for bad input: each names the input and the problem."""

from __future__ import annotations


class MedrobustError(Exception):
    """Base class: the CLI turns any of these into a clear message and exit code 2."""


class DataError(MedrobustError):
    """A dataset, file or sample is unusable (corrupt, NaN, label out of range, ...)."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class ModelError(MedrobustError):
    """A model, checkpoint or wrapper does not match what was declared."""


class ConfigError(MedrobustError):
    """A configuration value, budget list or attack name is invalid."""
