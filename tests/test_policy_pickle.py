"""Pickling hash policies, methods, results and requests, on both twins (#12).

Each class pickles by its constructor arguments: a round trip gives an
equal object of the same twin that hashes every request as the original
does.  Pickles name their twin's classes, as RingHash, Maglev and Router do
(a pickle is read by the twin that wrote it).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from hashlb import Host
from hashlb.router import Router

from ._impl import Implementation


def methods(impl: Implementation) -> list[Any]:
    """Every hash method class, each with options other than its defaults."""
    return [
        impl.Header("X-User", regex_rewrite=("^u-(.*)$", "\\1"), terminal=True),
        impl.Header("x-tenant", envoy_version="1.17"),  # the first value only
        impl.Cookie("session", ttl=3600, path="/app", attributes={"SameSite": "Lax"}),
        impl.Cookie("plain", terminal=True),
        impl.SourceIP(xff_num_trusted_hops=2, use_remote_address=False, terminal=True),
        impl.QueryParameter("shard", terminal=True),
        impl.FilterState("io.istio.peer", terminal=True),
    ]


def requests(impl: Implementation) -> list[Any]:
    """Requests that every method above reads something from (and one empty)."""
    return [
        impl.Request(),
        impl.Request(
            headers=[("x-user", "u-alice"), ("x-tenant", "b"), ("x-tenant", "a")],
            path="/app?shard=7&x=1",
            remote_address="10.0.0.9:4242",
            local_address="10.0.0.1:80",
            filter_state={"io.istio.peer": "spiffe://a"},
        ),
        impl.Request(
            headers={"cookie": "session=abc; plain=1", "x-forwarded-for": "1.1.1.1, 2.2.2.2"},
            path="/?shard",
            remote_address="[2001:db8::1]:5",
            local_address="[2001:db8::2]:80",
        ),
    ]


def roundtrip(obj: object) -> Any:
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_every_method_pickles_to_an_equal_method(impl: Implementation, protocol: int) -> None:
    """Header, Cookie, SourceIP, QueryParameter, FilterState: equal, same class, same repr."""
    for method in methods(impl):
        again = pickle.loads(pickle.dumps(method, protocol=protocol))
        assert type(again) is type(method)
        assert again == method and hash(again) == hash(method)
        assert repr(again) == repr(method)
        for request in requests(impl):
            assert again.hash(request) == method.hash(request)


def test_a_policy_pickles_with_its_methods_and_seed(impl: Implementation) -> None:
    """A HashPolicy (with a seed) comes back equal and hashes and evaluates identically."""
    for seed in (0, 123456789):
        policy = impl.HashPolicy(*methods(impl), seed=seed)
        again = roundtrip(policy)
        assert type(again) is type(policy) and again == policy
        assert again.seed == seed and len(again) == len(policy)
        assert [type(m) for m in again.policies] == [type(m) for m in policy.policies]
        for request in requests(impl):
            assert again.hash(request) == policy.hash(request)
            assert again.evaluate(request) == policy.evaluate(request)
    assert roundtrip(impl.HashPolicy()) == impl.HashPolicy()


def test_a_generating_cookie_policy_still_generates(impl: Implementation) -> None:
    """A cookie with a ttl generates the same Set-Cookie after the round trip."""
    policy = impl.HashPolicy(impl.Cookie("sticky", ttl=60, path="/", attributes={"Secure": ""}))
    request = impl.Request(remote_address="10.1.2.3:5000", local_address="10.0.0.1:80")
    result = policy.evaluate(request)
    assert result.set_cookie is not None
    assert roundtrip(policy).evaluate(request) == result


def test_results_and_requests_pickle(impl: Implementation) -> None:
    """HashResult compares equal after a round trip; a Request keeps every field and hash."""
    result = impl.HashResult(2**64 - 1, ("a=1; HttpOnly", "b=2"))
    assert roundtrip(result) == result and type(roundtrip(result)) is type(result)
    assert roundtrip(impl.HashResult(None)) == impl.HashResult(None)
    policy = impl.HashPolicy(*methods(impl))
    fields = ("headers", "path", "remote_address", "local_address", "filter_state")
    for request in requests(impl):
        again = roundtrip(request)
        assert type(again) is type(request)
        assert [getattr(again, f) for f in fields] == [getattr(request, f) for f in fields]
        assert policy.hash(again) == policy.hash(request)
    asgi = impl.Request.from_asgi(
        {"headers": [(b"x-user", b"u-bob")], "path": "/p", "query_string": b"shard=3"}
    )
    assert policy.hash(roundtrip(asgi)) == policy.hash(asgi)


def test_an_uninitialised_method_does_not_pickle(impl: Implementation) -> None:
    """Pickling an object made with __new__ raises the twin's 'not initialised' TypeError."""
    for cls in (impl.Header, impl.Cookie, impl.SourceIP, impl.HashPolicy):
        with pytest.raises(TypeError, match="not initialised"):
            pickle.dumps(cls.__new__(cls))


def test_a_router_with_a_policy_pickles(impl: Implementation) -> None:
    """The pure twin's policies pickle now, so a Router with a policy does too."""
    hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a"}) for i in range(3)]
    router = Router(
        hosts,
        subsets={"a": {"v": "a"}},
        weights=impl.WeightedSubsetPicker({"a": 1}),
        balancer=impl.Maglev,
        policy=impl.HashPolicy(impl.Header("x-user"), impl.Cookie("s", ttl=5)),
    )
    again = roundtrip(router)
    assert again.policy == router.policy and type(again.policy) is type(router.policy)
    for user in ("alice", "bob", "carol"):
        request = impl.Request(headers={"x-user": user})
        assert again.route(request).host == router.route(request).host
