"""The docstrings the two ``keyindex`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "KeyIndex": """KeyIndex(*, max_keys=67108864)
--

Dense ids for the distinct keys of a stream of text columns: exact, in order
of first appearance.

The per-user accumulators of a replay (:class:`hashlb.replay.Stickiness`,
:class:`hashlb.diff.DiffTally`) name each request's user by its id here and
keep their figures in arrays indexed by it, so their memory follows the
users, never the requests.  Two keys share an id only if their bytes are
equal (the compiled twin hashes them with xxh64 and compares the bytes on
a match); the null key is a key of its own.

:param int max_keys: refuse more distinct keys than this
    (:data:`~hashlb._validate.MAX_REPLAY_USERS` by default, at most
    ``2**31 - 1``).
:raises ValueError: *max_keys* is not an int in ``[1, 2**31 - 1]``.

>>> import pyarrow as pa
>>> from hashlb.keyindex import KeyIndex
>>> index = KeyIndex()
>>> index.ids(pa.array(["b", "a", "b", None])).tolist()
[0, 1, 0, 2]
>>> index.ids(pa.array(["a", "c"])).tolist(), len(index)
([1, 3], 4)
>>> index.keys().to_pylist()
['b', 'a', None, 'c']
""",
    "KeyIndex.ids": """ids($self, /, keys)
--

Return the id of every row of *keys*, a numpy ``int64`` array.

A key not seen before gets the next id, rows in order.  All or nothing:
a call that raises adds no key.

:param keys: a pyarrow ``string``, ``large_string`` or ``string_view``
    Array or ChunkedArray (dictionary-encoded too), or an Arrow C interface
    object of one.
:raises TypeError: *keys* is not such a column.
:raises ValueError: its buffers are inconsistent (a row outside them).
:raises OverflowError: more than *max_keys* distinct keys (the message
    names the first row refused).
""",
    "KeyIndex.keys": """keys($self, /)
--

Return every key in id order, a pyarrow ``large_string`` array (the null
key as a null).
""",
}
