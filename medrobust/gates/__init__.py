"""Gates: decide pass or fail from results (assertions, baseline comparison, thresholds)."""
