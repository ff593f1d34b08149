"""The transport: the one way a request leaves, for production and tests alike.

`Transport.send()` prepares a request on a `requests.Session` and sends it without redirects, with the settings
requests would read from the environment (CA bundle variables, proxies) read once per client instead of once per
request (~0.3 ms each, over a quarter of the client's CPU for a PATCH to a local server). Tests replace what is
under the seam, not the seam: a Session whose `send()` answers, or a local server.

Where the bytes go is decided here, once: a loopback endpoint never goes through a proxy (requests would send
`http://127.0.0.1` to `HTTP_PROXY` unless `NO_PROXY` says otherwise), and the plain-http rule is applied to the
hop to a proxy as well as to the endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bulkbackup._coolify.endpoint import check_hop, is_loopback

if TYPE_CHECKING:
    import requests

__all__ = ["Transport"]


class Transport:
    """Sends prepared requests for one endpoint through one session (a connection pool sized for the workers)."""

    def __init__(
        self, endpoint: str, *, session: requests.Session | None = None, workers: int = 4, allow_http: bool = False
    ):
        self.endpoint = endpoint
        self.owns_session = session is None
        self.session = session if session is not None else _new_session(workers)
        self.proxies, self.proxy = self._route(allow_http)
        self._settings: tuple[bool | str, dict[str, Any]] | None = None  # (for verify, the settings)

    def _route(self, allow_http: bool) -> tuple[dict[str, str], str | None]:
        """The proxies for every request, and the one the endpoint's requests go through (None: straight there),
        checked against the plain-http rule."""
        import requests.utils

        if is_loopback(urlsplit(self.endpoint).hostname or ""):
            return {}, None  # this machine: never through a proxy, whatever the environment says
        settings = self.session.merge_environment_settings(self.endpoint, {}, None, None, None)
        proxies = dict(settings["proxies"] or {})
        proxy = requests.utils.select_proxy(self.endpoint, proxies)
        check_hop(self.endpoint, proxy, allow_http=allow_http)
        return proxies, proxy

    def settings(self, verify: bool | str) -> dict[str, Any]:
        settings = self._settings
        if settings is None or settings[0] != verify:  # `verify` is an attribute a caller may change
            merged = self.session.merge_environment_settings(self.endpoint, {}, None, verify, None)
            merged["proxies"] = self.proxies  # explicit, so requests does not look again
            self._settings = settings = (verify, merged)
        return settings[1]

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        timeout: tuple[float, float],
        verify: bool | str,
        json: object = None,
        auth: Any = None,
    ) -> requests.Response:
        """One request, no redirects followed (a redirected PATCH can turn into a GET, or carry the token
        elsewhere); transport errors raise as requests raises them."""
        import requests

        request = requests.Request(method, url, headers=headers, json=json, auth=auth, data={}, params={})
        prepared = self.session.prepare_request(request)
        return self.session.send(prepared, timeout=timeout, allow_redirects=False, **self.settings(verify))

    def close(self) -> None:
        """Close the connection pool (a session passed in stays its owner's to close)."""
        if self.owns_session:
            self.session.close()


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
