"""Property tests of the hash policies: totality, order independence, parser model, chain rule."""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import cache
from types import ModuleType
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

import xxhash  # noqa: E402
from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hashlb._compat import NO_EXTENSIONS  # noqa: E402

from ._impl import PY, C, Implementation  # noqa: E402
from .strategies import (  # noqa: E402
    addresses,
    cookie_strings,
    header_pairs,
    hostile_config,
    hostile_environs,
    hostile_request_kwargs,
    hostile_scopes,
    hostile_text,
    hostile_values,
    request_text,
    xff_values,
)

M64 = 2**64 - 1
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
#: The totality property runs 100,000 examples in the CI profile, each on both
#: twins, in CI's compiled job.  Hypothesis itself costs ~1-2 ms per example on
#: the 2-core machine, so CI's pure job (which cannot check the compiled twin)
#: runs 10,000 instead of paying that again; the dev profile runs 1,000.
TOTALITY_EXAMPLES = (10_000 if NO_EXTENSIONS else 100_000) if PROFILE == "ci" else 1_000


def _module(impl: Implementation) -> ModuleType:
    """Return this twin's policy module."""
    return impl.module("policy")


@cache
def _methods(tag: str) -> tuple[Any, ...]:
    """Return a fixed set of hash methods of one twin, covering every code path."""
    P = _module(PY if tag == "py" else C)
    return (
        P.Header("x-user"),
        P.Header("X-User", regex_rewrite=(r"[a-f](\d?)", r"<\1\\>")),
        P.Header(":path"),
        P.Header(":authority", terminal=True),
        P.Cookie("s"),
        P.Cookie("s", ttl=60, path="/", attributes={"Secure": ""}),
        P.Cookie("c", ttl=0, terminal=True),
        P.SourceIP(),
        P.SourceIP(xff_num_trusted_hops=1),
        P.SourceIP(xff_num_trusted_hops=3, terminal=True),
        P.SourceIP(use_remote_address=False),
        P.QueryParameter("u"),
        P.QueryParameter("s", terminal=True),
    )


@cache
def _everything(tag: str) -> Any:
    P = _module(PY if tag == "py" else C)
    return P.HashPolicy(*(m for m in _methods(tag) if not m.terminal))


_NAMES: tuple[object, ...] = (
    b"x-user",
    "X-User",
    b"cookie",
    "Cookie",
    "x-forwarded-for",
    b"X-Forwarded-For",
    "host",
    ":path",
    ":authority",
    b"x-other",
    "x-\u212a",
    b"",
)
_VALUES: tuple[object, ...] = (
    "s=v; c=1",
    's="v"',
    "s=",
    ' s="',
    "203.0.113.9, 10.0.0.1",
    "::ffff:1.2.3.4,",
    "/p?u=1&s",
    "10.0.0.1:80",
    "[2001:db8::1]:443",
    "fe80::1%eth0",
    "::1",
    "",
    "\udc80",
    "1.2.3.4%x",
)
#: Junk, and the hostile objects of issue 10 (memoryview, numpy, subclasses whose
#: methods raise, huge digit strings ...): prebuilt, so they cost nothing per example.
_JUNK: tuple[object, ...] = (
    None,
    5,
    ("x-user",),
    (b"cookie", 5),
    b"",
    "",
    3.5,
    (),
    *hostile_values(),
)


def _request_kwargs(ctrl: bytes, blob: bytes) -> dict[str, Any]:
    """Expand two random byte strings into Request arguments of random request data.

    *blob* is cut at ``|`` into atoms, each usable as raw bytes (maybe invalid
    UTF-8) or as text decoded three ways (latin-1; UTF-8 with surrogate
    escapes; UTF-16 with lone surrogates passed through).  Each *ctrl* byte
    picks the next value: an atom, a well-known name or value, or junk.
    Two draws keep Hypothesis' per-example cost low.
    """
    atoms: list[object] = []
    for a in blob.split(b"|"):
        atoms += [
            a,
            a.decode("latin-1"),
            a.decode("utf-8", "surrogateescape"),
            a[: len(a) & ~1].decode("utf-16-le", "surrogatepass"),
        ]
    it = iter(ctrl)

    def pick() -> object:
        c = next(it, 0)
        kind, idx = c % 5, c // 5
        if kind <= 1:
            return atoms[idx % len(atoms)]
        if kind == 2:
            return _NAMES[idx % len(_NAMES)]
        if kind == 3:
            return _VALUES[idx % len(_VALUES)]
        return _JUNK[idx % len(_JUNK)]

    headers: list[object] = []
    for _ in range(next(it, 0) % 9):
        name, value = pick(), pick()
        headers.append((name, value) if next(it, 1) % 13 else name)
    remote = pick()
    if next(it, 0) % 3 == 0:
        remote = (remote, pick())
    return {
        "headers": headers,
        "path": pick(),
        "remote_address": remote,
        "local_address": pick(),
        "authority": pick() if next(it, 0) % 2 else None,
    }


def _twins(config: pytest.Config) -> list[str]:
    """Return the twins to check: "py", plus "c" when it is built and not deselected."""
    tags = ["py"]
    if config.getoption("--c-extensions"):
        tags.append("c")
    return tags


@settings(
    max_examples=TOTALITY_EXAMPLES,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ctrl=st.binary(max_size=48), blob=st.binary(max_size=64))
@example(ctrl=b"\x02\x02\x00\x07\x01\x03\x03\x04", blob=b"\xed\xa0|\x00\xd8|s=\xff")
def test_request_data_never_raises(pytestconfig: pytest.Config, ctrl: bytes, blob: bytes) -> None:
    """Random request data (surrogates, invalid UTF-8, junk) gives an int or None, equal on both twins.

    This one property checks every available twin per example, so the
    100,000 CI examples pay Hypothesis' per-example cost once; it also checks
    that the twins agree.
    """
    kwargs = _request_kwargs(ctrl, blob)
    results = []
    for tag in _twins(pytestconfig):
        # every method runs (none is terminal); a twin difference in any of
        # them changes the folded hash
        result = _everything(tag).evaluate(_module(PY if tag == "py" else C).Request(**kwargs))
        assert result.hash is None or 0 <= result.hash <= M64
        assert all(c.endswith("; HttpOnly") for c in result.set_cookies)
        results.append((result.hash, result.set_cookies))
    assert all(row == results[0] for row in results)


@given(
    headers=header_pairs,
    extra=st.lists(st.tuples(st.just("x-user"), request_text), max_size=4),
    data=st.data(),
)
def test_header_order_never_changes_the_hash(
    impl: Implementation, headers: list[Any], extra: list[Any], data: st.DataObject
) -> None:
    """Permuting the header list leaves Header, QueryParameter and SourceIP(0) hashes unchanged."""
    P = _module(impl)
    pairs = headers + extra
    shuffled = data.draw(st.permutations(pairs))
    methods = [m for m in _methods(impl.tag) if type(m).__name__ in ("Header", "QueryParameter")]
    methods.append(P.SourceIP())
    policy = P.HashPolicy(*methods)
    a = P.Request(headers=pairs, path="/?u=1", remote_address="10.0.0.1:2")
    b = P.Request(headers=shuffled, path="/?u=1", remote_address="10.0.0.1:2")
    assert policy.hash(a) == policy.hash(b)
    for m in methods:
        assert m.hash(a) == m.hash(b)


def _reference_cookie(headers: list[str], name: str) -> str | None:
    """The plain-Python model of Envoy's cookie parser (spec §8.3)."""
    for header in headers:
        for piece in header.split(";"):
            if "=" not in piece:
                continue
            key, value = piece.split("=", 1)
            if key.lstrip(" ") != name:
                continue
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            return value
    return None


@given(headers=st.lists(cookie_strings, max_size=3), name=st.sampled_from(["s", "c", "sc"]))
@example(headers=['s"=1; s=""; s="x"'], name="s")
@example(headers=[" ; s", "  s=a"], name="s")
def test_cookie_parser_matches_model(impl: Implementation, headers: list[str], name: str) -> None:
    """The cookie parser agrees with a simple reference model on random cookie strings."""
    P = _module(impl)
    r = P.Request(headers=[("cookie", h) for h in headers])
    value = _reference_cookie(headers, name)
    expected = xxhash.xxh64_intdigest(value.encode()) if value else None
    assert P.Cookie(name).hash(r) == expected


@given(
    picks=st.lists(st.integers(0, 12), max_size=6),
    headers=header_pairs,
    xff=xff_values,
    remote=addresses,
    local=addresses,
    path=st.one_of(st.none(), request_text),
)
def test_chain_rule(
    impl: Implementation,
    picks: list[int],
    headers: list[Any],
    xff: str,
    remote: Any,
    local: Any,
    path: Any,
) -> None:
    """HashPolicy folds the methods' own hashes with rotl1-XOR, stopping at a terminal one."""
    P = _module(impl)
    methods = [_methods(impl.tag)[i] for i in picks]
    r = P.Request(
        headers=[*headers, ("x-forwarded-for", xff)],
        path=path,
        remote_address=remote,
        local_address=local,
    )
    h: int | None = None
    cookies: list[str] = []
    for m in methods:
        v = m.hash(r)
        if type(m).__name__ == "Cookie":
            res = m.evaluate(r)
            assert res.hash == v
            cookies.extend(res.set_cookies)
        if v is not None:
            h = v if h is None else (((h << 1) | (h >> 63)) & M64) ^ v
        if h is not None and m.terminal:
            break
    policy = P.HashPolicy(*methods)
    assert policy.hash(r) == h
    assert policy.evaluate(r) == P.HashResult(h, tuple(cookies))


def _reference_xff(xff: str, hops: int) -> str | None:
    """Model of Envoy's getLastAddressFromXFF(hops - 1) + parseInternetAddress (ipaddress-based)."""
    for _ in range(hops - 1):
        comma = xff.rfind(",")
        if comma < 0:
            return None
        xff = xff[:comma]
    comma = xff.rfind(",")
    if comma >= 0 and comma + 1 < len(xff):
        xff = xff[comma + 1 :]
    try:
        ip = ipaddress.ip_address(xff.strip(" \t\n\r\x0b\x0c"))
    except ValueError:
        return None
    if ip.version == 4:
        return str(ip)
    return socket.inet_ntop(socket.AF_INET6, ip.packed)  # glibc's text, like Envoy


@given(xff=xff_values, hops=st.integers(0, 6), remote=addresses)
@example(xff="1.2.3.4,", hops=1, remote="10.0.0.1")
@example(xff="1.2.3.4, ::1.2.3.4", hops=1, remote=None)
def test_source_ip_matches_model(impl: Implementation, xff: str, hops: int, remote: Any) -> None:
    """SourceIP(N) takes the N-th XFF entry from the right when it is an IP, else the peer."""
    hypothesis.assume("%" not in xff)
    P = _module(impl)
    r = P.Request(headers=[("x-forwarded-for", xff)], remote_address=remote)
    peer = P.SourceIP().client_ip(r)
    expected = (_reference_xff(xff, hops) if hops else None) or peer
    assert P.SourceIP(xff_num_trusted_hops=hops).client_ip(r) == expected
    assert P.SourceIP(xff_num_trusted_hops=hops).hash(r) == (
        None if expected is None else xxhash.xxh64_intdigest(expected.encode())
    )


#: IP-ish text: digits, hex, colons, dots, zones, brackets and a port; or real
#: addresses in any notation (exploded, upper case, mapped), maybe bracketed with a port.
ip_text = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF:.%[]e th", max_size=46),
    st.builds(
        lambda ip, style, port: (
            (f"[{ip}]" if port is not None and ":" in ip else ip)
            + ("" if port is None else f":{port}")
        ),
        st.one_of(
            st.ip_addresses().map(str),
            st.ip_addresses(v=6).map(lambda a: a.exploded),
            st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
            st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
            st.ip_addresses(v=4).map(lambda a: f"::{a}"),
        ),
        st.none(),
        st.one_of(st.none(), st.integers(0, 65535)),
    ),
)


@pytest.mark.c_extension
@given(
    remote=st.one_of(ip_text, ip_text.map(str.encode), st.tuples(ip_text, st.integers(0, 70000))),
    local=st.one_of(ip_text, st.tuples(ip_text, st.none())),
    xff=st.lists(ip_text, max_size=3).map(", ".join),
    hops=st.integers(0, 3),
)
@example(remote="[::ffff:1.2.3.4]:80", local="fe80::1%eth0", xff="::1.2.3.4", hops=1)
@example(remote="0:0:0:0:0:ffff:102:304", local=("1.2.3.4", None), xff="1.2.3.4,", hops=1)
def test_addresses_agree_across_twins(remote: Any, local: Any, xff: str, hops: int) -> None:
    """libc inet_pton/inet_ntop in C and the socket module in Python give the same text."""
    out = []
    for P in (_module(C), _module(PY)):
        r = P.Request(
            headers=[("x-forwarded-for", xff)], remote_address=remote, local_address=local
        )
        out.append(
            (
                P.SourceIP(xff_num_trusted_hops=hops).client_ip(r),
                P.SourceIP(xff_num_trusted_hops=hops, use_remote_address=False).client_ip(r),
                P.Cookie("s", ttl=0).evaluate(r).set_cookie,
            )
        )
    assert out[0] == out[1]


# ------------------------------------------------------------ hostile input (issue 10)


def _outcome(fn: Any) -> tuple[Any, ...]:
    """Return ``("ok", result)`` or ``("raise", exception type)`` of calling *fn*."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raise", type(exc))


def _evaluate(tag: str, make: Any) -> tuple[Any, ...]:
    """Build a request with *make(Request)* on twin *tag*; evaluate every method and the policy."""
    P = _module(PY if tag == "py" else C)
    request = make(P.Request)
    out: list[Any] = []
    for m in _methods(tag):
        r = m.evaluate(request) if type(m).__name__ == "Cookie" else m.hash(request)
        out.append(r.hash if type(m).__name__ == "Cookie" else r)
    result = _everything(tag).evaluate(request)
    out.append((result.hash, result.set_cookies))
    out.append(P.SourceIP().client_ip(request))
    return tuple(out)


def _agree(pytestconfig: pytest.Config, make: Any, *, total: bool) -> None:
    """Assert every twin gives the same outcome (result or exception type) for *make*."""
    outcomes = [_outcome(lambda tag=tag: _evaluate(tag, make)) for tag in _twins(pytestconfig)]
    if total:
        assert outcomes[0][0] == "ok", outcomes[0]
    assert all(o == outcomes[0] for o in outcomes), outcomes


@settings(max_examples=300 if PROFILE == "ci" else 100, deadline=None, database=None)
@given(kwargs=hostile_request_kwargs)
def test_twins_agree_on_hostile_request_data(pytestconfig: pytest.Config, kwargs: Any) -> None:
    """``Request(headers=[...], ...)`` of hostile objects: no raise, the same hashes on both twins.

    The names and values are memoryviews, numpy arrays and scalars, str/bytes
    subclasses whose every method raises, ints, None, huge (digit) strings,
    invalid UTF-8 and lone surrogates; a twin that calls a method of one, or
    reads one differently, fails here.
    """
    _agree(pytestconfig, lambda R: R(**kwargs), total=True)


@settings(max_examples=300 if PROFILE == "ci" else 100, deadline=None, database=None)
@given(scope=hostile_scopes)
def test_twins_agree_on_hostile_asgi_scopes(pytestconfig: pytest.Config, scope: Any) -> None:
    """``Request.from_asgi`` of a scope of hostile values: no raise, equal on both twins."""
    _agree(pytestconfig, lambda R: R.from_asgi(scope), total=True)


@settings(max_examples=300 if PROFILE == "ci" else 100, deadline=None, database=None)
@given(environ=hostile_environs)
def test_twins_agree_on_hostile_wsgi_environs(pytestconfig: pytest.Config, environ: Any) -> None:
    """``Request.from_wsgi`` of an environ of hostile keys and values: no raise, equal."""
    _agree(pytestconfig, lambda R: R.from_wsgi(environ), total=True)


@settings(max_examples=200 if PROFILE == "ci" else 100, deadline=None, database=None)
@given(headers=hostile_text, name=hostile_text)
def test_twins_agree_on_hostile_request_containers(
    pytestconfig: pytest.Config, headers: Any, name: Any
) -> None:
    """Odd ``headers`` containers and ``get_all`` names: the same result or exception type."""
    outcomes = []
    for tag in _twins(pytestconfig):
        P = _module(PY if tag == "py" else C)
        made = _outcome(lambda P=P: P.Request(headers=headers))
        got = _outcome(lambda r=made[1]: r.get_all(name)) if made[0] == "ok" else ("skipped",)
        outcomes.append((made[0], made[1] if made[0] == "raise" else None, got))
    assert all(o == outcomes[0] for o in outcomes), outcomes


def _configure(tag: str, kind: int, a: Any, b: Any, c: Any) -> Any:
    """Build one configuration object of twin *tag* from hostile arguments; return its key."""
    P = _module(PY if tag == "py" else C)
    if kind == 0:
        obj = P.Header(a)
    elif kind == 1:
        obj = P.Header(a, regex_rewrite=b)
    elif kind == 2:
        obj = P.Header("x", regex_rewrite=(a, b))
    elif kind == 3:
        obj = P.Cookie(a, ttl=b, path=c)
    elif kind == 4:
        obj = P.Cookie("s", ttl=0, attributes=a)
    elif kind == 5:
        obj = P.QueryParameter(a, terminal=b)
    elif kind == 6:
        obj = P.SourceIP(xff_num_trusted_hops=a, use_remote_address=b)
    elif kind == 7:
        obj = P.HashPolicy(a)
    else:
        obj = P.HashPolicy(P.Header("x"), seed=a)
    return (type(obj).__name__, repr(obj), hash(obj))


@settings(max_examples=400 if PROFILE == "ci" else 100, deadline=None, database=None)
@given(
    kind=st.integers(0, 8),
    a=hostile_config,
    b=st.one_of(hostile_config, st.tuples(hostile_config, hostile_config), st.none()),
    c=st.one_of(st.none(), hostile_config),
)
def test_twins_agree_on_hostile_configuration(
    pytestconfig: pytest.Config, kind: int, a: Any, b: Any, c: Any
) -> None:
    """Hostile configuration: both twins build the same policy or raise the same type.

    The raised type is always TypeError or ValueError (ConfigError is one),
    never whatever a hostile object's method raises.
    """
    outcomes = [
        _outcome(lambda t=tag: _configure(t, kind, a, b, c)) for tag in _twins(pytestconfig)
    ]
    assert all(o == outcomes[0] for o in outcomes), outcomes
    if outcomes[0][0] == "raise":
        assert issubclass(outcomes[0][1], (TypeError, ValueError)), outcomes[0]
