"""Nightly benchmark suites: a YAML grid of models x datasets x attacks, each cell one run, gated."""
