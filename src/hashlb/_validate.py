"""Argument validation shared by every unit and both twins (plain Python).

Each helper raises ``TypeError`` or ``ValueError`` (or the given
``ValueError`` subclass) with a message that names the field and the value.
"""

from __future__ import annotations

import sys

__all__ = (
    "MAX_SHUFFLE_N",
    "as_bytes",
    "check_attempt",
    "check_hash",
    "check_int",
    "check_key_array",
    "check_shuffle_n",
    "check_uint",
    "is_prime",
    "object_buffer_error",
    "uninitialised",
)

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF

#: The largest *n* that ``hashlb.bounded.mt19937`` and ``probe_order`` accept: they build a
#: list of *n* ints (about 40 MB at the cap).  A bounded-load table probes at most its
#: number of hosts, far below this.
MAX_SHUFFLE_N = 1 << 20


def _show_int(value: int) -> str:
    """Return *value* for an error message, bounded in length (huge ints are summarised)."""
    if -(1 << 256) < value < 1 << 256:
        return str(value)
    return f"an int of {value.bit_length()} bits"


def uninitialised(obj: object, cls: str) -> TypeError:
    """Return the error for an object of class *cls* whose ``__init__`` never ran.

    Such an object comes from ``cls.__new__(cls)`` or from a subclass whose
    ``__init__`` skips ``super().__init__()``; both twins refuse to use it.
    """
    name = type(obj).__name__
    how = f"{cls}(...)" if name == cls else f"{name}(...) whose __init__ calls super().__init__()"
    return TypeError(f"{name} object is not initialised ({cls}.__init__ did not run); use {how}")


def check_uint(value: object, field: str, bits: int) -> int:
    """Return *value* as an int in ``[0, 2**bits)`` (``__index__`` ints accepted, bools not)."""
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{field} must be an int, not {type(value).__name__}")
        value = int(value.__index__())
    assert isinstance(value, int)
    if value < 0 or value >> bits:
        raise ValueError(f"{field} must be in [0, 2**{bits}), got {_show_int(value)}")
    return value


def check_shuffle_n(value: object) -> int:
    """Validate the *n* of ``mt19937``/``probe_order``: an int in ``[0, MAX_SHUFFLE_N]``."""
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"n must be an int, not {type(value).__name__}")
        value = int(value.__index__())
    assert isinstance(value, int)
    if not 0 <= value <= MAX_SHUFFLE_N:
        raise ValueError(
            f"n must be in [0, MAX_SHUFFLE_N = {MAX_SHUFFLE_N}], got {_show_int(value)}"
        )
    return value


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


def _holds_objects(fmt: str) -> bool:
    """Return True if a buffer format has a Python-object item (``O``), names skipped."""
    if "O" not in fmt:
        return False
    parts = fmt.split(":")
    # In a struct format ("T{O:a:i:b:}") every second ':'-separated part is a field name.
    return any("O" in parts[i] for i in range(0, len(parts), 2))


def object_buffer_error(data: object, what: str, fmt: str) -> TypeError:
    """Return the error for a key whose buffer holds Python objects (format ``O``).

    Hashing it would hash object addresses (different in every process), not
    the objects' contents.
    """
    shown = fmt if len(fmt) <= 32 else fmt[:29] + "..."
    return TypeError(
        f"{what} must be str or a C-contiguous bytes-like object, not "
        f"{type(data).__name__} of Python objects (buffer format {shown!r})"
    )


def as_bytes(data: object, what: str) -> bytes | memoryview:
    """Return the bytes to hash: a str as UTF-8, bytes as is, else a flat byte view.

    :raises TypeError: *data* is neither str nor a C-contiguous bytes-like
        object, or its buffer holds Python objects (the message names *what*).
    """
    if type(data) is str:
        return data.encode()
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        return str.encode(data)  # the str's own text, as the compiled twin reads it
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except (TypeError, BufferError):
        view = None
    if view is None or not view.c_contiguous:
        raise TypeError(
            f"{what} must be str or a C-contiguous bytes-like object, not {type(data).__name__}"
        )
    fmt = view.format
    if fmt != "B" and _holds_objects(fmt):
        raise object_buffer_error(data, what, fmt)
    return view.cast("B") if view.ndim != 1 or fmt != "B" else view


def check_key_array(keys: object) -> None:
    """Refuse a numpy array that ``pick_many`` would hash as raw element bytes.

    A numpy array of keys must be 1-D with a string dtype (``U``/``S``) or
    ``object`` (each item then checked as a key): a numeric, bool, float or
    datetime array, or a 2-D array, would hash the bytes of each element or
    row, which matches neither ``pick(str(x))`` nor ``lookup(x)``.

    :raises TypeError: naming the dtype and what to pass instead.
    """
    np = sys.modules.get("numpy")
    if np is None or not isinstance(keys, np.ndarray):
        return
    if keys.ndim != 1:
        raise TypeError(
            f"pick_many() does not take a {keys.ndim}-D numpy array: pass a 1-D sequence of "
            "str/bytes keys"
        )
    if keys.dtype.kind not in "USO":
        name = str(keys.dtype)
        name = name if len(name) <= 32 else name[:29] + "..."
        raise TypeError(
            f"pick_many() does not take a numpy {name} array: pass a list of str/bytes keys, "
            "or hashes to lookup_many()"
        )
