"""Holding a journal for the whole run: an OS lock on the journal file, and who holds it.

Two processes appending to one journal would each "resume" the other's live run and send what it has not settled
yet — a backup_now twice. So the journal file itself is locked (`fcntl.flock`, exclusive, not waiting) from
`Journal.open` until `close`; the kernel drops the lock when the process dies, so a killed run never leaves a
journal locked. A second process is refused before it sends anything, and told who holds the journal: the holder
writes its pid, host and start time into a small sidecar file `<journal>.lock` (information only: the lock is the
flock), removed when it lets go.

A journal that is not a regular file (`/dev/full`, a pipe) is not locked: it cannot be resumed anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
from datetime import UTC, datetime

from bulkbackup._core.errors import ConfigError, printable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; msvcrt.locking would lock bytes, not the file
    fcntl = None  # type: ignore[assignment]


class JournalLock:
    """The open journal file (append-only), locked. `fd` is where records are written."""

    def __init__(self, path: str, fd: int, *, created: bool, locked: bool):
        self.path = path
        self._where = os.path.abspath(path)  # checked by this name: a notebook's %cd must not make it "moved"
        self.fd = fd
        self.created = created  # this run made the file: an empty one is removed again at release
        self.locked = locked
        self.identity = _inode(os.fstat(fd))
        self._info = f"{self._where}.lock" if locked else None

    @classmethod
    def acquire(cls, path: str) -> JournalLock:
        for _ in range(3):  # the path may be replaced between open and lock: then lock the new file
            existed = os.path.lexists(path)
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as error:
                raise ConfigError(
                    printable(f"journal {path}: cannot be opened ({error.strerror or error}); nothing was sent")
                ) from None
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or fcntl is None:
                return cls(path, fd, created=not existed, locked=False)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError(printable(_held_message(path))) from None
            except OSError:  # a file system without locks: run unlocked rather than not at all
                return cls(path, fd, created=not existed, locked=False)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and _inode(now) == _inode(info):
                lock = cls(path, fd, created=not existed, locked=True)
                lock._write_info()
                return lock
            os.close(fd)  # the file we locked is no longer at `path` (removed or replaced meanwhile): again
        raise ConfigError(printable(f"journal {path}: it keeps being replaced while it is opened; nothing was sent"))

    def still_there(self) -> str | None:
        """None while `path` is still this open file; else what happened to it (its folder deleted, moved…)."""
        try:
            info = os.fstat(self.fd)
            if info.st_nlink == 0:
                return "was deleted while the run was writing it (its folder removed?)"
            if not stat.S_ISREG(info.st_mode):
                return None
            if _inode(os.stat(self._where)) != self.identity:
                return "was replaced by another file while the run was writing it"
        except FileNotFoundError:
            return "was moved or deleted while the run was writing it"
        except OSError as error:
            return f"cannot be checked ({error.strerror or error})"
        return None

    def release(self) -> None:
        """Let go: the info file first (while still holding the lock), an empty journal this run made, the lock."""
        if self.fd < 0:
            return
        if self._info is not None:
            with contextlib.suppress(OSError):
                with open(self._info, encoding="utf-8") as f:
                    mine = json.load(f).get("pid") == os.getpid()
                if mine:
                    os.unlink(self._info)
        if self.created and self.still_there() is None:
            with contextlib.suppress(OSError):
                if os.fstat(self.fd).st_size == 0:
                    os.unlink(self._where)  # a run that never started leaves no empty journal behind
        with contextlib.suppress(OSError):
            os.close(self.fd)  # closing drops the flock
        self.fd = -1

    def _write_info(self) -> None:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        with contextlib.suppress(OSError):  # information only: the flock is what excludes
            with open(self._info, "w", encoding="utf-8") as f:
                json.dump(holder, f)


def _held_message(path: str) -> str:
    try:
        with open(f"{path}.lock", encoding="utf-8") as f:
            holder = json.load(f)
        who = f"process {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        who = "another process"
    return (
        f"journal {path} is in use by {who}: a run is writing it now. Nothing was sent. Wait for that run to "
        "end (resuming it then sends only what it left), or use another journal"
    )


def _inode(info: os.stat_result) -> tuple[int, int]:
    return (info.st_dev, info.st_ino)
