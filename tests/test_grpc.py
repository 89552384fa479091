"""gRPC's ring_hash rules without a network: ring sizes, merged endpoints, the request hash."""

from __future__ import annotations

import pytest

from hashlb import ConfigError, Host, Request, xxh64
from hashlb.grpc import RING_SIZE_CAP, RequestHashHeader, choose_ready, ring_config, ring_hash

from ._impl import Implementation


def test_sizes_are_checked_then_capped() -> None:
    """[1, 8388608] and max >= min are checked on the configured sizes, then both are capped."""
    assert RING_SIZE_CAP == 4096
    cfg = ring_config(["127.0.0.1:1"])
    assert (cfg["min_ring_size"], cfg["max_ring_size"]) == (1024, 4096)
    cfg = ring_config(["127.0.0.1:1"], min_ring_size=8192, max_ring_size=8192)
    assert (cfg["min_ring_size"], cfg["max_ring_size"]) == (4096, 4096)
    cfg = ring_config(["127.0.0.1:1"], min_ring_size=8, max_ring_size=300, ring_size_cap=100)
    assert (cfg["min_ring_size"], cfg["max_ring_size"]) == (8, 100)
    with pytest.raises(ConfigError, match=r"max_ring_size \(4096\) cannot be smaller than min"):
        ring_config(["127.0.0.1:1"], min_ring_size=8192)
    for field, value in (("min_ring_size", 0), ("max_ring_size", 2**23 + 1), ("ring_size_cap", 0)):
        with pytest.raises(ConfigError, match=rf"{field} must be in \[1, 8388608\]"):
            ring_config(["127.0.0.1:1"], **{field: value})
    with pytest.raises(TypeError, match="min_ring_size must be an int, not str"):
        ring_config(["127.0.0.1:1"], min_ring_size="8")  # type: ignore[arg-type]


def test_endpoints_merge_by_canonical_address(impl: Implementation) -> None:
    """A repeat (any spelling) adds its weight at the first position; Hosts keep their weight."""
    cfg = ring_config(["[::1]:80", "10.0.0.1:80", "[0::1]:80", Host("10.0.0.1:80", 3)])
    assert [(h.address, h.weight) for h in cfg["hosts"]] == [("[::1]:80", 2), ("10.0.0.1:80", 4)]
    ring = impl.RingHash(**cfg)
    assert (
        ring.entries_per_host
        == ring_hash(
            ["[::1]:80", "10.0.0.1:80", "[0::1]:80", Host("10.0.0.1:80", 3)]
        ).entries_per_host
    )
    with pytest.raises(TypeError, match="endpoints must be an iterable"):
        ring_config("127.0.0.1:1")
    with pytest.raises(TypeError, match=r"endpoints\[1\] must be an address or a Host, not int"):
        ring_config(["127.0.0.1:1", 7])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"Host\.address"):
        ring_config(["::1"])


def test_request_hash_header() -> None:
    """Values joined with ',' in order; empty hashes ''; absent, non-request or upper-case: None."""
    method = RequestHashHeader("x-user")
    assert method.terminal is True and repr(method) == "RequestHashHeader('x-user')"
    assert method.hash(Request(headers={"x-user": "alice"})) == xxh64("alice")
    assert method.hash(Request(headers=[("x-user", "a"), ("x-user", "b")])) == xxh64("a,b")
    assert method.hash(Request(headers={"x-user": ""})) == xxh64(b"")
    assert method.hash(Request(headers={"x-other": "a"})) is None
    assert method.hash(None) is None
    assert RequestHashHeader("X-User").hash(Request(headers={"x-user": "a"})) is None
    assert method == RequestHashHeader("x-user") and hash(method) == hash(
        RequestHashHeader("x-user")
    )
    with pytest.raises(TypeError, match="must be a str, not bytes"):
        RequestHashHeader(b"x-user")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-empty ASCII header name"):
        RequestHashHeader("")
    with pytest.raises(TypeError, match="immutable"):
        method.__init__("y")  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        method.name = "y"  # type: ignore[misc]


def test_choose_ready_walks_the_ring(impl: Implementation) -> None:
    """The first ready entry from the hash's own entry; nothing ready or an empty ring: None."""
    ring = impl.RingHash(**ring_config([f"10.0.0.{i}:80" for i in range(4)], min_ring_size=16))
    for h in (0, 99, 2**63, 2**64 - 1):
        first = ring.lookup(h)
        assert choose_ready(ring, h, lambda host: True) is first
        skipped = choose_ready(ring, h, lambda host, f=first: host is not f)
        walk = [ring.lookup(h, k) for k in range(len(ring))]
        assert skipped is next(x for x in walk if x is not first)
        assert choose_ready(ring, h, lambda host: False) is None
    assert choose_ready(impl.RingHash([]), 5, lambda host: True) is None
