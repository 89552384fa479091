"""The request side of hash policies, pure Python: the typed twin of ``_request_c.pyx``.

:class:`Request` holds the parts of an HTTP request that hash policies read
and scans its headers on demand; the X-Forwarded-For and connection-address
readers of :class:`~hashlb.policy.SourceIP` live here too (Envoy's split
between the header map and ``hash_policy.cc``).  Keep names, signatures and
docstrings identical to the compiled twin.  The cold paths (header
containers, WSGI parsing, the IP parser) live in ``_request_config``, which
both twins import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ._deprecation import keyword_signature, positional_options
from ._request_config import (
    _asgi_headers,
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
from ._request_config import filter_state_hashes as _filter_state_hashes
from ._request_config import request_from_wsgi as _request_from_wsgi
from ._slots import checked_property
from ._validate import uninitialised

__all__ = ("Request",)

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
# its value) is stated once, in ``_request_config``, with the readers both
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


_EMPTY_STATE: Mapping[str, int] = MappingProxyType({})


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
    :param filter_state: Envoy's filter state as hash policies see it:
        ``{key: hash}``, where *hash* is what the object's ``Hashable::hash()``
        returns, an int in ``[0, 2**64)``.  A key whose value is anything
        else (None included) is an object that is not hashable; a mapping
        that cannot be read is no filter state.  Read by :class:`FilterState`.
    :raises TypeError: *headers* is neither a mapping nor an iterable.

    Pseudo-headers (``:path``, ``:authority``, ``:method``, ``:scheme``) are
    read by :class:`Header` from these arguments, or from a pair of that name
    in *headers* when the argument is None.

    The arguments are keyword-only; passing them by position still works for
    one release, with a ``DeprecationWarning``.

    >>> r = Request(headers=[(b"x-user", b"alice")], path="/a?b=1")
    >>> r.get_all("X-User"), r.get_all(":path")
    ([b'alice'], [b'/a?b=1'])
    """

    __slots__ = (
        "_authority",
        "_filter_state",
        "_headers",
        "_local",
        "_method",
        "_path",
        "_remote",
        "_scheme",
    )

    @keyword_signature
    def __init__(
        self,
        *args: Any,
        headers: Headers = None,
        path: Text | None = None,
        remote_address: Address = None,
        local_address: Address = None,
        method: Text | None = None,
        authority: Text | None = None,
        scheme: Text | None = None,
        filter_state: Mapping[str, int] | None = None,
    ) -> None:
        if hasattr(self, "_headers"):
            raise TypeError("Request is immutable; __init__ cannot run twice")
        if args:
            headers, path, remote_address, local_address, method, authority, scheme = (
                positional_options(  # type: ignore[assignment]
                    "Request",
                    "",
                    args,
                    (
                        ("headers", headers, None),
                        ("path", path, None),
                        ("remote_address", remote_address, None),
                        ("local_address", local_address, None),
                        ("method", method, None),
                        ("authority", authority, None),
                        ("scheme", scheme, None),
                    ),
                    2,
                )
            )
        self._headers: list[Any] | tuple[Any, ...] = _header_list(headers)
        self._path: object = path
        self._remote: object = remote_address
        self._local: object = local_address
        self._method: object = method
        self._authority: object = authority
        self._scheme: object = scheme
        self._filter_state: dict[str, int] | None = (
            None if filter_state is None else _filter_state_hashes(filter_state)
        )

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
        >>> Request.from_asgi(scope).remote_address
        ('10.0.0.7', 51234)
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
        self._filter_state = None
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
        >>> Request.from_wsgi(env).get_all("x-user")
        [b'alice']
        """
        return _request_from_wsgi(cls, environ)

    headers: list[Any] | tuple[Any, ...] = checked_property(
        "_headers",
        "Request",
        "The header pairs, as given (a mapping is turned into a list of pairs).",
    )

    path: object = checked_property(
        "_path", "Request", "``:path`` as given (str or bytes), or None."
    )

    remote_address: object = checked_property(
        "_remote",
        "Request",
        "The peer's address as given (text or a ``(host, port)`` tuple), or None.",
    )

    local_address: object = checked_property(
        "_local",
        "Request",
        "The local address as given (text or a ``(host, port)`` tuple), or None.",
    )

    method: object = checked_property("_method", "Request", "``:method`` as given, or None.")

    authority: object = checked_property(
        "_authority",
        "Request",
        "``:authority`` as given, or None (then the ``host`` header stands in).",
    )

    scheme: object = checked_property("_scheme", "Request", "``:scheme`` as given, or None.")

    @property
    def filter_state(self) -> Mapping[str, int]:
        """The hashable filter state entries, ``{key: hash}`` (read-only; empty if none)."""
        state = self._slot("_filter_state")
        return _EMPTY_STATE if state is None else MappingProxyType(state)  # type: ignore[arg-type]

    def _slot(self, name: str) -> object:
        """Return the slot *name*; TypeError if ``__init__`` never ran."""
        try:
            return getattr(self, name)
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


# ---------------------------------------------------------------- not initialised

#: The slot each class's ``__init__`` sets: unset, the object was made with
#: ``__new__`` (or by a subclass skipping ``super().__init__()``).  The policy
#: twin registers its classes here too.
_READY_SLOT: dict[type, str] = {Request: "_headers"}
#: Classes named in the error although they set no slot of their own.
_NAMED_BASES: list[type] = []


def _uninit(obj: object) -> TypeError:
    """Return the error for *obj*, whose ``__init__`` never ran."""
    for cls in type(obj).__mro__:
        if cls in _READY_SLOT or cls in _NAMED_BASES:
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
