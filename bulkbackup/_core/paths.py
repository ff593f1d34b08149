"""Claiming an output file: created exclusively when the run starts, so no two runs ever share a record.

Checking that a name is free and creating it later lets two runs started in the same second (or in two terminals)
both pick it: one results file replaces the other, one journal interleaves both runs. `O_CREAT | O_EXCL` makes the
check and the creation one step the operating system does for one process only.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from bulkbackup._core.errors import ConfigError, printable


def claim_path(stem: str | os.PathLike[str], suffix: str, *, numbered: bool = True) -> Path:
    """A new, empty file `<stem><suffix>` — or, when that exists, `<stem>-2<suffix>`, `<stem>-3<suffix>` … —
    created by this call and no other. `numbered=False` claims exactly `<stem><suffix>` (a name the user chose)
    and refuses an existing file. Errors are `ConfigError`s naming the file."""
    stem = os.fspath(stem)
    for n in itertools.count(1):
        candidate = Path(f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            if numbered:
                continue
            raise ConfigError(
                printable(f"{candidate} exists: it may be the record of another run. Choose another name")
            ) from None
        except OSError as error:
            raise ConfigError(printable(f"{candidate}: cannot be created ({error.strerror or error})")) from None
        os.close(fd)
        return candidate
    raise AssertionError("unreachable")  # itertools.count never ends
