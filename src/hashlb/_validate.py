"""Argument validation shared by every unit and both twins (plain Python).

Each helper raises ``TypeError`` or ``ValueError`` (or the given
``ValueError`` subclass) with a message that names the field and the value.
"""

from __future__ import annotations

__all__ = ("as_bytes", "check_attempt", "check_hash", "check_int", "is_prime")

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF


def check_int(
    value: object, field: str, low: int, high: int, error: type[ValueError] = ValueError
) -> int:
    """Return *value* as an int in ``[low, high]`` (``__index__`` ints accepted, bools not)."""
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{field} must be an int, not {type(value).__name__}")
        value = int(value.__index__())
    assert isinstance(value, int)
    if not low <= value <= high:
        raise error(f"{field} must be in [{low}, {high}], got {value}")
    return value


def check_hash(value: object) -> int:
    """Validate a request hash: an int in ``[0, 2**64)``."""
    if type(value) is int and 0 <= value <= _M64:
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"hash must be an int, not {type(value).__name__}")
    v = value.__index__()
    if not 0 <= v <= _M64:
        raise ValueError(f"hash must be in [0, 2**64), got {v}")
    return int(v)


def check_attempt(value: object) -> int:
    """Validate a retry ``attempt``: an int in ``[0, 2**32)``."""
    if type(value) is int and 0 <= value <= _U32:
        return value
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"attempt must be an int, not {type(value).__name__}")
        value = int(value.__index__())
    assert isinstance(value, int)
    if not 0 <= value <= _U32:
        raise ValueError(f"attempt must be in [0, 2**32), got {value}")
    return value


def is_prime(n: int) -> bool:
    """Return True if *n* is prime (trial division; fine for n <= 5,000,011)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def as_bytes(data: object, what: str) -> bytes | memoryview:
    """Return the bytes to hash: a str as UTF-8, bytes as is, else a flat byte view.

    :raises TypeError: *data* is neither str nor a C-contiguous bytes-like
        object (the message names *what*).
    """
    if type(data) is str:
        return data.encode()
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        return str(data).encode()
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is None or not view.c_contiguous:
        raise TypeError(
            f"{what} must be str or a C-contiguous bytes-like object, not {type(data).__name__}"
        )
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view
