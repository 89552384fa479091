"""HTTP hash policies, pure Python: the typed twin of ``_policy_c.pyx``.

A :class:`HashPolicy` is an ordered list of hash methods (:class:`Header`,
:class:`Cookie`, :class:`SourceIP`, :class:`QueryParameter`); evaluated on a
:class:`Request` it gives the hash Envoy's router would compute, or None
(spec §8).  Keep names, signatures and docstrings identical to the compiled
twin, which reuses this module's cold-path helpers (configuration checks,
address formatting, WSGI parsing).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import xxhash

from ._validate import uninitialised
from .errors import ConfigError

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
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_ZONE_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_PSEUDO = {b":path": 0, b":authority": 1, b":method": 2, b":scheme": 3}

#: What a header name or value may be: text (UTF-8) or bytes.
Text = str | bytes | bytearray
#: An address: ``"ip:port"`` / ``"[ip6]:port"`` text, or a ``(host, port)`` tuple.
Address = str | bytes | tuple[Any, ...] | None
#: What ``Request(headers=...)`` accepts.
Headers = Mapping[Any, Any] | Iterable[Any] | None


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
#: Longest repr put into an error message (configuration values can be huge).
_REPR_LIMIT = 80


def _short(value: object) -> str:
    """Return ``repr(value)`` for an error message, cut to about 80 characters.

    Text longer than the limit is cut *before* ``repr`` runs, and an ``int``
    too long to print says how many bits it has, so a message never formats
    an unbounded value.
    """
    v: Any = value
    t = type(v)
    if t is str or t is bytes or t is bytearray:
        r = repr(v[:_REPR_LIMIT])
        cut = len(v) > _REPR_LIMIT
        if len(r) > _REPR_LIMIT:  # escapes make a repr up to 10x its text
            r = r[:_REPR_LIMIT]
            cut = True
        return f"{r}... ({len(v)} {'chars' if t is str else 'bytes'})" if cut else r
    if t is int:
        if v.bit_length() > 200:
            return f"<int of {v.bit_length()} bits>"
        return repr(v)
    try:
        r = repr(v)
    except Exception:
        return f"<{t.__name__}>"
    return r if len(r) <= _REPR_LIMIT else r[:_REPR_LIMIT] + "..."


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


def _name_matches(name: object, lname: bytes) -> bool:
    """Return True if header *name* equals the lower-case *lname*, ASCII case-insensitively."""
    b = _to_bytes(name)
    return b is not None and len(b) == len(lname) and b.lower() == lname


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


def _check_seed(seed: object) -> int:
    """Validate a key-hash ``seed``: an int in ``[0, 2**64)``.

    An ``int`` subclass is read by its value; another type with
    ``__index__`` (numpy integers) through it, a failure being a TypeError.
    """
    t = type(seed)
    if t is not int:
        if issubclass(t, bool) or getattr(t, "__index__", None) is None:
            raise TypeError(f"seed must be an int, not {t.__name__}")
        if issubclass(t, int):
            seed = _int_value(seed)
        else:
            try:
                seed = int(_int_value(t.__index__(seed)))  # type: ignore[attr-defined]
            except Exception:
                raise TypeError(f"seed must be an int, not {t.__name__}") from None
    assert isinstance(seed, int)
    if not 0 <= seed <= _M64:
        shown = seed if seed.bit_length() <= 128 else f"an int of {seed.bit_length()} bits"
        raise ConfigError(f"seed must be in [0, 2**64), got {shown}")
    return seed


def _check_terminal(terminal: object) -> bool:
    if type(terminal) is not bool:
        raise TypeError(f"terminal must be a bool, not {type(terminal).__name__}")
    return terminal


def _config_str(value: object, field: str) -> str:
    """Return configured text as an exact ``str``; a subclass is read by its value.

    :raises TypeError: *value* is not a ``str``.
    """
    v: Any = value
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if issubclass(t, str):
        return str.__str__(v)
    raise TypeError(f"{field} must be a str, not {t.__name__}")


def _check_config_name(value: object, field: str) -> tuple[str, bytes]:
    """Validate a configured name (non-empty text, no NUL/CR/LF); return it and its UTF-8."""
    name = _config_str(value, field)
    if not name:
        raise ConfigError(f"{field} must be a non-empty string, got {_short(name)}")
    try:
        raw = name.encode()
    except UnicodeEncodeError:
        raise ConfigError(f"{field} must be valid text, got {_short(name)}") from None
    if b"\0" in raw or b"\r" in raw or b"\n" in raw:
        raise ConfigError(f"{field} must not contain NUL, CR or LF, got {_short(name)}")
    return name, raw


def _check_name(name: object, what: str) -> tuple[str, bytes]:
    """Validate a configured header/cookie/parameter name; return it (a ``str``) and its UTF-8."""
    return _check_config_name(name, f"{what} name")


def _check_cookie_name(name: object) -> tuple[str, bytes]:
    text, raw = _check_name(name, "Cookie")
    if any(c in text for c in ';=, \t"') or not text.isprintable():
        raise ConfigError(f"Cookie name must be a cookie token, got {_short(text)}")
    return text, raw


def _check_hops(hops: object) -> int:
    if type(hops) is not int:
        raise TypeError(f"SourceIP xff_num_trusted_hops must be an int, not {type(hops).__name__}")
    if not 0 <= hops <= 0xFFFFFFFF:
        raise ConfigError(
            f"SourceIP xff_num_trusted_hops must be in [0, 2**32), got {_short(hops)}"
        )
    return hops


def _check_use_remote(value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"use_remote_address must be a bool, not {type(value).__name__}")
    return value


def _generate_cookie(remote: object, local: object) -> bytes | None:
    """Return Envoy's generated cookie value ``%016x`` of xxh64(remote + local), or None."""
    r = _format_address(remote)
    loc = _format_address(local)
    if r is None or loc is None:
        return None
    return b"%016x" % _xxh64(r + loc)


def _check_header_text(value: object, what: str) -> str:
    """Validate text that goes into a Set-Cookie header; return it as a ``str``."""
    text = _config_str(value, what)
    if any(c in text for c in ";\0\r\n"):
        raise ConfigError(f"{what} must not contain ';', NUL, CR or LF, got {_short(text)}")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ConfigError(f"{what} must be valid text, got {_short(text)}") from None
    return text


# ---------------------------------------------------------------- regex_rewrite

#: The environment variable that chooses the ``regex_rewrite`` engine.
REGEX_ENGINE_VAR = "HASHLB_REGEX_ENGINE"
#: The largest RE2 program a ``regex_rewrite`` pattern may compile to: Istio's
#: ``re2.max_program_size.error_level`` (plain Envoy's default is 100).  Matching
#: costs up to about this many steps per byte of a header value.
MAX_REGEX_PROGRAM_SIZE = 32768
#: The most capturing groups a ``regex_rewrite`` pattern may have.  Envoy asks RE2
#: for at most the 10 groups a substitution can name; the Python binding tracks
#: every group, at a cost per byte that grows with their number.
MAX_REGEX_GROUPS = 64


def _regex_engine() -> str:
    """Return the engine ``regex_rewrite`` uses: ``"re2"`` (default) or ``"re"`` (opt-in)."""
    import os

    value = os.environ.get(REGEX_ENGINE_VAR, "")
    if value in ("", "re2"):
        return "re2"
    if value == "re":
        return "re"
    raise ConfigError(f"{REGEX_ENGINE_VAR} must be 're2' or 're', got {_short(value)}")


def _load_re2() -> Any:
    """Import google-re2's ``re2`` module, or raise a ConfigError saying what to do."""
    try:
        import re2
    except ImportError as exc:
        raise ConfigError(
            "regex_rewrite needs RE2, Envoy's regex engine, from the google-re2 package "
            f"(pip install google-re2), which could not be imported ({_short(str(exc))}); "
            f"set {REGEX_ENGINE_VAR}=re to use Python's re instead (backtracking, not "
            "linear time, and not Envoy's syntax)"
        ) from None
    if not callable(getattr(re2, "Options", None)) or not callable(getattr(re2, "compile", None)):
        raise ConfigError(
            "regex_rewrite needs RE2 from the google-re2 package, but the installed 're2' "
            f"module is another package ({_short(getattr(re2, '__file__', None))}); set "
            f"{REGEX_ENGINE_VAR}=re to use Python's re instead"
        )
    return re2


def _error_text(exc: BaseException) -> str:
    """Return an engine's error message, decoded and cut to a bounded length."""
    arg: object = exc.args[0] if exc.args else type(exc).__name__
    if type(arg) is bytes:
        arg = arg.decode("utf-8", "replace")
    text = arg if type(arg) is str else type(exc).__name__
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "..."


def _rune_len(text: bytes, pos: int, end: int) -> int:
    """Return how many bytes RE2 skips at *pos* after an empty match (``GlobalReplace``).

    One UTF-8 character when the bytes at *pos* decode as one the way RE2's
    ``chartorune`` decodes (shortest form, at most U+10FFFF; surrogates
    allowed), else one byte.
    """
    c = text[pos]
    if c < 0x80:
        return 1
    need = 2 if c < 0xE0 else 3 if c < 0xF0 else 4
    if end - pos < need or c < 0xC0 or c >= 0xF8:
        return 1
    value = c & (0x1F if need == 2 else 0x0F if need == 3 else 0x07)
    for i in range(1, need):
        b = text[pos + i]
        if b & 0xC0 != 0x80:
            return 1
        value = (value << 6) | (b & 0x3F)
    low = (0x7F, 0x7FF, 0xFFFF)[need - 2]
    return need if low < value <= 0x10FFFF else 1


def _global_replace(
    text: Any, find: Callable[[Any, int], Any], parts: list[Any], step: Callable[..., int]
) -> Any:
    """Replace every non-overlapping match in *text*, as ``RE2::GlobalReplace`` does.

    Matches are searched left to right from the end of the previous one; an
    empty match right at the end of the previous match is not replaced (the
    next character is copied instead, by *step*).  ``find(text, pos)``
    returns the ``(start, end)`` span of the match and of each group
    (``(-1, -1)`` for one that did not take part), or None.  *parts* is the
    parsed substitution: literal text, or the int number of a group.
    """
    end = len(text)
    pos = 0
    last = -1
    out: list[Any] = []
    count = 0
    while pos <= end:
        spans = find(text, pos)
        if spans is None:
            break
        start, stop = spans[0]
        if pos < start:
            out.append(text[pos:start])
        if start == stop == last:
            n = step(text, pos, end) if pos < end else 1
            out.append(text[pos : pos + n])
            pos += n
            continue
        for part in parts:
            if type(part) is int:
                a, b = spans[part]
                if a < b:
                    out.append(text[a:b])
            else:
                out.append(part)
        pos = last = stop
        count += 1
    if not count:
        return text
    out.append(text[pos:])
    return text[:0].join(out)


def _one_char(text: str, pos: int, end: int) -> int:
    return 1


def _re2_finder(re2: Any, compiled: Any) -> Callable[[bytes, int], Any]:
    """Return ``find(text, pos)`` for :func:`_global_replace` on a google-re2 pattern.

    It calls the underlying ``RE2::Match`` (unanchored, from *pos* to the
    end, the call ``RE2::GlobalReplace`` makes) directly when the binding
    exposes it, which costs a third of ``compiled.search``; else it goes
    through the public ``search``.  Both give the same spans.
    """
    regexp = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None)
    match = getattr(regexp, "Match", None)
    unanchored = getattr(anchor, "UNANCHORED", None)
    if callable(match) and unanchored is not None:

        def find(text: bytes, pos: int) -> Any:
            spans = match(unanchored, text, pos, len(text))
            return None if spans[0][0] < 0 else spans

        return find
    search = compiled.search
    groups = range(compiled.groups + 1)

    def find_public(text: bytes, pos: int) -> Any:
        m = search(text, pos)
        return None if m is None else [m.span(g) for g in groups]

    return find_public


def _check_groups(pattern: str, groups: int) -> None:
    if groups > MAX_REGEX_GROUPS:
        raise ConfigError(
            f"regex_rewrite pattern {_short(pattern)} has {groups} capturing groups, above "
            f"the limit of {MAX_REGEX_GROUPS} (use (?:...) for groups the substitution "
            "does not insert)"
        )


def _parse_substitution(substitution: str, groups: int) -> list[str | int]:
    """Parse Envoy's (``RE2::Rewrite``) substitution: ``\\0``-``\\9``, ``\\\\``, text."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(substitution):
        c = substitution[i]
        if c != "\\":
            literal.append(c)
            i += 1
            continue
        nxt = substitution[i + 1 : i + 2]
        if nxt == "\\":
            literal.append("\\")
        elif nxt.isdigit() and nxt.isascii():
            group = int(nxt)
            if group > groups:
                raise ConfigError(
                    f"regex_rewrite substitution {_short(substitution)} refers to group "
                    f"\\{group}, but the pattern has {groups} group(s)"
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(group)
        else:
            raise ConfigError(
                f"regex_rewrite substitution {_short(substitution)} has an invalid escape "
                f"at index {i} (use \\0-\\9 or \\\\)"
            )
        i += 2
    if literal:
        parts.append("".join(literal))
    return parts


def _compile_rewrite(
    regex_rewrite: object,
) -> tuple[tuple[str, str], Callable[[bytes], bytes]] | None:
    """Validate ``(pattern, substitution)``; return it and a rewriting function.

    The pattern is compiled by RE2 (the google-re2 package) with Envoy's
    options (UTF-8, ``RE2::Quiet``): Envoy's exact syntax and linear-time
    matching; a pattern RE2 rejects is a ConfigError.  With
    ``HASHLB_REGEX_ENGINE=re`` Python's :mod:`re` (``re.ASCII``) is used
    instead, on the value decoded as UTF-8 with ``surrogateescape``.  The
    substitution uses Envoy's (RE2's) syntax: ``\\1`` ... ``\\9`` insert a
    group, ``\\0`` the whole match, ``\\\\`` a backslash; any other escape,
    or a group the pattern does not have, is an error.  Matches are replaced
    as ``RE2::GlobalReplace`` replaces them.
    """
    if regex_rewrite is None:
        return None
    pair = _items(regex_rewrite)
    if pair is None or len(pair) != 2:
        raise TypeError(
            f"regex_rewrite must be a (pattern, substitution) pair, got {_short(regex_rewrite)}"
        )
    pattern = _config_str(pair[0], "regex_rewrite pattern")
    substitution = _config_str(pair[1], "regex_rewrite substitution")
    for text, what in ((pattern, "pattern"), (substitution, "substitution")):
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ConfigError(
                f"regex_rewrite {what} must be valid text, got {_short(text)}"
            ) from None
    engine = _regex_engine()
    rewrite: Callable[[bytes], bytes]
    if engine == "re2":
        re2 = _load_re2()
        options = re2.Options()
        options.log_errors = False  # RE2::Quiet, as Envoy compiles it
        try:
            compiled = re2.compile(pattern.encode(), options)
        except re2.error as exc:
            raise ConfigError(
                f"regex_rewrite pattern {_short(pattern)} is not valid RE2 syntax: "
                f"{_error_text(exc)}"
            ) from None
        size = compiled.programsize
        if size > MAX_REGEX_PROGRAM_SIZE:
            raise ConfigError(
                f"regex_rewrite pattern {_short(pattern)} compiles to an RE2 program of "
                f"size {size}, above the limit of {MAX_REGEX_PROGRAM_SIZE} (Istio's "
                "re2.max_program_size.error_level)"
            )
        _check_groups(pattern, compiled.groups)
        parts_b = [
            p if type(p) is int else p.encode()  # type: ignore[union-attr]
            for p in _parse_substitution(substitution, compiled.groups)
        ]
        find_b = _re2_finder(re2, compiled)

        def rewrite(value: bytes) -> bytes:
            return _global_replace(value, find_b, parts_b, _rune_len)  # type: ignore[no-any-return]

    else:
        try:
            compiled_re = re.compile(pattern, re.ASCII)
        except (re.error, ValueError, OverflowError, RecursionError) as exc:
            raise ConfigError(
                f"regex_rewrite pattern {_short(pattern)} is malformed: {_error_text(exc)}"
            ) from None
        _check_groups(pattern, compiled_re.groups)
        parts_s = _parse_substitution(substitution, compiled_re.groups)
        search_s = compiled_re.search

        def find_s(text: str, pos: int) -> Any:
            m = search_s(text, pos)
            return None if m is None else m.regs

        def rewrite(value: bytes) -> bytes:
            text = value.decode("utf-8", "surrogateescape")
            out: str = _global_replace(text, find_s, parts_s, _one_char)
            return out.encode("utf-8", "surrogateescape")

    return (pattern, substitution), rewrite


#: The longest Cookie ttl: protobuf ``Duration``'s limit (10,000 years), as Envoy reads it.
MAX_COOKIE_TTL = 315_576_000_000


def _check_ttl(ttl: object) -> int | None:
    if ttl is None:
        return None
    if issubclass(type(ttl), timedelta):
        assert isinstance(ttl, timedelta)
        if ttl < timedelta(0):
            raise ConfigError(f"Cookie ttl must not be negative, got {_short(ttl)}")
        seconds = ttl.days * 86400 + ttl.seconds  # Envoy uses Duration.seconds only
    elif type(ttl) is not int:
        raise TypeError(
            f"Cookie ttl must be an int (seconds) or a timedelta, not {type(ttl).__name__}"
        )
    else:
        if ttl < 0:
            raise ConfigError(f"Cookie ttl must not be negative, got {_short(ttl)}")
        seconds = ttl
    if seconds > MAX_COOKIE_TTL:
        raise ConfigError(
            f"Cookie ttl must be at most {MAX_COOKIE_TTL} seconds (protobuf Duration's "
            f"limit), got {_short(seconds)}"
        )
    return seconds


def _check_attributes(attributes: object) -> tuple[tuple[str, str], ...]:
    if attributes is None:
        return ()
    t = type(attributes)
    if issubclass(t, (str, bytes, bytearray)):
        raise TypeError("Cookie attributes must be a mapping or an iterable of (name, value) pairs")
    items: Iterable[Any] | None = _items(attributes)  # a tuple/list subclass by value
    if items is None:
        v: Any = attributes
        try:
            items = list(v.items() if issubclass(t, Mapping) else v)
        except Exception:
            raise TypeError(
                "Cookie attributes must be a mapping or an iterable of (name, value) pairs, "
                f"not {t.__name__} (it could not be read)"
            ) from None
    out = []
    for item in items:
        pair = _items(item)
        if issubclass(type(item), str):
            name, value = item, ""
        elif pair is not None and len(pair) == 2:
            name, value = pair
        else:
            raise TypeError(
                f"Cookie attributes entry must be a (name, value) pair, got {_short(item)}"
            )
        name = _check_header_text(name, "Cookie attribute name")
        if not name or "=" in name or name != name.strip():
            raise ConfigError(
                f"Cookie attribute name must be a non-empty token, got {_short(name)}"
            )
        value = _check_header_text(value, f"Cookie attribute {_short(name)} value")
        out.append((name, value))
    return tuple(out)


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
            headers,
            path=path or None,
            remote_address=None if not remote else (remote, _wsgi_port(get("REMOTE_PORT"))),
            local_address=None if not local else (local, _wsgi_port(get("SERVER_PORT"))),
            method=_wsgi_bytes(get("REQUEST_METHOD")),
            authority=_wsgi_bytes(get("HTTP_HOST")),
            scheme=_wsgi_bytes(get("wsgi.url_scheme")),
        )

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
