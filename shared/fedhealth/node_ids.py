"""What a hospital's node id may be: it names files, log fields and results.json keys."""

from __future__ import annotations

RULE = "1 to 128 letters, digits, '-', '_' or '.'"


def is_valid(node_id: str) -> bool:
    """True for 1-128 characters, each a letter, a digit, '-', '_' or '.'."""
    return 0 < len(node_id) <= 128 and all(c.isalnum() or c in "-_." for c in node_id)
