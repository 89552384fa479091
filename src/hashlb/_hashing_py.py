"""Hash kernels, pure Python: the typed twin of ``_hashing_c.pyx``.

``xxh64`` and ``murmur3_64`` delegate to the ``xxhash`` and ``mmh3`` packages
(bit-identical by construction); ``murmur2_64`` (libstdc++ ``_Hash_bytes``,
which no package provides) is written out here.  Keep names and signatures
identical to the compiled twin; the docstrings both share live in
``_hashing_doc.py`` (``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import mmh3
import xxhash

from ._batch import key_sequence as _key_sequence
from ._columns import key_columns as _key_columns
from ._columns import output as _output
from ._columns import py_xxh64_many as _py_xxh64_many
from ._docstrings import attach as _attach_docs
from ._hashing_doc import DOCS as _DOCS
from ._validate import as_bytes as _bytes
from ._validate import iter_strings as _iter_strings
from ._validate import short

if TYPE_CHECKING:
    from ._types import Hashes

__all__ = ("murmur2_64", "murmur3_64", "xxh64", "xxh64_list", "xxh64_many")

#: What the hash functions accept: text (hashed as UTF-8) or a bytes-like object.
Data = str | bytes | bytearray | memoryview

_M64 = 0xFFFFFFFFFFFFFFFF
_MURMUR2_MUL = 0xC6A4A7935BD1E995
_xxh64_intdigest = xxhash.xxh64_intdigest
_hash64 = mmh3.hash64


def _seed(seed: object, bits: int) -> int:
    """Validate a seed as an unsigned ``bits``-bit integer."""
    if type(seed) is not int:
        if isinstance(seed, bool) or not hasattr(seed, "__index__"):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        seed = operator.index(seed)
    assert isinstance(seed, int)
    if seed < 0 or seed >> bits:
        raise ValueError(f"seed must be in [0, 2**{bits}), got {short(seed)}")
    return seed


def xxh64(data: Data, seed: int = 0) -> int:
    return _xxh64_intdigest(
        _bytes(data, "data"), 0 if seed == 0 and type(seed) is int else _seed(seed, 64)
    )


def xxh64_list(values: Iterable[Data], seed: int = 0) -> int:
    h = _seed(seed, 64)
    for value in _iter_strings(values, "values"):
        h = _xxh64_intdigest(_bytes(value, "values[i]"), h)
    return h


def xxh64_many(values: Any, seed: int = 0, *, out: Any = None) -> Hashes:
    s = _seed(seed, 64)
    chunks = _key_columns(values)
    if chunks is not None:
        column: Hashes = _py_xxh64_many(chunks, s, out)
        return column
    # A snapshot: a key's __buffer__ (PEP 688) may change the list.
    seq = tuple(_key_sequence(values))
    hashes = [_xxh64_intdigest(_bytes(v, f"values[{i}]"), s) for i, v in enumerate(seq)]
    res: Hashes = _output(len(hashes), out, "uint64")
    res[:] = hashes
    return res


def murmur2_64(data: Data, seed: int = 0xC70F6907) -> int:
    buf = bytes(_bytes(data, "data"))
    s = _seed(seed, 64)
    m = _MURMUR2_MUL
    n = len(buf)
    aligned = n & ~7
    h = s ^ ((n * m) & _M64)
    from_bytes = int.from_bytes
    for i in range(0, aligned, 8):
        d = (from_bytes(buf[i : i + 8], "little") * m) & _M64
        d = ((d ^ (d >> 47)) * m) & _M64
        h = ((h ^ d) * m) & _M64
    if n & 7:
        h = ((h ^ from_bytes(buf[aligned:], "little")) * m) & _M64
    h = ((h ^ (h >> 47)) * m) & _M64
    return h ^ (h >> 47)


def murmur3_64(data: Data, seed: int = 0) -> int:
    buf = _bytes(data, "data")
    if type(buf) is not bytes:
        buf = bytes(buf)  # mmh3 accepts read-only buffers only
    return _hash64(buf, _seed(seed, 32), signed=False)[0]


_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
