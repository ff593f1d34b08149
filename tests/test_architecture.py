"""The layout holds its shape: small modules, private implementation, one public surface (docs/architecture.md).

The import layers and the absence of circles are `lint-imports`' (pyproject's [tool.importlinter], run by the
README's test command); this file holds what import-linter cannot say.
"""

from __future__ import annotations

from pathlib import Path

import bulkbackup

PACKAGE = Path(bulkbackup.__file__).parent
LIMIT = 600  # lines; a module past it holds more than one idea (issue 12)
PUBLIC_MODULES = {"__init__", "__main__", "events", "sandbox", "widgets"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_600_lines():
    too_long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert not too_long, f"split these into modules of one idea: {too_long}"


def test_implementation_modules_are_private():
    public = []
    for path in _modules():
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        # A module is private when it, or a package above it, starts with an underscore (the public packages'
        # own __init__ excepted).
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and not any(part.startswith("_") for part in parts) and parts[0] not in PUBLIC_MODULES:
            public.append("/".join(parts))
        if len(parts) > 1 and parts[0] in ("sandbox", "widgets") and not parts[-1].startswith("_"):
            public.append("/".join(parts))
    assert not public, f"make these private (a leading underscore) or part of the documented surface: {public}"
