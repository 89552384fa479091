"""The docstrings the two ``hashing`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "murmur2_64": """murmur2_64(data, seed=3339675911)
--

Return the 64-bit MurmurHash2 that Envoy's ``MURMUR_HASH_2`` uses.

This is libstdc++'s ``_Hash_bytes`` for 64-bit ``size_t`` (what
``std::hash<std::string>`` computes on 64-bit GNU systems), with Envoy's
seed ``0xc70f6907`` by default (spec §1.3).  It is **not** Appleby's
MurmurHash64A.

:param data: ``str`` (hashed as UTF-8) or a bytes-like object.
:param int seed: the seed, in ``[0, 2**64)``.
:raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
:raises ValueError: *seed* is out of range.

>>> murmur2_64("foo")
9631199822919835226
""",
    "murmur3_64": """murmur3_64(data, seed=0)
--

Return the first 64 bits of MurmurHash3 x64_128 as an unsigned int.

Equal to ``mmh3.hash64(data, seed, signed=False)[0]``; for
interoperating with systems keyed on murmur3.

:param data: ``str`` (hashed as UTF-8) or a bytes-like object.
:param int seed: the seed, in ``[0, 2**32)`` (MurmurHash3 seeds are 32-bit).
:raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
:raises ValueError: *seed* is out of range.

>>> murmur3_64("foo")
16316970633193145697
""",
    "xxh64": """xxh64(data, seed=0)
--

Return the xxHash64 of *data* as an unsigned 64-bit int.

:param data: ``str`` (hashed as UTF-8), ``bytes``, ``bytearray``,
    ``memoryview`` or any C-contiguous bytes-like object.
:param int seed: the seed, in ``[0, 2**64)`` (default 0, as in Envoy).
:raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
:raises ValueError: *seed* is out of range.

Equal to ``xxhash.xxh64_intdigest(data, seed)`` for every input.

>>> xxh64("foo")
3728699739546630719
""",
    "xxh64_list": """xxh64_list(values, seed=0)
--

Return Envoy's xxHash64 of a list of strings (a seed chain).

``h = seed``; then for each value ``h = xxh64(value, seed=h)``; return
``h`` (spec §1.2).  It is *not* the hash of the concatenation.  An empty
list returns *seed* unchanged; one value equals ``xxh64(value, seed)``.

:param values: an iterable of ``str`` or bytes-like values.
:param int seed: the initial seed, in ``[0, 2**64)``.
:raises TypeError: *values* is not iterable, or holds a non-string.
:raises ValueError: *seed* is out of range.

>>> xxh64_list(["foo", "bar"])
17745830980996999794
""",
}
