"""The request side of hash policies: the cold paths both twins share (plain Python).

``_request_c`` and ``_request_py`` both import this module (and the policy
twins the readers they need), so the compiled twin never imports the pure
one.  It states the request-data rule once and holds its readers
(``_to_bytes``, ``_items``, the IP, port and address parsers), the header
containers of ``Request`` and ``Request.from_asgi``, and
``Request.from_wsgi``.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ._deprecation import positional_options

_R = TypeVar("_R")

_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_ZONE_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


# ---------------------------------------------------------------- helpers
#
# The request-data rule (docs/reference/policy.rst, "Text"): a header name or
# value, a path, a query string, an address or a port is read only if its
# *type* is ``str``, ``bytes`` or ``bytearray`` (a port may also be an
# ``int``), subclasses included; a subclass is read by its underlying value
# without calling any of its methods (no ``__eq__``, ``__hash__``, ``encode``,
# ``__bytes__``, ``__index__``, ``__class__`` ...).  Anything else is not
# text and is ignored.  A header entry or an address tuple is a ``tuple`` or
# ``list`` (subclasses read by their items, without calling their methods).
# Type tests use ``type(v)`` and ``issubclass``, never ``isinstance`` (which
# reads ``__class__``, a property that may run code).

_ALL = slice(None)
# Unbound methods of the base types: called on a subclass instance they read
# its value and run none of the subclass's code.
_str_encode: Any = str.encode
_bytes_slice: Any = bytes.__getitem__
_bytearray_slice: Any = bytearray.__getitem__
_tuple_len: Any = tuple.__len__
_tuple_item: Any = tuple.__getitem__
_list_len: Any = list.__len__
_list_item: Any = list.__getitem__
_int_value: Any = int.__index__


def _to_bytes(value: object) -> bytes | None:
    """Return request text as bytes (str -> UTF-8, lone surrogates kept), else None.

    ``str``, ``bytes`` and ``bytearray`` subclasses are read by their value,
    without calling any of their methods; every other type gives None.
    """
    v: Any = value
    t = type(v)
    out: bytes
    if t is bytes:
        out = v
    elif t is str:
        try:
            out = v.encode()
        except UnicodeEncodeError:
            out = v.encode("utf-8", "surrogatepass")
    elif issubclass(t, str):
        # surrogatepass is the identity on valid text and keeps lone surrogates
        out = _str_encode(v, "utf-8", "surrogatepass")
    elif issubclass(t, bytes):
        out = _bytes_slice(v, _ALL)
    elif issubclass(t, bytearray):
        out = bytes(_bytearray_slice(v, _ALL))
    else:
        return None
    return out


def _items(value: object) -> tuple[Any, ...] | list[Any] | None:
    """Return the items of a tuple or list (subclasses read by value), else None."""
    v: Any = value
    t = type(v)
    out: tuple[Any, ...] | list[Any]
    if t is tuple or t is list:
        out = v
    elif issubclass(t, tuple):
        out = _tuple_item(v, _ALL)
    elif issubclass(t, list):
        out = _list_item(v, _ALL)
    else:
        return None
    return out


def _port_text(port: object) -> bytes | None:
    """Return the decimal text of a port: an int in [0, 65535] or 1-5 digits, else None.

    An ``int`` subclass is read by its value (``bool`` is not a port).
    """
    t = type(port)
    if t is int or (issubclass(t, int) and not issubclass(t, bool)):
        n: int = _int_value(port)
        return b"%d" % n if 0 <= n <= 65535 else None
    text = _to_bytes(port)
    if text is None or not _valid_port(text):
        return None
    return b"%d" % int(text)


def _valid_port(port: bytes) -> bool:
    """Return True for 1-5 ASCII digits with a value below 65536."""
    return 0 < len(port) <= 5 and port.isdigit() and int(port) <= 65535


def _parse_ip(text: bytes, unwrap: bool) -> bytes | None:
    """Return the canonical text of an IP literal (``inet_ntop``), or None.

    IPv4 is a strict dotted quad; IPv6 is compressed as glibc's ``inet_ntop``
    writes it, with an optional ``%zone`` (letters, digits, ``_.-``) kept as
    given.  With *unwrap*, an IPv4-mapped IPv6 address gives its IPv4 form,
    as Envoy's dual-stack listeners report it.
    """
    if not 0 < len(text) <= 120 or not text.isascii():
        return None
    zone = b""
    if b"%" in text:
        text, _, zone = text.partition(b"%")
        if not 0 < len(zone) <= 64 or not _ZONE_CHARS.issuperset(zone):
            return None
    if len(text) > 45 or b"\0" in text:
        return None
    s = text.decode("ascii")
    if not zone:
        try:
            return _inet_ntop(_AF_INET, _inet_pton(_AF_INET, s)).encode()
        except (OSError, ValueError):
            pass
    try:
        packed = _inet_pton(_AF_INET6, s)
    except (OSError, ValueError):
        return None
    if unwrap and packed[:12] == _V4_MAPPED:
        return _inet_ntop(_AF_INET, packed[12:]).encode()
    out = _inet_ntop(_AF_INET6, packed).encode()
    return out + b"%" + zone if zone else out


def _split_host_port(text: bytes) -> tuple[bytes, bytes | None] | None:
    """Split ``host:port``, ``[ip6]:port``, ``[ip6]``, a bare IPv6 or a bare host."""
    if text[:1] == b"[":
        close = text.find(b"]")
        if close < 0:
            return None
        rest = text[close + 1 :]
        if not rest:
            return text[1:close], None
        if rest[:1] == b":" and _valid_port(rest[1:]):
            return text[1:close], rest[1:]
        return None
    if text.count(b":") == 1:
        host, _, port = text.partition(b":")
        return (host, port) if _valid_port(port) else None
    return text, None


def _format_address(address: object) -> bytes | None:
    """Return Envoy's ``asString()`` of an address: ``ip:port``, ``[ip6]:port``.

    Text that is not an IP address (a Unix socket path, a host name) is used
    as given; an empty or missing address gives None.
    """
    items = _items(address)
    if items is not None:
        if len(items) < 2:
            return None
        host = _to_bytes(items[0])
        if not host:
            return None
        port = items[1]
        if port is None:
            port_b = None
        else:
            port_b = _port_text(port)
            if port_b is None:
                return None
        bare = host[1:-1] if host[:1] == b"[" and host[-1:] == b"]" else host
        ip = _parse_ip(bare, True)
        if ip is None:
            return host if port_b is None else host + b":" + port_b
    else:
        text = _to_bytes(address)
        if not text:
            return None
        split = _split_host_port(text)
        if split is None:
            return text
        ip = _parse_ip(split[0], True)
        if ip is None:
            return text
        port_b = None if split[1] is None else b"%d" % int(split[1])
    if port_b is None:
        return ip
    return (b"[" + ip + b"]:" if b":" in ip else ip + b":") + port_b


# ---------------------------------------------------------------- Request containers, WSGI


def _asgi_headers(headers: object) -> list[Any] | tuple[Any, ...]:
    """Return ``scope["headers"]``: a tuple or list (a subclass read by value), else iterated.

    A missing or unreadable header container gives no headers (never a raise).
    """
    items = _items(headers)
    if items is not None:
        return items
    try:
        return [] if headers is None else list(headers)  # type: ignore[call-overload]
    except Exception:
        return []


def _header_list(headers: object) -> list[Any] | tuple[Any, ...]:
    """Return the header pairs of any accepted *headers* argument.

    The container is read through its own ``items()`` or iteration; a
    mapping value that is a tuple or list (subclasses read by value) stands
    for repeated headers.
    """
    if headers is None:
        return ()
    t = type(headers)
    pairs = _items(headers)  # a tuple/list subclass is read by value
    if pairs is not None:
        return pairs
    if issubclass(t, (str, bytes, bytearray)):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs, not text")
    items = getattr(headers, "items", None)
    if items is not None and callable(items):
        out: list[Any] = []
        for name, value in items():
            values = _items(value)
            if values is not None:
                out.extend((name, v) for v in values)
            else:
                out.append((name, value))
        return out
    try:
        return list(headers)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise TypeError(
            "headers must be a mapping or an iterable of (name, value) pairs, "
            f"not {type(headers).__name__}"
        ) from None


def _wsgi_bytes(value: object) -> bytes | None:
    """Return a WSGI (latin-1) string as the bytes it stands for."""
    if issubclass(type(value), str):
        try:
            out: bytes = _str_encode(value, "latin-1")
            return out
        except UnicodeEncodeError:
            return _to_bytes(value)
    return _to_bytes(value)


def _wsgi_port(value: object) -> object:
    b = _wsgi_bytes(value)
    return b if b and _valid_port(b) else None


_M64 = 2**64


#: Request's fields that earlier releases took by position, in that order.
_POSITIONAL = (
    "headers",
    "path",
    "remote_address",
    "local_address",
    "method",
    "authority",
    "scheme",
)


def positional_fields(args: tuple[Any, ...], given: tuple[Any, ...], stacklevel: int) -> list[Any]:
    """Return Request's seven fields, the deprecated positional *args* put in their place.

    *given* holds the fields as given by keyword, in :data:`_POSITIONAL` order
    (None when not given); warns as :func:`~hashlb._deprecation.positional_options`
    does, *stacklevel* counted from the twin's ``__init__``.
    """
    options = tuple((name, value, None) for name, value in zip(_POSITIONAL, given, strict=True))
    return positional_options("Request", "", args, options, stacklevel + 1)


def filter_state_hashes(value: object) -> dict[str, int] | None:
    """Return the hashable entries of a request's *filter_state*: ``{str key: int hash}``.

    Request data never raises: only exact ``str`` keys and exact ``int``
    values in ``[0, 2**64)`` are kept; a value that cannot be read (not a
    mapping, or a mapping whose ``items()`` fails) is no filter state.
    """
    if value is None:
        return None
    if type(value) is dict:
        items: Any = list(value.items())
    elif isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception:  # a hostile mapping: request data never raises
            return None
    else:
        return None
    out = {}
    for pair in items:
        if type(pair) is not tuple or len(pair) != 2:
            continue
        k, v = pair
        if type(k) is str and type(v) is int and 0 <= v < _M64:
            out[k] = v
    return out


def request_from_wsgi(cls: Callable[..., _R], environ: Mapping[str, Any]) -> _R:
    """Build ``cls(...)`` from a WSGI *environ*: the body of both twins' ``Request.from_wsgi``."""
    if not issubclass(type(environ), Mapping):
        raise TypeError(f"environ must be a mapping, not {type(environ).__name__}")
    headers: list[tuple[bytes, bytes]] = []
    for key, value in list(environ.items()):
        if not issubclass(type(key), str):
            continue
        key = str.__str__(key)  # a str subclass is read by its value
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        raw = _wsgi_bytes(value)
        if raw is not None:
            lname = _wsgi_bytes(name.replace("_", "-"))
            if lname is not None:
                headers.append((lname.lower(), raw))
    get = environ.get
    path = _wsgi_bytes(get("RAW_URI")) or _wsgi_bytes(get("REQUEST_URI"))
    if not path:
        path = (_wsgi_bytes(get("SCRIPT_NAME")) or b"") + (_wsgi_bytes(get("PATH_INFO")) or b"")
        query = _wsgi_bytes(get("QUERY_STRING"))
        if query:
            path += b"?" + query
    remote = _wsgi_bytes(get("REMOTE_ADDR"))
    local = _wsgi_bytes(get("SERVER_ADDR")) or _wsgi_bytes(get("SERVER_NAME"))
    return cls(
        headers=headers,
        path=path or None,
        remote_address=None if not remote else (remote, _wsgi_port(get("REMOTE_PORT"))),
        local_address=None if not local else (local, _wsgi_port(get("SERVER_PORT"))),
        method=_wsgi_bytes(get("REQUEST_METHOD")),
        authority=_wsgi_bytes(get("HTTP_HOST")),
        scheme=_wsgi_bytes(get("wsgi.url_scheme")),
    )


#: What ``repr(Request)`` shows of one value, and of the header list.
_REPR_CHARS = 80
_REPR_HEADERS = 8
#: The fields ``repr(Request)`` shows (those set), in the signature's order: the positional
#: ones, then filter_state.
_REPR_FIELDS = (*_POSITIONAL, "filter_state")


def _short_repr(value: object) -> str:
    """``repr(value)`` cut to about 80 characters; never raises, never copies a long text."""
    try:
        if type(value) in (tuple, list) and len(value) == 2:  # type: ignore[arg-type]
            pair = f"({_short_repr(value[0])}, {_short_repr(value[1])})"  # type: ignore[index]
            return pair if type(value) is tuple else f"[{pair[1:-1]}]"
        # a slice of a subclass is a plain str/bytes: its repr is bounded
        if isinstance(value, str) and len(value) > _REPR_CHARS:
            value = str.__getitem__(value, slice(0, _REPR_CHARS + 1))
        elif isinstance(value, (bytes, bytearray)) and len(value) > _REPR_CHARS:
            value = bytes(memoryview(value)[: _REPR_CHARS + 1])
        text = repr(value)
        if type(text) is not str:
            raise TypeError
    except Exception:  # request data: an object whose __repr__ or __len__ raises
        return f"<{type(value).__name__} object>"
    return text if len(text) <= _REPR_CHARS else text[: _REPR_CHARS - 3] + "..."


def request_repr(request: Any) -> str:
    """Return ``Request(field=value, ...)`` of the fields that are set, each cut short.

    At most the first eight header entries are shown, then how many more;
    the repr of any value is cut to about 80 characters.  Never raises: a
    request is request data.
    """
    parts: list[str] = []
    for name in _REPR_FIELDS:
        value = getattr(request, name)
        if value is None or (name in ("headers", "filter_state") and not len(value)):
            continue
        if name == "headers":
            items = list(value[:_REPR_HEADERS])
            shown = ", ".join(_short_repr(item) for item in items)
            more = len(value) - len(items)
            bracket = "[]" if isinstance(value, list) else "()"
            text = bracket[0] + shown + (f", ... (+{more} more)" if more else "") + bracket[1]
        elif name == "filter_state":
            items = list(itertools.islice(value.items(), _REPR_HEADERS))
            shown = ", ".join(f"{_short_repr(k)}: {_short_repr(v)}" for k, v in items)
            more = len(value) - len(items)
            text = "{" + shown + (f", ... (+{more} more)" if more else "") + "}"
        else:
            text = _short_repr(value)
        parts.append(f"{name}={text}")
    return f"Request({', '.join(parts)})"
