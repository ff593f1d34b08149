"""The sandbox's HTTP transport at its edges: a port already in use is one clear error (also through the CLI), and
a request it cannot read (malformed, or TLS on its plain-HTTP port) gets a 400 and never a traceback."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys

import pytest
import requests

from bulkbackup.sandbox import PortUnavailable, Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(databases=3, seed=0, rate_limit=100_000) as sb:
        yield sb


def test_a_port_in_use_is_one_clear_error(sandbox):
    with pytest.raises(PortUnavailable) as caught, Sandbox(databases=1, port=sandbox.port):
        pass
    message = str(caught.value)
    assert message.startswith(f"port {sandbox.port} on 127.0.0.1 is already in use")
    assert "Errno" not in message and "\n" not in message
    assert isinstance(caught.value, OSError)


def test_a_port_out_of_range_is_one_clear_error():
    with pytest.raises(PortUnavailable, match="is not a port number"), Sandbox(databases=1, port=70000):
        pass


def test_the_cli_says_the_port_is_in_use_in_one_line(sandbox):
    result = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "sandbox", "--port", str(sandbox.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "already in use" in lines[0] and "Errno" not in lines[0] and "Traceback" not in result.stderr


def _raw(sandbox, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as connection:
        connection.sendall(data)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "data",
    [b"GARBAGE\r\n\r\n", b"GET /api/v1/version\r\n\r\n", b"\x00\x01\x02\x03\n", b"GET / HTTP/2.0\r\n\r\n"],
    ids=["one word", "no version", "binary", "HTTP/2"],
)
def test_a_malformed_request_gets_a_400_and_the_sandbox_goes_on(sandbox, data, capfd):
    answer = _raw(sandbox, data)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert requests.get(f"{sandbox.url}/api/health", timeout=10).status_code == 200
    assert "Traceback" not in capfd.readouterr().err and sandbox.errors == []


def test_tls_on_the_plain_port_gets_a_400_at_once(sandbox, capfd):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    # And through a client, as a user who typed https:// would see it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{sandbox.port}/api/health", timeout=10, verify=False)
    assert "Traceback" not in capfd.readouterr().err and sandbox.errors == []
    assert requests.get(f"{sandbox.url}/api/health", timeout=10).status_code == 200
