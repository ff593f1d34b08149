"""The HTTP transport: a threaded HTTP/1.1 keep-alive server on 127.0.0.1 in front of `Sandbox._respond`.

Speed matters (a bulk client is benchmarked against it), so the transport is lean: http.server's
ThreadingHTTPServer with daemon threads, keep-alive, Nagle off (otherwise every keep-alive request waits
~40 ms for a delayed ACK), one `write` of headers and body per response, no logging. A request it cannot read
(a malformed request line, a TLS handshake on this plain-HTTP port) gets a plain 400, never a traceback.
"""

from __future__ import annotations

import errno
import socket
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from bulkbackup.sandbox._http import ApiRequest, ApiResponse, exception_response

if TYPE_CHECKING:
    from bulkbackup.sandbox._server import Sandbox

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def proxy_response(status: int) -> ApiResponse:
    """What the reverse proxy in front of Coolify answers by itself (Traefik's plain-text pages)."""
    return ApiResponse(status, _REASONS[status].encode(), "text/plain; charset=utf-8", from_app=False)


class Headers(dict):
    """Request headers by lower-case name; the first of repeated headers wins, as with HTTPMessage.get()."""

    def get(self, name: str, default: str | None = None) -> str | None:
        return dict.get(self, name.lower(), default)  # not super(): this runs several times per request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server
    headers: Headers

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        """BaseHTTPRequestHandler's, with a lean header parser: http.client.parse_headers (the email package)
        costs more than the whole API call."""
        self.command = ""  # until the request line is read: a 400 for a malformed one must not need it
        try:
            if self.rfile.peek(1)[:1] == b"\x16":
                # A TLS handshake (https:// to this http port): no request line will ever come, so answer at
                # once, as a proxy does, instead of waiting for a line end that may not be there.
                self.close_connection = True
                self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
                return
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.raw_requestline = line
            words = line.decode("latin-1").split()
            if not words:
                return  # a stray CRLF between requests
            if len(line) > 65536 or len(words) != 3 or not words[2].startswith("HTTP/1."):
                self.close_connection = True
                self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
                return
            self.command, self.path, self.request_version = words
            headers = Headers()
            for _ in range(101):
                field = self.rfile.readline(65537)
                if field in (b"\r\n", b"\n", b""):
                    break
                name, _, value = field.decode("latin-1").partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            else:
                self.close_connection = True
                self._write(ApiResponse(431, b"Request Header Fields Too Large", "text/plain", from_app=False))
                return
            self.headers = headers
            connection = headers.get("connection", "").lower()
            self.close_connection = connection == "close" or (
                self.request_version == "HTTP/1.0" and connection != "keep-alive"
            )
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._serve()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:  # a request the parser above cannot take: a 400, never a traceback
            self.close_connection = True
            try:
                self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
            except OSError:
                pass

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.strip().isdigit():
            return None
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            # The connection closed mid-body (the sandbox stopping under a client): no request to answer or record.
            raise ConnectionError("the connection closed before the whole body arrived")
        return body

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
            return
        request = ApiRequest(self.command, self.path, self.headers, body, self.client_address[0])
        try:
            response = self.server.sandbox._respond(request)
        except Exception as error:  # a sandbox bug: answer as Laravel would, and keep it for the tests to see
            self.server.sandbox.errors.append(error)
            traceback.print_exc()
            response = exception_response(request, 500, "Server Error", "Server Error")
        if response is None:  # the "drop" fault: close without a word
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: ApiResponse) -> None:
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}",
            f"Date: {_http_date()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        if response.from_app:
            lines.append("Cache-Control: no-cache, private")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)


class PortUnavailable(OSError):
    """The sandbox cannot listen on the port it was given; the message is one line that says what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


def unavailable(port: int, error: OSError | OverflowError) -> PortUnavailable:
    code = getattr(error, "errno", None)
    if code == errno.EADDRINUSE:
        why = "is already in use (another sandbox or server listens there): choose another port, or 0 for any free one"
    elif code == errno.EACCES:
        why = "needs privileges this process lacks (ports below 1024): choose a port of 1024 or above, or 0"
    elif isinstance(error, OverflowError):
        why = "is not a port number: choose one of 1-65535, or 0 for any free one"
    else:
        why = f"cannot be listened on: {getattr(error, 'strerror', None) or error}"
    return PortUnavailable(code or errno.EINVAL, f"port {port} on 127.0.0.1 {why}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, sandbox: Sandbox):
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
