"""SSRF guard for webhook URLs: https only, and every address the host resolves to must be
public. Checked at create, at update and again right before each delivery (DNS changes);
the delivery then connects to the vetted address itself, so a second lookup can't swap it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

MAX_URL_CHARS = 2048
Resolver = Callable[..., list[tuple[Any, ...]]]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL may not be called; the message is a sentence for the API caller."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # vetted, in resolver order


def _kind(ip: IP, allow_private: bool) -> str | None:
    """What makes an address off-limits, or None. Allowing private admits loopback and
    private ranges only: never unspecified, multicast, link-local (cloud metadata) or reserved."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return _kind(embedded, allow_private)
    for name, hit in (
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("link-local", ip.is_link_local),
    ):
        if hit:
            return name
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return None if allow_private else "private"
    return None


def _split(url: str, allow_private: bool) -> SplitResult:
    if len(url) > MAX_URL_CHARS:
        raise UnsafeUrl(f"The URL is longer than {MAX_URL_CHARS} characters.")
    parts = urlsplit(url.strip())
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in allowed:
        raise UnsafeUrl("The URL must start with https://.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL must not contain credentials.")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UnsafeUrl("The URL's port is not valid.") from exc
    return parts


def _addresses(host: str, port: int, resolve: Resolver) -> list[str]:
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UnsafeUrl(f"The URL's host {host} does not resolve.") from exc
    found = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not found:
        raise UnsafeUrl(f"The URL's host {host} does not resolve.")
    return found


def check_url(url: str, allow_private: bool = False, resolve: Resolver | None = None) -> Target:
    """The vetted target of `url`, or UnsafeUrl saying why it may not be called."""
    parts = _split(url, allow_private)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = _addresses(host, port, resolve or socket.getaddrinfo)
    for address in addresses:
        kind = _kind(ipaddress.ip_address(address), allow_private)
        if kind:
            raise UnsafeUrl(
                f"The URL's host {host} resolves to a {kind} address ({address}); "
                "webhooks may only call public addresses."
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, tuple(addresses))
