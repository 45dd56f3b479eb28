"""Which URLs a webhook may call (SSRF): a webhook URL is user input, so the server must not
become a way into the machines only it can reach.

A target is checked when the hook is registered AND before every delivery: the host name is
resolved, every address it resolves to must be public (not private, loopback, link-local,
multicast, reserved or unspecified; an IPv6 address that embeds an IPv4 one — IPv4-mapped,
6to4, Teredo, NAT64 — is judged by that one too), and the request then goes to the checked
address itself, so a name that resolves differently a moment later (DNS rebinding) changes
nothing. ``WEBHOOK_ALLOW_PRIVATE`` lets private, loopback and link-local addresses through
(tests, intranets); multicast, unspecified and reserved ones never are.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
SCHEMES = ("http", "https")
# Resolves (host, port) to addresses; injectable so tests can play a rebinding DNS server.
Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# Kinds WEBHOOK_ALLOW_PRIVATE lets through; the others are never a real receiver.
PRIVATE_KINDS = frozenset({"loopback", "private", "link-local", "not publicly routable"})


class TargetError(ValueError):
    """The URL cannot receive webhooks; the message says why, for the person who typed it."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"The host name {host} does not resolve ({exc}).") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _kind(address: IPAddress) -> str | None:
    """What makes the address unfit for a public receiver, or None."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not publicly routable"
    return None


def _embedded(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a webhook may not connect to ``address`` (a phrase), or None when it may."""
    for candidate in (_embedded(address), address):  # the embedded one names it better
        if candidate is None:
            continue
        kind = _kind(candidate)
        if kind is None or (allow_private and kind in PRIVATE_KINDS):
            continue
        if kind == "not publicly routable":
            what = "an address that is not publicly routable"
        else:
            what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
        if candidate is not address:
            what += f" (it embeds {candidate})"
        return what
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address to connect to (``connect_url`` has it as the host)."""

    url: str
    scheme: str
    host: str  # as in the URL (the Host header and the TLS name)
    port: int
    address: str

    @property
    def connect_url(self) -> str:
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{ip}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def check_url(raw: str) -> str:
    """The URL as it will be stored, or :class:`TargetError` (shape only, no DNS)."""
    url = raw.strip()
    if not url:
        raise TargetError("Type the URL that should receive the alerts.")
    if len(url) > MAX_URL_LENGTH:
        raise TargetError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(not ch.isprintable() or ch.isspace() for ch in url):
        raise TargetError("The URL holds spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise TargetError("Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise TargetError(
            "Leave credentials out of the URL (user:password@…); sign with the secret."
        )
    try:
        port = parts.port
    except ValueError:
        raise TargetError("The URL's port is not a number from 1 to 65535.") from None
    if not parts.hostname or port == 0:
        raise TargetError(
            "The URL has no host name." if not parts.hostname else "Port 0 is not valid."
        )
    if parts.fragment:
        raise TargetError("Leave the #fragment out: it is never sent to a server.")
    return url


def resolve(raw: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Check the URL, resolve its host and check every address it resolves to.

    :raises TargetError: the URL is malformed, does not resolve, or names an address a
        webhook may not reach (the message names the address and why).
    """
    url = check_url(raw)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = ""
        if not _HOST_NAME.fullmatch(ascii_host):
            raise TargetError(f"The host name {host} is not valid.")
    names = [host] if literal is not None else resolver(host, port)
    if not names:
        raise TargetError(f"The host name {host} does not resolve to any address.")
    addresses = []
    for name in names:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # no IPv6 zone: not needed
        why = refusal(address, allow_private=allow_private)
        if why is not None:
            what = (
                f"The address {address} is"
                if literal is not None
                else f"{host} resolves to {address},"
            )
            raise TargetError(f"{what} {why}: webhooks can only reach public addresses.")
        addresses.append(str(address))
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
