"""The SSRF address policy and the one-lookup vetting (no network, no database)."""

from __future__ import annotations

import pytest

from atendo.kit.netguard import WEB_PORTS, PortSet, TargetRefused, is_public_ip, vetted_addresses

pytestmark = pytest.mark.dbless

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "::1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "fe80::1",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.254",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.127.255.254",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    "224.0.0.1",
    "239.1.2.3",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation ranges are not on the internet either
    "2001:db8::1",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "172.15.255.254",
    "100.128.0.1",
    "100.63.255.254",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 around 8.8.8.8: how IPv6-only hosts reach IPv4 receivers
    "2002:808:808::1",
]


@pytest.mark.parametrize("ip", REFUSED)
def test_non_public_addresses_are_refused(ip: str) -> None:
    assert not is_public_ip(ip)
    with pytest.raises(TargetRefused, match="private, loopback or link-local"):
        vetted_addresses(ip, 80, allow_private=False)


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip: str) -> None:
    assert is_public_ip(ip)
    assert vetted_addresses(ip, 80, allow_private=False) == [ip]


class Answers:
    """A resolver seam that answers from a table and counts the questions."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(-2, "Name or service not known")
        return self.table[host]


def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    answers = Answers({"mixed.test": ["8.8.8.8", "2606:4700:4700::1111", "10.1.2.3"]})
    # the refusal never names the address: that is what a prober wants to learn
    with pytest.raises(TargetRefused, match=r"^mixed\.test resolves to a private, [a-z -]+$"):
        vetted_addresses("mixed.test", 443, allow_private=False, resolve=answers)
    assert answers.asked == ["mixed.test"]


def test_all_answers_come_back_in_order_from_one_lookup() -> None:
    answers = Answers({"ok.test": ["2606:4700:4700::1111", "1.1.1.1"]})
    got = vetted_addresses("ok.test", 443, allow_private=False, resolve=answers)
    assert got == ["2606:4700:4700::1111", "1.1.1.1"] and answers.asked == ["ok.test"]


def test_allowing_private_networks_still_resolves_once_and_keeps_the_answers() -> None:
    answers = Answers({"lan.test": ["192.168.1.5"]})
    got = vetted_addresses("lan.test", 80, allow_private=True, resolve=answers)
    assert got == ["192.168.1.5"] and answers.asked == ["lan.test"]


def test_ip_literals_are_not_looked_up() -> None:
    answers = Answers({})
    assert vetted_addresses("8.8.4.4", 80, allow_private=False, resolve=answers) == ["8.8.4.4"]
    assert answers.asked == []


def test_unresolvable_and_empty_answers_are_refused() -> None:
    answers = Answers({"empty.test": []})
    with pytest.raises(TargetRefused, match=r"cannot resolve nowhere\.test"):
        vetted_addresses("nowhere.test", 80, allow_private=False, resolve=answers)
    with pytest.raises(TargetRefused, match=r"cannot resolve empty\.test: no address"):
        vetted_addresses("empty.test", 80, allow_private=True, resolve=answers)


def test_the_system_resolver_sees_localhost_as_loopback() -> None:
    with pytest.raises(TargetRefused, match=r"^localhost resolves to a private, [a-z -]+$"):
        vetted_addresses("localhost", 80, allow_private=False)


def test_webhook_ports_are_80_and_443_plus_the_configured_list() -> None:
    """Issue 18: a tenant may not knock on any port: the port is checked before any lookup."""
    ports = PortSet.parse(WEB_PORTS, "8443, 9000-9100")
    assert [p in ports for p in (80, 443, 8443, 9000, 9050, 9100)] == [True] * 6
    assert [p in ports for p in (22, 25, 3306, 8080, 8999, 9101)] == [False] * 6
    answers = Answers({"hooks.test": ["8.8.8.8"]})
    for port in (22, 3306, 8080):
        with pytest.raises(TargetRefused, match=rf"^port {port} is not allowed"):
            vetted_addresses("hooks.test", port, allow_private=False, resolve=answers, ports=ports)
    assert answers.asked == []  # refused before asking the DNS anything
    got = vetted_addresses("hooks.test", 8443, allow_private=False, resolve=answers, ports=ports)
    assert got == ["8.8.8.8"]
    with pytest.raises(ValueError, match="not a port or port range"):
        PortSet.parse(WEB_PORTS, "70000")
