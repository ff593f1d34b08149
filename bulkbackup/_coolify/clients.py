"""The clients of one call: one Coolify instance, or several, each known by its name.

Wherever a client is taken, a list of clients is taken too. `clients_of` turns what a caller gave into `Clients`:

    clients_of(client)            one instance; frames stay as they are (no `instance` column)
    clients_of([prod, staging])   several (a list, even of one): frames carry an `instance` column, `client.name`

Rows are routed by their instance, never guessed: uuids repeat across instances restored from one backup, and a row
meant for staging must never change production. `each` runs one function per instance in parallel threads, so a
read of N instances takes about as long as the slowest one; `each_named` also names the instance in a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar, overload

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import BulkBackupError, ConfigError

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

__all__ = ["INSTANCE", "Clients", "clients_of", "each", "each_named", "is_several", "naming", "one_client"]

T = TypeVar("T")


class Clients(Sequence["Client"]):
    """The clients of a call, in the order given, with distinct names. `several`: given as a list or tuple, so the
    frames of this call carry an `instance` column (also for a list of one)."""

    def __init__(self, clients: Iterable[Client], *, several: bool):
        self._clients = tuple(clients)
        self.several = several
        self._by_name = {c.name: c for c in self._clients}

    @overload
    def __getitem__(self, index: int) -> Client: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Client]: ...
    def __getitem__(self, index):
        return self._clients[index]

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients)

    def __repr__(self) -> str:
        return f"Clients({', '.join(repr(c) for c in self._clients)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def by_name(self, name: object) -> Client | None:
        """The client serving instance `name`, or None when no client does."""
        return self._by_name.get(name) if isinstance(name, str) else None

    @property
    def only(self) -> Client | None:
        """The one client, when there is exactly one."""
        return self._clients[0] if len(self._clients) == 1 else None

    def listed(self) -> str:
        """The names, for messages: "prod, staging and eu"."""
        names = [repr(n) for n in self.names]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def is_several(given: object) -> bool:
    """Whether a caller gave several clients (a list, tuple or Clients) rather than one."""
    return isinstance(given, Clients) and given.several or isinstance(given, list | tuple)


def clients_of(given: object) -> Clients:
    """`Clients` of one client, a list or tuple of them, or `Clients`; ConfigError for anything else, an empty list
    or two clients of the same name (rows could not be routed)."""
    from bulkbackup._coolify.client import Client  # at call time: client.py imports this module's neighbours

    if isinstance(given, Clients):
        return given
    if isinstance(given, Client):
        return Clients([given], several=False)
    if not isinstance(given, list | tuple):
        raise ConfigError(f"expected a bulkbackup Client or a list of them, not {type(given).__name__}")
    if not given:
        raise ConfigError("the list of clients is empty: give at least one Client")
    for item in given:
        if not isinstance(item, Client):
            raise ConfigError(f"expected a list of bulkbackup Clients, but it holds a {type(item).__name__}")
    seen: dict[str, Client] = {}
    for item in given:
        other = seen.get(item.name)
        if other is not None:
            raise ConfigError(
                f"two clients are named {item.name!r} ({other.endpoint} and {item.endpoint}): rows are routed by "
                "name, so give each its own, e.g. bb.Client(endpoint, token, name='staging')"
            )
        seen[item.name] = item
    return Clients(given, several=True)


def each(clients: Sequence[Client], work: Callable[[Client], T]) -> list[T]:
    """`work(client)` for every client, in parallel threads, results in the clients' order; the first failure (in
    that order) is raised after all have ended, so no read is left running behind the caller's back."""
    if len(clients) == 1:
        return [work(clients[0])]
    with ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix="bulkbackup-instance") as pool:
        futures = [pool.submit(work, client) for client in clients]
        errors = [f.exception() for f in futures]  # waits for every one
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


def one_client(given: Client | Clients) -> Client:
    """The client of a call given one client (also as the `Clients` of one, which `clients_of(client)` makes)."""
    return given.only if isinstance(given, Clients) and given.only is not None else given  # type: ignore[return-value]


def each_named(clients: Clients, work: Callable[[Client], T]) -> list[T]:
    """`each(clients, work)`, a failure naming the instance it happened on ("instance 'staging': GET …")."""

    def named_work(client: Client) -> T:
        with naming(client.name):
            return work(client)

    return each(clients, named_work)


@contextmanager
def naming(instance: str) -> Iterator[None]:
    """An error of bulkbackup's raised inside names `instance` first (its type and attributes kept, so a caller
    still tells an AuthError from another); any other error gets a note naming it."""
    try:
        yield
    except BulkBackupError as error:
        prefix = f"instance {instance!r}: "
        if error.args and isinstance(error.args[0], str) and not error.args[0].startswith(prefix):
            error.args = (prefix + error.args[0], *error.args[1:])
        error.instance = instance  # type: ignore[attr-defined] - for callers that want it apart
        raise
    except Exception as error:
        error.add_note(f"while reading instance {instance!r}")
        raise
