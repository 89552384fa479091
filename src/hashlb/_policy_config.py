"""HTTP hash policies: the cold paths both twins share (plain Python).

``_policy_c`` and ``_policy_py`` both import this module, so the compiled
twin never imports the pure one and the two agree by construction on
everything here (msgpack's ``ext.py``/``exceptions.py`` pattern).  It holds
what runs when a hash method or a policy is *configured* (the name, seed,
terminal, ttl, attribute and hops checks; the ``regex_rewrite`` engine
choice, RE2 compilation and global replace; the deprecated positional
options; a method's pickled and printed form), and the generated cookie
(Envoy's ``asString()`` of the two addresses).  The request-side readers
and containers live in ``_request_config``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import xxhash

from ._request_config import _format_address, _int_value, _items
from ._validate import (
    MAX_COOKIE_TTL,
    MAX_REGEX_GROUPS,
    MAX_REGEX_PROGRAM_SIZE,
    MAX_UPSTREAM_SET_COOKIES,
)
from .errors import ConfigError

_M64 = 0xFFFFFFFFFFFFFFFF
_xxh64 = xxhash.xxh64_intdigest


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


def header_version(first_only: bool) -> Any:
    """Return the ``envoy_version`` that rebuilds a Header reading *first_only* the first value."""
    from .versions import profile

    return profile().replace(header_all_values=not first_only) if first_only else "main"


def method_parts(
    key: tuple[Any, ...], options: tuple[str, ...]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Split a hash method's value (its ``_key()``) into constructor arguments.

    The value lists the positional arguments first, then the keyword
    *options* in order; what pickling (``__reduce__``) and ``repr`` rebuild.
    """
    n = len(key) - len(options)
    return key[:n], dict(zip(options, key[n:], strict=True))


def method_repr(name: str, key: tuple[Any, ...], options: tuple[str, ...]) -> str:
    """Return ``name(arg, ..., option=value, ...)`` for a hash method's value."""
    args, values = method_parts(key, options)
    shown = [*map(repr, args), *(f"{k}={v!r}" for k, v in values.items())]
    return f"{name}({', '.join(shown)})"


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


def check_filter_state_key(key: object) -> str:
    """Validate a ``FilterState`` key; return it as a ``str``."""
    return _check_config_name(key, "FilterState key")[0]


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


def set_cookie_header(
    name: str,
    value: str,
    ttl: int | None,
    path: str | None,
    attributes: tuple[tuple[str, str], ...],
) -> str:
    """Return Envoy's ``Set-Cookie`` value for a generated cookie (``hash_policy.cc``).

    ``makeSetCookieValue`` with ``httponly`` true, as the hash policy always
    asks: the quoted value, then ``Max-Age`` (unless 0), ``Path``, the extra
    attributes (a bare name when its value is empty) and ``HttpOnly``.
    """
    out = [f'{name}="{value}"']
    if ttl:
        out.append(f"; Max-Age={ttl}")
    if path:
        out.append(f"; Path={path}")
    out.extend(f"; {n}={v}" if v else f"; {n}" for n, v in attributes)
    out.append("; HttpOnly")
    return "".join(out)


def response_set_cookies(upstream: object, generated: tuple[str, ...]) -> tuple[str, ...]:
    """Return the ``Set-Cookie`` values the client receives: *upstream*'s, then *generated*.

    Envoy's router appends every generated cookie to the upstream response's
    headers ("Append routing cookies" in ``router.cc``), whether or not the
    upstream already sets a cookie of that name.  *upstream* is one value
    (``str`` or ``bytes``, decoded as Latin-1 like a header) or an iterable
    of them; anything else raises :class:`TypeError` naming ``upstream``.
    """
    if upstream is None:
        return generated
    if isinstance(upstream, (str, bytes, bytearray)):
        upstream = (upstream,)
    try:
        items = iter(upstream)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            "upstream must be a Set-Cookie value or an iterable of them, "
            f"not {type(upstream).__name__}"
        ) from None
    values: list[str] = []
    for i, item in enumerate(items):
        if i >= MAX_UPSTREAM_SET_COOKIES:
            raise ValueError(f"upstream has more than {MAX_UPSTREAM_SET_COOKIES} Set-Cookie values")
        if isinstance(item, str):
            values.append(item)
        elif isinstance(item, (bytes, bytearray)):
            values.append(bytes(item).decode("latin-1"))
        else:
            raise TypeError(f"upstream[{i}] must be str or bytes, not {type(item).__name__}")
    return (*values, *generated)


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
