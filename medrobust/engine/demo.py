"""The embedded default: synthetic data, a small CNN trained on the spot, FGSM and PGD."""

from __future__ import annotations

import logging
from pathlib import Path

from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.engine.spec import RunSpec
from medrobust.models.demo import demo_model
from medrobust.results.results import Results

log = logging.getLogger(__name__)


def run_demo(
    out_dir: str | Path = "medrobust-results/demo", n: int = 512, seed: int = 0, progress: bool = True
) -> Results:
    """Train the demo model, then sweep FGSM and PGD over 0..8/255 on held-out data."""
    log.info("training the demo model on synthetic data")
    model = demo_model(seed, progress=True) if progress else demo_model(seed)  # a test's stand-in takes the seed
    test = synthetic(n, task="binary", seed=seed + 1000)
    return evaluate(
        model,
        test,
        spec=RunSpec(subgroups=("sex", "site"), seed=seed),  # the default attacks and budgets
        out_dir=out_dir,
        resume=False,
        overwrite=True,  # the demo recomputes each time and owns its folder: another --n or --seed replaces it
        progress=progress,
        config={"demo": True},
    )
