"""The request unit and the keyword-only options, on both twins.

``Request`` lives in ``hashlb.request`` (``_request_c`` / ``_request_py``) and
is re-exported by ``hashlb.policy`` and ``hashlb``.  ``Cookie``'s ttl, path and
attributes, ``SourceIP``'s hops and every ``Request`` argument are
keyword-only; the positional forms still work for one release with one
``DeprecationWarning`` text in both twins.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import hashlb
from hashlb import policy, request

from ._impl import Implementation


@pytest.fixture
def P(impl: Implementation) -> ModuleType:
    """Return this twin's policy module."""
    return impl.module("policy")


def _request_view(r: Any) -> tuple[Any, ...]:
    """Return what a Request holds (Request has no ``__eq__``)."""
    return (r.headers, r.path, r.remote_address, r.local_address, r.method, r.authority, r.scheme)


def test_request_is_one_class_everywhere(impl: Implementation) -> None:
    """The policy twin re-exports its request twin's Request; the selectors agree."""
    assert impl.module("policy").Request is impl.module("request").Request
    assert hashlb.Request is policy.Request is request.Request
    assert request.__all__ == ("Request",)
    assert "Request" in policy.__all__


def test_policies_hash_a_request_of_their_twin(impl: Implementation) -> None:
    """A policy reads a Request built by the request twin (C-to-C in the compiled twin)."""
    P, R = impl.module("policy"), impl.module("request")
    r = R.Request(
        headers=[(b"x-user", b"alice"), ("cookie", "s=abc"), ("x-forwarded-for", "203.0.113.9")],
        path="/p?u=1",
        remote_address="10.0.0.7:5000",
    )
    h = P.HashPolicy(P.Header("x-user")).hash(r)
    assert h == hashlb.xxh64(b"alice")
    assert P.Cookie("s").hash(r) == hashlb.xxh64(b"abc")
    assert P.QueryParameter("u").hash(r) == hashlb.xxh64(b"1")
    assert P.SourceIP(xff_num_trusted_hops=1).client_ip(r) == "203.0.113.9"
    assert P.SourceIP().client_ip(r) == "10.0.0.7"


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        ("Cookie", ["name", "ttl", "path", "attributes", "terminal"]),
        ("SourceIP", ["xff_num_trusted_hops", "use_remote_address", "terminal"]),
        (
            "Request",
            [
                "headers",
                "path",
                "remote_address",
                "local_address",
                "method",
                "authority",
                "scheme",
                "filter_state",
            ],
        ),
    ],
)
def test_options_are_keyword_only_in_the_signature(
    impl: Implementation, cls: str, params: list[str]
) -> None:
    """inspect.signature shows the keyword-only call on both twins (no ``*args``)."""
    sig = inspect.signature(getattr(impl, cls))
    assert list(sig.parameters) == params
    kinds = {name: p.kind for name, p in sig.parameters.items()}
    for name in params:
        want = inspect.Parameter.POSITIONAL_OR_KEYWORD if name == "name" else None
        assert kinds[name] == (want or inspect.Parameter.KEYWORD_ONLY), name


#: (what is called positionally, its keyword form, the warning text).
CASES: list[tuple[Callable[[ModuleType], Any], Callable[[ModuleType], Any], str]] = [
    (
        lambda P: P.Cookie("s", 60),
        lambda P: P.Cookie("s", ttl=60),
        "passing ttl to Cookie() by position is deprecated; use Cookie(name, ttl=...)",
    ),
    (
        lambda P: P.Cookie("s", 60, "/", {"SameSite": "Lax"}),
        lambda P: P.Cookie("s", ttl=60, path="/", attributes={"SameSite": "Lax"}),
        "passing ttl, path, attributes to Cookie() by position is deprecated; "
        "use Cookie(name, ttl=..., path=..., attributes=...)",
    ),
    (
        lambda P: P.Cookie("s", None, "/", terminal=True),
        lambda P: P.Cookie("s", path="/", terminal=True),
        "passing ttl, path to Cookie() by position is deprecated; "
        "use Cookie(name, ttl=..., path=...)",
    ),
    (
        lambda P: P.SourceIP(2),
        lambda P: P.SourceIP(xff_num_trusted_hops=2),
        "passing xff_num_trusted_hops to SourceIP() by position is deprecated; "
        "use SourceIP(xff_num_trusted_hops=...)",
    ),
    (
        lambda P: P.SourceIP(1, use_remote_address=False),
        lambda P: P.SourceIP(xff_num_trusted_hops=1, use_remote_address=False),
        "passing xff_num_trusted_hops to SourceIP() by position is deprecated; "
        "use SourceIP(xff_num_trusted_hops=...)",
    ),
]


@pytest.mark.parametrize(("positional", "keyword", "text"), CASES)
def test_positional_options_warn_and_give_the_same_method(
    P: ModuleType, positional: Any, keyword: Any, text: str
) -> None:
    """The old positional call warns (at the caller, same text in both twins) and
    builds the same method, which hashes the same."""
    with pytest.warns(DeprecationWarning) as record:
        obj = positional(P)
    assert [str(w.message) for w in record] == [text]
    assert record[0].filename == __file__
    want = keyword(P)
    assert obj == want
    assert repr(obj) == repr(want)
    r = P.Request(headers={"cookie": "s=v", "x-forwarded-for": "1.2.3.4, 5.6.7.8"})
    assert obj.hash(r) == want.hash(r)


def test_positional_request_warns_and_gives_the_same_request(P: ModuleType) -> None:
    """Request(headers, path, ...) still works, with one warning naming the keyword call."""
    hs = [(b"x-user", b"alice")]
    args = (hs, "/p?u=1", "1.2.3.4:5", ("5.6.7.8", 9), "GET", "h", "https")
    names = ("headers", "path", "remote_address", "local_address", "method", "authority")
    names += ("scheme",)
    for n in range(1, len(args) + 1):
        with pytest.warns(DeprecationWarning) as record:
            old = P.Request(*args[:n])
        call = ", ".join(f"{name}=..." for name in names[:n])
        assert [str(w.message) for w in record] == [
            f"passing {', '.join(names[:n])} to Request() by position is deprecated; "
            f"use Request({call})"
        ]
        assert record[0].filename == __file__
        new = P.Request(**dict(zip(names, args[:n], strict=False)))
        assert _request_view(old) == _request_view(new)
        policy_ = P.HashPolicy(P.Header("x-user"), P.QueryParameter("u"), P.SourceIP())
        assert policy_.hash(old) == policy_.hash(new)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda P: P.Cookie("s", 1, ttl=2), "Cookie() got multiple values for argument 'ttl'"),
        (
            lambda P: P.Cookie("s", 1, "/", (), 5),
            "Cookie() takes at most 3 positional options (ttl, path, attributes), got 4",
        ),
        (
            lambda P: P.SourceIP(1, xff_num_trusted_hops=2),
            "SourceIP() got multiple values for argument 'xff_num_trusted_hops'",
        ),
        (
            lambda P: P.SourceIP(1, True),
            "SourceIP() takes at most 1 positional options (xff_num_trusted_hops), got 2",
        ),
        (
            lambda P: P.Request([], headers=[]),
            "Request() got multiple values for argument 'headers'",
        ),
        (lambda P: P.Request(*range(8)), "Request() takes at most 7 positional options"),
    ],
)
def test_bad_positional_forms_raise_type_error(P: ModuleType, call: Any, message: str) -> None:
    """Too many positional options, or one given both ways: the same TypeError in both twins."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match=re.escape(message)):
            call(P)


def test_positional_hops_are_still_checked(P: ModuleType) -> None:
    """A deprecated positional option goes through the same checks as the keyword."""
    with pytest.warns(DeprecationWarning), pytest.raises(Exception, match="xff_num_trusted_hops"):
        P.SourceIP(-1)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="ttl"):
        P.Cookie("s", "60")


def test_source_ip_repr_is_the_keyword_call(P: ModuleType) -> None:
    """repr(SourceIP) is a keyword call that rebuilds an equal method without a warning."""
    s = P.SourceIP(xff_num_trusted_hops=2, use_remote_address=False, terminal=True)
    assert repr(s) == "SourceIP(xff_num_trusted_hops=2, use_remote_address=False, terminal=True)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert eval(repr(s), {"SourceIP": P.SourceIP}) == s


def test_keyword_calls_do_not_warn(P: ModuleType) -> None:
    """The keyword forms are silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.Cookie("s", ttl=1, path="/", attributes=(), terminal=False)
        P.SourceIP(xff_num_trusted_hops=1, use_remote_address=True, terminal=False)
        P.Request(headers=[], path="/", remote_address="1.2.3.4:5")
        P.Request.from_wsgi({"HTTP_X": "1", "PATH_INFO": "/"})


def test_request_repr_shows_the_fields_that_are_set(P: ModuleType) -> None:
    R = P.Request
    assert repr(R()) == "Request()"
    r = R(headers={"x-user": "alice"}, path="/p?x=1", remote_address="10.0.0.1:5",
          method="GET", filter_state={"k": 3})  # fmt: skip
    assert repr(r) == (
        "Request(headers=[('x-user', 'alice')], path='/p?x=1', "
        "remote_address='10.0.0.1:5', method='GET', filter_state={'k': 3})"
    )
    scope = {"type": "http", "path": "/a", "query_string": b"q=1", "headers": [(b"a", b"b")]}
    assert repr(R.from_asgi(scope)) == "Request(headers=[(b'a', b'b')], path=b'/a?q=1')"
    assert repr(R.__new__(R)) == "<Request object (not initialised)>"


def test_request_repr_lists_the_fields_in_signature_order(P: ModuleType) -> None:
    """repr shows every keyword field, in the signature's order (one shared field list)."""
    from hashlb._request_config import _REPR_FIELDS

    params = inspect.signature(P.Request).parameters.values()
    assert tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY) == _REPR_FIELDS
    given = {name: None for name in _REPR_FIELDS} | {"path": "/", "filter_state": {"k": 1}}
    assert repr(P.Request(**given)) == "Request(path='/', filter_state={'k': 1})"


def test_request_repr_is_bounded_and_never_raises(P: ModuleType) -> None:
    class Hostile(str):
        def __len__(self) -> int:
            raise RuntimeError("len")

        def __repr__(self) -> str:
            raise RuntimeError("repr")

    headers = [("h", "v" * 10**6)] * 1000 + [(Hostile("k"), object())]
    text = repr(P.Request(headers=headers, path=Hostile("/p"), authority=b"x" * 10**6))
    assert len(text) < 2000
    assert "... (+993 more)" in text and "path=<Hostile object>" in text
    assert text.count("v") < 8 * 90
    one = repr(P.Request(headers=[(Hostile("k"), b"v")]))
    assert one == "Request(headers=[(<Hostile object>, b'v')])"


@pytest.mark.c_extension
def test_request_repr_is_the_same_on_both_twins() -> None:
    from ._impl import PY, C

    kwargs: dict[str, Any] = {"headers": [("a", "1"), ("b", b"2")] * 6, "path": "/x",
                              "local_address": ("10.0.0.2", 80), "scheme": "https"}  # fmt: skip
    compiled = C.module("request").Request(**kwargs)
    pure = PY.module("request").Request(**kwargs)
    assert repr(compiled) == repr(pure)
    assert "... (+4 more)" in repr(pure)


def test_request_repr_cuts_a_large_filter_state(P: ModuleType) -> None:
    state = {f"key-{i}" * 50: i for i in range(10_000)}
    text = repr(P.Request(filter_state=state))
    assert "... (+9992 more)}" in text and len(text) < 1200
