"""Envoy's address strings: the canonical ``asString()`` of an endpoint.

As ``Address::Ipv4Instance`` / ``Ipv6Instance::asString()`` in Envoy's
``source/common/network/address_impl.cc``.

A plain module that both twins use through :class:`~hashlb.Host`.  Envoy
parses an EDS ``socket_address`` into an IP and a port and keys the host by
the address printed back (``Address::Instance::asString()``): so two
spellings of one IPv6 address are one host with one ring key.

* IPv4 ``a.b.c.d:port``: glibc's ``inet_pton`` accepts only the canonical
  dotted quad (no leading zeros, no short or octal forms), so the address
  part prints back unchanged and only the port is normalised (``:080`` is
  port 80).  A dotted quad glibc rejects is an error, as in Envoy.
* IPv6 ``[addr]:port`` or ``[addr%scope]:port``: the address prints as
  glibc's ``inet_ntop`` prints it (:func:`ntop6`), then ``%scope`` when the
  numeric scope id is not 0, in brackets, then ``:port``.
* Anything else (a DNS name, ``envoy://listener/id`` internal addresses, a
  pipe path) is an opaque name and is kept as given.

An IPv6 address without brackets, a bracket without a port, and a port
outside ``[0, 65535]`` are errors: Envoy could not have produced such a key.
"""

from __future__ import annotations

import socket

from ._validate import short
from .errors import ConfigError

__all__ = ("canonical_address", "ntop6")

_MAX_PORT = 65535
#: A host part made of digits and dots only is meant as an IPv4 literal.
_DOTTED_CHARS = "0123456789."
_pton = socket.inet_pton
_AF_INET = socket.AF_INET


def ntop6(packed: bytes) -> str:
    """Return the text of a 16-byte IPv6 address exactly as glibc's ``inet_ntop`` prints it.

    Lower-case hex without leading zeros; the first longest run of two or
    more zero groups becomes ``::``; the last 32 bits print dotted for an
    IPv4-mapped (``::ffff:a.b.c.d``) or IPv4-compatible (``::a.b.c.d`` with
    a non-zero 7th group) address.  Python's :mod:`ipaddress` differs on the
    last two; ``socket.inet_ntop`` equals this on Linux only.

    >>> ntop6(socket.inet_pton(socket.AF_INET6, "2001:0DB8:0:0:1:0:0:1"))
    '2001:db8::1:0:0:1'
    >>> ntop6(socket.inet_pton(socket.AF_INET6, "::ffff:a00:7"))
    '::ffff:10.0.0.7'
    """
    words = [packed[i] << 8 | packed[i + 1] for i in range(0, 16, 2)]
    best, best_len, run, run_len = -1, 0, -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if run < 0:
                run, run_len = i, 0
            run_len += 1
            if run_len > best_len:
                best, best_len = run, run_len
        else:
            run = -1
    if best_len < 2:
        best = -1
    out = []
    for i, w in enumerate(words):
        if best >= 0 and best <= i < best + best_len:
            if i == best:
                out.append(":")
            continue
        if i:
            out.append(":")
        if i == 6 and best == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out.append(".".join(str(b) for b in packed[12:]))
            break
        out.append(f"{w:x}")
    if best >= 0 and best + best_len == 8:
        out.append(":")
    return "".join(out)


def _is_ipv6(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except (OSError, ValueError):
        return False
    return True


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _canonical_port(text: str) -> bool:
    """Return True when *text* is a port in [0, 65535] written without leading zeros."""
    n = len(text)
    return (
        0 < n <= 5
        and _is_digits(text)
        and (text[0] != "0" or n == 1)
        and (n < 5 or text <= "65535")
    )


def _port(text: str, address: str) -> int:
    if not _is_digits(text) or int(text) > _MAX_PORT:
        raise ConfigError(
            f"Host.address: the port must be a number in [0, {_MAX_PORT}], got {short(address)}"
        )
    return int(text)


def canonical_address(address: str) -> str:
    """Return *address* as Envoy's ``asString()`` prints it (see the module docstring).

    :raises ConfigError: a malformed IP literal, an unbracketed IPv6 address,
        or a port out of range; the message names ``Host.address``.
    """
    if address.startswith("["):
        close = address.find("]")
        if close < 0 or address[close + 1 : close + 2] != ":":
            raise ConfigError(
                f"Host.address: an IPv6 address is written [address]:port, got {short(address)}"
            )
        ip, _, scope = address[1:close].partition("%")
        port = _port(address[close + 2 :], address)
        try:
            packed = socket.inet_pton(socket.AF_INET6, ip)
        except (OSError, ValueError):
            raise ConfigError(f"Host.address: malformed IPv6 address {short(address)}") from None
        if scope and not _is_digits(scope):
            raise ConfigError(
                "Host.address: an IPv6 scope must be the numeric interface index "
                f"(names differ per machine), got {short(address)}"
            )
        suffix = f"%{int(scope)}" if scope and int(scope) else ""
        return f"[{ntop6(packed)}{suffix}]:{port}"
    host, colon, port_text = address.rpartition(":")
    if not colon:
        return address
    if ":" in host and "/" not in address and (_is_ipv6(host) or _is_ipv6(address)):
        raise ConfigError(
            f"Host.address: an IPv6 address is written [address]:port, got {short(address)}"
        )
    if not host or host.strip(_DOTTED_CHARS):  # not a dotted quad: an opaque name
        if not _canonical_port(port_text) and "/" not in address and _is_digits(port_text):
            _port(port_text, address)
        return address
    try:
        _pton(_AF_INET, host)  # glibc: canonical dotted quads only, so *host* prints as is
    except (OSError, ValueError):
        raise ConfigError(f"Host.address: malformed IPv4 address {short(address)}") from None
    if _canonical_port(port_text):
        return address
    return f"{host}:{_port(port_text, address)}"
