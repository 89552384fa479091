"""HTTP hash policies, pure Python: the typed twin of ``_policy_c.pyx``.

A :class:`HashPolicy` is an ordered list of hash methods (:class:`Header`,
:class:`Cookie`, :class:`SourceIP`, :class:`QueryParameter`); evaluated on a
:class:`~hashlb.request.Request` (``_request_py``) it gives the hash Envoy's
router would compute, or None (spec §8).  Keep names and signatures identical
to the compiled twin; the docstrings both share live in ``_policy_doc.py``
(``tests/test_parity.py`` checks all three).  The cold paths (configuration
checks, the ``regex_rewrite`` engine, generated cookies) live in
``_policy_config``, which both twins import.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import xxhash

from . import _hashmany as _hm
from . import _policy_config as _cfg
from ._columns import need_numpy as _need_numpy
from ._deprecation import keyword_signature, positional_options
from ._docstrings import attach as _attach_docs
from ._hashmany import hash_many as _hash_many
from ._policy_config import (
    REGEX_ENGINE_VAR as REGEX_ENGINE_VAR,
)
from ._policy_config import (
    _check_attributes,
    _check_cookie_name,
    _check_header_text,
    _check_hops,
    _check_name,
    _check_terminal,
    _check_ttl,
    _check_use_remote,
    _compile_rewrite,
    _generate_cookie,
)
from ._policy_config import (
    _check_config_name as _check_config_name,
)
from ._policy_config import (
    _check_seed as _check_seed,
)
from ._policy_config import (
    _load_re2 as _load_re2,
)
from ._policy_config import (
    _re2_finder as _re2_finder,
)
from ._policy_config import (
    _regex_engine as _regex_engine,
)
from ._policy_doc import DOCS as _DOCS
from ._request_config import _items
from ._request_py import (
    _NAMED_BASES,
    _READY_SLOT,
    _connection_ip,
    _raise_uninitialised,
    _uninit,
    _xff_ip,
)
from ._request_py import Request as Request
from ._slots import checked_property
from ._types import rebuild

# NOTE: the ``X as X`` imports are explicit re-exports: names that router.py,
# istio/parse.py and the tests import from this twin.
from ._validate import (
    MAX_COOKIE_TTL as MAX_COOKIE_TTL,
)
from ._validate import (
    MAX_REGEX_GROUPS as MAX_REGEX_GROUPS,
)
from ._validate import (
    MAX_REGEX_PROGRAM_SIZE as MAX_REGEX_PROGRAM_SIZE,
)
from .versions import EnvoyProfile, profile

__all__ = (
    "Cookie",
    "FilterState",
    "HashPolicy",
    "HashResult",
    "Header",
    "QueryParameter",
    "Request",
    "SourceIP",
)

_M64 = 0xFFFFFFFFFFFFFFFF
_xxh64 = xxhash.xxh64_intdigest


# ---------------------------------------------------------------- results


class _Value:
    # What HashResult and HashPolicy share: == and hash() by value.  _VALUES
    # reads the slots that make a class's value; it is one object per public
    # class (a subclass inherits it), so "same _VALUES" is "same public class".

    __slots__ = ()
    _VALUES: Callable[[object], tuple[Any, ...]]

    def _values(self) -> tuple[Any, ...]:
        try:
            return self._VALUES(self)
        except AttributeError:
            raise _uninit(self) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Value) or other._VALUES is not self._VALUES:
            return NotImplemented
        try:
            return self._VALUES(self) == self._VALUES(other)
        except AttributeError:
            _raise_uninitialised(self, other)
            raise

    def __hash__(self) -> int:
        return hash(self._values())


class HashResult(_Value):
    __slots__ = ("_hash", "_set_cookies")
    _VALUES = operator.attrgetter("_hash", "_set_cookies")

    def __init__(self, hash: int | None, set_cookies: tuple[str, ...] = ()) -> None:
        if hasattr(self, "_hash"):
            raise TypeError("HashResult is immutable; __init__ cannot run twice")
        self._hash = hash
        self._set_cookies = tuple(set_cookies)

    # Read once per request by the pure route core: a plain property is about
    # 25 ns faster here than checked_property's getter.
    @property
    def hash(self) -> int | None:
        try:
            return self._hash
        except AttributeError:
            raise _uninit(self) from None

    @property
    def set_cookie(self) -> str | None:
        try:
            return self._set_cookies[0] if self._set_cookies else None
        except AttributeError:
            raise _uninit(self) from None

    set_cookies: tuple[str, ...] = checked_property("_set_cookies", _uninit)

    def response_set_cookies(self, upstream: object = ()) -> tuple[str, ...]:
        return _cfg.response_set_cookies(upstream, self.set_cookies)

    def __repr__(self) -> str:
        if not hasattr(self, "_set_cookies"):
            return "<HashResult object (not initialised)>"
        return f"HashResult(hash={self._hash!r}, set_cookies={self._set_cookies!r})"


# ---------------------------------------------------------------- methods


class _Method:
    __slots__ = ("_terminal",)
    _terminal: bool
    #: The slots that make a method's value (:meth:`_key`): the positional
    #: arguments first, then the keyword options named by ``_OPTIONS``, in
    #: order; what ``__reduce__`` and ``__repr__`` rebuild.
    _VALUE: Callable[[object], tuple[Any, ...]]
    _OPTIONS: tuple[str, ...] = ("terminal",)

    terminal: bool = checked_property("_terminal", _uninit)

    def hash(self, request: Request) -> int | None:
        try:
            return self._eval(_check_request(request), None)
        except AttributeError:
            _raise_uninitialised(request, self)
            raise

    def hash_many(self, columns: object, *, out: Any = None) -> tuple[Any, Any]:
        self._key()  # an uninitialised method raises here
        return HashPolicy(self).hash_many(columns, out=out)  # type: ignore[arg-type]

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        """Return the hash, xxh64 seeded with *seed* (0: Envoy's), or None."""
        raise NotImplementedError

    def _key(self) -> tuple[Any, ...]:
        try:
            return self._VALUE(self)
        except AttributeError:
            raise _uninit(self) from None

    def _init_once(self) -> None:
        if hasattr(self, "_terminal"):
            raise TypeError(f"{_own_class(self)} is immutable; __init__ cannot run twice")

    def _commit(self, **slots: object) -> None:
        # The last step of __init__, after every check ran: one that raised set no slot.
        for slot, value in slots.items():
            object.__setattr__(self, slot, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __reduce__(self) -> tuple[Any, ...]:
        args, options = _cfg.method_parts(self._key(), self._OPTIONS)
        return (rebuild, (type(self), args, options))

    def __repr__(self) -> str:
        try:
            key = self._VALUE(self)
        except AttributeError:
            return f"<{type(self).__name__} object (not initialised)>"
        return _cfg.method_repr(_own_class(self), key, self._OPTIONS)


def _own_class(method: _Method) -> str:
    """The hashlb class *method* is (or derives from): the name its repr gives."""
    # (By identity: the dispatcher gives these classes hashlb's module name.)
    return next(cls.__name__ for cls in type(method).__mro__ if cls in _OWN_CLASSES)


def _check_request(request: object) -> Request:
    if type(request) is not Request and not issubclass(type(request), Request):
        raise TypeError(f"request must be a Request, not {type(request).__name__}")
    return request  # type: ignore[return-value]


class Header(_Method):
    __slots__ = ("_first_only", "_lname", "_name", "_regex_rewrite", "_rewrite")
    _first_only: bool
    _lname: bytes
    _name: str
    _regex_rewrite: tuple[str, str] | None
    _rewrite: Callable[[bytes], bytes] | None
    _VALUE = operator.attrgetter("_lname", "_regex_rewrite", "_terminal", "_first_only")

    def __init__(
        self,
        name: str,
        *,
        regex_rewrite: tuple[str, str] | None = None,
        terminal: bool = False,
        envoy_version: str | EnvoyProfile = "main",
    ) -> None:
        self._init_once()
        name, raw = _check_name(name, "Header")
        compiled = _compile_rewrite(regex_rewrite)
        stop = _check_terminal(terminal)
        first_only = not profile(envoy_version).header_all_values
        self._commit(
            _name=name,
            _lname=raw.lower(),
            _regex_rewrite=None if compiled is None else compiled[0],
            _rewrite=None if compiled is None else compiled[1],
            _terminal=stop,
            _first_only=first_only,
        )

    name: str = checked_property("_name", _uninit)

    regex_rewrite: tuple[str, str] | None = checked_property("_regex_rewrite", _uninit)

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        values = request._values(self._lname)
        if not values:
            return None
        if self._first_only:
            values = values[:1]
        rewrite = self._rewrite
        if rewrite is not None:
            values = [rewrite(v) for v in values]
        if len(values) == 1:
            return _xxh64(values[0], seed)
        values.sort()
        h = seed
        for v in values:
            h = _xxh64(v, h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:
        _lname, rewrite, terminal, first_only = self._key()
        options = {"regex_rewrite": rewrite, "terminal": terminal}
        options["envoy_version"] = _cfg.header_version(first_only)
        return (rebuild, (type(self), (self._name,), options))

    def __repr__(self) -> str:
        if not hasattr(self, "_lname"):
            return super().__repr__()
        extra = "" if self._regex_rewrite is None else f", regex_rewrite={self._regex_rewrite!r}"
        if self._first_only:
            return f"Header({self._name!r}{extra}, terminal={self._terminal!r}, first_value_only)"
        return f"Header({self._name!r}{extra}, terminal={self._terminal!r})"


class Cookie(_Method):
    __slots__ = ("_attributes", "_name", "_path", "_raw", "_ttl")
    _attributes: tuple[tuple[str, str], ...]
    _name: str
    _path: str | None
    _raw: bytes
    _ttl: int | None
    _VALUE = operator.attrgetter("_name", "_ttl", "_path", "_attributes", "_terminal")
    _OPTIONS = ("ttl", "path", "attributes", "terminal")

    @keyword_signature
    def __init__(
        self,
        name: str,
        *args: Any,
        ttl: int | timedelta | None = None,
        path: str | None = None,
        attributes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        terminal: bool = False,
    ) -> None:
        self._init_once()
        if args:
            ttl, path, attributes = positional_options(  # type: ignore[assignment]
                "Cookie",
                "name, ",
                args,
                (("ttl", ttl, None), ("path", path, None), ("attributes", attributes, None)),
                2,
            )
        name, raw = _check_cookie_name(name)
        self._commit(
            _name=name,
            _raw=raw,
            _ttl=_check_ttl(ttl),
            _path=None if path is None else _check_header_text(path, "Cookie path"),
            _attributes=_check_attributes(attributes),
            _terminal=_check_terminal(terminal),
        )

    name: str = checked_property("_name", _uninit)

    ttl: int | None = checked_property("_ttl", _uninit)

    path: str | None = checked_property("_path", _uninit)

    attributes: tuple[tuple[str, str], ...] = checked_property("_attributes", _uninit)

    def evaluate(self, request: Request) -> HashResult:
        cookies: list[str] = []
        try:
            h = self._eval(_check_request(request), cookies)
        except AttributeError:
            _raise_uninitialised(request, self)
            raise
        return HashResult(h, tuple(cookies))

    def set_cookie_value(self, value: str) -> str:
        try:
            name, ttl, path, attributes = self._name, self._ttl, self._path, self._attributes
        except AttributeError:
            raise _uninit(self) from None
        return _cfg.set_cookie_header(name, value, ttl, path, attributes)

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        value = _hm.cookie_value(request._values(b"cookie"), self._raw)
        if value:
            return _xxh64(value, seed)
        if self._ttl is None:
            return None
        generated = _generate_cookie(request._remote, request._local)
        if generated is None:
            return None
        if cookies is not None:
            cookies.append(self.set_cookie_value(generated.decode()))
        return _xxh64(generated, seed)


class SourceIP(_Method):
    __slots__ = ("_hops", "_use_remote")
    _hops: int
    _use_remote: bool
    _VALUE = operator.attrgetter("_hops", "_use_remote", "_terminal")
    _OPTIONS = ("xff_num_trusted_hops", "use_remote_address", "terminal")

    @keyword_signature
    def __init__(
        self,
        *args: Any,
        xff_num_trusted_hops: int = 0,
        use_remote_address: bool = True,
        terminal: bool = False,
    ) -> None:
        self._init_once()
        if args:
            (xff_num_trusted_hops,) = positional_options(  # type: ignore[assignment]
                "SourceIP", "", args, (("xff_num_trusted_hops", xff_num_trusted_hops, 0),), 2
            )
        hops = _check_hops(xff_num_trusted_hops)
        use_remote = _check_use_remote(use_remote_address)
        stop = _check_terminal(terminal)
        self._commit(_hops=hops, _use_remote=use_remote, _terminal=stop)

    xff_num_trusted_hops: int = checked_property("_hops", _uninit)

    use_remote_address: bool = checked_property("_use_remote", _uninit)

    def client_ip(self, request: Request) -> str | None:
        try:
            ip = self._ip(_check_request(request))
        except AttributeError:
            _raise_uninitialised(request, self)
            raise
        return None if ip is None else ip.decode("utf-8", "surrogateescape")

    def _ip(self, request: Request) -> bytes | None:
        ip = None
        if not self._use_remote:
            ip = _xff_ip(request._values(b"x-forwarded-for"), self._hops)
        elif self._hops:
            ip = _xff_ip(request._values(b"x-forwarded-for"), self._hops - 1)
        if ip is None:
            ip = _connection_ip(request._remote)
        return ip

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        ip = self._ip(request)
        return None if ip is None else _xxh64(ip, seed)


class QueryParameter(_Method):
    __slots__ = ("_name", "_raw")
    _name: str
    _raw: bytes
    _VALUE = operator.attrgetter("_name", "_terminal")

    def __init__(self, name: str, *, terminal: bool = False) -> None:
        self._init_once()
        name, raw = _check_name(name, "QueryParameter")
        stop = _check_terminal(terminal)
        self._commit(_name=name, _raw=raw, _terminal=stop)

    name: str = checked_property("_name", _uninit)

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        name = self._raw  # first: an uninitialised method fails here, as in the C twin
        path = request._path_bytes()
        if path is None:
            return None
        q = path.find(b"?")
        if q < 0:
            return None
        for piece in path[q + 1 :].split(b"&"):
            eq = piece.find(b"=")
            if eq < 0:
                if piece == name:
                    return _xxh64(b"", seed)
            elif piece[:eq] == name:
                return _xxh64(piece[eq + 1 :], seed)
        return None


class FilterState(_Method):
    __slots__ = ("_key_name",)
    _key_name: str
    _VALUE = operator.attrgetter("_key_name", "_terminal")

    def __init__(self, key: str, *, terminal: bool = False) -> None:
        self._init_once()
        key = _cfg.check_filter_state_key(key)
        stop = _check_terminal(terminal)
        self._commit(_key_name=key, _terminal=stop)

    key: str = checked_property("_key_name", _uninit)

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        key = self._key_name  # first: an uninitialised method fails here, as in the C twin
        state = request._filter_state
        if state is None:
            return None
        return state.get(key)


# ---------------------------------------------------------------- policy


class HashPolicy(_Value):
    __slots__ = ("_policies", "_seed")
    _VALUES = operator.attrgetter("_policies", "_seed")

    def __init__(
        self, *policies: Header | Cookie | SourceIP | QueryParameter, seed: int = 0
    ) -> None:
        if hasattr(self, "_policies"):
            raise TypeError("HashPolicy is immutable; __init__ cannot run twice")
        items: tuple[Any, ...] = policies
        if len(items) == 1 and issubclass(type(items[0]), (list, tuple)):
            items = tuple(_items(items[0]) or ())  # a subclass is read by value
        for i, p in enumerate(items):
            if not issubclass(type(p), _Method):
                raise TypeError(
                    f"policies[{i}] must be a Header, Cookie, SourceIP or QueryParameter, "
                    f"not {type(p).__name__}"
                )
        self._seed: int = _check_seed(seed)
        self._policies: tuple[Header | Cookie | SourceIP | QueryParameter, ...] = items

    policies: tuple[Header | Cookie | SourceIP | QueryParameter, ...] = checked_property(
        "_policies", _uninit
    )

    seed: int = checked_property("_seed", _uninit)

    def hash(self, request: Request) -> int | None:
        try:
            return self._run(_check_request(request), None)
        except AttributeError:
            _raise_uninitialised(request, self, *getattr(self, "_policies", ()))
            raise

    def evaluate(self, request: Request) -> HashResult:
        cookies: list[str] = []
        try:
            h = self._run(_check_request(request), cookies)
        except AttributeError:
            _raise_uninitialised(request, self, *getattr(self, "_policies", ()))
            raise
        return HashResult(h, tuple(cookies))

    def hash_many(self, columns: object, *, out: Any = None) -> tuple[Any, Any]:
        return _hash_many(self, columns, out, _KERNELS)

    def _run(self, request: Request, cookies: list[str] | None) -> int | None:
        h: int | None = None
        seed = self._seed
        for p in self._policies:
            v = p._eval(request, cookies, seed)
            if v is not None:
                h = v if h is None else (((h << 1) | (h >> 63)) & _M64) ^ v
            if h is not None and p._terminal:
                break
        return h

    def __reduce__(self) -> tuple[Any, ...]:
        policies, seed = self._values()
        return (rebuild, (type(self), policies, {"seed": seed}))

    def __repr__(self) -> str:
        if not hasattr(self, "_policies"):
            return "<HashPolicy object (not initialised)>"
        # A seed is a secret: never printed (repr ends up in logs).
        seed = ", seed=<hidden>" if self._seed else ""
        return f"HashPolicy({', '.join(map(repr, self._policies))}{seed})"

    def __len__(self) -> int:
        try:
            return len(self._policies)
        except AttributeError:
            raise _uninit(self) from None


def _source_ip_hashes(
    remotes: list[Any], xffs: list[list[bytes]], hops: int, use_remote: bool, seed: int
) -> tuple[Any, Any]:
    """``SourceIP``'s hash of every row (remote address, X-Forwarded-For values)."""
    np = _need_numpy()
    hashes = np.zeros(len(remotes), np.uint64)
    has = np.zeros(len(remotes), bool)
    for i, remote in enumerate(remotes):
        ip = None
        if not use_remote:
            ip = _xff_ip(xffs[i], hops)
        elif hops:
            ip = _xff_ip(xffs[i], hops - 1)
        if ip is None:
            ip = _connection_ip(remote)
        if ip is not None:
            hashes[i] = _xxh64(ip, seed)
            has[i] = True
    return hashes, has


#: What the shared batch driver (``_hashmany``) runs with in this twin.
_KERNELS = _hm.Kernels(
    Request,
    HashPolicy,
    _hm.text_hashes_py,
    _hm.value_hashes_py,
    _hm.cookie_hashes_py,
    _hm.query_hashes_py,
    _xxh64,
    _hm.fold_py,
    _source_ip_hashes,
    _hm.list_hashes_py,
    frozenset([Header, Cookie, SourceIP, QueryParameter, FilterState]),
)

# ---------------------------------------------------------------- not initialised

_READY_SLOT.update(
    {
        HashResult: "_set_cookies",
        Header: "_lname",
        Cookie: "_raw",
        SourceIP: "_hops",
        QueryParameter: "_raw",
        FilterState: "_key_name",
        HashPolicy: "_policies",
    }
)
_NAMED_BASES.append(_Method)


_OWN_CLASSES = frozenset([_Method, Header, Cookie, SourceIP, QueryParameter, FilterState])

_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
