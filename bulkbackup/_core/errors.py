"""The exception tree: every error bulkbackup raises on purpose derives from `BulkBackupError`.

    BulkBackupError
    ├── InputError        a changes file or frame that cannot be read as a whole (file, line, column, value)
    ├── ConfigError       no endpoint/token, an unknown context, an insecure endpoint
    └── ApiError          the server answered something that stops the operation (status, message)
        └── AuthError     401/403: the token is missing, wrong, lacks an ability, or the API is off

Row-level problems (a bad cell, a rejected PATCH) are not raised: they end up in the row's `errors` and
`status`, so one bad row never loses the good ones.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` as one printable line: line breaks, control characters and the undecodable bytes of a file name
    (Python keeps them as lone surrogates) escaped the way Python writes them; everything else unchanged."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape: show the byte the name really has
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


class BulkBackupError(Exception):
    """Base class of every error bulkbackup raises on purpose."""


class InputError(BulkBackupError, ValueError):
    """The changes input cannot be read as a whole (unknown column, missing key column, unreadable file)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: object = None,
    ):
        self.file, self.line, self.column, self.value = file, line, column, value
        where = ":".join(printable(str(p)) for p in (file, line) if p is not None)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(BulkBackupError):
    """The client cannot be configured: missing endpoint or token, unknown context, insecure URL."""


class ApiError(BulkBackupError):
    """The server answered in a way that stops the whole operation."""

    def __init__(self, message: str, *, status: int | None = None, hint: str = ""):
        self.status = status
        self.hint = hint  # what to do about it, when known (also at the end of the message, in parentheses)
        super().__init__(message)


class AuthError(ApiError):
    """401 or 403: the token is unknown or revoked, lacks an ability, or the API is disabled."""
