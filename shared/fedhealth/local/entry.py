"""A light trampoline for forked children: the parent names the function by module and
attribute, so it never imports torch itself (that would cost ~500 MB in the parent)."""

from __future__ import annotations

import importlib
from typing import Any


def call(target: str, *args: Any) -> None:
    """Import `module:function` in this (child) process and call it with `args`."""
    module, _, func = target.partition(":")
    getattr(importlib.import_module(module), func)(*args)
