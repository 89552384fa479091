"""Compact pickles, shared by both twins (plain Python).

Tables, bounded loads, clusters and routers pickle their constructor
arguments and rebuild on load (``rebuild_hosts``), so loading validates
exactly as the constructor does.  Their hosts go in one columnar
description (:func:`pack_hosts`) instead of one ``Host`` call each: the
addresses, then per keyword field only when some host differs from the
default, the field's distinct values once and one small index per host.
Labels shared by many hosts (``{"app": "reviews", "version": "v1"}``) are
therefore written once, and 100 hosts take about 2 KB.

Loading a description checks its shape (:func:`unpack_hosts` raises
``TypeError`` for anything else) and builds every ``Host`` through its
constructor, so a tampered pickle raises ``TypeError``/``ValueError``
(``ConfigError``) and never builds an object the constructor would refuse.
"""

from __future__ import annotations

import random
import sys
from array import array
from typing import Any

from ._types import Host

__all__ = (
    "pack_hosts",
    "pack_rng",
    "rebuild_hosts",
    "rebuild_router",
    "unpack_hosts",
    "unpack_rng",
)

#: The first item of a packed host description (its format version).
_TAG = "hosts/1"

#: Host's keyword fields with their defaults, in the order they are packed.
_FIELDS: tuple[tuple[str, object], ...] = (
    ("weight", 1),
    ("priority", 0),
    ("health", "healthy"),
    ("hostname", None),
    ("hash_key", None),
    ("locality", None),
    ("labels", ()),
)
_DEFAULTS = dict(_FIELDS)


def _u32_bytes(values: list[int] | tuple[int, ...]) -> bytes:
    """*values* as little-endian uint32 bytes (the same pickle on every machine)."""
    words = array("I", values)
    if sys.byteorder == "big":  # pragma: no cover - little-endian machines only here
        words.byteswap()
    return words.tobytes()


def _u32_array(raw: bytes) -> array[int]:
    """The uint32 items of little-endian *raw* (its length a multiple of 4)."""
    words = array("I")
    words.frombytes(raw)
    if sys.byteorder == "big":  # pragma: no cover
        words.byteswap()
    return words


def _value(host: Host, name: str) -> object:
    if name == "labels":
        return tuple(host.labels.items())
    return getattr(host, name)


def pack_hosts(hosts: tuple[Host, ...]) -> tuple[Any, ...]:
    """Return the columnar description of *hosts* (what :func:`unpack_hosts` reads).

    ``("hosts/1", addresses, columns)``: *columns* maps a field that is not
    at its default everywhere to ``(distinct values, index)``, where *index*
    is ``bytes`` (at most 256 distinct values) or an ``array('I')``'s bytes.
    """
    columns: dict[str, tuple[tuple[object, ...], bytes]] = {}
    for name, default in _FIELDS:
        values = [_value(h, name) for h in hosts]
        if all(v == default for v in values):
            continue
        distinct: dict[object, int] = {}
        index = [distinct.setdefault(v, len(distinct)) for v in values]
        raw = bytes(index) if len(distinct) <= 256 else _u32_bytes(index)
        columns[name] = (tuple(distinct), raw)
    return (_TAG, tuple(h.address for h in hosts), columns)


def _bad(what: str) -> TypeError:
    return TypeError(f"a pickled host description is malformed: {what}")


def _column(name: str, column: object, n: int) -> list[object]:
    """The *n* values of one packed column, checked."""
    if type(column) is not tuple or len(column) != 2:
        raise _bad(f"the {name} column is not a (values, index) pair")
    values, raw = column
    if type(values) is not tuple or type(raw) is not bytes:
        raise _bad(f"the {name} column is not a (tuple, bytes) pair")
    if len(values) <= 256:
        index: Any = raw
    else:
        if len(raw) % 4:
            raise _bad(f"the {name} index is not whole uint32 items")
        index = _u32_array(raw)
    if len(index) != n:
        raise _bad(f"the {name} index has {len(index)} items for {n} hosts")
    if n and max(index) >= len(values):
        raise _bad(f"the {name} index names a value beyond its {len(values)} values")
    if name == "labels":
        values = tuple(_labels(v) for v in values)
    return [values[i] for i in index]


def _labels(value: object) -> dict[object, object]:
    if type(value) is not tuple or not all(type(kv) is tuple and len(kv) == 2 for kv in value):
        raise _bad("labels are not a tuple of (name, value) pairs")
    return dict(value)


def unpack_hosts(packed: object) -> tuple[Host, ...]:
    """Return the hosts of a :func:`pack_hosts` description, each built by ``Host(...)``.

    :raises TypeError: *packed* is not such a description, or a field has
        the wrong type (``Host``'s own messages).
    :raises ValueError: a value ``Host`` refuses (a ``ConfigError`` for a
        malformed address).
    """
    if type(packed) is not tuple or len(packed) != 3 or packed[0] != _TAG:
        raise _bad(f"expected a {_TAG!r} triple")
    _, addresses, columns = packed
    if type(addresses) is not tuple or type(columns) is not dict:
        raise _bad("expected a tuple of addresses and a dict of columns")
    n = len(addresses)
    fields: dict[str, list[object]] = {}
    for name, column in columns.items():
        if name not in _DEFAULTS:
            raise _bad(f"unknown field {str(name)[:40]!r}")
        fields[name] = _column(name, column, n)
    hosts = []
    for i, address in enumerate(addresses):
        kwargs = {name: values[i] for name, values in fields.items()}
        weight = kwargs.pop("weight", 1)
        hosts.append(Host(address, weight, **kwargs))  # type: ignore[arg-type]
    return tuple(hosts)


def rebuild_hosts(cls: Any, packed: object, options: dict[str, Any]) -> Any:
    """Rebuild a pickled object from packed hosts: ``cls(unpack_hosts(packed), **options)``."""
    if type(options) is not dict:
        raise TypeError(f"pickled options must be a dict, not {type(options).__name__}")
    return cls(unpack_hosts(packed), **options)


def pack_rng(rng: random.Random, seed: int) -> object:
    """A compact pickle of a router's generator.

    ``None`` when *rng* is an untouched ``random.Random(seed)`` (the
    router's default: rebuilt from the seed); the Mersenne Twister state
    as bytes for another ``random.Random``; any other generator itself.
    """
    if type(rng) is not random.Random:
        return rng
    version, state, gauss = rng.getstate()
    if (version, state, gauss) == random.Random(seed).getstate():
        return None
    return ("mt/1", version, _u32_bytes(state[:-1]), state[-1], gauss)


def unpack_rng(packed: object, seed: int) -> random.Random | None:
    """The generator of :func:`pack_rng`'s description (``None``: the router's default)."""
    if packed is None or isinstance(packed, random.Random):
        return packed
    if type(packed) is not tuple or len(packed) != 5 or packed[0] != "mt/1":
        raise TypeError(f"a pickled rng must be a random.Random, not {type(packed).__name__}")
    _, version, raw, pos, gauss = packed
    if type(raw) is not bytes or len(raw) != 624 * 4:
        raise TypeError("a pickled rng state must be 2496 bytes")
    words = _u32_array(raw)
    rng = random.Random()
    try:
        rng.setstate((version, (*words, pos), gauss))
    except (TypeError, ValueError) as e:
        raise TypeError(f"a pickled rng state is malformed: {e}") from None
    return rng


def rebuild_router(cls: Any, packed: object, config: dict[str, Any]) -> Any:
    """Rebuild a pickled ``Router``: packed hosts, and its ``rng`` from :func:`pack_rng`."""
    if type(config) is not dict or "seed" not in config or "rng" not in config:
        raise TypeError("a pickled router's configuration must be a dict with seed and rng")
    seed = config["seed"]
    if type(seed) is not int:
        raise TypeError(f"a pickled router's seed must be an int, not {type(seed).__name__}")
    return cls(unpack_hosts(packed), **{**config, "rng": unpack_rng(config["rng"], seed)})
