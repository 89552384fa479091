"""Host keys as Envoy computes them: the canonical ``asString()`` of an address (spec-2 §16.2)."""

from __future__ import annotations

import pytest

from hashlb import Host
from hashlb._address import canonical_address
from hashlb.errors import ConfigError

from ._impl import Implementation

#: (typed, Envoy's asString()) from the spec-2 §16.2 table and its rules.
CANONICAL = [
    ("10.0.0.7:8080", "10.0.0.7:8080"),
    ("10.0.0.7:08080", "10.0.0.7:8080"),
    ("10.0.0.7:0", "10.0.0.7:0"),
    ("[01:023::00Ef]:32000", "[1:23::ef]:32000"),
    ("[2001:0DB8:0:0:1:0:0:1]:80", "[2001:db8::1:0:0:1]:80"),
    ("[2001:db8:0:1:0:0:0:1]:80", "[2001:db8:0:1::1]:80"),
    ("[::ffff:a00:7]:80", "[::ffff:10.0.0.7]:80"),
    ("[::1.2.3.4]:80", "[::1.2.3.4]:80"),
    ("[0:0:0:0:0:0:0:1]:80", "[::1]:80"),
    ("[::0.0.0.1]:80", "[::1]:80"),
    ("[::0.1.0.0]:80", "[::0.1.0.0]:80"),
    ("[::]:65535", "[::]:65535"),
    ("[fe80::1%2]:80", "[fe80::1%2]:80"),
    ("[fe80::1%0]:80", "[fe80::1]:80"),
    ("[fe80::1%002]:80", "[fe80::1%2]:80"),
    # Not IP literals: opaque names, kept as given.
    ("pod-a", "pod-a"),
    ("pod-a:8080", "pod-a:8080"),
    ("1password.com:443", "1password.com:443"),
    ("10.0.0.7", "10.0.0.7"),
    (
        "envoy://connect_originate/192.168.195.248:800",
        "envoy://connect_originate/192.168.195.248:800",
    ),
    ("/var/run/app.sock", "/var/run/app.sock"),
]

MALFORMED = [
    ("::1", "written \\[address\\]:port"),
    ("2001:db8::1:80", "written \\[address\\]:port"),
    ("fe80::1%2:80", "written \\[address\\]:port"),
    ("[::1]", "written \\[address\\]:port"),
    ("[::1]80", "written \\[address\\]:port"),
    ("[::1:80", "written \\[address\\]:port"),
    ("[::g]:80", "malformed IPv6"),
    ("[10.0.0.1]:80", "malformed IPv6"),
    ("10.0.0.01:80", "malformed IPv4"),
    ("010.0.0.1:80", "malformed IPv4"),
    ("1.2.3:80", "malformed IPv4"),
    ("256.0.0.1:80", "malformed IPv4"),
    ("10.0.0.1:65536", "port must be a number"),
    ("10.0.0.1:", "port must be a number"),
    ("10.0.0.1:8\u00b2", "port must be a number"),
    ("[::1]:x", "port must be a number"),
    ("[::1]:99999", "port must be a number"),
    ("pod-a:99999", "port must be a number"),
    ("[fe80::1%eth0]:80", "numeric interface index"),
]


@pytest.mark.parametrize(("typed", "key"), CANONICAL)
def test_canonical_address(typed: str, key: str) -> None:
    """Each spelling prints back as Envoy's asString(); a Host stores and hashes that form."""
    assert canonical_address(typed) == key
    host = Host(typed)
    assert (host.address, host.key()) == (key, key)
    assert host == Host(key) and hash(host) == hash(Host(key))


@pytest.mark.parametrize(("typed", "message"), MALFORMED)
def test_malformed_address_is_a_config_error(typed: str, message: str) -> None:
    """A malformed IP literal raises a ConfigError naming Host.address and the value."""
    with pytest.raises(ConfigError, match=message) as info:
        Host(typed)
    assert str(info.value).startswith("Host.address: ") and repr(typed)[1:-1] in str(info.value)


def test_two_spellings_are_one_host_in_a_table(impl: Implementation) -> None:
    """Envoy de-duplicates by asString(): two spellings of one address are a repeated address."""
    with pytest.raises(ConfigError, match=r"repeats the address"):
        impl.Maglev([Host("[2001:db8::1]:80"), Host("[2001:0db8:0::1]:80")], table_size=7)
    ring = impl.RingHash([Host("[2001:DB8::1]:80"), Host("10.0.0.1:80")], min_ring_size=64)
    same = impl.RingHash([Host("[2001:db8::1]:80"), Host("10.0.0.1:80")], min_ring_size=64)
    assert [ring.lookup(h).address for h in range(0, 2**64, 2**58)] == [
        same.lookup(h).address for h in range(0, 2**64, 2**58)
    ]
    assert ring.hosts[0].key() == "[2001:db8::1]:80"


def test_priority_and_health_fields() -> None:
    """priority is 0..128, health an EDS status name (case-insensitive); both are part of the value."""
    host = Host("10.0.0.1:80", priority=3, health="Draining")
    assert (host.priority, host.health) == (3, "draining")
    assert repr(host) == "Host('10.0.0.1:80', priority=3, health='draining')"
    assert host != Host("10.0.0.1:80", priority=3) and host != Host(
        "10.0.0.1:80", health="draining"
    )
    assert Host("10.0.0.1:80", priority=128).priority == 128
    for status in ("unknown", "HEALTHY", "unhealthy", "timeout", "degraded", "excluded"):
        assert Host("a:1", health=status).health == status.lower()
    with pytest.raises(ValueError, match=r"Host.priority must be in \[0, 128\], got 129"):
        Host("a:1", priority=129)
    with pytest.raises(ValueError, match=r"Host.priority must be in \[0, 128\], got -1"):
        Host("a:1", priority=-1)
    with pytest.raises(TypeError, match=r"Host\.priority must be an int, not bool"):
        Host("a:1", priority=True)
    with pytest.raises(ValueError, match=r"Host\.health must be one of unknown, healthy"):
        Host("a:1", health="sick")
    with pytest.raises(TypeError, match=r"Host\.health must be a str, not int"):
        Host("a:1", health=3)  # type: ignore[arg-type]


def test_pickles_of_the_previous_layout_still_load() -> None:
    """A Host pickled before priority and health existed restores as priority 0, healthy."""
    from hashlb._types import _restore

    old = _restore("10.0.0.1:80", 2, "h", None, "z", {"v": "1"})
    assert old == Host("10.0.0.1:80", 2, hostname="h", locality="z", labels={"v": "1"})
    assert (old.priority, old.health) == (0, "healthy")
