"""The requests ``hashlb simulate`` routes: a JSONL file or synthetic users.

A JSONL file has one JSON object per line (blank lines are skipped)::

    {"user": "alice", "headers": {"x-user": "alice"}, "cookies": {"session": "s1"},
     "path": "/api?tenant=7", "source_ip": "203.0.113.7"}

Every field is optional:

``user``
    who sent it, for the stickiness figures (default: the request itself,
    so identical requests count as one user);
``headers``
    a mapping, or a list of ``[name, value]`` pairs (repeated names allowed);
``cookies``
    a mapping, sent as one ``cookie`` header after the other headers;
``path``
    ``:path`` with the query string (default ``/``);
``source_ip``
    the client IP; the connection's remote address is ``SOURCE_IP:50000``;
``remote_address`` / ``local_address``
    override the connection's addresses (``ip:port``); the local address
    defaults to ``10.96.0.1:80``, a stand-in for the service's ClusterIP.
    Both feed Envoy's generated cookie when ``httpCookie`` has a ``ttl``.

Synthetic users (``--users N --requests-per-user R --key KEY``): user *i*
gets a random 64-bit token and a distinct source IP in ``100.64.0.0/10``,
both drawn from ``random.Random(seed)``, and sends its token as the key:
``header:NAME``, ``cookie:NAME``, ``query:NAME``, ``source-ip`` (the
source IP is the key) or ``none`` (no key at all: with a cookie ``ttl``
Envoy then generates the cookie).  Requests are interleaved: every user's
first request, then every user's second, and so on.
"""

from __future__ import annotations

import json
import random
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .._source import InputError, Where
from .._validate import MAX_INT_DIGITS, MAX_REQUEST_LINE_BYTES, MAX_REQUESTS, cap
from .._validate import short as _short

__all__ = (
    "DEFAULT_LOCAL_ADDRESS",
    "DEFAULT_SOURCE_PORT",
    "KeySpec",
    "SimRequest",
    "parse_key",
    "read_jsonl",
    "synthetic",
    "synthetic_keys",
)

DEFAULT_SOURCE_PORT = 50000
DEFAULT_LOCAL_ADDRESS = "10.96.0.1:80"
_FIELDS = frozenset(
    {"user", "headers", "cookies", "path", "source_ip", "remote_address", "local_address"}
)
_CGNAT = (100 << 24) | (64 << 16)  # 100.64.0.0/10


@dataclass(frozen=True)
class KeySpec:
    """A ``--key`` value: ``kind`` is header, cookie, query, source-ip or none."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


def parse_key(text: str) -> KeySpec:
    """Parse ``header:NAME``, ``cookie:NAME``, ``query:NAME``, ``source-ip`` or ``none``.

    :raises ValueError: any other form (argparse turns it into a usage error).
    """
    kind, sep, name = text.partition(":")
    kind = kind.strip().lower()
    if kind in ("source-ip", "source_ip", "sourceip", "none") and not name:
        return KeySpec("source-ip" if kind != "none" else "none")
    if kind in ("header", "cookie", "query") and sep and name:
        return KeySpec(kind, name.lower() if kind == "header" else name)
    raise ValueError(
        f"invalid key {_short(text)}: use header:NAME, cookie:NAME, query:NAME, source-ip or none"
    )


@dataclass(frozen=True)
class SimRequest:
    """One simulated request, independent of the policy module's Request type."""

    user: str
    headers: tuple[tuple[str, str], ...]
    path: str
    remote_address: str | None
    local_address: str
    where: Where | None = None

    def header(self, name: str) -> list[str]:
        """Return every value of header *name* (case-insensitive)."""
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


def _ip_of(address: str) -> str:
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _join(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _text(value: object, where: Where, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(where, f"{what} must be a string, got {_short(value)}")
    return str(value)


def parse_request(obj: object, where: Where) -> SimRequest:
    """Turn one decoded JSONL object into a :class:`SimRequest`.

    :raises InputError: the object or one of its fields has the wrong shape.
    """
    if not isinstance(obj, dict):
        raise InputError(where, f"each line must be a JSON object, got {type(obj).__name__}")
    for k in obj:
        if k not in _FIELDS:
            raise InputError(
                where,
                f"unknown request field {_short(k)} (expected: {', '.join(sorted(_FIELDS))})",
            )
    headers: list[tuple[str, str]] = []
    raw_headers = obj.get("headers") or {}
    if isinstance(raw_headers, dict):
        for k, v in raw_headers.items():
            values = v if isinstance(v, list) else [v]
            for item in values:
                headers.append((str(k), _text(item, where, f"header {_short(k)}")))
    elif isinstance(raw_headers, list):
        for pair in raw_headers:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InputError(where, "'headers' as a list must hold [name, value] pairs")
            headers.append(
                (_text(pair[0], where, "a header name"), _text(pair[1], where, "a header value"))
            )
    else:
        raise InputError(where, "'headers' must be an object or a list of [name, value] pairs")
    cookies = obj.get("cookies") or {}
    if not isinstance(cookies, dict):
        raise InputError(where, "'cookies' must be an object of name -> value")
    if cookies:
        headers.append(
            (
                "cookie",
                "; ".join(
                    f"{k}={_text(v, where, f'cookie {_short(k)}')}" for k, v in cookies.items()
                ),
            )
        )
    path = _text(obj.get("path", "/"), where, "'path'")
    remote = obj.get("remote_address")
    source_ip = obj.get("source_ip")
    if remote is not None:
        remote = _text(remote, where, "'remote_address'")
    elif source_ip is not None:
        remote = _join(_text(source_ip, where, "'source_ip'"), DEFAULT_SOURCE_PORT)
    local = _text(obj.get("local_address", DEFAULT_LOCAL_ADDRESS), where, "'local_address'")
    user = obj.get("user")
    if user is None:
        user = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return SimRequest(_text(user, where, "'user'"), tuple(headers), path, remote, local, where)


class _LongNumber(Exception):
    """A JSON integer longer than MAX_INT_DIGITS."""

    def __init__(self, digits: int) -> None:
        super().__init__()
        self.digits = digits


def _json_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise _LongNumber(len(text))
    return int(text)


def read_jsonl(path: str) -> Iterator[SimRequest]:
    """Read a JSONL request file lazily, one request per non-blank line.

    The file is opened at once (so a missing file fails before any work);
    lines are parsed as the simulation consumes them.  ``-`` reads
    standard input.

    :raises InputError: unreadable file, bad JSON or a bad field (``FILE:LINE``),
        a line over :data:`~hashlb._validate.MAX_REQUEST_LINE_BYTES`, more
        than :data:`~hashlb._validate.MAX_REQUESTS` requests, or a file
        without requests.
    """
    if path == "-":
        return _jsonl_lines(sys.stdin.buffer, "<stdin>", close=False)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the generator
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    return _jsonl_lines(f, path)


def _jsonl_lines(f: IO[bytes], path: str, *, close: bool = True) -> Iterator[SimRequest]:
    limit = MAX_REQUEST_LINE_BYTES
    count = n = 0
    try:
        while True:
            try:
                raw = f.readline(limit + 1)
            except OSError as e:
                raise InputError(Where(path, n + 1), f"cannot read: {e.strerror or e}") from None
            if not raw:
                break
            n += 1
            where = Where(path, n)
            if len(raw) > limit and not (len(raw) == limit + 1 and raw.endswith(b"\n")):
                raise InputError(
                    where, f"the line is longer than {cap('MAX_REQUEST_LINE_BYTES')} bytes"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    where, f"not UTF-8 text: byte 0x{raw[e.start]:02x} at column {e.start + 1}"
                ) from None
            if not line.strip():
                continue
            count += 1
            if count > MAX_REQUESTS:
                raise InputError(where, f"more than {cap('MAX_REQUESTS')} requests")
            try:
                obj = json.loads(line, parse_int=_json_int)
            except json.JSONDecodeError as e:
                raise InputError(where, f"malformed JSON: {e.msg} (column {e.colno})") from None
            except _LongNumber as e:
                raise InputError(
                    where,
                    f"a number of {e.digits} digits is too long ({cap('MAX_INT_DIGITS')})",
                ) from None
            except RecursionError:
                raise InputError(where, "malformed JSON: nested too deeply") from None
            yield parse_request(obj, where)
    finally:
        if close:
            f.close()
    if not count:
        raise InputError(path, "the request file has no requests")


def _tokens(users: int, seed: int) -> tuple[int, array[int]]:
    """Return the address offset and the users' 64-bit tokens of :func:`synthetic`."""
    rng = random.Random(seed)
    offset = rng.getrandbits(22)
    # one wide draw is *users* draws of 64 bits, the first lowest (CPython's
    # Modules/_randommodule.c fills getrandbits from the least significant word up)
    tokens = array("Q", rng.getrandbits(64 * users).to_bytes(8 * users, "little") if users else b"")
    if sys.byteorder != "little":  # pragma: no cover - big-endian machines
        tokens.byteswap()
    return offset, tokens


def _ip(offset: int, i: int) -> str:
    """Return user *i*'s client IP (100.64.0.0/10, an odd stride: distinct for < 2**22 users)."""
    ip_int = _CGNAT | ((offset + i * 2654435761) & 0x3FFFFF)
    return f"{ip_int >> 24}.{(ip_int >> 16) & 0xFF}.{(ip_int >> 8) & 0xFF}.{ip_int & 0xFF}"


def synthetic(users: int, per_user: int, key: KeySpec, seed: int) -> Iterator[SimRequest]:
    """Yield *users* x *per_user* requests, interleaved, deterministic for *seed*.

    Only the users' 64-bit tokens are kept (8 bytes a user); names,
    addresses and requests are made as they are yielded.
    """
    offset, tokens = _tokens(users, seed)
    remote = f"{{}}:{DEFAULT_SOURCE_PORT}"
    for _ in range(per_user):
        for i, t in enumerate(tokens):
            token = f"{t:016x}"
            headers: tuple[tuple[str, str], ...] = ()
            path = "/"
            if key.kind == "header":
                headers = ((key.name, token),)
            elif key.kind == "cookie":
                headers = (("cookie", f"{key.name}={token}"),)
            elif key.kind == "query":
                path = f"/?{key.name}={token}"
            yield SimRequest(
                f"user{i}", headers, path, remote.format(_ip(offset, i)), DEFAULT_LOCAL_ADDRESS
            )


def synthetic_keys(users: int, key: KeySpec, seed: int) -> Any:
    """Return each synthetic user's key value (what its requests' key policy hashes), or None.

    The header, cookie or query value is the user's token; a source-IP key is
    the client IP.  None for ``--key none`` (the requests carry no key).
    """
    offset, tokens = _tokens(users, seed)
    if key.kind in ("header", "cookie", "query"):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is in the test extra
            return [f"{t:016x}" for t in tokens]
        # f"{t:016x}" of every token at once: 16 hex digits, most significant first
        t = np.frombuffer(tokens, dtype=np.uint64)
        shifts = np.arange(60, -4, -4, dtype=np.uint64)
        nibbles = (t[:, None] >> shifts) & np.uint64(15)
        digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
        return digits.view("S16").reshape(-1)
    if key.kind == "source-ip":
        return [_ip(offset, i) for i in range(users)]
    return None


def source_ip_of(req: SimRequest) -> str | None:
    """Return the client IP of a request (its remote address without the port)."""
    return _ip_of(req.remote_address) if req.remote_address else None
