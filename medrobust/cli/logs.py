"""The CLI's log output: one line format, and each warning's text shown once.

pydicom (``warn_and_log``) and others both log a message and raise it as a Python warning, so a
reader saw it twice in two formats. Python warnings are routed into logging here, shortened to
``Category: message``, and a warning whose text was already shown in this process is dropped.
"""

from __future__ import annotations

import logging
import re

_WARNING_LINE = re.compile(r"^.*?:\d+: (?P<category>\w+): (?P<message>.*?)\s*(?:\n|$)", re.DOTALL)


class OncePerText(logging.Filter):
    """Let each distinct warning text through once; Python warnings are shortened to ``Category: message``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a warning whose text was already let through (debug, info and errors always pass)."""
        if record.levelno != logging.WARNING:
            return True
        text = record.getMessage()
        if record.name == "py.warnings":
            match = _WARNING_LINE.match(text)
            if match:
                record.msg, record.args = f"{match['category']}: {match['message']}", ()
                text = match["message"]
        key = text.strip()
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def configure_logging(level: int) -> None:
    """Log to stderr at ``level`` as ``LEVEL logger: message``, with warnings captured and shown once.

    Only a process whose logging nobody set up yet is configured (as :func:`logging.basicConfig` does):
    a host that installed its own handlers (pytest, a notebook, an application embedding the CLI) keeps
    them untouched, since a filter with memory on a shared handler would hide later, unrelated records.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OncePerText())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
