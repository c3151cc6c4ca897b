"""The harness: the sweep, metrics, results, reports, CLI and pytest plugin."""

from medrobust.harness.budgets import Budget, parse_budget, parse_budgets
from medrobust.harness.evaluate import evaluate
from medrobust.harness.results import Results

__all__ = ["Budget", "Results", "evaluate", "parse_budget", "parse_budgets"]
