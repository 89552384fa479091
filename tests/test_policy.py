"""Hash policies (request -> hash): spec §8 vectors, parsing rules, config errors, on both twins."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import xxhash

from hashlb.errors import ConfigError

from ._impl import Implementation
from ._vectors import envoy_vectors

#: RE2::GlobalReplace results from real RE2 (tests/golden/gen_re2_golden.py).
RE2_GOLDEN = Path(__file__).parent / "golden" / "re2_global_replace.json"
M64 = 2**64 - 1


def xx(data: str | bytes, seed: int = 0) -> int:
    """Return the reference xxHash64 (the xxhash package)."""
    return xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data, seed)


def gen(addresses: str) -> str:
    """Return the cookie value Envoy generates from remote + local address text."""
    return format(xx(addresses), "016x")


def rotl1(h: int) -> int:
    """Rotate a 64-bit value left by one."""
    return ((h << 1) | (h >> 63)) & M64


@pytest.fixture
def P(impl: Implementation) -> ModuleType:
    """Return this twin's policy module (``_policy_c`` or ``_policy_py``)."""
    return impl.module("policy")


# ------------------------------------------------------------------ spec vectors


def _spec_cases() -> list[dict[str, Any]]:
    return envoy_vectors()["hash_policy"]  # type: ignore[no-any-return]


def _vector(P: ModuleType, name: str) -> tuple[Any, Any]:
    """Return (policy, request) for a named hash_policy vector of envoy-vectors.json."""
    R = P.Request
    return {
        "HeaderHashForSingleHeaderValue": (
            P.Header("x-test-header"),
            R(headers={"x-test-header": "test-value"}),
        ),
        "MultipleHeaderValues": (
            P.Header("x-multi-header"),
            R(headers=[("x-multi-header", "value1"), ("x-multi-header", "value2")]),
        ),
        "HeaderHashMethodSameHashForDifferentHeaderOrder": (
            P.Header("x-multi-header"),
            R(headers=[("x-multi-header", "value2"), ("x-multi-header", "value1")]),
        ),
        "HeaderNotPresent": (P.Header("x-test-header"), R(headers={"x-other": "v"})),
        "CookieHashForPresentCookie": (
            P.Cookie("test-cookie"),
            R(headers={"cookie": "test-cookie=cookie-value"}),
        ),
        "CookieHashForAbsentCookieWithoutTTL": (
            P.Cookie("test-cookie"),
            R(remote_address="10.0.0.1:1", local_address="10.0.0.2:2"),
        ),
        "IpHashForValidIp": (P.SourceIP(), R(remote_address="192.168.1.1:30000")),
        "QueryParameterHashForExistingParameter": (
            P.QueryParameter("test-param"),
            R(path="/test?test-param=param-value"),
        ),
        "QueryParameterHashForAbsentParameter": (
            P.QueryParameter("missing-param"),
            R(path="/test?some-param=other-value"),
        ),
    }[name]


@pytest.mark.parametrize("case", _spec_cases(), ids=lambda c: c["name"])
def test_spec_hash_policy_vectors(P: ModuleType, case: dict[str, Any]) -> None:
    """Every hash_policy case of envoy-vectors.json holds, alone and as a HashPolicy."""
    method, request = _vector(P, case["name"])
    assert method.hash(request) == case["expected_hash"]
    assert P.HashPolicy(method).hash(request) == case["expected_hash"]
    assert P.HashPolicy(method).evaluate(request).hash == case["expected_hash"]


def test_spec_text_vectors(P: ModuleType) -> None:
    """§8.2/§8.4 text vectors: rewrites, the ``:path`` example, ports ignored by source IP."""
    h = P.Header("x-h", regex_rewrite=("test", "replaced"))
    assert h.hash(P.Request(headers={"x-h": "test-value"})) == xx("replaced-value")
    path = P.Header(":path", regex_rewrite=(r"^/(\w+)$", r"\1"))
    assert path.hash(P.Request(path="/foo")) == 3728699739546630719
    assert P.SourceIP().hash(P.Request(remote_address="192.168.1.1:1")) == P.SourceIP().hash(
        P.Request(remote_address="192.168.1.1:2")
    )


# ------------------------------------------------------------------ combining


def test_chain_two_identical_policies(P: ModuleType) -> None:
    """Two identical methods give rotl1(h) ^ h (spec §8.1, the Istio weighted case)."""
    r = P.Request(headers={"x-user": "alice"})
    h = xx("alice")
    assert P.HashPolicy(P.Header("x-user"), P.Header("x-user")).hash(r) == rotl1(h) ^ h


def test_chain_skips_methods_without_hash(P: ModuleType) -> None:
    """Methods that yield nothing are skipped; the first hash is taken as is."""
    r = P.Request(headers={"x-b": "b"}, path="/?q=c")
    policy = P.HashPolicy(P.Header("x-a"), P.Header("x-b"), P.QueryParameter("q"))
    assert policy.hash(r) == rotl1(xx("b")) ^ xx("c")


def test_terminal_stops_once_a_hash_exists(P: ModuleType) -> None:
    """A terminal method stops evaluation when a hash exists, not otherwise."""
    r = P.Request(headers={"x-b": "b", "x-c": "c"})
    stop = P.HashPolicy(P.Header("x-b", terminal=True), P.Header("x-c"))
    assert stop.hash(r) == xx("b")
    go_on = P.HashPolicy(P.Header("x-a", terminal=True), P.Header("x-c"))
    assert go_on.hash(r) == xx("c")
    earlier = P.HashPolicy(P.Header("x-b"), P.Header("x-a", terminal=True), P.Header("x-c"))
    assert earlier.hash(r) == xx("b")


def test_no_hash_is_none(P: ModuleType) -> None:
    """No method yielding, or no methods at all, gives None."""
    r = P.Request()
    assert (
        P.HashPolicy(P.Header("x"), P.Cookie("c"), P.SourceIP(), P.QueryParameter("q")).hash(r)
        is None
    )
    assert P.HashPolicy().hash(r) is None
    assert P.HashPolicy().evaluate(r).hash is None
    assert P.HashPolicy().evaluate(r).set_cookie is None


def test_policy_accepts_one_list(P: ModuleType) -> None:
    """HashPolicy([a, b]) equals HashPolicy(a, b)."""
    a, b = P.Header("x-a"), P.SourceIP()
    assert P.HashPolicy([a, b]) == P.HashPolicy(a, b)
    assert P.HashPolicy([a, b]).policies == (a, b)
    assert len(P.HashPolicy(a, b)) == 2


# ------------------------------------------------------------------ header


def test_header_names_case_insensitive(P: ModuleType) -> None:
    """Header names match ASCII-case-insensitively in str and bytes."""
    want = xx("v")
    for headers in (
        {"X-User": "v"},
        [(b"X-USER", b"v")],
        [("x-user", b"v")],
        [(b"x-user", "v")],
        [(bytearray(b"x-User"), bytearray(b"v"))],
    ):
        assert P.Header("x-user").hash(P.Request(headers=headers)) == want
        assert P.Header("X-USER").hash(P.Request(headers=headers)) == want


def test_header_non_ascii_case_is_not_folded(P: ModuleType) -> None:
    """Only ASCII letters fold: the Kelvin sign is not "k"."""
    r = P.Request(headers=[("x-\u212a", "v")])
    assert P.Header("x-k").hash(r) is None
    assert P.Header("x-\u212a").hash(r) == xx("v")


def test_header_multiple_values_sorted_chain(P: ModuleType) -> None:
    """All values are sorted bytewise and seed-chained, whatever their order."""
    want = xx("c", xx("b", xx("a")))
    assert P.Header("x").hash(P.Request(headers={"x": ["c", "a", "b"]})) == want
    assert (
        P.Header("x").hash(P.Request(headers=[("x", "b"), ("y", "z"), ("X", "c"), ("x", "a")]))
        == want
    )
    # bytewise: b"\xff" sorts after b"z"; "é" (UTF-8 c3 a9) after "z" too
    assert P.Header("x").hash(P.Request(headers=[("x", b"\xff"), ("x", "z")])) == xx(
        b"\xff", xx("z")
    )


def test_header_present_but_empty(P: ModuleType) -> None:
    """A present but empty header hashes "", an absent one gives None."""
    assert P.Header("x").hash(P.Request(headers={"x": ""})) == xx("")
    assert P.Header("x").hash(P.Request(headers={"y": ""})) is None


def test_header_pseudo_headers(P: ModuleType) -> None:
    """``:path``, ``:authority``, ``:method`` and ``:scheme`` come from the Request."""
    r = P.Request(path="/p?q=1", method="GET", authority="example.com", scheme="https")
    assert P.Header(":path").hash(r) == xx("/p?q=1")
    assert P.Header(":method").hash(r) == xx("GET")
    assert P.Header(":authority").hash(r) == xx("example.com")
    assert P.Header(":scheme").hash(r) == xx("https")
    # :authority falls back to the Host header; a pseudo-header pair in headers is read too
    host = P.Request(headers=[("Host", "h.example"), (":path", "/x")])
    assert P.Header(":authority").hash(host) == xx("h.example")
    assert P.Header(":path").hash(host) == xx("/x")
    assert P.Header(":method").hash(host) is None


def test_header_regex_rewrite(P: ModuleType) -> None:
    """The rewrite replaces every match in each value, with RE2-style \\N references."""
    r = P.Request(headers=[("x", "a1b22"), ("x", "c333")])
    digits = P.Header("x", regex_rewrite=(r"\d+", "#"))
    assert digits.hash(r) == xx("c#", xx("a#b#"))
    whole = P.Header("x", regex_rewrite=(r"(\w)(\d)", r"<\0|\2\1\\>"))
    assert whole.hash(P.Request(headers={"x": "a1"})) == xx("<a1|1a\\>")
    optional = P.Header("x", regex_rewrite=(r"(a)|(b)", r"[\2]"))
    assert optional.hash(P.Request(headers={"x": "ab"})) == xx("[][b]")
    assert P.Header("x", regex_rewrite=(r"\w", "")).regex_rewrite == (r"\w", "")
    # \w is ASCII-only, as in RE2
    assert P.Header("x", regex_rewrite=(r"\w", "")).hash(P.Request(headers={"x": "aé"})) == xx("é")
    # invalid UTF-8 survives a rewrite unchanged
    assert P.Header("x", regex_rewrite=("a", "b")).hash(P.Request(headers={"x": b"a\xff"})) == xx(
        b"b\xff"
    )


def test_regex_rewrite_is_re2_global_replace(P: ModuleType) -> None:
    """regex_rewrite gives what Envoy's ``RE2::GlobalReplace`` gives, on 433 golden cases.

    The cases were computed by real RE2 (``tests/golden/re2_oracle.cc``):
    empty matches (never right after a match; the skip is one UTF-8
    character or one invalid byte), anchors, invalid UTF-8, RE2-only syntax.
    """
    cases = json.loads(RE2_GOLDEN.read_text())["cases"]
    checked = refused = 0
    for case in cases:
        rewrite = (case["pattern"], case["substitution"])
        if case.get("error"):  # RE2 rejects the pattern: so does hashlb, at build time
            with pytest.raises(ConfigError, match="regex_rewrite pattern"):
                P.Header("x", regex_rewrite=rewrite)
            refused += 1
            continue
        text = bytes.fromhex(case["text"])
        header = P.Header("x", regex_rewrite=rewrite)
        assert header.hash(P.Request(headers=[("x", text)])) == xx(bytes.fromhex(case["expected"]))
        checked += 1
    assert checked >= 400 and refused >= 4


@pytest.mark.parametrize(
    "rewrite",
    [("(", "x"), ("a", "\\x"), ("a", "\\"), ("(a)", "\\2"), ("a", "\\1")],
)
def test_header_bad_regex_rewrite(P: ModuleType, rewrite: tuple[str, str]) -> None:
    """A malformed pattern or substitution raises ConfigError naming regex_rewrite."""
    with pytest.raises(ConfigError, match="regex_rewrite"):
        P.Header("x", regex_rewrite=rewrite)


def test_header_regex_rewrite_types(P: ModuleType) -> None:
    """regex_rewrite must be a (str, str) pair."""
    for bad in ("abc", ("a",), (1, "b"), ("a", 2)):
        with pytest.raises(TypeError, match="regex_rewrite"):
            P.Header("x", regex_rewrite=bad)


# ------------------------------------------------------------------ cookie


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["c=v"], "v"),
        (['c="v"'], "v"),
        (['c=""'], None),
        (['c="'], '"'),
        (['c="v'], '"v'),
        (["  c=v"], "v"),
        (["a=1;c=v"], "v"),
        (["a=1;  c=v ; d=2"], "v "),
        (["a=1;c = v"], None),  # the name is "c " (no trailing trim)
        (["c=a=b"], "a=b"),
        (["c"], None),
        (["c;c=v"], "v"),
        (["C=v"], None),
        ([";;c=v;;"], "v"),
        (["xc=1; c=2"], "2"),
        (["a=1", "c=first", "c=second"], "first"),
        (["c=", "c=later"], None),
        (["c=v\t"], "v\t"),
        (["\tc=v"], None),
    ],
)
def test_cookie_parser(P: ModuleType, headers: list[str], expected: str | None) -> None:
    """Cookies are parsed exactly as Envoy's forEachCookie/parseCookieValue."""
    r = P.Request(headers=[("cookie", h) for h in headers])
    assert P.Cookie("c").hash(r) == (None if expected is None else xx(expected))


def test_cookie_generation(P: ModuleType) -> None:
    """A missing cookie with a ttl is generated from remote + local address (spec §8.3)."""
    r = P.Request(remote_address="10.0.0.1:34567", local_address="10.0.0.2:8080")
    value = gen("10.0.0.1:3456710.0.0.2:8080")
    cookie = P.Cookie(
        "session", ttl=3600, path="/", attributes=[("SameSite", "Lax"), ("Secure", "")]
    )
    result = P.HashPolicy(cookie).evaluate(r)
    assert result.hash == xx(value)
    assert (
        result.set_cookie
        == f'session="{value}"; Max-Age=3600; Path=/; SameSite=Lax; Secure; HttpOnly'
    )
    assert result.set_cookies == (result.set_cookie,)
    assert cookie.evaluate(r) == result
    assert P.HashPolicy(cookie).hash(r) == result.hash
    # the client sends the quoted value back: same hash, nothing to set
    back = P.Request(headers={"cookie": f'session="{value}"'})
    assert P.HashPolicy(cookie).evaluate(back) == P.HashResult(xx(value))


def test_cookie_set_cookie_format(P: ModuleType) -> None:
    """ttl 0 makes a session cookie (no Max-Age); no Path when empty; HttpOnly always."""
    r = P.Request(remote_address=("10.0.0.1", 1), local_address=("10.0.0.2", 2))
    value = gen("10.0.0.1:110.0.0.2:2")
    assert P.Cookie("s", ttl=0).evaluate(r).set_cookie == f's="{value}"; HttpOnly'
    assert P.Cookie("s", ttl=0, path="").evaluate(r).set_cookie == f's="{value}"; HttpOnly'
    assert P.Cookie("s", ttl=timedelta(hours=1, microseconds=5)).evaluate(r).set_cookie == (
        f's="{value}"; Max-Age=3600; HttpOnly'
    )
    assert P.Cookie("s", ttl=timedelta(hours=1)).ttl == 3600
    assert P.Cookie("s", ttl=5, attributes={"Partitioned": ""}).set_cookie_value("v") == (
        's="v"; Max-Age=5; Partitioned; HttpOnly'
    )


def test_cookie_generation_ipv6_addresses(P: ModuleType) -> None:
    """Addresses are formatted as Envoy's asString(): ``[ip6]:port``, canonical."""
    value = gen("[2001:db8::1]:5000127.0.0.1:8000")
    for remote in ("[2001:DB8:0::1]:5000", ("2001:db8::1", 5000), (b"2001:db8::1", 5000)):
        r = P.Request(remote_address=remote, local_address="127.0.0.1:8000")
        assert P.Cookie("s", ttl=0).evaluate(r).set_cookie == f's="{value}"; HttpOnly'
    # an IPv4-mapped peer is reported as IPv4 (Envoy's dual-stack listener)
    r = P.Request(remote_address="[::ffff:10.0.0.1]:1", local_address="10.0.0.2:2")
    assert P.Cookie("s", ttl=0).hash(r) == xx(gen("10.0.0.1:110.0.0.2:2"))
    # a Unix socket path is used as is
    r = P.Request(remote_address="10.0.0.1:1", local_address=("/run/app.sock", None))
    assert P.Cookie("s", ttl=0).hash(r) == xx(gen("10.0.0.1:1/run/app.sock"))


def test_cookie_generation_needs_both_addresses(P: ModuleType) -> None:
    """With an address missing nothing is generated: no hash, no Set-Cookie."""
    for remote, local in ((None, "10.0.0.2:2"), ("10.0.0.1:1", None), ("", "10.0.0.2:2")):
        r = P.Request(remote_address=remote, local_address=local)
        assert P.HashPolicy(P.Cookie("s", ttl=60)).evaluate(r) == P.HashResult(None)


def test_cookie_empty_value_generates(P: ModuleType) -> None:
    """An empty cookie counts as missing: generated with a ttl, else no hash."""
    r = P.Request(headers={"cookie": "s="}, remote_address="1.2.3.4:5", local_address="5.6.7.8:9")
    assert P.Cookie("s").hash(r) is None
    assert P.Cookie("s", ttl=1).hash(r) == xx(gen("1.2.3.4:55.6.7.8:9"))


@pytest.mark.parametrize("ttl", [-1, timedelta(seconds=-1)])
def test_cookie_negative_ttl(P: ModuleType, ttl: Any) -> None:
    """A negative ttl raises ConfigError naming ttl."""
    with pytest.raises(ConfigError, match="ttl"):
        P.Cookie("s", ttl=ttl)


@pytest.mark.parametrize("ttl", [1.5, "60", True])
def test_cookie_ttl_type(P: ModuleType, ttl: Any) -> None:
    """ttl must be int seconds or a timedelta."""
    with pytest.raises(TypeError, match="ttl"):
        P.Cookie("s", ttl=ttl)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": "a;b"}, "name"),
        ({"name": "a=b"}, "name"),
        ({"name": "s", "path": "/a;b"}, "path"),
        ({"name": "s", "path": "/a\r\nX: y"}, "path"),
        ({"name": "s", "attributes": {"": "x"}}, "attribute"),
        ({"name": "s", "attributes": {"a=b": "x"}}, "attribute"),
        ({"name": "s", "attributes": {"a": "x;y"}}, "attribute"),
    ],
)
def test_cookie_bad_config(P: ModuleType, kwargs: dict[str, Any], field: str) -> None:
    """Bad cookie configuration raises ConfigError naming the field."""
    with pytest.raises(ConfigError, match=field):
        P.Cookie(**kwargs)


# ------------------------------------------------------------------ source ip


@pytest.mark.parametrize(
    ("remote", "ip"),
    [
        ("192.168.1.1:80", "192.168.1.1"),
        ("192.168.1.1", "192.168.1.1"),
        (("192.168.1.1", 80), "192.168.1.1"),
        ([b"192.168.1.1", 80], "192.168.1.1"),
        ("[2001:DB8:0:0::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        (("2001:db8::1", 443, 0, 0), "2001:db8::1"),
        ("[::ffff:10.1.2.3]:80", "10.1.2.3"),
        ("[::1.2.3.4]:80", "::1.2.3.4"),
        ("0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"),
        ("[fe80::1%eth0]:80", "fe80::1%eth0"),
        (("fe80::1%eth0", 80), "fe80::1%eth0"),
        (b"10.0.0.1:1", "10.0.0.1"),
    ],
)
def test_source_ip_forms(P: ModuleType, remote: Any, ip: str) -> None:
    """The IP without port is hashed: dotted quad, compressed IPv6, no brackets."""
    r = P.Request(remote_address=remote)
    assert P.SourceIP().client_ip(r) == ip
    assert P.SourceIP().hash(r) == xx(ip)


@pytest.mark.parametrize(
    "remote",
    [
        None,
        "",
        "localhost:80",
        "01.2.3.4",
        "1.2.3.4:99999",
        "1.2.3.4:",
        "[::1",
        "[::1]x",
        "::1::2",
        "1.2.3.4%eth0",
        "fe80::1%",
        "fe80::1%a b",
        "1.2.3.4\x00",
        "1.2.3.\udc80",
        b"1.2.3.\xff",
        ("1.2.3.4",) * 0,
        (None, 1),
        42,
    ],
)
def test_source_ip_unusable_address(P: ModuleType, remote: Any) -> None:
    """A missing or unparseable remote address gives no hash (never an error)."""
    assert P.SourceIP().hash(P.Request(remote_address=remote)) is None


def _xff(P: ModuleType, *values: str, remote: str = "10.0.0.2:5000") -> Any:
    return P.Request(headers=[("X-Forwarded-For", v) for v in values], remote_address=remote)


def test_source_ip_trusted_hops(P: ModuleType) -> None:
    """With N trusted hops the N-th address from the right of XFF is the client."""
    r = _xff(P, "203.0.113.9, 198.51.100.7,10.0.0.1")
    assert P.SourceIP().client_ip(r) == "10.0.0.2"
    assert P.SourceIP(xff_num_trusted_hops=1).client_ip(r) == "10.0.0.1"
    assert P.SourceIP(xff_num_trusted_hops=2).client_ip(r) == "198.51.100.7"
    assert P.SourceIP(xff_num_trusted_hops=3).client_ip(r) == "203.0.113.9"
    assert P.SourceIP(xff_num_trusted_hops=3).hash(r) == xx("203.0.113.9")
    # fewer entries than hops: the connection's address, as Envoy's docs say
    assert P.SourceIP(xff_num_trusted_hops=4).client_ip(r) == "10.0.0.2"
    assert P.SourceIP(xff_num_trusted_hops=2**32 - 1).client_ip(r) == "10.0.0.2"


def test_source_ip_xff_joined_and_trimmed(P: ModuleType) -> None:
    """Several XFF headers are joined with ","; entries are whitespace-trimmed."""
    r = _xff(P, "203.0.113.9", " 2001:DB8::7\t")
    assert P.SourceIP(xff_num_trusted_hops=1).client_ip(r) == "2001:db8::7"
    assert P.SourceIP(xff_num_trusted_hops=2).client_ip(r) == "203.0.113.9"
    # IPv4-mapped stays IPv6 in XFF (parsed with v6only)
    assert (
        P.SourceIP(xff_num_trusted_hops=1).client_ip(_xff(P, "::ffff:1.2.3.4")) == "::ffff:1.2.3.4"
    )


@pytest.mark.parametrize("xff", ["not-an-ip", "1.2.3.4:80", "1.2.3.4,", "", "[::1]", "1.2.3.4, ,"])
def test_source_ip_malformed_xff_falls_back(P: ModuleType, xff: str) -> None:
    """An unusable XFF entry falls back to the connection address, like Envoy."""
    assert P.SourceIP(xff_num_trusted_hops=1).client_ip(_xff(P, xff)) == "10.0.0.2"
    assert P.SourceIP(xff_num_trusted_hops=1).client_ip(_xff(P, xff, remote="")) is None
    assert P.SourceIP(xff_num_trusted_hops=1).hash(_xff(P, xff, remote="")) is None


def test_source_ip_use_remote_address_false(P: ModuleType) -> None:
    """use_remote_address=False (Envoy's default) skips N and takes the next from the right."""
    r = _xff(P, "203.0.113.9, 198.51.100.7")
    assert P.SourceIP(use_remote_address=False).client_ip(r) == "198.51.100.7"
    assert (
        P.SourceIP(xff_num_trusted_hops=1, use_remote_address=False).client_ip(r) == "203.0.113.9"
    )
    assert P.SourceIP(xff_num_trusted_hops=2, use_remote_address=False).client_ip(r) == "10.0.0.2"
    assert P.SourceIP(use_remote_address=False).client_ip(P.Request(remote_address="1.1.1.1")) == (
        "1.1.1.1"
    )


@pytest.mark.parametrize(
    ("hops", "exc"), [(-1, ConfigError), (2**32, ConfigError), (1.0, TypeError), (True, TypeError)]
)
def test_source_ip_bad_hops(P: ModuleType, hops: Any, exc: type[Exception]) -> None:
    """xff_num_trusted_hops must be an int in [0, 2**32)."""
    with pytest.raises(exc, match="xff_num_trusted_hops"):
        P.SourceIP(xff_num_trusted_hops=hops)


# ------------------------------------------------------------------ query parameter


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p?u=foo", "foo"),
        ("/p?x=1&u=foo&u=bar", "foo"),
        ("/p?u", ""),
        ("/p?u=", ""),
        ("/p?u=a=b", "a=b"),
        ("/p?u=%41", "%41"),
        ("/p?%75=x", None),
        ("/p?U=x", None),
        ("/p?uu=x", None),
        ("/p?&&u=x&", "x"),
        ("/p?a=1?u=2", None),
        ("/p?a=1&u=2#frag", "2#frag"),
        ("/p", None),
        ("/p?", None),
        (b"/p?u=\xff", b"\xff"),
    ],
)
def test_query_parameter(P: ModuleType, path: Any, expected: str | bytes | None) -> None:
    """First exact match, split at the first "=", no percent-decoding (spec §8.5)."""
    h = P.QueryParameter("u").hash(P.Request(path=path))
    assert h == (None if expected is None else xx(expected))


def test_query_parameter_without_path(P: ModuleType) -> None:
    """No ``:path`` gives no hash."""
    assert P.QueryParameter("u").hash(P.Request()) is None


# ------------------------------------------------------------------ requests


def _scope(**extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"u=1&v=%41",
        "headers": [(b"host", b"example.com"), (b"x-user", b"alice"), (b"cookie", b"s=1")],
        "client": ("2001:db8::1", 5000),
        "server": ("10.0.0.2", 8443),
    }
    scope.update(extra)
    return scope


def test_from_asgi(P: ModuleType) -> None:
    """from_asgi reads headers, raw_path + query_string, method, scheme and addresses."""
    scope = _scope()
    r = P.Request.from_asgi(scope)
    assert r.headers is scope["headers"]  # referenced, not copied
    assert P.Header(":path").hash(r) == xx("/a%20b?u=1&v=%41")
    assert P.Header(":authority").hash(r) == xx("example.com")
    assert P.Header(":method").hash(r) == xx("GET")
    assert P.Header(":scheme").hash(r) == xx("https")
    assert P.Header("X-User").hash(r) == xx("alice")
    assert P.QueryParameter("v").hash(r) == xx("%41")
    assert P.SourceIP().hash(r) == xx("2001:db8::1")
    result = P.Cookie("t", ttl=0).evaluate(r)
    assert result.set_cookie == 't="' + gen("[2001:db8::1]:500010.0.0.2:8443") + '"; HttpOnly'


def test_from_asgi_minimal_scopes(P: ModuleType) -> None:
    """Missing raw_path, query, client or server are fine; odd values never raise."""
    r = P.Request.from_asgi({"type": "http", "path": "/x", "query_string": b"", "headers": []})
    assert P.Header(":path").hash(r) == xx("/x")
    assert P.SourceIP().hash(r) is None
    r = P.Request.from_asgi({"path": "/é", "query_string": b"q=1", "raw_path": None})
    assert P.Header(":path").hash(r) == xx("/é?q=1")
    r = P.Request.from_asgi({"headers": ((b"x", b"1"),), "server": ("/tmp/s.sock", None)})
    assert P.Header("x").hash(r) == xx("1")
    assert (
        P.HashPolicy(P.Header(":path"), P.SourceIP(xff_num_trusted_hops=1)).hash(
            P.Request.from_asgi({})
        )
        is None
    )
    r = P.Request.from_asgi({"headers": iter([(b"x", b"1")])})
    assert P.Header("x").hash(r) == xx("1")
    with pytest.raises(TypeError, match="scope"):
        P.Request.from_asgi([("headers", [])])


def test_from_wsgi(P: ModuleType) -> None:
    """from_wsgi maps HTTP_*, CONTENT_*, the path, the query and the addresses."""
    env = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/a b",
        "QUERY_STRING": "u=%41",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "3",
        "HTTP_HOST": "example.com",
        "HTTP_X_USER": "caf\xc3\xa9",  # latin-1 view of the UTF-8 bytes of "café"
        "HTTP_COOKIE": "s=1",
        "REMOTE_ADDR": "10.0.0.1",
        "REMOTE_PORT": "34567",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "8080",
        "wsgi.url_scheme": "http",
    }
    r = P.Request.from_wsgi(env)
    assert P.Header("x-user").hash(r) == xx("café")
    assert P.Header("content-type").hash(r) == xx("text/plain")
    assert P.Header("content-length").hash(r) == xx("3")
    assert P.Header(":path").hash(r) == xx("/app/a b?u=%41")
    assert P.Header(":method").hash(r) == xx("POST")
    assert P.Header(":authority").hash(r) == xx("example.com")
    assert P.Header(":scheme").hash(r) == xx("http")
    assert P.Cookie("s").hash(r) == xx("1")
    assert P.SourceIP().hash(r) == xx("10.0.0.1")
    assert P.Cookie("t", ttl=0).hash(r) == xx(gen("10.0.0.1:34567example.com:8080"))
    env["SERVER_ADDR"] = "10.0.0.2"
    env["RAW_URI"] = "/app/a%20b?u=%41"
    r = P.Request.from_wsgi(env)
    assert P.Header(":path").hash(r) == xx("/app/a%20b?u=%41")
    assert P.Cookie("t", ttl=0).hash(r) == xx(gen("10.0.0.1:3456710.0.0.2:8080"))
    assert P.HashPolicy(P.Header(":path"), P.SourceIP()).hash(P.Request.from_wsgi({})) is None
    with pytest.raises(TypeError, match="environ"):
        P.Request.from_wsgi(None)


def test_request_get_all(P: ModuleType) -> None:
    """get_all returns every value as bytes, pseudo-headers included."""
    r = P.Request(headers={"Accept": ["a", b"b"], "x": "1"}, path="/p")
    assert r.get_all("ACCEPT") == [b"a", b"b"]
    assert r.get_all(b":path") == [b"/p"]
    assert r.get_all("missing") == []


def test_request_attributes(P: ModuleType) -> None:
    """The constructor's arguments are kept as given."""
    hs = [(b"a", b"1")]
    r = P.Request(
        headers=hs,
        path="/p",
        remote_address="1.2.3.4:5",
        local_address=("5.6.7.8", 9),
        method="GET",
        authority="h",
        scheme="https",
    )
    assert r.headers is hs
    assert (r.path, r.remote_address, r.local_address) == ("/p", "1.2.3.4:5", ("5.6.7.8", 9))
    assert (r.method, r.authority, r.scheme) == ("GET", "h", "https")
    assert P.Request().headers == ()


def test_request_bad_headers_type(P: ModuleType) -> None:
    """headers that are text or not iterable raise TypeError at construction."""
    for bad in ("x: y", b"x", 5):
        with pytest.raises(TypeError, match="headers"):
            P.Request(headers=bad)


def test_request_data_never_raises(P: ModuleType) -> None:
    """Malformed entries, odd types, surrogates and invalid UTF-8 give a hash or None."""
    headers = [
        ("x",),
        5,
        None,
        ("x", 5),
        (5, "x"),
        ("x", None),
        "ab",
        ("x", "\udcff\ud800"),
        (b"x", b"\xff\xfe"),
        ("cookie", "\ud800=1; s=\udc80"),
        ("x-forwarded-for", "\udc80, 1.2.3.4"),
        ["x", "list-pair"],
    ]
    policy = P.HashPolicy(
        P.Header("x"),
        P.Header("x", regex_rewrite=(".", "-")),
        P.Cookie("s", ttl=1),
        P.Cookie("\u00e9"),
        P.SourceIP(xff_num_trusted_hops=1),
        P.SourceIP(xff_num_trusted_hops=2),
        P.QueryParameter("q"),
    )
    for remote in (None, "\udc80:1", b"\xff", ("\ud800", "x"), ("1.2.3.4", -1), 3.5, ()):
        r = P.Request(
            headers=headers, path="/\ud800?q=\udcff", remote_address=remote, local_address=b"\x00"
        )
        assert isinstance(policy.hash(r), int)
        result = policy.evaluate(r)
        assert isinstance(result.hash, int)
    want_x = P.Header("x").hash(
        P.Request(headers=[("x", "\udcff\ud800"), (b"x", b"\xff\xfe"), ("x", "list-pair")])
    )
    assert P.Header("x").hash(P.Request(headers=headers)) == want_x
    assert P.Header("x").hash(P.Request(headers=[("x", "\ud800")])) == xx(b"\xed\xa0\x80")


def test_request_type_checked(P: ModuleType) -> None:
    """Passing something that is not a Request raises TypeError."""
    with pytest.raises(TypeError, match="Request"):
        P.HashPolicy(P.SourceIP()).hash({"headers": []})
    with pytest.raises(TypeError, match="Request"):
        P.Header("x").hash(None)


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("cls", ["Header", "Cookie", "QueryParameter"])
def test_empty_name(P: ModuleType, cls: str) -> None:
    """An empty name raises ConfigError naming the field."""
    with pytest.raises(ConfigError, match="name"):
        getattr(P, cls)("")
    with pytest.raises(TypeError, match="name"):
        getattr(P, cls)(b"x")


@pytest.mark.parametrize(
    ("factory", "keyword"),
    [
        (lambda P: P.Header("x", regex="a"), "regex"),
        (lambda P: P.Cookie("x", max_age=3), "max_age"),
        (lambda P: P.SourceIP(hops=1), "hops"),
        (lambda P: P.QueryParameter("x", terminl=True), "terminl"),
        (lambda P: P.Request(header={}), "header"),
    ],
)
def test_unknown_keyword(P: ModuleType, factory: Any, keyword: str) -> None:
    """Unknown keyword arguments raise TypeError naming the keyword."""
    with pytest.raises(TypeError, match=keyword):
        factory(P)


def test_terminal_must_be_bool(P: ModuleType) -> None:
    """terminal must be a bool."""
    with pytest.raises(TypeError, match="terminal"):
        P.Header("x", terminal=1)


def test_policy_rejects_non_methods(P: ModuleType) -> None:
    """HashPolicy only takes hash methods."""
    with pytest.raises(TypeError, match=r"policies\[1\]"):
        P.HashPolicy(P.Header("x"), "x-user")


def test_methods_are_values(P: ModuleType) -> None:
    """Methods compare and hash by configuration, are immutable and have a repr."""
    assert P.Header("X-User") == P.Header("x-user")
    assert P.Header("x") != P.Header("x", terminal=True)
    assert P.Cookie("s", ttl=timedelta(seconds=5)) == P.Cookie("s", ttl=5)
    assert (
        len({P.SourceIP(), P.SourceIP(xff_num_trusted_hops=0), P.SourceIP(xff_num_trusted_hops=1)})
        == 2
    )
    assert P.HashPolicy(P.Header("x")) == P.HashPolicy(P.Header("x"))
    assert hash(P.HashPolicy(P.Header("x"))) == hash(P.HashPolicy(P.Header("x")))
    assert repr(P.Header("x", regex_rewrite=("a", "b"))) == (
        "Header('x', regex_rewrite=('a', 'b'), terminal=False)"
    )
    assert repr(P.HashPolicy(P.QueryParameter("q"))) == (
        "HashPolicy(QueryParameter('q', terminal=False))"
    )
    assert repr(P.HashResult(1, ("a",))) == "HashResult(hash=1, set_cookies=('a',))"
    with pytest.raises(AttributeError):
        P.Header("x").name = "y"  # type: ignore[misc]
    assert P.Header("x").name == "x"
    assert P.SourceIP(xff_num_trusted_hops=2, use_remote_address=False).xff_num_trusted_hops == 2
    assert P.SourceIP(xff_num_trusted_hops=2, use_remote_address=False).use_remote_address is False
    assert P.Cookie("s", ttl=1, path="/", attributes={"a": "b"}).attributes == (("a", "b"),)
    assert P.Cookie("s", ttl=1, path="/").path == "/"
    assert P.QueryParameter("q", terminal=True).terminal is True


def test_init_cannot_run_twice(P: ModuleType) -> None:
    """Every class is immutable: calling __init__ again raises TypeError."""
    objects = [
        (P.Header("x"), ("y",)),
        (P.Cookie("c"), ("d",)),
        (P.SourceIP(), (1,)),
        (P.QueryParameter("q"), ("r",)),
        (P.HashPolicy(), ()),
        (P.HashResult(1), (2,)),
        (P.Request(), ()),
    ]
    for obj, args in objects:
        with pytest.raises(TypeError, match="immutable"):
            obj.__init__(*args)
    assert objects[0][0].name == "x"


def test_method_init_that_raised_leaves_it_uninitialised(P: ModuleType) -> None:
    """A method whose ``__init__`` raised is not initialised (nothing half-built is
    usable), and a later valid ``__init__`` completes it, on both twins."""
    for cls, args in (
        (P.Header, ("x",)),
        (P.Cookie, ("c",)),
        (P.SourceIP, ()),
        (P.QueryParameter, ("q",)),
        (P.FilterState, ("k",)),
    ):
        method = cls.__new__(cls)
        with pytest.raises(TypeError, match="terminal"):
            method.__init__(*args, terminal="yes")
        with pytest.raises(TypeError, match="is not initialised"):
            method.terminal  # noqa: B018
        assert repr(method) == f"<{cls.__name__} object (not initialised)>"
        method.__init__(*args, terminal=True)
        assert method == cls(*args, terminal=True)
        with pytest.raises(TypeError, match="immutable"):
            method.__init__(*args)


def test_uninitialised_methods_raise_even_without_the_data(P: ModuleType) -> None:
    """An uninitialised method raises TypeError on every twin, whether or not the
    request holds what it reads (a QueryParameter on a request without a path)."""
    empty = P.Request()
    for cls in (P.Header, P.Cookie, P.SourceIP, P.QueryParameter):
        method = cls.__new__(cls)
        with pytest.raises(TypeError, match="is not initialised"):
            method.hash(empty)
        with pytest.raises(TypeError, match="is not initialised"):
            P.HashPolicy(method).hash(empty)
        with pytest.raises(TypeError, match="is not initialised"):
            method.terminal  # noqa: B018
