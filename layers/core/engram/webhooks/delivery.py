"""One delivery attempt over HTTP(S), to the guard's vetted address (no second DNS lookup,
no redirects), with separate connect and read timeouts; and the retry schedule."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from engram import __version__
from engram.webhooks.guard import Target

USER_AGENT = f"Engram-Webhooks/{__version__}"
_MAX_ERROR_CHARS = 300
_MAX_RESPONSE_READ = 4096  # the body is ignored; read a little so the server isn't cut off


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    duration_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff_seconds(attempt: int, base: int, cap: int) -> int:
    """Wait after failed attempt `attempt` (1-based): base, 2·base, 4·base, ... up to cap."""
    return max(0, min(cap, base * 2 ** max(0, attempt - 1)))


def _connect(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self._addresses, self._read_timeout = target.addresses, read_timeout
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self._connect_timeout)
        self.sock.settimeout(self._read_timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to the vetted IP but verifies the certificate for the URL's host name."""

    def __init__(self, target: Target, connect_timeout: float, read_timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=connect_timeout, context=self._tls)
        self._addresses, self._read_timeout = target.addresses, read_timeout
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        raw = _connect(self._addresses, self.port, self._connect_timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        self.sock.settimeout(self._read_timeout)


def _describe(exc: Exception, read_timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"Timed out (connect or no response within {read_timeout:g}s)."
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {exc}"[:_MAX_ERROR_CHARS]
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(exc, http.client.HTTPException):
        return f"Malformed HTTP response: {type(exc).__name__}."
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
) -> Attempt:
    factory = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = factory(target, connect_timeout, read_timeout)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_READ)
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Attempt(None, _elapsed(started), _describe(exc, read_timeout))
    finally:
        connection.close()
    error = None if 200 <= status < 300 else f"The receiver answered HTTP {status}."
    return Attempt(status, _elapsed(started), error)


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
