"""The hash-policy and Set-Cookie cases of envoy-vectors-2.json, on both twins."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from ._impl import Implementation
from ._vectors import envoy_vectors

V2 = envoy_vectors("envoy-vectors-2.json")


@pytest.fixture
def P(impl: Implementation) -> ModuleType:
    """Return this twin's policy module."""
    return impl.module("policy")


def _method(P: ModuleType, spec: dict[str, Any]) -> Any:
    ((kind, args),) = spec.items()
    if kind == "source_ip":
        return P.SourceIP()
    if kind == "cookie":
        return P.Cookie(args["name"])
    if kind == "query_parameter":
        return P.QueryParameter(args["name"])
    if kind == "header":
        return P.Header(args["header_name"])
    if kind == "filter_state":
        return P.FilterState(args["key"])
    raise AssertionError(kind)


CASES = [c for c in V2["hash_policy"] if "filter_state" not in c]  # filter_state: test_filter_state


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hash_policy_vectors_2(P: ModuleType, case: dict[str, Any]) -> None:
    """Every request of each case hashes to Envoy's value (None: no hash)."""
    policy = P.HashPolicy(*[_method(P, m) for m in case["policy"]])
    for req in case["requests"]:
        request = P.Request(
            headers=[tuple(h) for h in req.get("headers", [])],
            remote_address=req.get("remote"),
            path=req.get("path"),
        )
        assert policy.hash(request) == req["expected_hash"], req


def test_set_cookie_value_vectors_2(P: ModuleType) -> None:
    """makeSetCookieValue with httponly (hash-policy cookies always set it)."""
    (case,) = [c for c in V2["set_cookie"] if "rows" in c]
    for row in case["rows"]:
        cookie = P.Cookie(row["name"], ttl=row["max_age"], path=row["path"] or None)
        assert cookie.set_cookie_value(row["value"]) == row["expected"], row


def test_add_cookie_no_duplicate_vector(P: ModuleType) -> None:
    """AddCookieNoDuplicate: the client's first Set-Cookie is the upstream's own.

    Envoy's test asserts exactly that (``headers.get(SetCookie)[0] == "foo=baz"``);
    the vector lists only that value.  Envoy's router then appends the generated
    cookie ("Append routing cookies" in router.cc, unconditionally in every
    version read), so hashlb returns both, the upstream's first.
    """
    (case,) = [c for c in V2["set_cookie"] if c["name"] == "AddCookieNoDuplicate"]
    cookie = case["cookie"]
    policy = P.HashPolicy(P.Cookie(cookie["name"], ttl=cookie["ttl_seconds"]))
    request = P.Request(remote_address="10.0.0.1:1234", local_address="10.0.0.2:80")
    result = policy.evaluate(request)
    generated = result.set_cookies
    assert len(generated) == 1 and generated[0].startswith(f'{cookie["name"]}="')
    assert generated[0].endswith("; Max-Age=1337; HttpOnly")
    seen = result.response_set_cookies(case["upstream_response_set_cookie"])
    expected = case["expected_downstream_set_cookie"]
    assert seen[: len(expected)] == tuple(expected)  # what Envoy's test checks
    assert seen == (*case["upstream_response_set_cookie"], *generated)  # what router.cc does


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        (None, ("g",)),
        ((), ("g",)),
        ("a=1", ("a=1", "g")),
        (b"a=\xe9", ("a=\xe9", "g")),
        (["a=1", bytearray(b"b=2")], ("a=1", "b=2", "g")),
    ],
)
def test_response_set_cookies_inputs(
    P: ModuleType, upstream: Any, expected: tuple[str, ...]
) -> None:
    assert P.HashResult(1, ("g",)).response_set_cookies(upstream) == expected
    assert P.HashResult(1, ("g",)).response_set_cookies(iter(["x=1"])) == ("x=1", "g")


@pytest.mark.parametrize("upstream", [1, [1], ["a", None], object()])
def test_response_set_cookies_bad_type(P: ModuleType, upstream: Any) -> None:
    with pytest.raises(TypeError, match="upstream"):
        P.HashResult(1).response_set_cookies(upstream)


def test_response_set_cookies_bounded(P: ModuleType) -> None:
    from hashlb._validate import MAX_UPSTREAM_SET_COOKIES

    many = ["a=1"] * MAX_UPSTREAM_SET_COOKIES
    assert len(P.HashResult(1).response_set_cookies(many)) == MAX_UPSTREAM_SET_COOKIES
    with pytest.raises(ValueError, match="more than"):
        P.HashResult(1).response_set_cookies(iter(lambda: "a=1", None))
