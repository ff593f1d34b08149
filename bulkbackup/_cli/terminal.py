"""The one way out to the terminal: every line the CLI prints goes through `say()` or `warn()`, which escape it.

Database names, file names, server messages and cells of a changes file are not ours: an escape sequence in one
(`\\x1b]0;…\\x07` retitles the window, `\\x1b[2J` clears it) or a line break (a forged plan line) must reach the
terminal as visible text. Escaping here, once, covers every command, every summary and every error, including
those written later; nothing in `_cli` calls `print` but this module.
"""

from __future__ import annotations

import sys
import threading

from bulkbackup._core.errors import printable

_lock = threading.Lock()  # worker threads say things too (a wait): one whole line at a time

__all__ = ["ask", "robust_output", "say", "shown", "warn"]


def shown(value: object) -> str:
    """`value` as one printable line: control characters, line breaks and undecodable bytes escaped."""
    return printable(str(value))


def say(*lines: object) -> None:
    """Print each of `lines` on stdout as one escaped line (a line break inside one is shown as `\\n`)."""
    _write(sys.stdout, lines)


def warn(*lines: object) -> None:
    """As `say`, on stderr: errors, waits, what the user should know but not parse."""
    _write(sys.stderr, lines)


def _write(stream, lines) -> None:
    text = "".join(f"{shown(line)}\n" for line in lines)
    with _lock:
        stream.write(text)
        stream.flush()


def ask(question: str) -> bool:
    """A yes/no question on the terminal; False (and why) when there is no terminal to ask on."""
    if not sys.stdin or not sys.stdin.isatty():
        warn("no terminal to confirm on: pass --yes to apply without asking")
        return False
    try:
        return input(shown(question)).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def robust_output() -> None:
    """Never die on what we print: a cp1252 console cannot show the diff's "→". Such characters are printed
    escaped instead of ending the run with an encoding error."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream already in use in another way: leave it as it is
                pass
