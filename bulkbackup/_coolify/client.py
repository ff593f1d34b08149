"""The HTTP client: one transport, one pace for all workers, and a token that never leaves the Authorization header.

    client = Client("https://coolify.example.com", token)        # /api/v1 is added when missing
    client = Client.from_env()                                    # COOLIFY_ENDPOINT + COOLIFY_TOKEN, or coolify-cli
    client.send("PATCH", f"/databases/{db}/backups/{backup}", json={"enabled": False})

`send()` makes one logical attempt: it waits for the shared `RateLimiter`, sends through the `Transport`, masks the
token in the answer, tells the limiter what came back, and sends again on a 429 (a 429 proves the request was not
processed, so it costs no retry attempt). Retrying other failures is the caller's choice, through `RetryPolicy`
(`attempt()` combines the two). The rest lives beside it, one idea a module: `endpoint` (addresses and the
plain-http rule), `transport` (where the bytes go), `masking`, `answers` (reading an answer), `connection` (what to
say when there is none), `resources` (the API's GETs), `credentials` and `cli_config` (finding the token).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bulkbackup._coolify import credentials
from bulkbackup._coolify.answers import Answer, auth_hint, json_body, read_answer
from bulkbackup._coolify.cli_config import default_config_path
from bulkbackup._coolify.connection import PYTHON, Wording, describe_transport_error, plain_http_to_tls_hint
from bulkbackup._coolify.connection import wrong_path_hint as _wrong_path_hint
from bulkbackup._coolify.endpoint import (
    ALLOW_HTTP_VARIABLE,
    allow_http_from_env,
    api_url,
    check_timeout,
    check_token,
    check_verify,
    instance_name,
    is_loopback,
    normalise_endpoint,
)
from bulkbackup._coolify.limiter import RateCap, RateLimiter
from bulkbackup._coolify.masking import MASK, BearerAuth, mask_answer, redact, scrub
from bulkbackup._coolify.resources import Resources
from bulkbackup._coolify.retry import Attempted, RetryPolicy, Stopped
from bulkbackup._coolify.transport import Transport
from bulkbackup._core.errors import ApiError, AuthError, ConfigError
from bulkbackup._version import __version__

if TYPE_CHECKING:
    import requests

__all__ = [
    "ALLOW_HTTP_VARIABLE",
    "Client",
    "Stopped",
    "allow_http_from_env",
    "auth_hint",
    "default_config_path",
    "describe_transport_error",
    "json_body",
    "normalise_endpoint",
    "redact",
]

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = credentials.ENDPOINT_VARIABLE
TOKEN_VARIABLE = credentials.TOKEN_VARIABLE

# From the package, not importlib.metadata: looking the installed distribution up cost more than the rest of
# this module's import.
USER_AGENT = f"bulkbackup/{__version__}"


_warned_http: set[str] = set()
_warned_lock = threading.Lock()


def _warn_plain_http(endpoint: str) -> None:
    """Say once per process and host what allowing plain http costs: the token travels readable."""
    host = urlsplit(endpoint).hostname or ""
    if is_loopback(host):
        return
    with _warned_lock:
        if host in _warned_http:
            return
        _warned_http.add(host)
    log.warning(
        "warning: plain http:// to %s is allowed: the API token and every request cross the network unencrypted, "
        "so anyone on the path can read the token and act as you until it is revoked; use https:// where you can",
        host,
    )


class Client(Resources):
    """A Coolify API client shared by all worker threads of a run.

    `rate` caps requests per second (off by default: the server's own budget is followed anyway); `workers` sizes
    the connection pool; `timeout` is (connect, read) seconds, on every request; `verify`/`ca_bundle` control TLS
    verification; `session` is the requests.Session under the transport (tests give one whose `send()` answers);
    `clock`/`sleep` drive the limiter and the retries; `wording` phrases fixes for Python or the command line.
    `name` is the instance's name in frames of several instances (their `instance` column): a coolify-cli
    context's name when the client came from one, else the endpoint's host[:port].
    """

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        rate: float | None = None,
        workers: int = 4,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        verify: bool | str = True,
        ca_bundle: str | os.PathLike | None = None,
        allow_http: bool = False,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        retry: RetryPolicy | None = None,
        wording: Wording = PYTHON,
        name: str | None = None,
    ):
        self.endpoint = normalise_endpoint(endpoint, allow_http=allow_http)
        self.name = instance_name(self.endpoint, name)
        if self.endpoint.startswith("http://"):
            _warn_plain_http(self.endpoint)
        self._auth = BearerAuth(check_token(token))
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError("workers must be a whole number of at least 1")
        self.workers = workers
        self.timeout = check_timeout(timeout)
        self.verify = check_verify(verify, ca_bundle)
        self.wording = wording
        try:
            self.limiter = RateLimiter(rate, clock=clock, sleep=sleep)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.retry = retry if retry is not None else RetryPolicy(sleep=sleep)
        self.transport = Transport(self.endpoint, session=session, workers=workers, allow_http=allow_http)
        self._headers = {
            "Accept": "application/json",  # otherwise a 429 (and any uncaught 500) comes back as an HTML page
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._version: str | None = None
        self._version_problem: str | None = None
        self._version_read = False
        self._version_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The requests.Session under the transport (its connection pool)."""
        return self.transport.session

    # --- plumbing ----------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Client(name={self.name!r}, endpoint={self.endpoint!r}, token={MASK!r})"

    __str__ = __repr__

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (a session passed in by the caller stays the caller's to close)."""
        self.transport.close()

    def redact(self, text: object) -> str:
        """`text` with this client's token masked."""
        return redact(text, self._auth._token)

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as "/databases"."""
        return api_url(self.endpoint, path)

    # --- sending -----------------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        stop: threading.Event | None = None,
        cap: RateCap | None = None,
        on_wait: Callable[[float], object] | None = None,
        on_send: Callable[[], object] | None = None,
    ) -> requests.Response:
        """One logical attempt: wait for the limiter, send, and send again after each 429 until a real answer.

        Transport errors are raised as requests raised them (with the token masked); `Stopped` is raised when
        `stop` is set while waiting, before the request went out. `cap` is a run's own pace on top of the
        server's; `on_wait(seconds)` hears of each wait for the server's rate-limit window; `on_send()` is called
        as each request leaves (what a run counts when it gives up on a request in flight). The answer's body,
        reason and headers have the token masked, should the server quote it back.
        """
        url = self.url(path)
        method = method.upper()
        token = self._auth._token
        while True:
            if (cap is not None and not cap.wait(stop)) or not self.limiter.acquire(stop, on_wait=on_wait):
                raise Stopped(f"stopped before {method} {path} was sent")
            started = time.monotonic()
            if on_send is not None:
                on_send()
            try:
                response = self.transport.send(
                    method,
                    url,
                    headers=self._headers,
                    json=json,
                    auth=self._auth,
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except BaseException as error:
                self.limiter.observe(None, None)
                scrub(error, token)
                log.debug("%s %s failed after %.3f s: %s", method, path, time.monotonic() - started, self.redact(error))
                raise
            self.limiter.observe(response.status_code, response.headers)
            scrub(response, token)
            mask_answer(response, token)
            log.debug("%s %s -> %d in %.3f s", method, path, response.status_code, time.monotonic() - started)
            if response.status_code != 429:
                return response
            log.debug("429 for %s %s: retry after %s s", method, path, response.headers.get("Retry-After"))

    def attempt(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        unsafe: bool,
        stop: threading.Event | None = None,
        policy: RetryPolicy | None = None,
        cap: RateCap | None = None,
        on_wait: Callable[[float], object] | None = None,
        on_send: Callable[[], object] | None = None,
    ) -> Attempted:
        """`send()` under the retry policy: retried only as far as `classify()` says is safe. `on_send()` is called
        once per attempt, as its first request leaves (a 429 re-sent is the same attempt)."""

        def once() -> requests.Response:
            left = False

            def first() -> None:
                nonlocal left
                if not left and on_send is not None:
                    left = True
                    on_send()

            return self.send(method, path, json=json, stop=stop, cap=cap, on_wait=on_wait, on_send=first)

        return (policy or self.retry).run(once, unsafe=unsafe, stop=stop)

    # --- answers -----------------------------------------------------------------------------------------------

    def read(self, response: requests.Response, *, text: bool = False) -> Answer:
        """`read_answer` for this client's endpoint, with its token masked."""
        return read_answer(response, endpoint=self.endpoint, text=text, token=self._auth._token)

    def _get(
        self,
        path: str,
        *,
        stop: threading.Event | None = None,
        on_wait: Callable[[float], object] | None = None,
    ) -> requests.Response:
        attempted = self.attempt("GET", path, unsafe=False, stop=stop, on_wait=on_wait)
        if isinstance(attempted.error, Stopped):
            raise attempted.error
        response = attempted.response
        if attempted.error is not None or response is None:
            error = attempted.error
            what = describe_transport_error(error, self.endpoint, wording=self.wording) if error else "no answer"
            tries = f"{attempted.attempts} attempt{'s' * (attempted.attempts != 1)}"
            raise ApiError(self.redact(f"GET {path}: {what} ({tries})")) from error
        answer = self.read(response, text=path == "/version")
        if answer.not_api:
            problem = answer.not_api
            hint = plain_http_to_tls_hint(response.text[:2000], self.endpoint)
            problem = f"{hint}: {problem}" if hint else problem
            raise ApiError(self.redact(f"GET {path}: {problem}"), status=response.status_code)
        if answer.ok:
            return response
        error = self._error(answer, f"GET {path}")
        wrong_path = _wrong_path_hint(self.endpoint, path, answer.code)
        if wrong_path and not isinstance(error, AuthError):
            error = ApiError(self.redact(f"GET {path}: {answer.summary} — {wrong_path}"), status=404)
        raise error

    def api_answer_problem(self, response: requests.Response, *, text: bool = False) -> str | None:
        """Why an answer cannot have come from the Coolify API (an HTML page, a redirect), or None if it can."""
        return self.read(response, text=text).not_api

    def error_for(self, response: requests.Response, what: str = "") -> ApiError:
        """The exception for a non-2xx answer: AuthError (with a hint) for the token and access problems."""
        return self._error(self.read(response), what)

    def _error(self, answer: Answer, what: str) -> ApiError:
        prefix = f"{what}: " if what else ""
        code = answer.code
        if answer.auth_hint is not None:
            text = f"{prefix}{code} {answer.message or answer.reason} ({answer.auth_hint})"
            return AuthError(self.redact(text), status=code, hint=answer.auth_hint)
        if 300 <= code < 400:
            text = f"{prefix}{code} redirect to {answer.location or 'elsewhere'}: redirects are not followed; use the "
            text += "final address as the endpoint"
            return ApiError(self.redact(text), status=code)
        return ApiError(self.redact(f"{prefix}{answer.summary}".rstrip()), status=code)

    def get_json(
        self,
        path: str,
        *,
        stop: threading.Event | None = None,
        on_wait: Callable[[float], object] | None = None,
    ) -> object:
        """GET an API path (retried: GETs are safe) and return the decoded JSON body; `on_wait` as for `send`."""
        response = self._get(path, stop=stop, on_wait=on_wait)
        try:
            return json_body(response)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ApiError(
                f"GET {path}: the answer is not JSON ({kind}); is {self.endpoint} a Coolify API address?",
                status=response.status_code,
            ) from None

    # --- the server's version and health -----------------------------------------------------------------------

    def server_version(self) -> str | None:
        """The Coolify version (GET /api/v1/version), read once and kept; None when it cannot be read, with the
        reason in `server_version_problem` (a token without the read ability, the API disabled, …)."""
        with self._version_lock:
            if not self._version_read:
                try:
                    self._version = self.version()
                except ApiError as error:
                    self._version_problem = str(error)
                    log.debug("server version unknown: %s", self._version_problem)
                self._version_read = True
            return self._version

    def remember_version(self, version: str) -> None:
        """Keep a version read elsewhere (connect's token check), so `server_version()` does not ask again."""
        with self._version_lock:
            self._version, self._version_problem, self._version_read = version, None, True

    @property
    def server_version_problem(self) -> str | None:
        """Why `server_version()` returned None (None before it was called, or when it has a version)."""
        return self._version_problem

    def health_answer(self) -> requests.Response:
        """The answer to `GET /health` (no token sent; the API switch does not matter); transport errors raise."""
        # Not through the limiter: this endpoint is throttled by IP, a different budget from the token's.
        return self.transport.send(
            "GET",
            self.endpoint + "/health",
            headers={"User-Agent": USER_AGENT},
            timeout=self.timeout,
            verify=self.verify,
        )

    def health(self) -> bool:
        """True when the instance answers its health check (no token needed; the API switch does not matter)."""
        import requests

        try:
            response = self.health_answer()
        except requests.RequestException as error:
            log.debug("health check of %s failed: %s", self.endpoint, self.redact(error))
            return False
        # A web UI or login page answers 200 too; Coolify's health check answers exactly "OK".
        return response.status_code == 200 and response.text.strip() == "OK"

    # --- configuration from the environment ----------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        *,
        context: str | None = None,
        environ: Mapping[str, str] | None = None,
        config_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> Client:
        """A client from `COOLIFY_ENDPOINT` + `COOLIFY_TOKEN`, else from the coolify-cli config file.

        `context` names a coolify-cli instance (the client is named after it) and wins over the variables.
        `COOLIFY_URL` is never read: Coolify sets it inside every app it deploys, to that app's own address.
        """
        found = credentials.find_credentials(
            context=context,
            environ=environ,
            config_path=config_path,
            allow_http=kwargs.pop("allow_http", None),
            wording=kwargs.get("wording", PYTHON),
        )
        return cls(found.endpoint, found.token, allow_http=found.allow_http, **{"name": found.name, **kwargs})
