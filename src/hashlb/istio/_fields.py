"""Typed field accessors for the Istio and Kubernetes documents: each raises ``FILE:LINE`` errors.

:mod:`hashlb.istio.parse` reads every document through these: a field is
checked for its type (and range) where it is read, and a bad value is an
:class:`~hashlb.istio.InputError` naming the field, its position and a
short form of the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .._source import InputError, Where
from .._validate import MAX_INT_DIGITS, cap
from .._validate import clip as _clip
from .._validate import short as _short
from ._yaml import LDict, LList

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


# --------------------------------------------------------------------------
# Small typed accessors that raise InputError with the position.


def _names(items: Iterable[object], *, quote: bool = True, limit: int = 8) -> str:
    """Return a short list for a message: ``'a', 'b', ... (12 in all)``; ``none`` if empty."""
    shown: list[str] = []
    total = 0
    for item in items:
        total += 1
        if total <= limit:
            shown.append(_short(item, 60) if quote else _clip(str(item), 60))
    if not total:
        return "none"
    return ", ".join(shown) + (f", ... ({total} in all)" if total > limit else "")


def _kind_name(doc: LDict) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{doc.get('kind')} {_short(name)}" if name else str(doc.get("kind"))


def _field(parent: LDict, key: str, what: str, required: bool) -> object:
    """Return ``parent[key]``, None when absent; absent and *required* is an error."""
    value = parent.get(key)
    if value is None and required:
        raise InputError(parent.where, f"{what}: missing required field {_short(key)}")
    return value


def _map(parent: LDict, key: str, what: str, *, required: bool = False) -> LDict | None:
    value = _field(parent, key, what, required)
    if value is None:
        return None
    if not isinstance(value, LDict):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a mapping, got {type(value).__name__}"
        )
    return value


def _list(parent: LDict, key: str, what: str) -> LList:
    value = parent.get(key)
    if value is None:
        return LList()
    if not isinstance(value, LList):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a list, got {type(value).__name__}"
        )
    return value


def _mappings(
    parent: LDict,
    key: str,
    what: str,
    noun: str,
    limit: tuple[str, int, str] | None = None,
) -> Iterator[LDict]:
    """Yield the items of the list *key* of *parent*, each checked to be a mapping.

    An item that is not is an error naming *noun*, raised when it is reached.
    *limit* is ``(cap name, cap, plural)``: more items than the cap is an error,
    raised before any item is yielded, at the first one past the cap.
    """
    items = _list(parent, key, what)
    if limit is not None and len(items) > limit[1]:
        raise InputError(items.at(limit[1]), f"{what}: more than {cap(limit[0])} {limit[2]}")
    for i, item in enumerate(items):
        if not isinstance(item, LDict):
            raise InputError(items.at(i), f"{what}: each {noun} must be a mapping")
        yield item


def _str(parent: LDict, key: str, what: str, *, required: bool = False) -> str | None:
    value = _field(parent, key, what, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a string, got {type(value).__name__}"
        )
    text = str(value)
    if required and not text:
        raise InputError(parent.at(key), f"{what}: {_short(key)} must not be empty")
    return text


def _int(
    parent: LDict, key: str, what: str, low: int, high: int, *, default: int | None = None
) -> int | None:
    """Return an integer field; protobuf JSON also accepts decimal strings."""
    value = parent.get(key)
    if value is None:
        return default
    ok = not isinstance(value, bool)
    if ok and isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = _decimal(value, parent.at(key), f"{what}: {_short(key)}")
    if not ok or not isinstance(value, int):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be an integer, got {_short(value)}"
        )
    if not low <= value <= high:
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be in [{low}, {high}], got {_short(value)}"
        )
    return value


def _decimal(text: str, where: Where, what: str) -> int:
    """Convert a decimal string field, refusing more than MAX_INT_DIGITS characters."""
    digits = text.strip()
    if len(digits) > MAX_INT_DIGITS:
        raise InputError(
            where,
            f"{what}: an integer of {len(digits)} characters is too long ({cap('MAX_INT_DIGITS')})",
        )
    return int(digits)


def _labels(parent: LDict | None, key: str, what: str) -> dict[str, str]:
    if parent is None:
        return {}
    value = _map(parent, key, what)
    if value is None:
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if v is None or isinstance(v, (LDict, LList)):
            raise InputError(value.at(k), f"{what}: label {_short(k)} must have a string value")
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _duration_seconds(value: object, where: Where, what: str) -> float:
    """Parse a protobuf/Go duration (``"3600s"``, ``"1h30m"``, ``"0s"``) or a number."""
    if isinstance(value, bool):
        raise InputError(where, f"{what}: expected a duration such as '3600s', got {_short(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 64 and _DURATION.match(value.strip()):
        seconds = sum(
            float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(value.strip())
        )
    else:
        raise InputError(where, f"{what}: expected a duration such as '3600s', got {_short(value)}")
    if seconds < 0:
        raise InputError(where, f"{what}: a duration must not be negative, got {_short(value)}")
    return seconds


def resolve_host(name: str, namespace: str, domain: str) -> str:
    """Return Istio's FQDN for a host: short names get ``.NS.svc.DOMAIN``."""
    name = name.strip().lower()
    if "." in name or name == "*" or not name:
        return name
    return f"{name}.{namespace}.svc.{domain}"
