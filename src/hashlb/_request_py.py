"""The request side of hash policies, pure Python: the typed twin of ``_request_c.pyx``.

:class:`Request` holds the parts of an HTTP request that hash policies read
and scans its headers on demand; the X-Forwarded-For and connection-address
readers of :class:`~hashlb.policy.SourceIP` live here too (Envoy's split
between the header map and ``hash_policy.cc``).  Keep names and signatures
identical to the compiled twin; the docstrings both share live in
``_request_doc.py`` (``tests/test_parity.py`` checks all three).  The cold
paths (header containers, WSGI parsing, the IP parser) live in
``_request_config``, which both twins import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ._deprecation import keyword_signature
from ._docstrings import attach as _attach_docs
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
from ._request_config import positional_fields as _positional_fields
from ._request_config import request_from_wsgi as _request_from_wsgi
from ._request_config import request_repr as _request_repr
from ._request_doc import DOCS as _DOCS
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
                _positional_fields(
                    args,
                    (headers, path, remote_address, local_address, method, authority, scheme),
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
        return _request_from_wsgi(cls, environ)

    headers: list[Any] | tuple[Any, ...] = checked_property("_headers", "Request")

    path: object = checked_property("_path", "Request")

    remote_address: object = checked_property("_remote", "Request")

    local_address: object = checked_property("_local", "Request")

    method: object = checked_property("_method", "Request")

    authority: object = checked_property("_authority", "Request")

    scheme: object = checked_property("_scheme", "Request")

    @property
    def filter_state(self) -> Mapping[str, int]:
        state = self._slot("_filter_state")
        return _EMPTY_STATE if state is None else MappingProxyType(state)  # type: ignore[arg-type]

    def _slot(self, name: str) -> object:
        """Return the slot *name*; TypeError if ``__init__`` never ran."""
        try:
            return getattr(self, name)
        except AttributeError:
            raise _uninit(self) from None

    def __repr__(self) -> str:
        if not hasattr(self, "_headers"):
            return "<Request object (not initialised)>"
        return _request_repr(self)

    def get_all(self, name: str | bytes) -> list[bytes]:
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


_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
