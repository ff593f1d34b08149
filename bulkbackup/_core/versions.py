"""Coolify version strings ("4.3.11", "v4.0.0-beta.471", "4.4.0-rc.1") compared the way releases follow each other."""

from __future__ import annotations

import re

DOCUMENTED = "4.3.11"
"""The Coolify version coolify/API-RULES.md describes, and the one the sandbox behaves like by default."""

_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?")


def parse(text: str) -> tuple[tuple[int, ...], tuple[object, ...]] | None:
    """(numbers padded to three, pre-release parts) or None when `text` is not a version."""
    match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    numbers = tuple(int(n) for n in match.group(1).split("."))
    numbers = (numbers + (0, 0, 0))[: max(3, len(numbers))]
    pre = match.group(2)
    # A pre-release comes before its release: (0, parts) < (1,).
    tail = (0, *(int(p) if p.isdigit() else p for p in re.split(r"[.-]", pre))) if pre else (1,)
    return numbers, tail


def older(version: str, than: str) -> bool:
    """Whether `version` comes before `than`; False when either cannot be read (the server then decides)."""
    a, b = parse(version), parse(than)
    if a is None or b is None:
        return False
    try:
        return a < b
    except TypeError:  # pre-release parts of different kinds ("rc" against 1): same numbers, call it not older
        return False


def same(version: str, other: str) -> bool:
    a, b = parse(version), parse(other)
    return a is not None and a == b
