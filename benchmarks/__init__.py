"""Benchmarks: medrobust against ART, torchattacks and foolbox on the same model, data and budgets."""
