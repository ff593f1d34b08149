"""Choosing and claiming the files a command writes: the one place that names them and makes them ours.

A file is claimed when the command starts, before the first request, and held until the command ends:
- a name the user gave is created with O_CREAT|O_EXCL, so of two runs given the same `--results` one is refused
  at once (it "exists") instead of both writing it; with `--overwrite` an existing file is reused, but not one
  another live run holds (an exclusive `flock` taken on every claimed file for the whole run);
- a default name (named after the input and the start time) is also taken with O_EXCL, adding -2, -3 … until
  one is free, so two runs started in the same second never share a results file or a journal;
- no output may be the input file, whatever the flags: `--overwrite` would otherwise replace the changes a
  journal identifies its run by.
The journal file is only reserved (created empty, removed again if the run never starts), not locked: the journal
locks it itself for the run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from bulkbackup._core.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: O_EXCL still keeps two runs from sharing a new name
    fcntl = None  # type: ignore[assignment]

__all__ = ["Claim", "Taken", "check_place", "claim", "claim_fresh", "claim_together", "stamp"]


def stamp() -> str:
    """The start time in default names: UTC, to the second (the -2, -3 … of `claim_fresh` separate the rest)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


class Taken(ConfigError):
    """The name is another run's (it exists, or a live run holds it): a default name moves on to the next."""


class Claim:
    """A claimed output file: open (and locked) from the start of the command until `release()`."""

    def __init__(self, path: Path, fd: int, *, created: bool):
        self.path, self._fd, self.created = path, fd, created

    def write_frame(self, frame) -> None:
        """Write `frame` as CSV into the claimed file itself (the same file the lock is on, not a new one)."""
        from bulkbackup._input.changes import write_csv

        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(self._fd), "wb") as out:
            write_csv(frame, out)

    def release(self) -> None:
        """Unlock and close; a file this command created and left empty is removed (nothing left behind)."""
        if self._fd < 0:
            return
        if self.created and _still_empty(self.path, self._fd):
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = -1

    def unlock(self) -> None:
        """Keep the name reserved but let another writer lock the file: the journal holds its own lock."""
        if fcntl is not None and self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def _still_empty(path: Path, fd: int) -> bool:
    try:
        ours, now = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (now.st_dev, now.st_ino) and now.st_size == 0


def claim(path: str | os.PathLike[str], what: str, *, overwrite: bool = False, inputs: Iterable = ()) -> Claim:
    """Claim `path`, which the user named with option `what` (for the messages): see the module's docstring."""
    path = Path(path)
    check_place(path, what, inputs)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        created = True
    except FileExistsError:
        if not overwrite:
            raise Taken(
                f"{what} {path} exists: it may be the only record of an earlier run. Choose another name, or pass "
                "--overwrite (nothing was sent)"
            ) from None
        fd, created = _open_existing(path, what), False
    _hold(fd, path, what)
    return Claim(path, fd, created=created)


def claim_fresh(name: Callable[[str], Path], what: str, *, inputs: Iterable = ()) -> Claim:
    """Claim the first free name of `name("")`, `name("-2")`, `name("-3")` …, atomic against another run choosing
    at the same moment."""
    return claim_together(lambda n: [name(n)], [what], inputs=inputs)[0]


def claim_together(names: Callable[[str], list[Path]], what: list[str], *, inputs: Iterable = ()) -> list[Claim]:
    """Claim every name of `names("")`, else of `names("-2")` …: files that belong together (a run's results and
    journal) get the same suffix, each free. The one place a default name is made unique."""
    inputs = list(inputs)
    n = 1
    while True:
        claimed: list[Claim] = []
        try:
            for path, option in zip(names("" if n == 1 else f"-{n}"), what, strict=True):
                claimed.append(claim(path, option, inputs=inputs))
            return claimed
        except Taken:
            for c in claimed:
                c.release()
            n += 1


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_place(path: Path, what: str, inputs: Iterable) -> None:
    """Refuse, before anything is sent, an output that is an input, a folder, in no folder, or not writable."""
    for source in inputs:
        if same_file(path, Path(source)):
            raise ConfigError(
                f"{what} {path} is the input file: the run would replace the changes it reads. Choose another name "
                "(--overwrite does not allow this; nothing was sent)"
            )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{what} {path}: the folder {folder} does not exist (nothing was sent)")
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder (nothing was sent)")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{what} {path}: not writable (nothing was sent)")


def _open_existing(path: Path, what: str) -> int:
    try:
        return os.open(path, os.O_WRONLY)  # not O_TRUNC: it is emptied only when the results are written
    except OSError as error:
        raise ConfigError(f"{what} {path}: {error.strerror} (nothing was sent)") from None


def _hold(fd: int, path: Path, what: str) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # not removed even if this run created it: the run that holds it now writes it
        raise Taken(
            f"{what} {path} is held by another bulkbackup run that is still going: wait for it, or choose another "
            "name (nothing was sent)"
        ) from None
