"""The HTTP client: one session, one pace for all workers, and a token that never leaves the Authorization header.

    client = Client("https://coolify.example.com", token)        # /api/v1 is added when missing
    client = Client.from_env()                                    # COOLIFY_ENDPOINT + COOLIFY_TOKEN, or coolify-cli
    client.send("PATCH", f"/databases/{db}/backups/{backup}", json={"enabled": False})

`send()` makes one logical attempt: it waits for the shared `RateLimiter`, sends, tells the limiter what came back,
and sends again on a 429 (a 429 proves the request was not processed, so it costs no retry attempt). Retrying
other failures is the caller's choice, through `RetryPolicy` (`attempt()` combines the two).
"""

from __future__ import annotations

import ipaddress
import json as _json
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bulkbackup._coolify.limiter import RateCap, RateLimiter
from bulkbackup._coolify.retry import Attempted, RetryPolicy, Stopped
from bulkbackup._core import versions as versions
from bulkbackup._core.errors import ApiError, AuthError, ConfigError
from bulkbackup._core.fields import uuid_problem
from bulkbackup._version import __version__

if TYPE_CHECKING:
    import requests

__all__ = [
    "ALLOW_HTTP_VARIABLE",
    "Client",
    "Stopped",
    "default_config_path",
    "describe_transport_error",
    "normalise_endpoint",
    "redact",
]

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "COOLIFY_ENDPOINT"
TOKEN_VARIABLE = "COOLIFY_TOKEN"
ALLOW_HTTP_VARIABLE = "BULKBACKUP_ALLOW_HTTP"
API_PATH = "/api/v1"
MASK = "***"


# From the package, not importlib.metadata: looking the installed distribution up cost more than the rest of
# this module's import.
USER_AGENT = f"bulkbackup/{__version__}"


def redact(text: object, token: str | None) -> str:
    """`text` as a string with the token, and its secret part after `id|` (Sanctum accepts it alone), masked."""
    result = str(text)
    if not token:
        return result
    for secret in sorted({token, token.partition("|")[2]}, key=len, reverse=True):
        if len(secret) >= 4:  # masking a 1-3 character "secret" would mangle ordinary text
            result = result.replace(secret, MASK)
    return result


# A query, a fragment, a backslash, whitespace or a control character would change which resource is addressed.
_UNSAFE_PATH_CHARS = re.compile(r"[?#\\\x00-\x20\x7f]")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


class _BearerAuth:
    """Adds the bearer header to each request; passing an auth object also keeps requests from using ~/.netrc.

    requests only calls it (requests.auth.AuthBase adds nothing else), so it need not import requests to exist.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"<bearer {MASK}>"


# --- configuration checks ------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def normalise_endpoint(endpoint: str, *, allow_http: bool = False) -> str:
    """The API base URL ending in `/api/v1`, from a URL given with or without it; ConfigError when unusable."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError(
            "the endpoint is empty: give the address of the Coolify instance, e.g. https://coolify.example.com"
        )
    text = endpoint.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in text:
        raise ConfigError(f"the endpoint {text!r} has no scheme: write it as https://{text.lstrip('/')}")
    if scheme not in ("http", "https"):
        raise ConfigError(f"the endpoint must be an http:// or https:// URL, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("the endpoint must not contain a user name or password: the token is sent in a header")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"the endpoint {text!r} is not a valid URL: {error}") from None
    if not host:
        raise ConfigError(f"the endpoint {text!r} has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(f"the endpoint {text!r} must not have a query (?…) or fragment (#…)")
    if scheme == "http" and not allow_http and not _is_loopback(host):
        raise ConfigError(
            f"refusing to send the API token over plain http:// to {host}: anyone on the way can read it. Use "
            f"https://, or if the network is trusted allow it explicitly: --allow-http on the command line, "
            f"{ALLOW_HTTP_VARIABLE}=1 in the environment, or allow_http=True in Python"
        )
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    if path.endswith(API_PATH):
        pass
    elif path.endswith("/api"):
        path += "/v1"
    else:
        path += API_PATH
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, path, "", ""))


def allow_http_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether BULKBACKUP_ALLOW_HTTP asks for plain http to be allowed (1, true, yes or on)."""
    env = os.environ if environ is None else environ
    return (env.get(ALLOW_HTTP_VARIABLE) or "").strip().lower() in ("1", "true", "yes", "on")


_warned_http: set[str] = set()
_warned_lock = threading.Lock()


def _warn_plain_http(endpoint: str) -> None:
    """Say once per process and host what allowing plain http costs: the token travels readable."""
    host = urlsplit(endpoint).hostname or ""
    if _is_loopback(host):
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


def _check_token(token: object) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ConfigError("the API token is empty")
    token = token.strip()
    if any(not ("!" <= ch <= "~") for ch in token):
        # Anything else would break the header, and requests' error for that quotes the header value.
        raise ConfigError("the API token contains spaces or characters that cannot be sent in a header")
    return token


def _check_timeout(timeout: float | tuple[float, float]) -> tuple[float, float]:
    values = timeout if isinstance(timeout, tuple | list) else (timeout, timeout)
    if len(values) != 2:
        raise ConfigError("timeout must be seconds or a (connect, read) pair of seconds")
    try:
        connect, read = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError("timeout must be seconds or a (connect, read) pair of seconds") from None
    if not (connect > 0 and read > 0 and math.isfinite(connect) and math.isfinite(read)):
        raise ConfigError("timeouts must be positive numbers of seconds")
    return connect, read


def _check_verify(verify: bool | str, ca_bundle: str | os.PathLike | None) -> bool | str:
    if ca_bundle is not None:
        if verify is False:
            raise ConfigError("ca_bundle was given with verify=False: a CA bundle is only used when verifying")
        verify = os.fspath(ca_bundle)
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if isinstance(verify, str):
        if not os.path.exists(verify):
            raise ConfigError(f"the CA bundle {verify!r} does not exist")
        return verify
    if not isinstance(verify, bool):
        raise ConfigError("verify must be True, False or the path of a CA bundle")
    return verify


# --- the client ----------------------------------------------------------------------------------------------------


class Client:
    """A Coolify API client shared by all worker threads of a run.

    `rate` caps requests per second (off by default: the server's own budget is followed anyway); `workers` sizes
    the connection pool; `timeout` is (connect, read) seconds, on every request; `verify`/`ca_bundle` control TLS
    verification; `session` replaces the transport (tests); `clock`/`sleep` drive the limiter and the retries.
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
    ):
        self.endpoint = normalise_endpoint(endpoint, allow_http=allow_http)
        if self.endpoint.startswith("http://"):
            _warn_plain_http(self.endpoint)
        self._auth = _BearerAuth(_check_token(token))
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError("workers must be a whole number of at least 1")
        self.workers = workers
        self.timeout = _check_timeout(timeout)
        self.verify = _check_verify(verify, ca_bundle)
        try:
            self.limiter = RateLimiter(rate, clock=clock, sleep=sleep)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.retry = retry if retry is not None else RetryPolicy(sleep=sleep)
        self._owns_session = session is None
        self.session = session if session is not None else self._new_session(workers)
        # What requests.Session.request() reads from the environment for every request (proxies, NO_PROXY, the CA
        # bundle variables): scanning os.environ cost ~0.3 ms a request, over a quarter of the client's CPU for a
        # PATCH to a local server. Every request goes to this one host, so it is read at the first and kept.
        self._environment: tuple[bool | str, dict[str, Any]] | None = None  # (for verify, the settings)
        self._headers = {
            "Accept": "application/json",  # otherwise a 429 (and any uncaught 500) comes back as an HTML page
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._version: str | None = None
        self._version_problem: str | None = None
        self._version_read = False
        self._version_lock = threading.Lock()

    @staticmethod
    def _new_session(workers: int) -> requests.Session:
        # requests is imported with the first client, not with bulkbackup (see retry.py).
        import requests
        import requests.adapters

        session = requests.Session()
        pool = max(workers, requests.adapters.DEFAULT_POOLSIZE)
        # max_retries=0: urllib3 must not re-send anything behind our back; the retry policy decides what is safe.
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # --- plumbing ----------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Client(endpoint={self.endpoint!r}, token={MASK!r})"

    __str__ = __repr__

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (a session passed in by the caller stays the caller's to close)."""
        if self._owns_session:
            self.session.close()

    def redact(self, text: object) -> str:
        """`text` with this client's token masked."""
        return redact(text, self._auth._token)

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as "/databases"."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"an API path starts with '/': {path!r}")
        if _UNSAFE_PATH_CHARS.search(path):
            raise ValueError(f"unsafe characters in API path {path!r}")
        if _DOT_SEGMENT.search(path):
            raise ValueError(f"dot segments in API path {path!r}")
        return self.endpoint + path

    def _scrub(self, item: Any) -> None:
        """Mask the token in what requests keeps of a request: the prepared request's headers, the message."""
        for holder in (item, getattr(item, "response", None)):
            request = getattr(holder, "request", None)
            headers = getattr(request, "headers", None)
            if headers is not None and "Authorization" in headers:
                headers["Authorization"] = f"Bearer {MASK}"
        if isinstance(item, BaseException):
            masked = [self.redact(a) for a in item.args]
            if masked != [str(a) for a in item.args]:
                item.args = tuple(masked)

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
    ) -> requests.Response:
        """One logical attempt: wait for the limiter, send, and send again after each 429 until a real answer.

        Transport errors are raised as requests raised them (with the token masked); `Stopped` is raised when
        `stop` is set while waiting, before the request went out. `cap` is a run's own pace on top of the
        server's; `on_wait(seconds)` hears of each wait for the server's rate-limit window.
        """
        url = self.url(path)
        method = method.upper()
        while True:
            if (cap is not None and not cap.wait(stop)) or not self.limiter.acquire(stop, on_wait=on_wait):
                raise Stopped(f"stopped before {method} {path} was sent")
            started = time.monotonic()
            try:
                response = self._request(method, url, json)
            except BaseException as error:
                self.limiter.observe(None, None)
                self._scrub(error)
                log.debug("%s %s failed after %.3f s: %s", method, path, time.monotonic() - started, self.redact(error))
                raise
            self.limiter.observe(response.status_code, response.headers)
            self._scrub(response)
            log.debug("%s %s -> %d in %.3f s", method, path, response.status_code, time.monotonic() - started)
            if response.status_code != 429:
                return response
            log.debug("429 for %s %s: retry after %s s", method, path, response.headers.get("Retry-After"))

    def _request(self, method: str, url: str, json: object) -> requests.Response:
        if not self._owns_session:  # a session passed in (tests): its own request(), as it defines it
            return self.session.request(
                method,
                url,
                json=json,
                headers=self._headers,
                auth=self._auth,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,  # a redirected PATCH can turn into a GET, or carry the token elsewhere
            )
        # Session.request() step by step, with the environment read once per client instead of once per request.
        import requests

        request = requests.Request(method, url, headers=self._headers, json=json, auth=self._auth, data={}, params={})
        prepared = self.session.prepare_request(request)
        return self.session.send(prepared, timeout=self.timeout, allow_redirects=False, **self._settings())

    def _settings(self) -> dict[str, Any]:
        environment = self._environment
        if environment is None or environment[0] != self.verify:  # `verify` is an attribute a caller may change
            settings = self.session.merge_environment_settings(self.endpoint, {}, None, self.verify, None)
            self._environment = environment = (self.verify, settings)
        return environment[1]

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
    ) -> Attempted:
        """`send()` under the retry policy: retried only as far as `classify()` says is safe."""
        return (policy or self.retry).run(
            lambda: self.send(method, path, json=json, stop=stop, cap=cap, on_wait=on_wait), unsafe=unsafe, stop=stop
        )

    def _get(self, path: str, *, stop: threading.Event | None = None) -> requests.Response:
        attempted = self.attempt("GET", path, unsafe=False, stop=stop)
        if isinstance(attempted.error, Stopped):
            raise attempted.error
        response = attempted.response
        if attempted.error is not None or response is None:
            error = attempted.error
            what = describe_transport_error(error, self.endpoint) if error is not None else "no answer"
            tries = f"{attempted.attempts} attempt{'s' * (attempted.attempts != 1)}"
            raise ApiError(self.redact(f"GET {path}: {what} ({tries})")) from error
        problem = self.api_answer_problem(response, text=path == "/version")
        if problem:
            raise ApiError(self.redact(f"GET {path}: {problem}"), status=response.status_code)
        if 200 <= response.status_code < 300:
            return response
        raise self.error_for(response, f"GET {path}")

    def api_answer_problem(self, response: requests.Response, *, text: bool = False) -> str | None:
        """Why an answer cannot have come from the Coolify API (an HTML page, a redirect), or None if it can.

        The API answers every /api/v1 request with JSON, 2xx, 4xx and redirects included (GET /version: plain
        text), so an HTML 200 is a web UI or a login proxy in front of it, and its "success" means nothing.
        Proxy errors (502, 503) and rate-limit answers are left to the status code.
        """
        code = response.status_code
        if code in (429,) or code >= 500:
            return None
        if 300 <= code < 400:
            location = response.headers.get("Location") or "elsewhere"
            seen = f"a {code} redirect to {location}"
        else:
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if text and 200 <= code < 300:
                if versions.parse(response.text.strip()) is not None:
                    return None
                seen = f"a {kind or 'page without a content type'} instead of a version number"
            elif "json" in kind and _json_decodes(response):
                return None
            else:
                seen = f"a {kind or 'body without a content type'} answer ({code}), not JSON"
        return (
            f"{self.endpoint} does not look like the Coolify API: it answered with {seen}. Use the address of the "
            "Coolify instance itself (e.g. https://coolify.example.com; /api/v1 is added), not the web UI behind a "
            "login page or proxy, and make sure nothing in between redirects /api/v1"
        )

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

    @property
    def server_version_problem(self) -> str | None:
        """Why `server_version()` returned None (None before it was called, or when it has a version)."""
        return self._version_problem

    def error_for(self, response: requests.Response, what: str = "") -> ApiError:
        """The exception for a non-2xx answer: AuthError (with a hint) for the token and access problems."""
        code = response.status_code
        message = _server_message(response)
        prefix = f"{what}: " if what else ""
        hint = auth_hint(code, message)
        if hint is not None:
            return AuthError(self.redact(f"{prefix}{code} {message} ({hint})"), status=code, hint=hint)
        if 300 <= code < 400:
            location = response.headers.get("Location", "")
            text = f"{prefix}{code} redirect to {location or 'elsewhere'}: redirects are not followed; use the final "
            text += "address as the endpoint"
            return ApiError(self.redact(text), status=code)
        return ApiError(self.redact(f"{prefix}{code} {message}".rstrip()), status=code)

    # --- the API -----------------------------------------------------------------------------------------------

    def get_json(self, path: str, *, stop: threading.Event | None = None) -> object:
        """GET an API path (retried: GETs are safe) and return the decoded JSON body."""
        response = self._get(path, stop=stop)
        try:
            return json_body(response)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ApiError(
                f"GET {path}: the answer is not JSON ({kind}); is {self.endpoint} a Coolify API address?",
                status=response.status_code,
            ) from None

    def list_databases(self) -> list[dict]:
        """Every database of the token's team, each with its `backup_configs`."""
        body = self.get_json("/databases")
        if not isinstance(body, list):
            raise ApiError(f"GET /databases: expected a JSON array, got {type(body).__name__}", status=200)
        return body

    def list_projects(self) -> list[dict]:
        """The token's team's projects: `id`, `uuid`, `name`, `description` each (one `GET /api/v1/projects`)."""
        body = self.get_json("/projects")
        if not isinstance(body, list):
            raise ApiError(f"GET /projects: expected a JSON array, got {type(body).__name__}", status=200)
        return body

    def get_project(self, uuid: str) -> dict:
        """One project with its `environments` (`id`, `uuid`, `name`, …): `GET /api/v1/projects/{uuid}`."""
        problem = uuid_problem(str(uuid))
        if problem:
            raise ValueError(f"project {problem}")
        body = self.get_json(f"/projects/{uuid}")
        if not isinstance(body, dict):
            raise ApiError(f"GET /projects/{uuid}: expected a JSON object, got {type(body).__name__}", status=200)
        return body

    def version(self) -> str:
        """The Coolify version, e.g. "4.3.11" (needs the read ability and an enabled API)."""
        return self._get("/version").text.strip()

    def health_answer(self) -> requests.Response:
        """The answer to `GET /health` (no token sent; the API switch does not matter); transport errors raise."""
        # Not through the limiter: this endpoint is throttled by IP, a different budget from the token's.
        return self.session.get(
            self.endpoint + "/health",
            headers={"User-Agent": USER_AGENT},
            timeout=self.timeout,
            verify=self.verify,
            allow_redirects=False,
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

        `context` names a coolify-cli instance and wins over the variables. `COOLIFY_URL` is never read: Coolify
        sets it inside every app it deploys, to that app's own address.
        """
        env = os.environ if environ is None else environ
        if kwargs.get("allow_http") is None:
            kwargs["allow_http"] = allow_http_from_env(env)
        endpoint = (env.get(ENDPOINT_VARIABLE) or "").strip()
        token = (env.get(TOKEN_VARIABLE) or "").strip()
        if context is None and endpoint and token:
            return cls(endpoint, token, **kwargs)
        path = Path(config_path) if config_path is not None else default_config_path(env)
        if not path.is_file():
            if context is not None:
                raise ConfigError(f"context {context!r} was asked for, but there is no coolify-cli config file {path}")
            missing = " and ".join(n for n, v in ((ENDPOINT_VARIABLE, endpoint), (TOKEN_VARIABLE, token)) if not v)
            message = f"no Coolify instance configured: {missing} not set, and no coolify-cli config file {path}"
            if not endpoint and env.get("COOLIFY_URL"):
                message += (
                    f" (COOLIFY_URL is set but not used: Coolify sets it inside deployed apps to the app's own "
                    f"address; set {ENDPOINT_VARIABLE} to the Coolify instance instead)"
                )
            raise ConfigError(message)
        name, fqdn, instance_token = _pick_instance(_read_config(path), context, path)
        if context is None and (endpoint or token):
            present = ENDPOINT_VARIABLE if endpoint else TOKEN_VARIABLE
            absent = TOKEN_VARIABLE if endpoint else ENDPOINT_VARIABLE
            log.warning(
                "%s is set but %s is not, so both are ignored: using the coolify-cli instance %r (%s) from %s",
                present,
                absent,
                name,
                fqdn,
                path,
            )
        return cls(fqdn, instance_token, **kwargs)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The coolify-cli config file: ~/.config/coolify/config.json."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or env.get("USERPROFILE")
    return (Path(home) if home else Path.home()) / ".config" / "coolify" / "config.json"


def _read_config(path: Path) -> object:
    try:
        with open(path, encoding="utf-8-sig") as file:
            return _json.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read the coolify-cli config file {path}: {error.strerror or error}") from None
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, _json.JSONDecodeError) else ""
        raise ConfigError(f"the coolify-cli config file {path} is not valid JSON{where}") from None


def _pick_instance(config: object, context: str | None, path: Path) -> tuple[str, str, str]:
    instances = config.get("instances") if isinstance(config, dict) else None
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise ConfigError(f'the coolify-cli config file {path} has no "instances" list')
    names = [str(i.get("name", "")) for i in instances]
    available = ", ".join(repr(n) for n in names) or "none"
    if context is not None:
        chosen = [i for i in instances if i.get("name") == context]
        if not chosen:
            raise ConfigError(f"no instance named {context!r} in {path}; available: {available}")
    else:
        chosen = [i for i in instances if i.get("default") is True]
        if len(chosen) != 1:
            problem = "no default instance" if not chosen else "several default instances"
            raise ConfigError(f"{problem} in {path}: choose one with context=<name> (available: {available})")
    instance = chosen[0]
    name = str(instance.get("name", ""))
    fqdn = instance.get("fqdn")
    token = instance.get("token")
    if not isinstance(fqdn, str) or not fqdn.strip():
        raise ConfigError(f"the instance {name!r} in {path} has no fqdn")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(f"the instance {name!r} in {path} has no token")
    return name, fqdn.strip(), token


# --- messages ------------------------------------------------------------------------------------------------------


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:300]
    return response.reason or ""


_HINTS = (
    ("Unauthenticated", "the token is unknown, expired or revoked: create a new one in Coolify under Keys & Tokens"),
    ("Invalid token", "the token has no team, or its user is no longer in the team: create a new token"),
    ("API is disabled", "the API is disabled in Coolify's settings: enable API access there"),
    (
        "not allowed to access the API",
        "this is the server's API IP allowlist, not the token: add this machine's address to the allowed IPs "
        "in Coolify's settings (0.0.0.0 allows every address)",
    ),
    ("Missing required team role", "the token's user must be an admin or owner of the team for this token"),
    (
        "Missing required permissions: read",
        "the token cannot read: give it the read ability, or send without reading first with diff=False "
        "(--no-diff on the command line)",
    ),
    (
        "Missing required permissions: write",
        "a read-only or deploy-only token: create one with the write ability in Coolify under Keys & Tokens",
    ),
    ("Missing required permissions", "the token lacks an ability this request needs"),
)


def auth_hint(code: int, message: str) -> str | None:
    """A hint for an answer about the token or access, None when the answer is not one."""
    if code not in (400, 401, 403):
        return None
    for needle, hint in _HINTS:
        if needle.lower() in message.lower():
            return hint
    if code == 401:
        return "the token was not accepted"
    if code == 403:
        return "the token is not allowed to do this"
    return None  # a 400 that is not about the token


def json_body(response: requests.Response) -> Any:
    """`response.json()`, decoded once per response (ValueError when it is not JSON): the check that an answer
    is the API's and the code reading the answer both need it, and a fleet's GET /databases is megabytes."""
    decoded = vars(response).get("_bulkbackup_json")
    if decoded is None:
        try:
            decoded = (True, response.json())
        except ValueError:
            decoded = (False, None)
        response._bulkbackup_json = decoded
    if not decoded[0]:
        raise ValueError("the answer is not JSON")
    return decoded[1]


def _json_decodes(response: requests.Response) -> bool:
    try:
        json_body(response)
    except ValueError:
        return False
    return True


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps: requests wraps urllib3, which wraps the socket or ssl error."""
    found: list[BaseException] = []
    pending: list[object] = [error]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or any(item is f for f in found) or len(found) > 20:
            continue
        found.append(item)
        pending.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return found


def describe_transport_error(error: BaseException, endpoint: str | None = None) -> str:
    """One line for a request that got no answer: what happened, to which HOST:PORT, and what to check.

    Replaces urllib3's "Max retries exceeded with url … NewConnectionError(…)" with e.g. "cannot connect to
    coolify.example.com:443 (connection refused) — check the address and port, and that Coolify is running".
    """
    import requests  # not with bulkbackup (see retry.py); an error from a request means it is loaded

    request = getattr(error, "request", None)
    url = getattr(request, "url", None) or endpoint or ""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = "?"
    where = f"{parts.hostname}:{port}" if parts.hostname else "the server"
    causes = _causes(error)
    texts = " ".join(str(c) for c in causes).lower()

    def has(*kinds: type) -> bool:
        return any(isinstance(c, kinds) for c in causes)

    certificate = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if certificate is not None or has(requests.exceptions.SSLError, ssl.SSLError):
        problem = getattr(certificate, "verify_message", None) or (
            str(certificate) if certificate else "handshake failed"
        )
        return (
            f"cannot connect to {where} (TLS error: {problem}) — check that the endpoint uses the instance's "
            "certificate; for a private CA give its bundle (ca_bundle=PATH)"
        )
    if has(ConnectionRefusedError) or "connection refused" in texts:
        return (
            f"cannot connect to {where} (connection refused) — check the address and port, and that Coolify is running"
        )
    if has(socket.gaierror) or "nameresolutionerror" in texts or "name or service not known" in texts:
        return f"cannot connect to {where} (name not found) — check the host name in the endpoint and your DNS"
    if has(requests.exceptions.ConnectTimeout):
        return f"cannot connect to {where} (no answer in time) — check the address, a firewall or the network"
    if has(requests.exceptions.ReadTimeout):
        return f"no answer from {where} in time (read timeout) — the server is slow or stuck; try again later"
    if has(ConnectionResetError, ConnectionAbortedError) or "remotedisconnected" in texts or "aborted" in texts:
        return f"the connection to {where} was closed before an answer — check a proxy in between, or try again"
    return f"cannot connect to {where} ({type(error).__name__}) — check the address and the network"
