"""structlog configuration, in one place: JSON lines in services, readable on a TTY.

Callers bind context as key-value fields (`round=3 node=hospital-a`). Never log a tensor,
a key, a share or a patient value: log sizes, counts and ids instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure(service: str, *, json: bool | None = None, level: str = "info") -> None:
    """Configure structlog for `service`; JSON unless stderr is a terminal (or `json` says)."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get(name: str | None = None) -> Any:
    """A bound logger; `name` becomes the `logger` field."""
    log = structlog.get_logger()
    return log.bind(logger=name) if name else log
