"""Which servers an e-mail address uses: the answer behind "type the address, the rest fills in".

Tried in this order, the first answer wins:

1. ``preset`` — the address's domain is one of the big mailbox providers (:data:`PRESETS`).
2. ``autoconfig`` — Thunderbird's autoconfiguration file, at
   ``autoconfig.<domain>/mail/config-v1.1.xml`` then ``<domain>/.well-known/autoconfig/mail/
   config-v1.1.xml`` (HTTPS, then HTTP as Thunderbird does). Each fetch goes through the SSRF
   guard (:func:`atendo.kit.guarded_fetch.guarded_fetch`): one vetted lookup, a short deadline,
   a size cap. The file is parsed with the stdlib's XML parser after refusing any DTD.
3. ``srv`` — DNS SRV records of RFC 6186 (``_imaps._tcp``, ``_imap._tcp``) and RFC 8314
   (``_submissions._tcp``, then ``_submission._tcp``); a target of ``.`` means "not offered".
4. ``mx`` — the domain's MX hosts mapped to a known provider (a Google Workspace domain has
   its MX at ``*.google.com``, a Microsoft 365 one at ``*.mail.protection.outlook.com``, …).

What is found is only a proposal: the admin edits any field before saving, and the channel's
connection test (through the mail network guard) decides. ``oauth`` names the provider whose
OAuth sign-in the channel can use (``google`` or ``microsoft``), else None.

Presets and MX suffixes follow each provider's public set-up page (the ``doc`` of each preset);
they were written from those pages and are data, not code: a provider that moves its servers
is a one-line change here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal
from xml.etree import ElementTree

import dns.asyncresolver
import dns.exception

from atendo.kit.guarded_fetch import FetchFailed, guarded_fetch
from atendo.kit.netguard import Resolver, system_resolver

Security = Literal["ssl", "starttls", "none"]
Source = Literal["preset", "autoconfig", "srv", "mx"]

AUTOCONFIG_MAX_BYTES = 64 * 1024
LOOKUP_TIMEOUT = 4.0  # seconds, for each fetch and each DNS question
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class MailServers:
    imap_host: str
    imap_port: int
    imap_security: Security
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    oauth: str | None = None
    source: Source = "preset"
    provider: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "imap_host": self.imap_host,
            "imap_port": self.imap_port,
            "imap_security": self.imap_security,
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_security": self.smtp_security,
            "oauth": self.oauth,
            "source": self.source,
            "provider": self.provider,
        }


@dataclass(frozen=True)
class Preset:
    name: str
    servers: MailServers
    domains: tuple[str, ...] = ()  # addresses @ these domains use it
    mx_suffixes: tuple[str, ...] = ()  # a domain whose MX ends so is hosted there
    doc: str = ""  # the provider's own set-up page


def _preset(
    name: str,
    imap: tuple[str, int, Security],
    smtp: tuple[str, int, Security],
    *,
    domains: Sequence[str] = (),
    mx: Sequence[str] = (),
    oauth: str | None = None,
    doc: str = "",
) -> Preset:
    servers = MailServers(*imap, *smtp, oauth=oauth, source="preset", provider=name)
    return Preset(name, servers, tuple(domains), tuple(mx), doc)


PRESETS: tuple[Preset, ...] = (
    _preset(
        "google",
        ("imap.gmail.com", 993, "ssl"),
        ("smtp.gmail.com", 465, "ssl"),
        domains=("gmail.com", "googlemail.com"),
        mx=(".google.com", ".googlemail.com"),
        oauth="google",
        doc="https://support.google.com/mail/answer/7126229",
    ),
    _preset(
        "microsoft",
        ("outlook.office365.com", 993, "ssl"),
        ("smtp.office365.com", 587, "starttls"),
        domains=("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.com.br"),
        mx=(".mail.protection.outlook.com", ".olc.protection.outlook.com"),
        oauth="microsoft",
        doc="https://support.microsoft.com/office/"
        "pop-imap-and-smtp-settings-8361e398-8af4-4e97-b147-6c6c4ac95353",
    ),
    _preset(
        "yahoo",
        ("imap.mail.yahoo.com", 993, "ssl"),
        ("smtp.mail.yahoo.com", 465, "ssl"),
        domains=("yahoo.com", "yahoo.com.br", "ymail.com", "rocketmail.com"),
        mx=(".yahoodns.net",),
        doc="https://help.yahoo.com/kb/SLN4075.html",
    ),
    _preset(
        "icloud",
        ("imap.mail.me.com", 993, "ssl"),
        ("smtp.mail.me.com", 587, "starttls"),
        domains=("icloud.com", "me.com", "mac.com"),
        mx=(".mail.icloud.com",),
        doc="https://support.apple.com/102525",
    ),
    _preset(
        "zoho",
        ("imap.zoho.com", 993, "ssl"),
        ("smtp.zoho.com", 465, "ssl"),
        domains=("zoho.com", "zohomail.com"),
        mx=(".zoho.com",),
        doc="https://www.zoho.com/mail/help/imap-access.html",
    ),
    _preset(
        "locaweb",
        ("email-ssl.com.br", 993, "ssl"),
        ("email-ssl.com.br", 465, "ssl"),
        mx=(".locaweb.com.br",),
        doc="https://www.locaweb.com.br/ajuda/wiki/configurar-email-locaweb-em-programas/",
    ),
    _preset(
        "uolhost",
        ("imap.uhserver.com", 993, "ssl"),
        ("smtps.uhserver.com", 465, "ssl"),
        mx=(".uhserver.com",),
        doc="https://ajuda.uolhost.com.br/",
    ),
    _preset(
        "kinghost",
        ("imap.kinghost.net", 993, "ssl"),
        ("smtp.kinghost.net", 465, "ssl"),
        mx=(".kinghost.net",),
        doc="https://king.host/wiki/artigo/configurando-e-mail-em-programas/",
    ),
    _preset(
        "hostinger",
        ("imap.hostinger.com", 993, "ssl"),
        ("smtp.hostinger.com", 465, "ssl"),
        mx=(".hostinger.com",),
        doc="https://support.hostinger.com/en/articles/1583288",
    ),
    _preset(
        "titan",
        ("imap.titan.email", 993, "ssl"),
        ("smtp.titan.email", 465, "ssl"),
        mx=(".titan.email",),
        doc="https://support.titan.email/hc/en-us/articles/900000215446",
    ),
)
# HostGator (Brazil) serves each account from its own cPanel server (mail.<domain> or the
# server's name), so it has no fixed preset; its domains publish autoconfig from cPanel.


# --- DNS ---------------------------------------------------------------------------------------

SrvRecord = tuple[int, int, int, str]  # priority, weight, port, target
MxRecord = tuple[int, str]  # preference, host


@dataclass(frozen=True)
class Dns:
    """The DNS questions discovery asks; tests pass their own answers."""

    srv: Callable[[str], Awaitable[list[SrvRecord]]]
    mx: Callable[[str], Awaitable[list[MxRecord]]]


async def _dns_srv(name: str) -> list[SrvRecord]:
    try:
        answer = await dns.asyncresolver.resolve(name, "SRV", lifetime=LOOKUP_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return []
    return [
        (int(r.priority), int(r.weight), int(r.port), str(r.target).rstrip(".")) for r in answer
    ]


async def _dns_mx(name: str) -> list[MxRecord]:
    try:
        answer = await dns.asyncresolver.resolve(name, "MX", lifetime=LOOKUP_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return []
    return [(int(r.preference), str(r.exchange).rstrip(".").lower()) for r in answer]


SYSTEM_DNS = Dns(srv=_dns_srv, mx=_dns_mx)


# --- the lookup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """How discovery reaches the outside: the SSRF guard's settings and seams."""

    allow_private: bool = False
    resolve: Resolver = system_resolver
    dns: Dns = SYSTEM_DNS
    fetch: Callable[..., Awaitable[object]] | None = None  # tests: guarded_fetch with a Nat
    timeout: float = LOOKUP_TIMEOUT


class NotAnAddress(ValueError):
    pass


def domain_of(address: str) -> str:
    local, at, domain = address.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not _DOMAIN.match(domain):
        raise NotAnAddress(address)
    return domain


async def discover(address: str, *, network: Network | None = None) -> MailServers | None:
    """The servers for ``address`` (see the module's map), or None when nothing answered."""
    net = network or Network()
    domain = domain_of(address)
    for preset in PRESETS:
        if domain in preset.domains:
            return preset.servers
    found = await _autoconfig(address, domain, net)
    if found is None:
        found = await _srv(domain, net)
    if found is None:
        found = await _mx(domain, net)
    return found


async def _autoconfig(address: str, domain: str, net: Network) -> MailServers | None:
    urls = [
        f"{scheme}://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}"
        for scheme in ("https", "http")
    ] + [
        f"{scheme}://{domain}/.well-known/autoconfig/mail/config-v1.1.xml"
        for scheme in ("https", "http")
    ]
    fetch = net.fetch or guarded_fetch
    for url in urls:
        try:
            got = await fetch(
                url,
                allow_private=net.allow_private,
                max_bytes=AUTOCONFIG_MAX_BYTES,
                timeout=net.timeout,
                resolve=net.resolve,
            )
        except FetchFailed:
            continue
        data = getattr(got, "data", b"")
        servers = parse_autoconfig(data, address=address) if isinstance(data, bytes) else None
        if servers is not None:
            return servers
    return None


_SOCKET = {"SSL": "ssl", "STARTTLS": "starttls", "plain": "none"}


def parse_autoconfig(data: bytes, *, address: str = "") -> MailServers | None:
    """The first IMAP and the first SMTP server of a ``clientConfig`` file, else None.

    Files with a DTD or entities are refused (no entity expansion from a remote file)."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        return None
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    provider = root.find("emailProvider")
    if provider is None:
        return None
    imap = next((s for s in provider.findall("incomingServer") if s.get("type") == "imap"), None)
    smtp = next((s for s in provider.findall("outgoingServer") if s.get("type") == "smtp"), None)
    if imap is None or smtp is None:
        return None
    local, _, domain = address.rpartition("@")
    parts = []
    for server in (imap, smtp):
        host = (server.findtext("hostname") or "").strip().lower()
        host = host.replace("%emaildomain%", domain).replace("%emaillocalpart%", local)
        try:
            port = int((server.findtext("port") or "").strip())
        except ValueError:
            return None
        security = _SOCKET.get((server.findtext("socketType") or "").strip())
        if not host or not 0 < port < 65536 or security is None or not _host_ok(host):
            return None
        parts.append((host, port, security))
    (ih, ip, isec), (sh, sp, ssec) = parts
    found = MailServers(ih, ip, isec, sh, sp, ssec, source="autoconfig")  # type: ignore[arg-type]
    return _with_provider(found)


async def _srv(domain: str, net: Network) -> MailServers | None:
    async def first(names: Sequence[tuple[str, Security]]) -> tuple[str, int, Security] | None:
        for name, security in names:
            records = sorted(await net.dns.srv(f"{name}.{domain}"), key=lambda r: (r[0], -r[1]))
            for _prio, _weight, port, target in records:
                target = target.lower().rstrip(".")
                if not target or port == 0:
                    break  # RFC 6186 3.4: the service is not offered at all
                if _host_ok(target):
                    return target, port, security
        return None

    imap, smtp = await asyncio.gather(
        first((("_imaps._tcp", "ssl"), ("_imap._tcp", "starttls"))),
        first((("_submissions._tcp", "ssl"), ("_submission._tcp", "starttls"))),
    )
    if imap is None or smtp is None:
        return None
    return _with_provider(MailServers(*imap, *smtp, source="srv"))


async def _mx(domain: str, net: Network) -> MailServers | None:
    for _pref, host in sorted(await net.dns.mx(domain)):
        preset = _preset_for_host(host)
        if preset is not None:
            return replace(preset.servers, source="mx")
    return None


def _preset_for_host(host: str) -> Preset | None:
    host = host.lower().rstrip(".")
    for preset in PRESETS:
        if any(host.endswith(suffix) or host == suffix[1:] for suffix in preset.mx_suffixes):
            return preset
    return None


def _with_provider(found: MailServers) -> MailServers:
    """Name the provider (and its OAuth) when the servers found are a known provider's."""
    preset = _preset_for_host(found.imap_host)
    if preset is None:
        for p in PRESETS:
            if found.imap_host == p.servers.imap_host:
                preset = p
    if preset is None:
        return found
    return replace(found, provider=preset.name, oauth=preset.servers.oauth)


def _host_ok(host: str) -> bool:
    return bool(_DOMAIN.match(host))
