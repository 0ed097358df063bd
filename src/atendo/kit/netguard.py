"""Which addresses an outgoing request chosen by a tenant may reach (the SSRF guard).

A webhook URL is tenant input, so its host could point at the loopback interface, the cloud
metadata service or the office network. The guard resolves the host once, refuses it when any
answer is not a public unicast address, and hands back the answers so that the caller
connects to exactly those: resolving a second time at connect would let a DNS server answer
a public address to the check and 127.0.0.1 to the connection (DNS rebinding).

Ports are limited too (:class:`PortSet`): webhooks to 80 and 443, mail servers to the mail
ports, each plus a list the installation configures; otherwise a tenant could use Atendo to
knock on every port of a host. Refusals never name the address a host resolved to: that
answer is itself what a prober wants to learn.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

# (host, port) -> every address the host resolves to, as strings. Blocking: call it in a thread.
Resolver = Callable[[str, int], list[str]]

# Addresses of the NAT64 well-known prefix carry the IPv4 address they reach in the low bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class PortSet:
    """Allowed TCP ports: a fixed set plus ranges from a setting like ``"8443, 10000-10100"``.
    Compared by value (the SMTP pool keys its sessions by an account that holds one)."""

    ports: frozenset[int]
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, base: frozenset[int], extra: str) -> PortSet:
        """``base`` plus the comma-separated ports and ``low-high`` ranges of ``extra``;
        ValueError for anything else (the settings check it at start)."""
        ports = set(base)
        ranges: list[tuple[int, int]] = []
        for item in (part.strip() for part in extra.split(",")):
            if not item:
                continue
            low, _, high = item.partition("-")
            first, last = int(low), int(high or low)
            if not 1 <= first <= last <= 65535:
                raise ValueError(f"not a port or port range: {item!r}")
            if first == last:
                ports.add(first)
            else:
                ranges.append((first, last))
        return cls(frozenset(ports), tuple(ranges))

    def __contains__(self, port: object) -> bool:
        if not isinstance(port, int):
            return False
        return port in self.ports or any(low <= port <= high for low, high in self.ranges)


WEB_PORTS = frozenset({80, 443})


class TargetRefused(Exception):
    """The target may not be called; ``reason`` says why, in words for the API's last_errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    """All A and AAAA answers of the system resolver, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _reached_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a packet to ``ip`` really reaches: IPv6 forms that wrap an IPv4 address
    (mapped, 6to4, NAT64) are judged by the IPv4 address inside."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr in NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def is_public_ip(ip: str) -> bool:
    """True for a globally routable unicast address.

    ``is_global`` rather than ``not is_private``: shared address space (100.64/10, carrier NAT)
    is neither private nor global and must be refused too.
    """
    addr = _reached_address(ip)
    return addr.is_global and not (addr.is_multicast or addr.is_reserved)


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def vetted_addresses(
    host: str,
    port: int,
    *,
    allow_private: bool,
    resolve: Resolver = system_resolver,
    ports: PortSet | None = None,
) -> list[str]:
    """The addresses to connect to for ``host``, after one lookup; TargetRefused otherwise.

    Every answer must be public: one private answer among public ones is all a rebinding
    attacker needs, since the connection may pick any of them. ``ports``, when given, is the
    set ``port`` must belong to (checked before any lookup).
    """
    if ports is not None and port not in ports:
        raise TargetRefused(f"port {port} is not allowed for this kind of target")
    if is_ip_literal(host):
        addresses = [host]
    else:
        try:
            addresses = resolve(host, port)
        except OSError:
            raise TargetRefused(f"cannot resolve {host}") from None
        if not addresses:
            raise TargetRefused(f"cannot resolve {host}: no address")
    if not allow_private:
        for ip in addresses:
            if not is_public_ip(ip):
                raise TargetRefused(f"{host} resolves to a private, loopback or link-local address")
    return addresses
