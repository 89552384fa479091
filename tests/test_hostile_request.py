"""Hostile request data and careless configuration (issue 10, items 5-7), on both twins.

Each reproducer of ``shared/repro`` owned here is a test: a 5000-digit
``header_name`` value, a 5000-digit remote port under a generating Cookie,
the catastrophic-backtracking ``regex_rewrite``, and header names that are
memoryviews, numpy arrays or objects whose methods raise.  The rule tested
throughout: request text is ``str``, ``bytes`` or ``bytearray``, a subclass
read by its value without calling any of its methods; a header entry or an
address is a tuple or list (subclasses read by their items); anything else is
ignored, and request data never raises.  Configuration names must be ``str``.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import xxhash

from hashlb import Host
from hashlb._policy_py import (
    MAX_COOKIE_TTL,
    MAX_REGEX_GROUPS,
    MAX_REGEX_PROGRAM_SIZE,
    REGEX_ENGINE_VAR,
)
from hashlb.errors import ConfigError
from hashlb.router import Router, _parse_uint64

from ._impl import Implementation
from .strategies import (
    Everything,
    HostileBytearray,
    HostileBytes,
    HostileError,
    HostileInt,
    HostileKey,
    HostileList,
    HostileStr,
    HostileTuple,
    RaisingClassAttribute,
)

M64 = 2**64 - 1
#: An error message never formats an unbounded value: this is plenty.
MESSAGE_LIMIT = 400


def xx(data: str | bytes) -> int:
    """Return the reference xxHash64 (the xxhash package)."""
    return xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)


@pytest.fixture
def P(impl: Implementation) -> ModuleType:
    """Return this twin's policy module."""
    return impl.module("policy")


def _router(impl: Implementation, *, policy: Any = "x-user", **kw: Any) -> Router:
    """Return the repro's envoy-mode Router (header_name x-canary) built from *impl*'s engines."""
    p = impl.module("policy")
    hosts = [Host("10.0.0.1:80", labels={"v": "a"}), Host("10.0.0.2:80", labels={"v": "b"})]
    picker = impl.module("subset").WeightedSubsetPicker(
        {"a": 50, "b": 50}, mode="envoy", seed=kw.get("seed", 0)
    )
    return Router(
        hosts,
        subsets={"a": {"v": "a"}, "b": {"v": "b"}},
        weights=picker,
        policy=p.HashPolicy(p.Header("x-user")) if policy == "x-user" else policy,
        balancer=impl.module("maglev").Maglev,
        balancer_options={"table_size": 251},
        mode="envoy",
        **kw,
    )


# ------------------------------------------------------- item 5: header_name parsing


def test_router_bigint_repro(impl: Implementation) -> None:
    """router_bigint.py: a 5000-digit x-canary falls through to the random value, no raise."""
    P = impl.module("policy")
    r = _router(impl, header_name="x-canary", seed=5)
    assert r.route(P.Request(headers=[(b"x-canary", b"7")])).subset == "a"  # 7 % 100 < 50
    assert r.route(P.Request(headers=[(b"x-canary", b"57")])).subset == "b"
    r = _router(impl, header_name="x-canary", seed=5)
    plain = _router(impl, seed=5)  # draws the same random numbers in the same order
    for huge in (b"1" * 5000, b"9" * 100_000, b"+" + b"1" * 4301, b"1" * 4300 + b"x"):
        got = r.route(P.Request(headers=[(b"x-canary", huge)]))
        assert got == plain.route(P.Request(headers=[(b"x-canary", huge)]))


#: Header values and what Envoy's absl::SimpleAtoi(uint64) makes of them.
SIMPLE_ATOI = [
    (b"0", 0),
    (b"7", 7),
    (b"007", 7),
    (b" 7 ", 7),
    (b"\t\n\v\f\r+7\r\n", 7),
    (b"+0", 0),
    (str(M64).encode(), M64),
    (b"0" * 5000 + b"5", 5),
    (b"0" * 5000, 0),
    (b" " * 5000 + b"3", 3),
    (str(M64 + 1).encode(), None),
    (b"1" * 21, None),
    (b"1" * 5000, None),
    (b"", None),
    (b" ", None),
    (b"+", None),
    (b"-", None),
    (b"-0", None),
    (b"-1", None),
    (b"++1", None),
    (b"+-1", None),
    (b"+ 1", None),
    (b"1 2", None),
    (b"1_000", None),
    (b"0x10", None),
    (b"1e3", None),
    (b"1.0", None),
    ("١".encode(), None),  # ARABIC-INDIC DIGIT ONE: not an ASCII digit
    (b"\x007", None),
    (b"7\x00", None),
    (b"\xa07", None),  # NBSP (latin-1) is not ASCII whitespace
]


@pytest.mark.parametrize(("text", "expected"), SIMPLE_ATOI)
def test_parse_uint64_is_simple_atoi(text: bytes, expected: int | None) -> None:
    """_parse_uint64 accepts exactly what absl::SimpleAtoi parses into a uint64."""
    assert _parse_uint64(text) == expected


@pytest.mark.parametrize(("text", "expected"), SIMPLE_ATOI[::3])
def test_router_header_name_uses_simple_atoi(
    impl: Implementation, text: bytes, expected: int | None
) -> None:
    """Through the Router: a parsed value picks value % total; anything else is random."""
    P = impl.module("policy")
    r = _router(impl, header_name="x-canary", seed=1)
    plain = _router(impl, seed=1)
    got = r.route(P.Request(headers=[("x-canary", text)]))
    if expected is None:
        assert got == plain.route(P.Request(headers=[("x-canary", text)]))
    else:
        assert got.subset == ("a" if expected % 100 < 50 else "b")


def test_router_header_lookup_follows_the_text_rule(impl: Implementation) -> None:
    """The x-canary lookup reads str/bytes subclasses by value and ignores other objects."""
    P = impl.module("policy")
    r = _router(impl, header_name="x-canary", seed=2)
    for kind in (HostileBytes, HostileStr, np.bytes_, HostileBytearray):
        for text, subset in (("55", "b"), ("5", "a")):
            value = kind(text.encode() if kind is not HostileStr else text)
            assert r.route(P.Request(headers=[(HostileStr("X-Canary"), value)])).subset == subset
    r = _router(impl, header_name="x-canary", seed=2)
    plain = _router(impl, seed=2)  # draws the same random numbers in the same order
    for value in (memoryview(b"55"), np.array([55]), 55, HostileInt(55), None, Everything()):
        req = P.Request(headers=[("x-canary", value)])
        assert r.route(req) == plain.route(req)


def test_router_header_name_configuration(impl: Implementation) -> None:
    """header_name must be a str (TypeError naming it); empty or CR/LF is a ConfigError."""
    for bad in (b"x-canary", 5, ["x"]):
        with pytest.raises(TypeError, match="header_name must be a str"):
            _router(impl, header_name=bad)
    for bad in ("", "x\ncanary", "x\0"):
        with pytest.raises(ConfigError, match="header_name"):
            _router(impl, header_name=bad)
    with pytest.raises(ConfigError, match="header_name") as info:
        _router(impl, header_name="x" * 100_000 + "\n")
    assert len(str(info.value)) < MESSAGE_LIMIT
    # a str subclass is read by its value; Envoy lower-cases ASCII only
    r = _router(impl, header_name=HostileKey("X-Canary"), seed=0)
    P = impl.module("policy")
    assert r.route(P.Request(headers=[("x-canary", "99")])).subset == "b"
    kelvin = _router(impl, header_name="\u212a", seed=0, policy=None)
    assert kelvin.route(P.Request(headers=[("k", "99")])) == _router(
        impl, seed=0, policy=None
    ).route(P.Request(headers=[("k", "99")]))


def test_router_header_name_needs_a_request(impl: Implementation) -> None:
    """Without a policy, the header lookup still refuses a non-Request (TypeError)."""
    r = _router(impl, header_name="x-canary", policy=None)
    for bad in ({"x-canary": "1"}, "x-canary: 1", Everything(), RaisingClassAttribute()):
        with pytest.raises(TypeError, match="request must be a Request"):
            r.route(bad)
    # a Request of either twin is fine for the lookup
    from hashlb import _policy_py

    for module in (impl.module("policy"), _policy_py):
        assert r.route(module.Request(headers=[("x-canary", "99")])).subset == "b"


# ------------------------------------------------------- item 5: ports and cookie ttl


def test_cookie_with_a_5000_digit_port(P: ModuleType) -> None:
    """A generating Cookie with a remote port of 5000 digits gives no hash instead of raising."""
    cookie = P.Cookie("s", ttl=0)
    for port in (10**5000, -1, 65536, True, 80.0, np.int64(80), HostileStr("8x"), "1" * 5000):
        r = P.Request(remote_address=("10.0.0.1", port), local_address="10.0.0.2:8080")
        assert cookie.evaluate(r) == P.HashResult(None, ())
    value = format(xx("10.0.0.1:6553510.0.0.2:8080"), "016x")
    for port in (65535, "65535", b"65535", HostileInt(65535), HostileStr("65535")):
        r = P.Request(remote_address=("10.0.0.1", port), local_address="10.0.0.2:8080")
        assert cookie.evaluate(r) == P.HashResult(xx(value), (f's="{value}"; HttpOnly',))
    text = P.Request(remote_address="10.0.0.1:" + "1" * 5000, local_address="10.0.0.2:8080")
    assert cookie.evaluate(text).hash is not None  # not an ip:port: used as given, as before


def test_cookie_ttl_is_bounded(P: ModuleType) -> None:
    """ttl beyond protobuf Duration's limit, or of 5000 digits, is a short ConfigError."""
    assert P.Cookie("s", ttl=MAX_COOKIE_TTL).ttl == MAX_COOKIE_TTL
    for ttl in (MAX_COOKIE_TTL + 1, 10**5000, -(10**5000)):
        with pytest.raises(ConfigError, match="Cookie ttl") as info:
            P.Cookie("s", ttl=ttl)
        assert len(str(info.value)) < MESSAGE_LIMIT
    with pytest.raises(TypeError, match="Cookie ttl"):
        P.Cookie("s", ttl=HostileInt(5))


def test_configuration_messages_are_bounded(P: ModuleType) -> None:
    """Error messages cut what they quote: megabyte names, 5000-digit ints, raising reprs."""
    cases = [
        lambda: P.Header("x" * 1_000_000 + "\n"),
        lambda: P.Header("\udc80" * 1_000_000),
        lambda: P.Cookie("a;" * 500_000),
        lambda: P.Cookie("s", ttl=0, path=";" * 1_000_000),
        lambda: P.Cookie("s", ttl=0, attributes=[("a" * 1_000_000 + "=", "")]),
        lambda: P.Cookie("s", ttl=0, attributes=[Everything()]),
        lambda: P.SourceIP(xff_num_trusted_hops=10**5000),
        lambda: P.Header("x", regex_rewrite=("(" * 100_000, "")),
        lambda: P.Header("x", regex_rewrite=("a", "\\q" * 1_000_000)),
        lambda: P.Header("x", regex_rewrite=("a", "\\9" + "x" * 1_000_000)),
        lambda: P.Header("x", regex_rewrite=[Everything()] * 3),
    ]
    for case in cases:
        with pytest.raises((ConfigError, TypeError)) as info:
            case()
        assert len(str(info.value)) < MESSAGE_LIMIT, str(info.value)[:200]


# ------------------------------------------------------- item 6: regex_rewrite on RE2


def test_regex_rewrite_redos_repro(P: ModuleType) -> None:
    """regex_rewrite_redos.py: 10,000 characters finish, because the engine is RE2.

    No timing: Python's backtracking re needs about 2**10000 steps here (it
    doubled per character from 0.78 s at n=24), so the test only completes
    on a linear-time engine.  RE2-only syntax guards that first, so a wrong
    engine fails at once instead of hanging.
    """
    assert P.Header("x", regex_rewrite=(r"\pL+", "L")).hash(P.Request(headers={"x": "é1"})) == xx(
        "L1"
    )
    h = P.Header("x-user", regex_rewrite=(r"^(\w+\s?)*$", r"\0"))
    for n in (24, 1_000, 10_000):
        value = "a" * n + "!"
        assert h.hash(P.Request(headers={"x-user": value})) == xx(value)  # no match: unchanged
    matching = "a " * 5_000
    assert h.hash(P.Request(headers={"x-user": matching})) == xx(matching)  # \0: the same text
    many = P.Header("x", regex_rewrite=("a", "bb"))
    assert many.hash(P.Request(headers={"x": "a" * 20_000})) == xx("bb" * 20_000)


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?=a)", r"(?!a)", r"(?<=a)b", r"(?<!a)b", r"(?P<n>a)(?P=n)", r"(?>a)", "a++",
     r"\Z", "a{1001}", "(", "[a", "a**", r"\8", "(?#comment)"],
)  # fmt: skip
def test_patterns_re2_rejects_are_config_errors(P: ModuleType, pattern: str) -> None:
    """Back-references, look-arounds, possessive/atomic groups...: ConfigError naming the pattern."""
    with pytest.raises(ConfigError, match="regex_rewrite pattern") as info:
        P.Header("x", regex_rewrite=(pattern, "y"))
    assert repr(pattern) in str(info.value)
    assert "RE2" in str(info.value)


def test_patterns_beyond_the_caps_are_config_errors(
    P: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Programs beyond Istio's RE2 size limit, or more than 64 groups: refused at build time.

    ``"(" * 10000 + ")" * 10000`` is a small program but 10,000 groups: the
    binding then tracked every one and a single match took 3 GB.
    """
    for pattern, why in [
        ("x" * 2_000_000, "not valid RE2"),  # beyond RE2's own 8 MiB budget
        ("((a{100}){100}){100}", "not valid RE2"),
        ("(?:a|b){0,1000}x" * 17, "program of size"),
        ("(" * 10_000 + ")" * 10_000, "capturing groups"),
        ("(a)" * (MAX_REGEX_GROUPS + 1), "capturing groups"),
    ]:
        with pytest.raises(ConfigError, match=why) as info:
            P.Header("x", regex_rewrite=(pattern, ""))
        assert len(str(info.value)) < MESSAGE_LIMIT
    at_limit = P.Header("x", regex_rewrite=("(a)" * MAX_REGEX_GROUPS, r"\1"))
    assert at_limit.hash(P.Request(headers={"x": "a" * MAX_REGEX_GROUPS})) == xx("a")
    big = "(?:a|b){0,1000}x" * 16  # program size just under the limit
    import re2

    assert re2.compile(big).programsize <= MAX_REGEX_PROGRAM_SIZE
    assert P.Header("x", regex_rewrite=(big, "")).regex_rewrite == (big, "")
    monkeypatch.setenv(REGEX_ENGINE_VAR, "re")  # the group cap holds for the fallback too
    with pytest.raises(ConfigError, match="capturing groups"):
        P.Header("x", regex_rewrite=("(a)" * (MAX_REGEX_GROUPS + 1), ""))


def test_regex_rewrite_types(P: ModuleType) -> None:
    """Pattern and substitution must be str (a subclass by value); a compiled re is refused."""
    import re

    with pytest.raises(TypeError, match="regex_rewrite pattern must be a str"):
        P.Header("x", regex_rewrite=(re.compile("a"), "b"))
    with pytest.raises(TypeError, match="regex_rewrite pattern must be a str"):
        P.Header("x", regex_rewrite=(b"a", "b"))
    h = P.Header("x", regex_rewrite=HostileTuple((HostileStr("a"), HostileStr("b"))))
    assert h.regex_rewrite == ("a", "b") and type(h.regex_rewrite[0]) is str
    assert h.hash(P.Request(headers={"x": "aa"})) == xx("bb")


def test_regex_engine_opt_in_fallback(P: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """HASHLB_REGEX_ENGINE=re opts into Python's re (its syntax, its limits); bad values fail."""
    monkeypatch.setenv(REGEX_ENGINE_VAR, "re")
    backref = P.Header("x", regex_rewrite=(r"(a)\1", "-"))  # Python-only syntax is accepted
    assert backref.hash(P.Request(headers={"x": "aab"})) == xx("-b")
    with pytest.raises(ConfigError, match="malformed"):
        P.Header("x", regex_rewrite=(r"\pL", "-"))  # RE2-only syntax is not
    # the replacement loop is still Envoy's: no empty match right after a match
    star = P.Header("x", regex_rewrite=("a*", "-"))
    assert star.hash(P.Request(headers={"x": "baaac"})) == xx("-b-c-")
    assert star.hash(P.Request(headers={"x": b"\xff"})) == xx(b"-\xff-")
    monkeypatch.setenv(REGEX_ENGINE_VAR, "pcre")
    with pytest.raises(ConfigError, match=REGEX_ENGINE_VAR):
        P.Header("x", regex_rewrite=("a", "b"))
    monkeypatch.setenv(REGEX_ENGINE_VAR, "re2")
    assert P.Header("x", regex_rewrite=(r"\pL", "-")).regex_rewrite == (r"\pL", "-")


def test_regex_engine_without_re2(P: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without google-re2 a rewriting Header is a ConfigError that says what to do."""
    monkeypatch.delenv(REGEX_ENGINE_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "re2", None)  # import re2 -> ImportError
    with pytest.raises(ConfigError, match="google-re2") as info:
        P.Header("x", regex_rewrite=("a", "b"))
    assert REGEX_ENGINE_VAR in str(info.value)
    assert P.Header("x").hash(P.Request(headers={"x": "a"})) == xx("a")  # no rewrite: no RE2
    monkeypatch.setitem(sys.modules, "re2", ModuleType("re2"))  # another package's 're2'
    with pytest.raises(ConfigError, match="another package"):
        P.Header("x", regex_rewrite=("a", "b"))
    monkeypatch.setenv(REGEX_ENGINE_VAR, "re")
    assert P.Header("x", regex_rewrite=("a", "b")).hash(P.Request(headers={"x": "a"})) == xx("b")


def test_both_twins_use_the_same_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both twins' Header compile their rewrite with the one shared function (one engine)."""
    from hashlb import _policy_config, _policy_py

    calls = []
    real = _policy_config._load_re2

    def spy() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(_policy_config, "_load_re2", spy)
    _policy_py.Header("x", regex_rewrite=("a", "b"))
    try:
        from hashlb import _policy_c
    except ImportError:  # pragma: no cover - a pure build
        assert calls == [1]
        return
    _policy_c.Header("x", regex_rewrite=("a", "b"))
    assert calls == [1, 1]


# ------------------------------------------------------- item 7: names and values


def test_policy_twin_diffs_repro(P: ModuleType) -> None:
    """policy_twin_diffs.py: a memoryview or numpy-array name is ignored by both twins."""
    h = P.Header("x-user")
    assert h.hash(P.Request(headers=[(memoryview(b"x-user"), b"alice")])) is None
    both = [(np.array([1, 2]), b"v"), (b"x-user", b"alice")]
    assert h.hash(P.Request(headers=both)) == xx("alice")


#: Names that are read by their text value: the header is found.
TEXT_NAMES = [
    HostileStr("x-user"),
    HostileStr("X-USER"),
    HostileBytes(b"x-user"),
    HostileBytearray(b"X-User"),
    bytearray(b"x-user"),
    np.str_("x-user"),
    np.bytes_(b"X-User"),
    HostileKey("x-user"),
]
#: Names that are not text: ignored, whatever they compare equal to.
NOT_TEXT = [
    memoryview(b"x-user"),
    np.array([b"x-user"]),
    np.array(b"x-user"),
    np.array([1, 2]),
    RaisingClassAttribute(),
    Everything(),
    HostileTuple(("x-user",)),
    HostileInt(7),
    7,
    None,
]


def _params(values: list[Any]) -> list[Any]:
    """Wrap values for parametrize (pytest would call isinstance, i.e. read ``__class__``)."""
    return [pytest.param(v, id=f"{i}-{type(v).__name__}") for i, v in enumerate(values)]


@pytest.mark.parametrize("name", _params(TEXT_NAMES))
def test_text_subclass_names_are_read_by_value(P: ModuleType, name: Any) -> None:
    """A str/bytes subclass name matches by its value; none of its methods runs."""
    for value in ("alice", HostileStr("alice"), HostileBytes(b"alice"), np.str_("alice")):
        r = P.Request(headers=[(name, value)])
        assert P.Header("x-user").hash(r) == xx("alice")
        assert r.get_all("x-user") == [b"alice"]
        assert P.HashPolicy(P.Header("X-User"), P.Header(":path")).hash(r) == xx("alice")


@pytest.mark.parametrize("name", _params(NOT_TEXT))
def test_non_text_names_and_values_are_ignored(P: ModuleType, name: Any) -> None:
    """memoryview, numpy arrays, objects whose methods raise: ignored, never a raise."""
    r = P.Request(headers=[(name, "bob"), ("x-user", name), ("x-user", "alice")])
    assert P.Header("x-user").hash(r) == xx("alice")
    assert r.get_all("x-user") == [b"alice"]
    odd = P.Request(
        headers=[name, (name, name), ("cookie", name), ("x-forwarded-for", name)],
        path=name,
        remote_address=name,
        local_address=name,
        method=name,
        authority=name,
        scheme=name,
    )
    everything = P.HashPolicy(
        P.Header("x-user"),
        P.Header(":path"),
        P.Header(":authority"),
        P.Cookie("s", ttl=0),
        P.SourceIP(),
        P.SourceIP(xff_num_trusted_hops=1),
        P.QueryParameter("u"),
        P.Header("x-user", regex_rewrite=("a", "b")),
    )
    assert everything.evaluate(odd) == P.HashResult(None, ())
    with pytest.raises(TypeError, match="name must be str or bytes"):
        odd.get_all(name)


def test_entries_are_tuples_or_lists(P: ModuleType) -> None:
    """Tuple/list subclasses are read by their items; other iterables are not header pairs."""
    pairs = [
        HostileTuple(("x-user", "alice")),
        HostileList([b"x-user", b"bob"]),
        "ab",  # a 2-character str is not a pair
        iter(("x-user", "carol")),
        {"x-user": "dave"},
        Everything(),
        RaisingClassAttribute(),
    ]
    r = P.Request(headers=pairs)
    assert r.get_all("x-user") == [b"alice", b"bob"]
    assert r.get_all("a") == []


def test_every_input_path_follows_the_rule(P: ModuleType) -> None:
    """dict headers, ASGI, WSGI, cookies, query, addresses: hostile text read by value."""
    alice = xx("alice")
    # a dict (keys must hash: HostileKey), with tuple/list subclass values for repeats
    r = P.Request(headers={HostileKey("x-user"): HostileList([HostileStr("alice")])})
    assert P.Header("x-user").hash(r) == alice
    # ASGI: hostile path, query string and client
    scope = {
        "type": "http",
        "headers": HostileTuple(((HostileBytes(b"x-user"), HostileBytes(b"alice")),)),
        "raw_path": HostileBytes(b"/p"),
        "query_string": HostileBytes(b"u=alice"),
        "client": HostileTuple((HostileStr("10.0.0.7"), HostileInt(5))),
        "server": HostileList([HostileStr("10.0.0.2"), 80]),
    }
    a = P.Request.from_asgi(scope)
    assert P.Header("x-user").hash(a) == alice
    assert P.QueryParameter("u").hash(a) == alice
    assert P.Header(":path").hash(a) == xx("/p?u=alice")
    assert P.SourceIP().client_ip(a) == "10.0.0.7"
    assert P.Cookie("s", ttl=0).evaluate(a).hash == xx(format(xx("10.0.0.7:510.0.0.2:80"), "016x"))
    for query in (Everything(), RaisingClassAttribute(), np.array([1, 2]), memoryview(b"u=1")):
        q = P.Request.from_asgi({"type": "http", "path": "/p", "query_string": query})
        assert P.Header(":path").hash(q) == xx("/p")
    # WSGI: keys and values that are str subclasses whose methods raise
    env = {
        HostileKey("HTTP_X_USER"): HostileStr("alice"),
        "HTTP_COOKIE": HostileStr("s=alice"),
        "RAW_URI": HostileStr("/p?u=alice"),
        "REMOTE_ADDR": HostileStr("10.0.0.7"),
        "REMOTE_PORT": HostileStr("5"),
        "HTTP_X_OTHER": Everything(),
        5: "x",
    }
    w = P.Request.from_wsgi(env)
    assert P.Header("x-user").hash(w) == alice
    assert P.Cookie("s").hash(w) == alice
    assert P.QueryParameter("u").hash(w) == alice
    assert P.SourceIP().client_ip(w) == "10.0.0.7"
    # cookies, query and X-Forwarded-For given as subclasses
    c = P.Request(
        headers=[
            (HostileStr("Cookie"), HostileBytes(b"s=alice")),
            (HostileBytes(b"x-forwarded-for"), HostileStr("203.0.113.9, 10.0.0.1")),
        ],
        path=HostileStr("/p?u=alice"),
        remote_address=HostileList([HostileBytes(b"10.0.0.2"), 1]),
    )
    assert P.Cookie("s").hash(c) == alice
    assert P.QueryParameter("u").hash(c) == alice
    assert P.SourceIP(xff_num_trusted_hops=2).client_ip(c) == "203.0.113.9"
    assert P.SourceIP().client_ip(c) == "10.0.0.2"


def test_requests_with_raising_class_attribute_are_refused(P: ModuleType) -> None:
    """A non-Request that claims to be one through ``__class__`` is a TypeError, not a raise."""

    class Liar:
        __class__ = P.Request  # type: ignore[assignment]

    for bad in (Liar(), RaisingClassAttribute(), Everything()):
        with pytest.raises(TypeError, match="request must be a Request"):
            P.Header("x").hash(bad)
        with pytest.raises(TypeError, match="policies"):
            P.HashPolicy(bad)


# ------------------------------------------------------- configuration names


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda P, v: P.Header(v), "Header name"),
        (lambda P, v: P.Cookie(v), "Cookie name"),
        (lambda P, v: P.QueryParameter(v), "QueryParameter name"),
        (lambda P, v: P.Cookie("s", ttl=0, path=v), "Cookie path"),
        (lambda P, v: P.Cookie("s", ttl=0, attributes=[(v, "")]), "Cookie attribute name"),
        (lambda P, v: P.Header("x", regex_rewrite=(v, "")), "regex_rewrite pattern"),
        (lambda P, v: P.Header("x", regex_rewrite=("a", v)), "regex_rewrite substitution"),
    ],
)
def test_configuration_names_must_be_str(P: ModuleType, make: Any, field: str) -> None:
    """A name given as bytes, memoryview, numpy, int or a hostile object: TypeError naming it."""
    for bad in (b"x", bytearray(b"x"), memoryview(b"x"), np.array(["x"]), 5, Everything()):
        with pytest.raises(TypeError, match=field):
            make(P, bad)
    obj = make(P, HostileKey("x"))  # a str subclass: copied to an exact str
    assert all(type(v) is str for v in _strings(obj))


def _strings(obj: Any) -> list[Any]:
    """Return the configured text of a hash method."""
    out = [obj.name, getattr(obj, "path", None) or "", *(getattr(obj, "regex_rewrite", None) or ())]
    for name, value in getattr(obj, "attributes", ()):
        out += [name, value]
    return out


def test_configured_subclass_names_do_not_leak(P: ModuleType) -> None:
    """Equality, hashing and repr of a method never call a hostile name's methods."""
    a = P.Header(HostileStr("x-user"))
    b = P.Header("x-user")
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    c = P.Cookie(HostileStr("s"), ttl=0, path=HostileStr("/"), attributes={HostileKey("k"): ""})
    assert c == P.Cookie("s", ttl=0, path="/", attributes={"k": ""})
    assert P.QueryParameter(HostileStr("u")) == P.QueryParameter("u")


def test_hostile_values_really_raise() -> None:
    """The test doubles do raise when a method is called (else the tests above prove nothing)."""
    for obj, call in [
        (HostileStr("x"), lambda o: o == "x"),
        (HostileStr("x"), lambda o: o.encode()),
        (HostileBytes(b"x"), lambda o: bytes(o)),
        (HostileBytes(b"x"), lambda o: o.lower()),
        (HostileTuple((1, 2)), lambda o: tuple(iter(o))),
        (HostileList([1, 2]), lambda o: len(o)),
        (HostileInt(1), lambda o: o.__index__()),
        (RaisingClassAttribute(), lambda o: isinstance(o, str)),
        (Everything(), lambda o: o.items),
    ]:
        with pytest.raises(HostileError):
            call(obj)


def test_get_all_with_a_name_that_is_not_utf8(P: ModuleType) -> None:
    """``get_all(b"\\x80")`` (found by the differential test): no match, no UnicodeDecodeError."""
    r = P.Request(headers=[(b"\x80", b"v"), ("\udc80", "w"), (b"X-\x80", b"u")])
    assert r.get_all(b"\x80") == [b"v"]
    assert r.get_all(b"x-\x80") == [b"u"]
    assert r.get_all("\udc80") == [b"w"]
    assert P.Request(headers=[("x", "v")]).get_all(b"\xff\xfe") == []


def test_configuration_containers_are_read_by_value(P: ModuleType) -> None:
    """Tuple/list subclasses in configuration are read by their items; unreadable is a TypeError."""
    h = P.Header("x")
    assert P.HashPolicy(HostileList([h])).policies == (h,)
    assert P.HashPolicy(HostileTuple((h, h))) == P.HashPolicy(h, h)
    c = P.Cookie("s", ttl=0, attributes=HostileList([HostileTuple(("Secure", "")), "HttpOnly2"]))
    assert c.attributes == (("Secure", ""), ("HttpOnly2", ""))
    for bad in (HostileBytearray(b"ab"), bytearray(b"ab"), Everything(), 5):
        with pytest.raises(TypeError, match="Cookie attributes"):
            P.Cookie("s", ttl=0, attributes=bad)


def test_re2_public_search_path_gives_the_same_spans() -> None:
    """The fallback through google-re2's public ``search`` finds what ``RE2::Match`` finds."""
    import re2

    from hashlb._policy_py import _re2_finder

    class PublicOnly:  # a google-re2 build without the private ``_regexp``
        def __init__(self, compiled: Any) -> None:
            self.search = compiled.search
            self.groups = compiled.groups

    for pattern, text in [(rb"(a)|(b)", b"xxb"), (rb"a*", b"baa"), (rb"^", b""), (rb"z", b"ab")]:
        compiled = re2.compile(pattern)
        fast, public = _re2_finder(re2, compiled), _re2_finder(re2, PublicOnly(compiled))
        assert (fast.__name__, public.__name__) == ("find", "find_public")
        for pos in range(len(text) + 1):
            got = public(text, pos)
            want = fast(text, pos)
            assert (None if got is None else [tuple(s) for s in got]) == (
                None if want is None else [tuple(s) for s in want]
            )


def test_policy_seed_reads_int_subclasses_by_value(P: ModuleType) -> None:
    """``HashPolicy(seed=)``: an int subclass by value, numpy through ``__index__``, else TypeError."""
    h = P.Header("x")
    assert P.HashPolicy(h, seed=HostileInt(7)) == P.HashPolicy(h, seed=7)
    assert P.HashPolicy(h, seed=np.uint64(7)) == P.HashPolicy(h, seed=7)
    for bad in (RaisingClassAttribute(), Everything(), True, 1.5, np.float64(1), "7"):
        with pytest.raises(TypeError, match="seed must be an int"):
            P.HashPolicy(h, seed=bad)
