"""HashPolicy(seed=...): every hashed value is xxh64(value, seed), on both twins."""

from __future__ import annotations

import pytest
import xxhash

from hashlb.errors import ConfigError

from ._impl import Implementation

SEEDS = [0, 1, 0x9E3779B97F4A7C15, 2**64 - 1]


def _x(data: bytes, seed: int = 0) -> int:
    return xxhash.xxh64_intdigest(data, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_each_method_hashes_with_the_seed(impl: Implementation, seed: int) -> None:
    """Header, Cookie, SourceIP and QueryParameter hash their value with the policy's seed."""
    P = impl.HashPolicy
    request = impl.Request(
        headers={"x-user": "alice", "cookie": "s=bob"},
        path="/p?u=carol&e",
        remote_address="10.0.0.7:4000",
    )
    assert P(impl.Header("x-user"), seed=seed).hash(request) == _x(b"alice", seed)
    assert P(impl.Cookie("s"), seed=seed).hash(request) == _x(b"bob", seed)
    assert P(impl.SourceIP(), seed=seed).hash(request) == _x(b"10.0.0.7", seed)
    assert P(impl.QueryParameter("u"), seed=seed).hash(request) == _x(b"carol", seed)
    assert P(impl.QueryParameter("e"), seed=seed).hash(request) == _x(b"", seed)
    assert P(impl.Header("x-none"), seed=seed).hash(request) is None
    # the methods' own hash stays Envoy's (unseeded)
    assert impl.Header("x-user").hash(request) == _x(b"alice")


@pytest.mark.parametrize("seed", SEEDS)
def test_multi_value_chain_and_fold_start_from_the_seed(impl: Implementation, seed: int) -> None:
    """Several header values chain from the seed (sorted); methods fold as rotl1(h) ^ v."""
    request = impl.Request(headers=[("x-a", "b"), ("x-a", "a"), ("x-b", "c")])
    chain = _x(b"b", _x(b"a", seed))
    policy = impl.HashPolicy(impl.Header("x-a"), impl.Header("x-b"), seed=seed)
    h1 = chain
    h2 = _x(b"c", seed)
    expected = (((h1 << 1) | (h1 >> 63)) & (2**64 - 1)) ^ h2
    assert impl.HashPolicy(impl.Header("x-a"), seed=seed).hash(request) == chain
    assert policy.hash(request) == expected
    assert policy.evaluate(request).hash == expected


def test_generated_cookie_is_hashed_with_the_seed(impl: Implementation) -> None:
    """A generated cookie keeps Envoy's value (unseeded) and is hashed with the seed."""
    request = impl.Request(remote_address="10.0.0.1:34567", local_address="10.0.0.2:8080")
    value = b"%016x" % _x(b"10.0.0.1:3456710.0.0.2:8080")
    result = impl.HashPolicy(impl.Cookie("s", ttl=0), seed=99).evaluate(request)
    assert result.set_cookie == f's="{value.decode()}"; HttpOnly'
    assert result.hash == _x(value, 99)


def test_seed_zero_is_envoy_and_seed_is_configuration(impl: Implementation) -> None:
    """seed=0 is the default; the seed takes part in ==, hash(), and is hidden by repr."""
    P, H = impl.HashPolicy, impl.Header
    assert P(H("x")) == P(H("x"), seed=0)
    assert P(H("x")).seed == 0
    assert P(H("x"), seed=5) != P(H("x"), seed=6)
    assert P(H("x"), seed=5) == P(H("x"), seed=5)
    assert hash(P(H("x"), seed=5)) == hash(P(H("x"), seed=5))
    assert P(H("x"), seed=123456789).seed == 123456789
    assert "123456789" not in repr(P(H("x"), seed=123456789))
    assert "seed=<hidden>" in repr(P(H("x"), seed=123456789))
    assert repr(P(H("x"))) == "HashPolicy(Header('x', terminal=False))"


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ConfigError, r"seed must be in \[0, 2\*\*64\), got -1"),
        (2**64, ConfigError, r"seed must be in \[0, 2\*\*64\)"),
        (10**5000, ConfigError, r"got an int of 16610 bits"),
        (True, TypeError, "seed must be an int, not bool"),
        ("1", TypeError, "seed must be an int, not str"),
        (1.0, TypeError, "seed must be an int, not float"),
    ],
    ids=["negative", "2**64", "huge", "bool", "str", "float"],
)
def test_bad_seed(impl: Implementation, seed: object, error: type, match: str) -> None:
    """A bad seed raises the same error type and message in both twins."""
    with pytest.raises(error, match=match):
        impl.HashPolicy(impl.Header("x"), seed=seed)
