"""Sanctum personal access tokens as Coolify issues and checks them (API-RULES §4).

A token reads "<id>|<40 random letters and digits><crc32b of those 40, 8 hex>"; the server keeps the sha256 of
the part after "|". `find()` follows Sanctum's findToken: with a "|" it looks the id up and compares hashes,
without one it looks up the sha256 of the whole string (so the bare secret works too).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

from bulkbackup.sandbox._fleet import User

ABILITIES = ("root", "read", "read:sensitive", "write", "write:sensitive", "deploy", "*")
_ALPHANUMERIC = string.ascii_letters + string.digits
_RESOLVED_MAX = 1024


@dataclass
class Token:
    id: int
    plain: str
    user: User
    team_id: int
    abilities: tuple[str, ...]
    digest: str  # sha256 hex of the secret part
    expires_at: float | None = None

    def can(self, ability: str) -> bool:
        """Sanctum's `tokenCan`: "*" grants everything; otherwise the exact ability must be listed."""
        return "*" in self.abilities or ability in self.abilities

    def __repr__(self) -> str:  # never print the secret
        return f"Token(id={self.id}, user={self.user.id}, team={self.team_id}, abilities={self.abilities})"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class TokenStore:
    def __init__(self) -> None:
        self._by_id: dict[int, Token] = {}
        self._by_digest: dict[str, Token] = {}
        self._next_id = 1
        # What a presented string resolved to, so a client's every request does not split and hash it again.
        # Only successful lookups are kept, and each is checked against the live table, so a revoked token is
        # not found; bounded, because the strings come from clients.
        self._resolved: dict[str, Token] = {}

    def create(self, user: User, team_id: int, abilities: tuple[str, ...], expires_at: float | None = None) -> Token:
        unknown = set(abilities) - set(ABILITIES)
        if unknown or not abilities:
            raise ValueError(f"abilities must be a non-empty subset of {ABILITIES}, got {abilities!r}")
        entropy = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(40))
        secret = entropy + format(zlib.crc32(entropy.encode()), "08x")
        token = Token(
            self._next_id, f"{self._next_id}|{secret}", user, team_id, tuple(abilities), _sha256(secret), expires_at
        )
        self._next_id += 1
        self._by_id[token.id] = token
        self._by_digest[token.digest] = token
        return token

    def find(self, plain: str | None, now: float) -> Token | None:
        """Sanctum's findToken plus the guard's expiry check; None means 401."""
        if not plain:
            return None
        token = self._resolved.get(plain)
        if token is None or self._by_id.get(token.id) is not token:
            token = self._lookup(plain)
            if token is None:
                return None
            if len(self._resolved) >= _RESOLVED_MAX:
                self._resolved.clear()
            self._resolved[plain] = token
        if token.expires_at is not None and token.expires_at <= now:
            return None
        return token

    def _lookup(self, plain: str) -> Token | None:
        """Sanctum's findToken: by id and hash with a "|", else by the hash of the whole string."""
        if "|" in plain:
            token_id, secret = plain.split("|", 1)
            token_id = token_id.strip()
            # PostgreSQL reads "007" or " 7" as bigint 7, so Sanctum's find($id) does too.
            token = self._by_id.get(int(token_id)) if token_id.isascii() and token_id.isdigit() else None
            if token is None or not hmac.compare_digest(token.digest, _sha256(secret)):
                return None
            return token
        return self._by_digest.get(_sha256(plain))

    def revoke(self, plain_or_token: str | Token) -> bool:
        token = plain_or_token if isinstance(plain_or_token, Token) else self.find(plain_or_token, now=0.0)
        if token is None or self._by_id.get(token.id) is not token:
            return False
        del self._by_id[token.id]
        del self._by_digest[token.digest]
        return True
