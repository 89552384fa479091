"""HTTP hash policies, pure Python: the typed twin of ``_policy_c.pyx``.

A :class:`HashPolicy` is an ordered list of hash methods (:class:`Header`,
:class:`Cookie`, :class:`SourceIP`, :class:`QueryParameter`); evaluated on a
:class:`Request` it gives the hash Envoy's router would compute, or None
(spec §8).  Keep names, signatures and docstrings identical to the compiled
twin.  The cold paths (configuration checks, the ``regex_rewrite`` engine,
generated cookies, header containers, WSGI parsing) live in
``_policy_config``, which both twins import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import xxhash

# NOTE: the ``X as X`` imports are explicit re-exports: names that router.py,
# istio/parse.py and the tests import from this twin.
from ._policy_config import (
    MAX_COOKIE_TTL as MAX_COOKIE_TTL,
)
from ._policy_config import (
    MAX_REGEX_GROUPS as MAX_REGEX_GROUPS,
)
from ._policy_config import (
    MAX_REGEX_PROGRAM_SIZE as MAX_REGEX_PROGRAM_SIZE,
)
from ._policy_config import (
    REGEX_ENGINE_VAR as REGEX_ENGINE_VAR,
)
from ._policy_config import (
    _asgi_headers,
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
    _header_list,
    _items,
    _list_item,
    _list_len,
    _parse_ip,
    _split_host_port,
    _to_bytes,
    _tuple_item,
    _tuple_len,
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
from ._policy_config import request_from_wsgi as _request_from_wsgi
from ._validate import uninitialised

__all__ = (
    "Cookie",
    "HashPolicy",
    "HashResult",
    "Header",
    "QueryParameter",
    "Request",
    "SourceIP",
)

_M64 = 0xFFFFFFFFFFFFFFFF
_xxh64 = xxhash.xxh64_intdigest
_PSEUDO = {b":path": 0, b":authority": 1, b":method": 2, b":scheme": 3}

#: What a header name or value may be: text (UTF-8) or bytes.
Text = str | bytes | bytearray
#: An address: ``"ip:port"`` / ``"[ip6]:port"`` text, or a ``(host, port)`` tuple.
Address = str | bytes | tuple[Any, ...] | None
#: What ``Request(headers=...)`` accepts.
Headers = Mapping[Any, Any] | Iterable[Any] | None


# ---------------------------------------------------------------- helpers
#
# The request-data rule (what is read as text, and how a subclass is read by
# its value) is stated once, in ``_policy_config``, with the readers both
# twins share; these are the pure twin's own hot-path readers.


def _pair(item: object) -> tuple[Any, Any] | None:
    """Return ``(name, value)`` of a header entry: a 2-item tuple or list, else None."""
    v: Any = item
    t = type(v)
    if t is tuple or t is list:
        return (v[0], v[1]) if len(v) == 2 else None
    if issubclass(t, tuple):
        return (_tuple_item(v, 0), _tuple_item(v, 1)) if _tuple_len(v) == 2 else None
    if issubclass(t, list):
        return (_list_item(v, 0), _list_item(v, 1)) if _list_len(v) == 2 else None
    return None


def _name_matches(name: object, lname: bytes) -> bool:
    """Return True if header *name* equals the lower-case *lname*, ASCII case-insensitively."""
    b = _to_bytes(name)
    return b is not None and len(b) == len(lname) and b.lower() == lname


def _host_of(address: object) -> bytes | None:
    """Return the host part of an address (text or tuple), or None."""
    items = _items(address)
    if items is not None:
        if len(items) < 1:
            return None
        host = _to_bytes(items[0])
        if host is not None and host[:1] == b"[" and host[-1:] == b"]":
            host = host[1:-1]
        return host
    text = _to_bytes(address)
    if not text:
        return None
    split = _split_host_port(text)
    return None if split is None else split[0]


def _connection_ip(address: object) -> bytes | None:
    """Return the canonical IP (no port) of a connection address, or None."""
    host = _host_of(address)
    return None if not host else _parse_ip(host, True)


def _xff_ip(values: list[bytes], skip: int) -> bytes | None:
    """Return the address *skip* entries from the right of X-Forwarded-For.

    This is Envoy's ``Utility::getLastAddressFromXFF``: the header values are
    joined with ``,`` (Envoy coalesces the inline header), the last *skip*
    entries are dropped, the last remaining one is trimmed and parsed.
    """
    if not values:
        return None
    xff = b",".join(values)
    for _ in range(skip):
        comma = xff.rfind(b",")
        if comma < 0:
            return None
        xff = xff[:comma]
    comma = xff.rfind(b",")
    if comma >= 0 and comma + 1 < len(xff):
        xff = xff[comma + 1 :]
    return _parse_ip(xff.strip(), False)


# ---------------------------------------------------------------- Request


class Request:
    """The parts of an HTTP request that hash policies read.

    Nothing is copied or decoded up front: a list of header pairs is kept as
    given and scanned on demand, so building a request costs almost nothing.

    :param headers: a mapping (values may be lists for repeated headers), a
        list of ``(name, value)`` pairs (repeated names allowed), or raw
        ``(bytes, bytes)`` pairs as ASGI gives them.  Names match
        ASCII-case-insensitively; ``str`` is read as UTF-8.  Text is
        ``str``, ``bytes`` or ``bytearray``, a subclass read by its value
        (none of its methods is called); a pair is a 2-item tuple or list.
        Entries that are not pairs of text are ignored.
    :param path: the ``:path`` (``"/p?q=1"``), not percent-decoded.
    :param remote_address: the peer: ``"10.0.0.7:51234"``,
        ``"[2001:db8::1]:443"``, a bare IP, or a ``(host, port)`` tuple.
    :param local_address: the address the request arrived on, same forms.
    :param method: ``:method``.
    :param authority: ``:authority``; if None, the ``host`` header is used.
    :param scheme: ``:scheme``.
    :raises TypeError: *headers* is neither a mapping nor an iterable.

    Pseudo-headers (``:path``, ``:authority``, ``:method``, ``:scheme``) are
    read by :class:`Header` from these arguments, or from a pair of that name
    in *headers* when the argument is None.

    >>> r = Request(headers=[(b"x-user", b"alice")], path="/a?b=1")
    >>> HashPolicy(Header("X-User")).hash(r)  # xxh64("alice")
    8332761332120969289
    """

    __slots__ = ("_authority", "_headers", "_local", "_method", "_path", "_remote", "_scheme")

    def __init__(
        self,
        headers: Headers = None,
        path: Text | None = None,
        remote_address: Address = None,
        local_address: Address = None,
        method: Text | None = None,
        authority: Text | None = None,
        scheme: Text | None = None,
    ) -> None:
        if hasattr(self, "_headers"):
            raise TypeError("Request is immutable; __init__ cannot run twice")
        self._headers: list[Any] | tuple[Any, ...] = _header_list(headers)
        self._path: object = path
        self._remote: object = remote_address
        self._local: object = local_address
        self._method: object = method
        self._authority: object = authority
        self._scheme: object = scheme

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any]) -> Request:
        """Return the request of an ASGI ``http`` or ``websocket`` *scope*.

        The header list is referenced, not copied or decoded.  ``:path`` is
        ``raw_path`` (else ``path``) plus ``?`` and ``query_string``; the
        remote and local addresses are ``client`` and ``server``.

        :param scope: the ASGI connection scope.
        :raises TypeError: *scope* is not a mapping.

        >>> scope = {"type": "http", "headers": [(b"x-user", b"alice")],
        ...          "path": "/", "query_string": b"", "client": ("10.0.0.7", 51234)}
        >>> HashPolicy(SourceIP()).hash(Request.from_asgi(scope))  # xxh64("10.0.0.7")
        3728003503708587973
        """
        if not issubclass(type(scope), Mapping):
            raise TypeError(f"scope must be a mapping, not {type(scope).__name__}")
        self = cls.__new__(cls)
        get = scope.get
        self._headers = _asgi_headers(get("headers"))
        path = get("raw_path")
        if not issubclass(type(path), (bytes, bytearray)):
            path = get("path")
        q = _to_bytes(get("query_string"))
        if q and path is not None:
            p = _to_bytes(path)
            if p is not None and b"?" not in p:
                path = p + b"?" + q
        self._path = path
        self._remote = get("client")
        self._local = get("server")
        self._method = get("method")
        self._authority = None
        self._scheme = get("scheme")
        return self

    @classmethod
    def from_wsgi(cls, environ: Mapping[str, Any]) -> Request:
        """Return the request described by a WSGI *environ*.

        Headers come from the ``HTTP_*`` keys plus ``CONTENT_TYPE`` and
        ``CONTENT_LENGTH`` (``_`` becomes ``-``), values encoded back to the
        bytes they were (WSGI strings are latin-1).  ``:path`` is
        ``RAW_URI`` or ``REQUEST_URI`` when the server provides them (the
        raw request target, as Envoy sees it), else ``SCRIPT_NAME`` +
        ``PATH_INFO`` (which servers percent-decode) + ``?QUERY_STRING``.
        The remote address is ``REMOTE_ADDR``/``REMOTE_PORT``; the local one
        ``SERVER_ADDR`` (else ``SERVER_NAME``) and ``SERVER_PORT``.

        :param environ: the WSGI environment.
        :raises TypeError: *environ* is not a mapping.

        >>> env = {"HTTP_X_USER": "alice", "PATH_INFO": "/", "REMOTE_ADDR": "10.0.0.7"}
        >>> HashPolicy(Header("x-user")).hash(Request.from_wsgi(env))  # xxh64("alice")
        8332761332120969289
        """
        return _request_from_wsgi(cls, environ)

    @property
    def headers(self) -> list[Any] | tuple[Any, ...]:
        """The header pairs, as given (a mapping is turned into a list of pairs)."""
        try:
            return self._headers
        except AttributeError:
            raise _uninit(self) from None

    @property
    def path(self) -> object:
        """``:path`` as given (str or bytes), or None."""
        try:
            return self._path
        except AttributeError:
            raise _uninit(self) from None

    @property
    def remote_address(self) -> object:
        """The peer's address as given (text or a ``(host, port)`` tuple), or None."""
        try:
            return self._remote
        except AttributeError:
            raise _uninit(self) from None

    @property
    def local_address(self) -> object:
        """The local address as given (text or a ``(host, port)`` tuple), or None."""
        try:
            return self._local
        except AttributeError:
            raise _uninit(self) from None

    @property
    def method(self) -> object:
        """``:method`` as given, or None."""
        try:
            return self._method
        except AttributeError:
            raise _uninit(self) from None

    @property
    def authority(self) -> object:
        """``:authority`` as given, or None (then the ``host`` header stands in)."""
        try:
            return self._authority
        except AttributeError:
            raise _uninit(self) from None

    @property
    def scheme(self) -> object:
        """``:scheme`` as given, or None."""
        try:
            return self._scheme
        except AttributeError:
            raise _uninit(self) from None

    def get_all(self, name: str | bytes) -> list[bytes]:
        """Return every value of header *name* as bytes, in request order.

        *name* matches ASCII-case-insensitively.  A pseudo-header
        (``:path``, ``:authority``, ``:method``, ``:scheme``) gives the
        matching argument; ``:authority`` falls back to the ``host`` header.

        :param name: the header name.

        >>> Request(headers={"Accept": ["a", "b"]}).get_all("accept")
        [b'a', b'b']
        """
        raw = _to_bytes(name)
        if raw is None:
            raise TypeError(f"name must be str or bytes, not {type(name).__name__}")
        try:
            return self._values(raw.lower())
        except AttributeError:
            _raise_uninitialised(self)
            raise

    # -- internals shared by the hash methods ------------------------------

    def _values(self, lname: bytes) -> list[bytes]:
        """Return every value of the lower-case header *lname*."""
        pseudo = _PSEUDO.get(lname)
        if pseudo is not None:
            attr = (self._path, self._authority, self._method, self._scheme)[pseudo]
            if attr is not None:
                b = _to_bytes(attr)
                return [] if b is None else [b]
        out = self._scan(lname)
        if not out and pseudo == 1:
            out = self._scan(b"host")
        return out

    def _scan(self, lname: bytes) -> list[bytes]:
        out: list[bytes] = []
        try:  # for an exact-str fast path; a name that is not UTF-8 has no str twin
            sname: str | None = lname.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            sname = None
        ln = len(lname)
        for item in self._headers:
            if type(item) is tuple and len(item) == 2:
                name, value = item
            else:
                pair = _pair(item)
                if pair is None:
                    continue
                name, value = pair
            t = type(name)
            if t is bytes:
                if name != lname and (len(name) != ln or name.lower() != lname):
                    continue
            elif t is str:
                if name != sname and not _name_matches(name, lname):
                    continue
            elif not _name_matches(name, lname):
                continue
            b = _to_bytes(value)
            if b is not None:
                out.append(b)
        return out

    def _path_bytes(self) -> bytes | None:
        values = self._values(b":path")
        return values[0] if values else None


# ---------------------------------------------------------------- results


class HashResult:
    """What :meth:`HashPolicy.evaluate` returns: the hash and the cookies to set.

    :param hash: the 64-bit request hash, or None (Envoy then picks randomly).
    :param set_cookies: ``Set-Cookie`` header values generated by
        :class:`Cookie` methods with a ``ttl``, in policy order.

    >>> HashResult(7).set_cookie is None
    True
    """

    __slots__ = ("_hash", "_set_cookies")

    def __init__(self, hash: int | None, set_cookies: tuple[str, ...] = ()) -> None:
        if hasattr(self, "_hash"):
            raise TypeError("HashResult is immutable; __init__ cannot run twice")
        self._hash = hash
        self._set_cookies = tuple(set_cookies)

    @property
    def hash(self) -> int | None:
        """The 64-bit request hash, or None when no method produced one."""
        try:
            return self._hash
        except AttributeError:
            raise _uninit(self) from None

    @property
    def set_cookie(self) -> str | None:
        """The first ``Set-Cookie`` header value to send, or None."""
        try:
            return self._set_cookies[0] if self._set_cookies else None
        except AttributeError:
            raise _uninit(self) from None

    @property
    def set_cookies(self) -> tuple[str, ...]:
        """Every ``Set-Cookie`` header value to send (usually zero or one)."""
        try:
            return self._set_cookies
        except AttributeError:
            raise _uninit(self) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HashResult):
            return NotImplemented
        try:
            return self._hash == other._hash and self._set_cookies == other._set_cookies
        except AttributeError:
            _raise_uninitialised(self, other)
            raise

    def __hash__(self) -> int:
        try:
            return hash((self._hash, self._set_cookies))
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_set_cookies"):
            return "<HashResult object (not initialised)>"
        return f"HashResult(hash={self._hash!r}, set_cookies={self._set_cookies!r})"


# ---------------------------------------------------------------- methods


class _Method:
    """Base of the hash methods: immutable, compared by configuration."""

    __slots__ = ("_terminal",)
    _terminal: bool

    @property
    def terminal(self) -> bool:
        """Whether the policy stops here once a hash exists."""
        try:
            return self._terminal
        except AttributeError:
            raise _uninit(self) from None

    def hash(self, request: Request) -> int | None:
        """Return this method's hash of *request*, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        try:
            return self._eval(_check_request(request), None)
        except AttributeError:
            _raise_uninitialised(request, self)
            raise

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        """Return the hash, xxh64 seeded with *seed* (0: Envoy's), or None."""
        raise NotImplementedError

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object (not initialised)>"


def _check_request(request: object) -> Request:
    if type(request) is not Request and not issubclass(type(request), Request):
        raise TypeError(f"request must be a Request, not {type(request).__name__}")
    return request  # type: ignore[return-value]


class Header(_Method):
    """Hash every value of a request header (Envoy ``hash_policy.header``).

    The values are optionally rewritten, sorted bytewise and hashed as a
    seed chain (spec §8.2); one value gives ``xxh64(value)``, a present but
    empty header ``xxh64("")``, an absent header no hash.

    :param str name: the header name, matched case-insensitively; the
        pseudo-headers ``:path``, ``:authority``, ``:method`` and ``:scheme``
        are allowed.
    :param regex_rewrite: ``(pattern, substitution)``: replace every match
        in each value, as Envoy does (``RE2::GlobalReplace``).  The pattern is
        RE2 syntax, run by RE2 (the google-re2 package, linear time); the
        substitution uses Envoy's ``\\1`` style.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*, a pattern RE2 rejects, or a malformed
        substitution.
    :raises TypeError: an argument has the wrong type.

    >>> Header("x-user").hash(Request(headers={"x-user": "foo"}))
    3728699739546630719
    """

    __slots__ = ("_lname", "_name", "_regex_rewrite", "_rewrite")
    _lname: bytes
    _name: str
    _regex_rewrite: tuple[str, str] | None
    _rewrite: Callable[[bytes], bytes] | None

    def __init__(
        self,
        name: str,
        *,
        regex_rewrite: tuple[str, str] | None = None,
        terminal: bool = False,
    ) -> None:
        if hasattr(self, "_terminal"):
            raise TypeError("Header is immutable; __init__ cannot run twice")
        name, raw = _check_name(name, "Header")
        compiled = _compile_rewrite(regex_rewrite)
        setattr_ = object.__setattr__
        setattr_(self, "_name", name)
        setattr_(self, "_lname", raw.lower())
        setattr_(self, "_regex_rewrite", None if compiled is None else compiled[0])
        setattr_(self, "_rewrite", None if compiled is None else compiled[1])
        setattr_(self, "_terminal", _check_terminal(terminal))

    @property
    def name(self) -> str:
        """The header name as configured."""
        try:
            return self._name
        except AttributeError:
            raise _uninit(self) from None

    @property
    def regex_rewrite(self) -> tuple[str, str] | None:
        """The ``(pattern, substitution)`` rewrite, or None."""
        try:
            return self._regex_rewrite
        except AttributeError:
            raise _uninit(self) from None

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        values = request._values(self._lname)
        if not values:
            return None
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

    def _key(self) -> tuple[Any, ...]:
        try:
            return (self._lname, self._regex_rewrite, self._terminal)
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_lname"):
            return super().__repr__()
        extra = "" if self._regex_rewrite is None else f", regex_rewrite={self._regex_rewrite!r}"
        return f"Header({self._name!r}{extra}, terminal={self._terminal!r})"


class Cookie(_Method):
    """Hash a cookie's value (Envoy ``hash_policy.cookie``), generating one if asked.

    The ``cookie`` headers are parsed as Envoy parses them (spec §8.3): split
    on ``;``, the name runs from the first non-space to the first ``=``, the
    value is not trimmed but one pair of surrounding quotes is removed, and
    the first exact (case-sensitive) match wins.  A non-empty value gives
    ``xxh64(value)``.  A missing or empty cookie gives no hash unless *ttl* is
    set: then the value ``'%016x' % xxh64(remote + local address)`` is
    generated, hashed, and returned as a ``Set-Cookie`` by
    :meth:`HashPolicy.evaluate`.  With either address missing, no hash.

    :param str name: the cookie name (case-sensitive).
    :param ttl: ``Max-Age`` of a generated cookie: ``int`` seconds or a
        ``timedelta`` (whole seconds are used); ``0`` makes a session cookie;
        None generates nothing.
    :param path: the ``Path`` attribute of a generated cookie.
    :param attributes: more attributes, a mapping or ``(name, value)``
        pairs (an empty value writes the bare name).
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*, a negative *ttl*, or text that cannot
        go into a ``Set-Cookie`` header.
    :raises TypeError: an argument has the wrong type.

    >>> Cookie("session").hash(Request(headers={"cookie": 'a=1; session="foo"'}))
    3728699739546630719
    """

    __slots__ = ("_attributes", "_name", "_path", "_raw", "_ttl")
    _attributes: tuple[tuple[str, str], ...]
    _name: str
    _path: str | None
    _raw: bytes
    _ttl: int | None

    def __init__(
        self,
        name: str,
        ttl: int | timedelta | None = None,
        path: str | None = None,
        attributes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        terminal: bool = False,
    ) -> None:
        if hasattr(self, "_terminal"):
            raise TypeError("Cookie is immutable; __init__ cannot run twice")
        name, raw = _check_cookie_name(name)
        setattr_ = object.__setattr__
        setattr_(self, "_name", name)
        setattr_(self, "_raw", raw)
        setattr_(self, "_ttl", _check_ttl(ttl))
        setattr_(self, "_path", None if path is None else _check_header_text(path, "Cookie path"))
        setattr_(self, "_attributes", _check_attributes(attributes))
        setattr_(self, "_terminal", _check_terminal(terminal))

    @property
    def name(self) -> str:
        """The cookie name."""
        try:
            return self._name
        except AttributeError:
            raise _uninit(self) from None

    @property
    def ttl(self) -> int | None:
        """``Max-Age`` in whole seconds for generated cookies, or None (never generate)."""
        try:
            return self._ttl
        except AttributeError:
            raise _uninit(self) from None

    @property
    def path(self) -> str | None:
        """The ``Path`` of generated cookies, or None."""
        try:
            return self._path
        except AttributeError:
            raise _uninit(self) from None

    @property
    def attributes(self) -> tuple[tuple[str, str], ...]:
        """Extra ``(name, value)`` attributes of generated cookies."""
        try:
            return self._attributes
        except AttributeError:
            raise _uninit(self) from None

    def evaluate(self, request: Request) -> HashResult:
        """Return the hash and the ``Set-Cookie`` to send, if one was generated.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        cookies: list[str] = []
        try:
            h = self._eval(_check_request(request), cookies)
        except AttributeError:
            _raise_uninitialised(request, self)
            raise
        return HashResult(h, tuple(cookies))

    def set_cookie_value(self, value: str) -> str:
        """Return the ``Set-Cookie`` header value Envoy writes for *value*.

        ``name="value"``, then ``; Max-Age=<ttl>`` unless ttl is 0 (or None),
        ``; Path=<path>`` if set, each attribute, and ``; HttpOnly``.

        :param str value: the cookie value.

        >>> Cookie("s", ttl=60, path="/").set_cookie_value("00ff")
        's="00ff"; Max-Age=60; Path=/; HttpOnly'
        """
        try:
            out = [f'{self._name}="{value}"']
            if self._ttl:
                out.append(f"; Max-Age={self._ttl}")
            if self._path:
                out.append(f"; Path={self._path}")
            for name, val in self._attributes:
                out.append(f"; {name}={val}" if val else f"; {name}")
            out.append("; HttpOnly")
            return "".join(out)
        except AttributeError:
            raise _uninit(self) from None

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        value = _cookie_value(request._values(b"cookie"), self._raw)
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

    def _key(self) -> tuple[Any, ...]:
        try:
            return (self._name, self._ttl, self._path, self._attributes, self._terminal)
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_raw"):
            return super().__repr__()
        return (
            f"Cookie({self._name!r}, ttl={self._ttl!r}, path={self._path!r}, "
            f"attributes={self._attributes!r}, terminal={self._terminal!r})"
        )


def _cookie_value(headers: list[bytes], name: bytes) -> bytes | None:
    """Return the first cookie called *name* in the ``cookie`` headers (Envoy's parser)."""
    for header in headers:
        if name not in header:
            continue
        for piece in header.split(b";"):
            eq = piece.find(b"=")
            if eq < 0:
                continue
            start = len(piece) - len(piece.lstrip(b" "))
            if piece[start:eq] == name:
                value = piece[eq + 1 :]
                if len(value) >= 2 and value[0] == 34 and value[-1] == 34:
                    value = value[1:-1]
                return value
    return None


class SourceIP(_Method):
    """Hash the client's IP address, without the port (``connection_properties.source_ip``).

    The address is the one Envoy's connection manager settles on (spec §8.4)
    and is hashed as text: IPv4 as a dotted quad, IPv6 compressed as
    ``inet_ntop`` writes it, without brackets.

    * ``use_remote_address=True`` (Istio gateways and sidecars): with 0
      trusted hops, the connection's remote address; with N > 0, the N-th
      address from the right of ``X-Forwarded-For``.
    * ``use_remote_address=False`` (Envoy's default): the address N + 1 from
      the right of ``X-Forwarded-For`` (with N = 0, the last one).

    If ``X-Forwarded-For`` is absent, has too few entries or the chosen
    entry is not an IP address, the connection's remote address is used, as
    Envoy does.  An unusable remote address gives no hash.

    :param int xff_num_trusted_hops: proxies in front whose
        ``X-Forwarded-For`` entries are trusted.
    :param bool use_remote_address: Envoy's HCM ``use_remote_address``.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: a negative or too large *xff_num_trusted_hops*.
    :raises TypeError: an argument has the wrong type.

    >>> SourceIP().hash(Request(remote_address="[::1]:443"))  # xxh64("::1")
    6441869463509800047
    """

    __slots__ = ("_hops", "_use_remote")
    _hops: int
    _use_remote: bool

    def __init__(
        self,
        xff_num_trusted_hops: int = 0,
        *,
        use_remote_address: bool = True,
        terminal: bool = False,
    ) -> None:
        if hasattr(self, "_terminal"):
            raise TypeError("SourceIP is immutable; __init__ cannot run twice")
        hops = _check_hops(xff_num_trusted_hops)
        use_remote = _check_use_remote(use_remote_address)
        setattr_ = object.__setattr__
        setattr_(self, "_hops", hops)
        setattr_(self, "_use_remote", use_remote)
        setattr_(self, "_terminal", _check_terminal(terminal))

    @property
    def xff_num_trusted_hops(self) -> int:
        """How many ``X-Forwarded-For`` hops are trusted."""
        try:
            return self._hops
        except AttributeError:
            raise _uninit(self) from None

    @property
    def use_remote_address(self) -> bool:
        """Envoy's HCM ``use_remote_address`` setting being modelled."""
        try:
            return self._use_remote
        except AttributeError:
            raise _uninit(self) from None

    def client_ip(self, request: Request) -> str | None:
        """Return the client IP text that is hashed, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.

        >>> r = Request(headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"},
        ...             remote_address="10.0.0.2:5000")
        >>> SourceIP(2).client_ip(r), SourceIP(1).client_ip(r), SourceIP().client_ip(r)
        ('203.0.113.9', '10.0.0.1', '10.0.0.2')
        """
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

    def _key(self) -> tuple[Any, ...]:
        try:
            return (self._hops, self._use_remote, self._terminal)
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_hops"):
            return super().__repr__()
        return (
            f"SourceIP({self._hops!r}, use_remote_address={self._use_remote!r}, "
            f"terminal={self._terminal!r})"
        )


class QueryParameter(_Method):
    """Hash a query parameter of ``:path`` (Envoy ``hash_policy.query_parameter``).

    The query string (after the first ``?``) is split on ``&`` and each
    piece at its first ``=``; the first exact, case-sensitive name match
    wins, with **no percent-decoding**.  A present but empty value hashes
    ``""``; a missing parameter or path gives no hash.

    :param str name: the parameter name.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*.
    :raises TypeError: an argument has the wrong type.

    >>> QueryParameter("u").hash(Request(path="/p?x=1&u=foo&u=bar"))
    3728699739546630719
    """

    __slots__ = ("_name", "_raw")
    _name: str
    _raw: bytes

    def __init__(self, name: str, *, terminal: bool = False) -> None:
        if hasattr(self, "_terminal"):
            raise TypeError("QueryParameter is immutable; __init__ cannot run twice")
        name, raw = _check_name(name, "QueryParameter")
        setattr_ = object.__setattr__
        setattr_(self, "_name", name)
        setattr_(self, "_raw", raw)
        setattr_(self, "_terminal", _check_terminal(terminal))

    @property
    def name(self) -> str:
        """The parameter name."""
        try:
            return self._name
        except AttributeError:
            raise _uninit(self) from None

    def _eval(self, request: Request, cookies: list[str] | None, seed: int = 0) -> int | None:
        path = request._path_bytes()
        if path is None:
            return None
        q = path.find(b"?")
        if q < 0:
            return None
        name = self._raw
        for piece in path[q + 1 :].split(b"&"):
            eq = piece.find(b"=")
            if eq < 0:
                if piece == name:
                    return _xxh64(b"", seed)
            elif piece[:eq] == name:
                return _xxh64(piece[eq + 1 :], seed)
        return None

    def _key(self) -> tuple[Any, ...]:
        try:
            return (self._name, self._terminal)
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_raw"):
            return super().__repr__()
        return f"QueryParameter({self._name!r}, terminal={self._terminal!r})"


# ---------------------------------------------------------------- policy


class HashPolicy:
    """An ordered list of hash methods: Envoy's route ``hash_policy`` (spec §8.1).

    Methods are evaluated in order.  The first hash becomes the result; each
    later one is folded in as ``rotl1(result) ^ hash``.  After a method with
    ``terminal=True``, evaluation stops if a hash exists.  If no method
    yields a hash, the result is None (Envoy then balances randomly).

    :param policies: :class:`Header`, :class:`Cookie`, :class:`SourceIP` and
        :class:`QueryParameter` objects (or one list of them).
    :param int seed: the xxh64 seed of every value hashed, in ``[0, 2**64)``.
        ``0`` (the default) is Envoy's unseeded hash; a random secret seed
        (``secrets.randbits(64)``) makes the request -> hash mapping
        unpredictable to clients (hash flooding), and every proxy that must
        agree needs the same seed.  Multi-value headers chain from it.  The
        seed is not shown by ``repr``.
    :raises TypeError: an argument is not a hash method, or *seed* is not an int.
    :raises ~hashlb.ConfigError: *seed* is out of range.

    >>> policy = HashPolicy(Header("x-user"), SourceIP())
    >>> policy.hash(Request(headers={"x-user": "foo"}))  # xxh64("foo")
    3728699739546630719
    >>> HashPolicy(Header("x-user"), seed=7).hash(Request(headers={"x-user": "foo"}))  # xxh64("foo", 7)
    8283876513818656790
    """

    __slots__ = ("_policies", "_seed")

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

    @property
    def policies(self) -> tuple[Header | Cookie | SourceIP | QueryParameter, ...]:
        """The hash methods, in evaluation order."""
        try:
            return self._policies
        except AttributeError:
            raise _uninit(self) from None

    @property
    def seed(self) -> int:
        """The xxh64 seed of the hashed values (0: Envoy's unseeded hash)."""
        try:
            return self._seed
        except AttributeError:
            raise _uninit(self) from None

    def hash(self, request: Request) -> int | None:
        """Return the request hash, or None when no method yields one.

        A cookie is still generated (and hashed) for a :class:`Cookie` with a
        ``ttl``; use :meth:`evaluate` to get its ``Set-Cookie`` value.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        try:
            return self._run(_check_request(request), None)
        except AttributeError:
            _raise_uninitialised(request, self, *getattr(self, "_policies", ()))
            raise

    def evaluate(self, request: Request) -> HashResult:
        """Return the request hash and the ``Set-Cookie`` values to send.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.

        >>> r = HashPolicy(Cookie("s", ttl=0)).evaluate(
        ...     Request(remote_address="10.0.0.1:34567", local_address="10.0.0.2:8080"))
        >>> r.set_cookie
        's="..."; HttpOnly'
        """
        cookies: list[str] = []
        try:
            h = self._run(_check_request(request), cookies)
        except AttributeError:
            _raise_uninitialised(request, self, *getattr(self, "_policies", ()))
            raise
        return HashResult(h, tuple(cookies))

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HashPolicy):
            return NotImplemented
        try:
            return self._policies == other._policies and self._seed == other._seed
        except AttributeError:
            _raise_uninitialised(self, other)
            raise

    def __hash__(self) -> int:
        try:
            return hash((self._policies, self._seed))
        except AttributeError:
            raise _uninit(self) from None

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


# ---------------------------------------------------------------- not initialised

#: The slot each class's ``__init__`` sets: unset, the object was made with
#: ``__new__`` (or by a subclass skipping ``super().__init__()``).
_READY_SLOT: dict[type, str] = {
    Request: "_headers",
    HashResult: "_set_cookies",
    Header: "_lname",
    Cookie: "_raw",
    SourceIP: "_hops",
    QueryParameter: "_raw",
    HashPolicy: "_policies",
}


def _uninit(obj: object) -> TypeError:
    """Return the error for *obj*, whose ``__init__`` never ran."""
    for cls in type(obj).__mro__:
        if cls in _READY_SLOT or cls is _Method:
            return uninitialised(obj, cls.__name__)
    return uninitialised(obj, type(obj).__name__)  # pragma: no cover


def _raise_uninitialised(*objs: object) -> None:
    """In an ``except AttributeError``: raise the TypeError for an uninitialised object.

    The hot paths read slots without checks; an object made with ``__new__``
    fails there with AttributeError, which this turns into the compiled
    twin's TypeError.  Returns if every object is initialised.
    """
    for obj in objs:
        for cls in type(obj).__mro__:
            slot = _READY_SLOT.get(cls)
            if slot is not None:
                if not hasattr(obj, slot):
                    raise _uninit(obj) from None
                break
