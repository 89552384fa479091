"""The docstrings the two ``hashing`` twins share (``_docstrings.py`` explains the scheme)."""

#: What every hash function of the unit says of its *data* and *seed* (written once).
_DATA = ":param data: ``str`` (hashed as UTF-8) or a bytes-like object."
_RAISES = """:raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
:raises ValueError: *seed* is out of range."""

DOCS: dict[str, str] = {
    "murmur2_64": f"""murmur2_64(data, seed=3339675911)
--

Return the 64-bit MurmurHash2 that Envoy's MURMUR_HASH_2 ring hash uses.

This is libstdc++'s ``_Hash_bytes`` for 64-bit ``size_t`` (what
``std::hash<std::string>`` computes on 64-bit GNU systems), with Envoy's
seed ``0xc70f6907`` by default (``MurmurHash::murmurHash2`` in Envoy's
``source/common/common/hash.cc``).  It is **not** Appleby's
MurmurHash64A.

{_DATA}
:param int seed: the seed, in ``[0, 2**64)``.
{_RAISES}

>>> from hashlb import murmur2_64
>>> murmur2_64("foo")
9631199822919835226
""",
    "murmur3_64": f"""murmur3_64(data, seed=0)
--

Return the first 64 bits of MurmurHash3 x64_128 as an unsigned int.

Equal to ``mmh3.hash64(data, seed, signed=False)[0]``; for
interoperating with systems keyed on murmur3.

{_DATA}
:param int seed: the seed, in ``[0, 2**32)`` (MurmurHash3 seeds are 32-bit).
{_RAISES}

>>> from hashlb import murmur3_64
>>> murmur3_64("foo")
16316970633193145697
""",
    "xxh64": f"""xxh64(data, seed=0)
--

Return the xxHash64 of *data* as an unsigned 64-bit int.

:param data: ``str`` (hashed as UTF-8), ``bytes``, ``bytearray``,
    ``memoryview`` or any C-contiguous bytes-like object.
:param int seed: the seed, in ``[0, 2**64)`` (default 0, as in Envoy).
{_RAISES}

Equal to ``xxhash.xxh64_intdigest(data, seed)`` for every input.

>>> from hashlb import xxh64
>>> xxh64("foo")
3728699739546630719
""",
    "xxh64_list": """xxh64_list(values, seed=0)
--

Return Envoy's xxHash64 of a list of strings (a seed chain).

``h = seed``; then for each value ``h = xxh64(value, seed=h)``; return
``h`` (``HashUtil::xxHash64`` over a list, ``source/common/common/hash.h``).  It is *not* the hash of the concatenation.  An empty
list returns *seed* unchanged; one value equals ``xxh64(value, seed)``.

:param values: an iterable of ``str`` or bytes-like values.
:param int seed: the initial seed, in ``[0, 2**64)``.
:raises TypeError: *values* is not iterable, or holds a non-string.
:raises ValueError: *seed* is out of range.

>>> from hashlb import xxh64_list
>>> xxh64_list(["foo", "bar"])
17745830980996999794
""",
    "xxh64_many": """xxh64_many(values, seed=0, *, out=None)
--

Return the xxHash64 of every key of a column, as a numpy uint64 array.

Row *i* equals ``xxh64(values[i], seed)``.  *values* is one of
(:ref:`columnar-input`):

* an Arrow column: a pyarrow ``Array`` or ``ChunkedArray``, or any
  object with ``__arrow_c_array__`` / ``__arrow_c_stream__`` (a polars
  or pandas Series), of type ``string``, ``large_string``, ``binary``,
  ``large_binary``, ``string_view`` or ``binary_view`` (a dictionary
  of those is decoded first), read in place (pyarrow imports the
  capsules);
* a 1-D numpy ``S`` or ``U`` array (``U`` hashed as UTF-8; numpy's
  trailing NULs are not part of a key, as ``values[i]`` shows), or a
  ``StringDType`` array (converted by pyarrow);
* a list, tuple or other iterable of ``str``/bytes-like keys.

A null row (Arrow) has no key: when *values* has one, the result is a
``numpy.ma.MaskedArray`` whose mask is True at the null rows (their
data is 0); else it is a plain ``numpy.ndarray``.  :meth:`Maglev.lookup_many`
and :meth:`RingHash.lookup_many` map masked rows to :data:`NO_HOST`.

:param int seed: the seed, in ``[0, 2**64)``.
:param out: a writable C-contiguous ``numpy.uint64`` array of one item
    per row, written and returned (as the data of the masked array when
    there are nulls).
:raises TypeError: a column of another type (the message says what to
    pass), a bad item, or a bad *out* dtype or type.
:raises ValueError: an inconsistent Arrow array (an offset or view
    outside its buffer, decreasing offsets, a short buffer), a seed out
    of range, or an *out* of the wrong shape, not contiguous or read-only.
:raises ImportError: numpy is not installed, or an Arrow column is
    passed without pyarrow (``pip install 'hashlb[columns]'``).

The compiled twin reads the buffers in C and hashes with the GIL
released.

>>> import numpy as np
>>> from hashlb import xxh64, xxh64_many
>>> xxh64_many(np.array(["foo", "bar"])).tolist() == [xxh64("foo"), xxh64("bar")]
True
""",
}
