"""Replay real request logs: stream Parquet, CSV or JSON lines as request columns, and
count per-user stickiness exactly without a Python object per request.

:func:`read_requests` streams a log file in Arrow record batches whose columns
are request fields (``user``, ``header:<name>``, ``cookie:<name>``, ``path``,
``remote_address``, ``local_address``), each taken from a file column by a
*column mapping* such as ``{"user": "user_id", "header:x-user": "user_id",
"source-ip": "client_ip"}``.  Memory is bounded by the batch size, not the
file.

:class:`Stickiness` counts, per user, whether all its requests reached one
endpoint and one group (subset): per batch it groups the requests by user
and keeps the smallest and largest endpoint and group code of each user (one
endpoint iff they are equal).  Merging two accumulators applies the same
min/max rule, which is associative and commutative, so partial counts of
any split of the requests (batches, files, Dask partitions) combine into
exactly the figures of one pass.  Its memory is bounded by the distinct
users, not the requests.

pyarrow is an optional dependency (``pip install "hashlb[columns]"``).

>>> import pyarrow as pa
>>> from hashlb.replay import Stickiness
>>> a, b = Stickiness(), Stickiness()
>>> a.add(pa.array(["ann", "bob", "ann"]), endpoints=[0, 1, 0], groups=[0, 0, 0])
>>> b.add(pa.array(["bob", "cy"]), endpoints=[2, 1], groups=[0, 1])
>>> s = a.merge(b)
>>> (s.requests, s.users, s.one_endpoint, s.one_group)
(5, 3, 2, 3)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._replayread import csv_batches, jsonl_batches, missing, parquet_batches
from ._source import InputError
from ._validate import (
    MAX_REPLAY_BATCH_ROWS,
    MAX_REPLAY_COLUMNS,
    MAX_REPLAY_USERS,
    cap,
    check_max_keys,
)
from ._validate import short as _short

__all__ = (
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_SOURCE_PORT",
    "ENVOY_JSON_COLUMNS",
    "FORMATS",
    "Stickiness",
    "canonical_field",
    "parse_columns",
    "policy_columns",
    "policy_hashes",
    "read_requests",
    "require_pyarrow",
    "route_columns",
    "to_request_batch",
)

#: Rows per record batch unless *batch_rows* says otherwise.
DEFAULT_BATCH_ROWS = 1 << 16
#: The formats :func:`read_requests` reads, by the file name's extension.
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
#: The port a ``source-ip`` column gets in ``remote_address`` (as ``hashlb simulate``'s
#: JSONL ``source_ip`` field).
DEFAULT_SOURCE_PORT = 50000

#: A column mapping for Istio's JSON access log (``meshConfig.accessLogEncoding: JSON``,
#: Istio's default JSON keys of Envoy's access-log command operators): the downstream
#: address (``ip:port``), the path with its query string, and the request headers Istio
#: logs.  Add ``user=`` and any header or cookie your hash policy reads.
ENVOY_JSON_COLUMNS: Mapping[str, str] = {
    "remote_address": "downstream_remote_address",
    "local_address": "downstream_local_address",
    "path": "path",
    "header::authority": "authority",
    "header::method": "method",
    "header:user-agent": "user_agent",
    "header:x-forwarded-for": "x_forwarded_for",
    "header:x-request-id": "request_id",
}

_PLAIN = ("user", "path", "remote_address", "local_address")
_ALIASES = {
    "source-ip": "source_ip",
    "source_ip": "source_ip",
    "sourceip": "source_ip",
    "method": "header::method",
    "authority": "header::authority",
    "remote-address": "remote_address",
    "local-address": "local_address",
}


def require_pyarrow() -> Any:
    """Return :mod:`pyarrow`, or raise ImportError naming the extra to install."""
    try:
        import pyarrow
    except ImportError:
        raise ImportError('hashlb.replay needs pyarrow: pip install "hashlb[columns]"') from None
    return pyarrow


def canonical_field(name: str) -> str:
    """Return the request field *name* stands for (``source-ip`` -> ``source_ip``).

    Fields are ``user``, ``path``, ``remote_address``, ``local_address``,
    ``source_ip`` (the client IP: ``remote_address`` becomes ``IP:50000``),
    ``header:<name>`` (lower-cased; ``method`` is ``header::method``) and
    ``cookie:<name>``.

    :raises ValueError: any other name.

    >>> from hashlb.replay import canonical_field
    >>> canonical_field("Header:X-User"), canonical_field("source-ip")
    ('header:x-user', 'source_ip')
    """
    if not isinstance(name, str):
        raise TypeError(f"a request field must be a str, got {type(name).__name__}")
    text = name.strip()
    low = text.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    if low in _PLAIN:
        return low
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if sep and rest and kind == "header":
        return f"header:{rest.lower()}"
    if sep and rest and kind == "cookie":
        return f"cookie:{rest}"
    raise ValueError(
        f"unknown request field {_short(name)}: use user, path, source-ip, remote_address, "
        "local_address, header:NAME or cookie:NAME"
    )


def parse_columns(specs: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    """Return the column mapping ``{request field: file column}`` of *specs*.

    *specs* are ``FIELD=COLUMN`` texts (``hashlb simulate --column``) or a
    mapping.  A field may appear once; one file column may feed several
    fields (``user=user_id`` and ``header:x-user=user_id``).

    :raises ValueError: a text without ``=``, an unknown field, a field
        given twice, ``source-ip`` with ``remote_address``, or more than
        :data:`~hashlb._validate.MAX_REPLAY_COLUMNS` fields.

    >>> from hashlb.replay import parse_columns
    >>> parse_columns(["user=user_id", "header:X-User=user_id", "source-ip=client_ip"])
    {'user': 'user_id', 'header:x-user': 'user_id', 'source_ip': 'client_ip'}
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(specs, Mapping):
        pairs = [(str(k), v) for k, v in specs.items()]
    else:
        if isinstance(specs, (str, bytes)):
            raise TypeError("columns must be FIELD=COLUMN texts or a mapping, not one string")
        for text in specs:
            if not isinstance(text, str) or "=" not in text:
                raise ValueError(f"a column mapping is FIELD=COLUMN, got {_short(text)}")
            field, _, column = text.partition("=")
            pairs.append((field, column))
    out: dict[str, str] = {}
    for field, column in pairs:
        if not isinstance(column, str) or not column:
            raise ValueError(f"the column of {_short(field)} must be a non-empty str")
        name = canonical_field(field)
        if name in out:
            raise ValueError(f"request field {name!r} is mapped twice")
        out[name] = column
        if len(out) > MAX_REPLAY_COLUMNS:
            raise ValueError(f"more than {cap('MAX_REPLAY_COLUMNS')} mapped fields")
    if "source_ip" in out and "remote_address" in out:
        raise ValueError("map source-ip or remote_address, not both (both set the client address)")
    if not out:
        raise ValueError("the column mapping is empty: map at least one request field")
    return out


def _format_of(path: str, format: str | None) -> str:
    if format is not None:
        fmt = str(format).lower()
        if fmt in ("json", "ndjson"):
            fmt = "jsonl"
        if fmt not in ("parquet", "csv", "jsonl"):
            raise ValueError(f"unknown format {_short(format)}: use parquet, csv or jsonl")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(
            path,
            "cannot tell the format from the extension: pass format= (--format) "
            "parquet, csv or jsonl",
        )
    return FORMATS[ext]


def _as_text(pa: Any, array: Any, path: str, column: str) -> Any:
    """Return *array* as an Arrow ``string`` array, or raise InputError naming *column*."""
    import pyarrow.compute as pc

    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    if pa.types.is_string(t):
        return array
    if pa.types.is_null(t):
        return pa.nulls(len(array), pa.string())
    if (
        pa.types.is_large_string(t)
        or getattr(pa.types, "is_string_view", lambda _t: False)(t)
        or pa.types.is_integer(t)
    ):
        return array.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return pc.cast(array, pa.string())
        except pa.ArrowInvalid:
            raise InputError(path, f"column {column!r} is binary and not UTF-8 text") from None
    raise InputError(
        path, f"column {column!r} has type {t}; a request field needs text or integers"
    )


def read_requests(
    path: str | os.PathLike[str],
    columns: Iterable[str] | Mapping[str, str],
    *,
    format: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Any]:
    """Stream a request log as Arrow record batches of request fields.

    :param path: a Parquet, CSV or JSON-lines file.
    :param columns: the column mapping (see :func:`parse_columns`):
        ``FIELD=COLUMN`` texts or ``{field: column}``.
    :param format: ``"parquet"``, ``"csv"`` or ``"jsonl"``; by default the
        extension's (``.parquet``/``.pq``, ``.csv``, ``.jsonl``/``.ndjson``/``.json``).
    :param batch_rows: rows per batch, at most (Parquet reads that many at
        a time, without pre-buffering; CSV is read in blocks of 1 MiB, grown
        to fit a longer row up to :data:`~hashlb._validate.MAX_REPLAY_CSV_BLOCK`
        bytes; JSON lines are parsed in blocks of at most
        :data:`~hashlb._validate.MAX_REPLAY_JSON_BLOCK` bytes).  Memory
        follows the batch and the block, never the length of the file.
    :returns: an iterator of :class:`pyarrow.RecordBatch`, one ``string``
        column per mapped field named by the field (``source-ip`` becomes
        ``remote_address``, ``IP:50000``).  Nulls mean "not in the request".
        The file is opened and its columns checked at the call; batches
        are read as they are consumed.
    :raises InputError: unreadable file, a mapped column the file lacks,
        or one of a type that is not text or integers (the message names
        the file and the column).
    :raises ValueError: a bad mapping, format or *batch_rows*.
    :raises ImportError: pyarrow is not installed.
    """
    pa = require_pyarrow()
    mapping = parse_columns(columns)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
        raise TypeError(f"batch_rows must be an int, got {type(batch_rows).__name__}")
    if not 1 <= batch_rows <= MAX_REPLAY_BATCH_ROWS:
        raise ValueError(
            f"batch_rows must be in [1, {cap('MAX_REPLAY_BATCH_ROWS')}], got {batch_rows}"
        )
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError("path must be a str or os.PathLike[str]")
    fmt = _format_of(name, format)
    wanted = list(dict.fromkeys(mapping.values()))
    if fmt == "parquet":
        source = parquet_batches(pa, name, wanted, batch_rows)
    elif fmt == "csv":
        source = csv_batches(pa, name, wanted, batch_rows)
    else:
        source = jsonl_batches(pa, name, wanted, batch_rows)
    first = next(source, None)
    return _fields(pa, name, mapping, first, source)


def _fields(
    pa: Any, path: str, mapping: Mapping[str, str], first: Any, rest: Iterator[Any]
) -> Iterator[Any]:
    """Turn file batches into request-field batches."""
    batch = first
    while batch is not None:
        yield _request_batch(pa, batch, mapping, path)
        batch = next(rest, None)


def _request_batch(pa: Any, data: Any, mapping: Mapping[str, str], where: str) -> Any:
    import pyarrow.compute as pc

    names = [("remote_address" if f == "source_ip" else f) for f in mapping]
    arrays = []
    have = set(data.schema.names)
    for field, column in mapping.items():
        if column not in have:
            missing(where, have, [column])
        a = data.column(column)
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        a = _as_text(pa, a, where, column)
        if field == "source_ip":
            v6 = pc.match_substring(a, ":")
            bracketed = pc.binary_join_element_wise("[", a, "]", "")
            a = pc.binary_join_element_wise(
                pc.if_else(v6, bracketed, a), str(DEFAULT_SOURCE_PORT), ":"
            )
        arrays.append(a)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def to_request_batch(data: Any, columns: Iterable[str] | Mapping[str, str]) -> Any:
    """Return the request-field batch of a table of logged columns (as :func:`read_requests`).

    :param data: a :class:`pyarrow.Table` or RecordBatch, a pandas DataFrame,
        or any Arrow stream producer (a polars DataFrame).
    :param columns: the column mapping (see :func:`parse_columns`).
    :raises InputError: a mapped column *data* lacks, or of a type that is not text or integers.
    """
    pa = require_pyarrow()
    mapping = parse_columns(columns)
    if not isinstance(data, (pa.Table, pa.RecordBatch)):
        if type(data).__module__.startswith("pandas"):
            data = pa.Table.from_pandas(data, preserve_index=False)
        else:
            data = pa.table(data)
    return _request_batch(pa, data, mapping, "<table>")


# --------------------------------------------------------------------------
# Routing a batch.


def _draws(rng: Any, count: int) -> Any:
    """Return *count* values of ``rng.getrandbits(64)``, in order, as one uint64 array.

    ``getrandbits(64 * count)`` fills its result with 32-bit words from the
    least significant end, exactly as *count* calls of ``getrandbits(64)``;
    a :class:`numpy.random.Generator` draws ``integers`` instead.
    """
    import numpy as np

    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, 2**64, size=count, dtype=np.uint64)
    bits = rng.getrandbits(64 * count)
    return np.frombuffer(bits.to_bytes(8 * count, "little"), dtype="<u8").astype(np.uint64)


def _requests(batch: Any) -> list[Any]:
    """Each row of a batch of request fields as a :class:`hashlb.Request` (the slow path)."""
    from .policy import Request

    names = batch.schema.names
    cols = {n: batch.column(i).to_pylist() for i, n in enumerate(names)}
    headers = [(f[7:], cols[f]) for f in names if f.startswith("header:")]
    cookies = [(f[7:], cols[f]) for f in names if f.startswith("cookie:")]
    paths = cols.get("path")
    remote = cols.get("remote_address")
    local = cols.get("local_address")
    out = []
    for i in range(batch.num_rows):
        hs = [(k, v[i]) for k, v in headers if v[i] is not None]
        jar = [f"{k}={v[i]}" for k, v in cookies if v[i] is not None]
        if jar:
            hs.append(("cookie", "; ".join(jar)))
        out.append(
            Request(
                headers=hs,
                path="/" if paths is None or paths[i] is None else paths[i],
                remote_address=remote[i] if remote is not None else None,
                local_address=(local[i] if local is not None else None) or _LOCAL_ADDRESS,
            )
        )
    return out


#: The local address of a request without one (a stand-in for the service's ClusterIP,
#: as ``hashlb simulate``'s).
_LOCAL_ADDRESS = "10.96.0.1:80"


#: ``route_columns``'s default policy: the router's own.
_ROUTE_POLICY: Any = object()


def policy_columns(batch: Any) -> dict[str, Any]:
    """Return the ``HashPolicy.hash_many`` columns of a batch of request fields.

    A request field ``cookie:<name>`` is a cookie *sent* in the request, as
    ``hashlb simulate``'s JSONL ``cookies``: the request's ``cookie`` header is
    ``name=value`` of each non-null cookie field joined by ``"; "``, after the
    ``header:cookie`` field's value if there is one (two ``cookie`` headers,
    a list column).  Envoy parses that header (a value ``x;y`` is ``x``, a
    quoted ``"v"`` is ``v``), so every policy reads it as ``route()`` would.
    ``hash_many``'s own ``cookie:<name>`` columns are extracted values, so the
    fields are not passed as such.  A null (or unmapped) ``path`` is ``/`` and a
    null ``local_address`` the service's, as in the request.  ``user`` is not a
    request field.
    """
    pa = require_pyarrow()
    import pyarrow.compute as pc

    names = batch.schema.names
    n = batch.num_rows
    cols = {k: batch.column(i) for i, k in enumerate(names) if k != "user"}
    # the request's path and local address when the field is null or not mapped
    for field, default in (("path", "/"), ("local_address", _LOCAL_ADDRESS)):
        given = cols.get(field)
        if given is None:
            cols[field] = pa.repeat(pa.scalar(default, pa.string()), n)
        elif given.null_count:
            cols[field] = given.fill_null(pa.scalar(default, given.type))
    jar = [k for k in names if k.startswith("cookie:")]
    if not jar:
        return cols

    pieces = []
    for field in jar:
        value = cols.pop(field)
        if not pa.types.is_string(value.type):
            value = value.cast(pa.string())
        pieces.append(pc.binary_join_element_wise(f"{field[7:]}=", value, ""))
    # "; ".join of the non-null pieces, null when all are (pyarrow's null_handling="skip"
    # drops the rows whose pieces are all null, so it is not used)
    joined = pieces[0]
    for piece in pieces[1:]:
        joined = pc.coalesce(pc.binary_join_element_wise(joined, piece, "; "), joined, piece)
    header = cols.get("header:cookie")
    if header is None or header.null_count == len(header):
        cols["header:cookie"] = joined
        return cols
    # both: two cookie headers per row, the field's first (as route() sees them), in
    # Python (a rare mapping: header:cookie and cookie:<name> fields together)
    rows = []
    for h, j in zip(header.to_pylist(), joined.to_pylist(), strict=True):
        values = ([] if h is None else h if isinstance(h, list) else [h]) + (
            [] if j is None else [j]
        )
        rows.append([v for v in values if v is not None] or None)
    cols["header:cookie"] = pa.array(rows, pa.list_(pa.string()))
    return cols


def policy_hashes(policy: Any, batch: Any) -> tuple[Any, Any]:
    """Return ``(hashes uint64, no_hash bool)``: *policy* over a batch of request fields.

    ``HashPolicy.hash_many`` when this hashlb has it, else each row's
    ``policy.hash(Request)`` (the same values, slower).  A None *policy*
    hashes nothing.
    """
    import numpy as np

    n = batch.num_rows
    if policy is None:
        return np.zeros(n, dtype=np.uint64), np.ones(n, dtype=bool)
    many = getattr(policy, "hash_many", None)
    if many is not None:
        h, none = many(policy_columns(batch))
        return np.asarray(h, dtype=np.uint64), np.asarray(none, dtype=bool)
    h = np.zeros(n, dtype=np.uint64)
    none = np.zeros(n, dtype=bool)
    for i, req in enumerate(_requests(batch)):
        v = policy.hash(req)
        if v is None:
            none[i] = True
        else:
            h[i] = v
    return h, none


def route_columns(
    router: Any, batch: Any, *, policy: Any = _ROUTE_POLICY, rng: Any = None
) -> tuple[Any, Any, Any, Any]:
    """Route a batch of request fields through *router*, as ``router.route()`` row by row.

    :param router: a :class:`hashlb.Router` (its weighted-cluster value must
        be random, Istio's translation: no ``header_name`` nor ``use_hash_policy``).
    :param batch: a :class:`pyarrow.RecordBatch` or Table of request fields
        (as :func:`read_requests` yields).
    :param policy: the policy whose hash the tables look up; by default the
        router's :attr:`~hashlb.Router.route_policy` (Istio's copies folded in).
    :param rng: where Envoy's per-request random values come from: None for
        the router's :attr:`~hashlb.Router.rng`, drawn in the order
        ``route()`` draws them (the weighted-cluster value, then a random
        hash for a request without one), so the result equals routing the
        rows one by one; or a :class:`numpy.random.Generator`.
    :returns: ``(subset_indices, host_indices, lookup_hashes, no_hash)``:
        numpy arrays (uint32 indices into ``router.picker.names`` and
        ``router.hosts``, :data:`hashlb.cluster.NO_HOST` for no host; uint64
        hashes the tables looked up; bool, the policy gave no hash).
    :raises ValueError: the router's value is not random.
    """
    import numpy as np

    if not hasattr(batch, "schema"):
        raise TypeError(f"batch must be a pyarrow RecordBatch or Table, got {type(batch).__name__}")
    if hasattr(batch, "combine_chunks"):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else batch
    if router._make_value_fn() is not None:
        raise ValueError(
            "route_columns routes a router whose weighted-cluster value is random "
            "(no header_name, no use_hash_policy)"
        )
    route_policy = router.route_policy if policy is _ROUTE_POLICY else policy
    n = batch.num_rows
    h, none = policy_hashes(route_policy, batch)
    source = router.rng if rng is None else rng
    missing = int(none.sum())
    lh = h.copy()
    # every row has its hash and value here: route_many draws nothing from *unused*, and
    # passing it keeps route_many from seeding its own generator from router.rng
    unused = np.random.default_rng(0)
    if router.mode == "sticky":
        lh[none] = _draws(source, missing)
        routed = router.route_many(lh, rng=unused)
    elif rng is None:  # per request: the value, then a random hash when there is none
        rand = _draws(source, n + missing)
        at = np.arange(n) + (np.cumsum(none) - none)
        lh[none] = rand[at[none] + 1]
        routed = router.route_many(lh, values=rand[at], rng=unused)
    else:
        values = _draws(source, n)
        lh[none] = _draws(source, missing)
        routed = router.route_many(lh, values=values, rng=unused)
    return (
        np.asarray(routed.subset, dtype=np.uint32),
        np.asarray(routed.host, dtype=np.uint32),
        lh,
        none,
    )


# --------------------------------------------------------------------------
# Stickiness.


class Stickiness:
    """Exact per-user stickiness of routed requests, mergeable, without per-request objects.

    Feed it batches with :meth:`add`: each request's user, the code of its
    endpoint and of its group (subset or cluster), as small integers; a
    negative code means the request was not routed (it counts for its
    user, not for the user's endpoints).  A user "stays on one endpoint"
    when all its routed requests have one endpoint code (a request that got
    no host counts as its own code, chosen by the caller).

    State: one id per distinct user (a key index on the names themselves:
    exact, in order of first appearance) and, per user, its smallest and
    largest endpoint and group codes and a flag, in numpy arrays updated in
    place batch by batch: memory is bounded by the users (about 110 bytes
    each plus the name), never by the requests.  :meth:`merge` combines two
    accumulators with the same min/max rule, in any order and grouping.

    :param max_users: refuse more distinct users than this
        (:data:`~hashlb._validate.MAX_REPLAY_USERS` by default).
    """

    __slots__ = ("_codes", "_flags", "_index", "_max_users", "requests")

    def __init__(self, *, max_users: int = MAX_REPLAY_USERS) -> None:
        import numpy as np

        from .keyindex import KeyIndex

        require_pyarrow()
        check_max_keys(max_users, "max_users")
        self._max_users = max_users
        self._index = KeyIndex(max_keys=max_users)
        #: per user id: endpoint min, endpoint max, group min, group max (_NO_CODE, -1: none)
        self._codes = np.empty((0, 4), dtype=np.int64)
        self._flags = np.zeros(0, dtype=bool)
        #: Requests counted so far.
        self.requests = 0

    def add(self, users: Any, endpoints: Any, groups: Any, flags: Any = None) -> None:
        """Count one batch: *users* (Arrow or numpy strings, or a list) and aligned codes.

        :param users: one user name per request (a null is one user of its own, ``None``).
        :param endpoints: int codes, negative for a request not routed.
        :param groups: int codes, negative for a request not routed.
        :param flags: optional booleans: a user is flagged if any request is.
        :raises ValueError: the arrays' lengths differ.
        :raises InputError: more than *max_users* distinct users (the batch is
            not counted).
        """
        import numpy as np

        pa = require_pyarrow()
        u = _user_array(pa, users)
        n = len(u)
        e = _codes(endpoints, n, "endpoints")
        g = _codes(groups, n, "groups")
        f = np.zeros(n, dtype=bool) if flags is None else _flags(flags, n)
        if n == 0:
            return
        ids = self._user_ids(u)
        self._fold(ids, e, e, g, g, f)
        self.requests += n

    def _user_ids(self, names: Any) -> Any:
        """The id of each name (new users grow the per-user arrays)."""
        ids = _index_users(self._index, names, self._max_users)
        self._grow(len(self._index))
        return ids

    def _grow(self, users: int) -> None:
        import numpy as np

        have = len(self._flags)
        if users <= have:
            return
        size = max(users, 2 * have, 1024)
        codes = np.empty((size, 4), dtype=np.int64)
        codes[:have] = self._codes
        codes[have:, 0::2] = _NO_CODE  # the mins
        codes[have:, 1::2] = -1  # the maxes
        flags = np.zeros(size, dtype=bool)
        flags[:have] = self._flags
        self._codes, self._flags = codes, flags

    def _fold(self, ids: Any, e_min: Any, e_max: Any, g_min: Any, g_max: Any, f: Any) -> None:
        """Fold rows of codes (negative: none) into the users *ids*."""
        import numpy as np

        c = self._codes
        np.minimum.at(c[:, 0], ids, np.where(e_min < 0, _NO_CODE, e_min))
        np.maximum.at(c[:, 1], ids, e_max)
        np.minimum.at(c[:, 2], ids, np.where(g_min < 0, _NO_CODE, g_min))
        np.maximum.at(c[:, 3], ids, g_max)
        np.logical_or.at(self._flags, ids, f)

    def merge(self, other: Stickiness) -> Stickiness:
        """Return a new accumulator counting the requests of both (exact, in any order)."""
        if not isinstance(other, Stickiness):
            raise TypeError(f"can only merge a Stickiness, got {type(other).__name__}")
        out = Stickiness(max_users=max(self._max_users, other._max_users))
        for src in (self, other):
            users = len(src._index)
            if users:
                c = src._codes[:users]
                ids = out._user_ids(src._index.keys())
                out._fold(ids, c[:, 0], c[:, 1], c[:, 2], c[:, 3], src._flags[:users])
            out.requests += src.requests
        return out

    def _state(self) -> tuple[Any, Any]:
        users = len(self._index)
        return self._codes[:users], self._flags[:users]

    def _one(self, k: int) -> Any:
        """Per user: routed, and one code in column pair *k* (0: endpoints, 2: groups)."""
        c, _ = self._state()
        return (c[:, k] == c[:, k + 1]) & (c[:, k + 1] >= 0)

    @property
    def users(self) -> int:
        """Distinct users seen."""
        return len(self._index)

    @property
    def one_endpoint(self) -> int:
        """Users with at least one routed request, all on one endpoint code."""
        return int(self._one(0).sum())

    @property
    def one_group(self) -> int:
        """Users with at least one routed request, all in one group code."""
        return int(self._one(2).sum())

    @property
    def flagged(self) -> int:
        """Users with at least one flagged request."""
        _, f = self._state()
        return int(f.sum())

    def per_user(self) -> Any:
        """Return one row per user: ``user``, ``one_endpoint``, ``one_group``, ``flagged``."""
        pa = require_pyarrow()
        _, f = self._state()
        return pa.table(
            {
                "user": self._index.keys(),
                "one_endpoint": self._one(0),
                "one_group": self._one(2),
                "flagged": f,
            }
        )

    def __getstate__(self) -> dict[str, Any]:
        c, f = self._state()
        return {
            "max_users": self._max_users,
            "requests": self.requests,
            "users": self._index.keys(),
            "codes": c.copy(),
            "flags": f.copy(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        import numpy as np

        from .keyindex import KeyIndex

        if "users" not in state:
            raise TypeError(
                "this Stickiness was pickled by an earlier hashlb (before its key index): "
                "count its requests again"
            )
        self._max_users = state["max_users"]
        self.requests = state["requests"]
        self._index = KeyIndex(max_keys=self._max_users)
        self._index.ids(state["users"])
        self._codes = np.array(state["codes"], dtype=np.int64).reshape(-1, 4)
        self._flags = np.array(state["flags"], dtype=bool)

    def __repr__(self) -> str:
        return (
            f"Stickiness(requests={self.requests}, users={self.users}, "
            f"one_endpoint={self.one_endpoint}, one_group={self.one_group})"
        )


#: The smallest code of a user without a routed request (it loses every min).
_NO_CODE = 2**62


def _index_users(index: Any, users: Any, max_users: int) -> Any:
    """The :class:`~hashlb.keyindex.KeyIndex` ids of *users* (Arrow text).

    :raises InputError: more than *max_users* distinct users.
    """
    try:
        return index.ids(users)
    except OverflowError:
        raise InputError(None, f"more than {max_users:_} distinct users in the requests") from None


def _user_array(pa: Any, users: Any) -> Any:
    if isinstance(users, pa.ChunkedArray):
        users = users.combine_chunks()
    if isinstance(users, pa.Array):
        t = users.type
        if pa.types.is_dictionary(t):
            users = users.cast(t.value_type)
        t = users.type
        if pa.types.is_string(t):
            return users
        if (
            pa.types.is_large_string(t)
            or pa.types.is_integer(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        ):
            return users.cast(pa.string())
        raise TypeError(f"users must be text, got Arrow type {t}")
    try:
        import numpy as np

        if isinstance(users, np.ndarray):
            return pa.array(users.astype(str) if users.dtype.kind != "O" else users, pa.string())
    except ImportError:  # pragma: no cover - numpy comes with pyarrow
        pass
    return pa.array(list(users), pa.string())


def _codes(codes: Any, n: int, what: str) -> Any:
    import numpy as np

    pa = require_pyarrow()
    if isinstance(codes, (pa.Array, pa.ChunkedArray)):
        codes = codes.fill_null(-1).to_numpy(zero_copy_only=False)
    a = np.asarray(codes)
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"{what} has {len(a)} items, users has {n}")
    if len(a) and a.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def _flags(flags: Any, n: int) -> Any:
    import numpy as np

    pa = require_pyarrow()
    if isinstance(flags, (pa.Array, pa.ChunkedArray)):
        flags = flags.fill_null(False).to_numpy(zero_copy_only=False)
    a = np.asarray(flags, dtype=bool)
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"flags has {len(a)} items, users has {n}")
    return a
