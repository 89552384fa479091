"""``HashPolicy.hash_many``: a hash policy over columns of requests (plain Python, both twins).

Both twins' ``HashPolicy.hash_many`` call :func:`hash_many` with their own
:class:`Kernels` (the twin's ``Request`` and ``HashPolicy`` classes and its
column kernels), so the column reading, the checks and the folding of the
methods are written once.  Each method is evaluated over the whole batch:

* ``Header`` over a string/binary column: xxh64 of every row (the twin's
  column kernel, no Python object per row); over a list column (a
  multi-valued header): the twin's list kernel, Envoy's rule (values
  sorted, chained through the seed; ``envoy_version`` profiles that hash
  only the first value); with ``regex_rewrite``: per row, through the
  rewrite engine;
* ``Cookie``: a ``cookie:<name>`` column is the extracted value; else the
  ``header:cookie`` column is parsed by the twin's kernel (Envoy's
  ``parseCookieValue``); a generated cookie (``ttl``) per row from the
  address columns;
* ``QueryParameter``: the ``path`` column parsed by the twin's kernel;
* ``FilterState``: a ``filter_state:<key>`` uint64 column;
* ``SourceIP``: per row, the twin's address parsers on the
  ``remote_address`` and ``header:x-forwarded-for`` columns;
* pseudo-headers (``:path``, ``:authority`` ...): per row, through the
  twin's scalar method on a ``Request`` built from the row.

Then the methods fold as ``HashPolicy.hash`` folds them: ``rotl1(h) ^ v``,
a ``terminal`` method ends a row that has a hash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from . import _policy_config as _cfg
from ._columns import bad_producer, key_columns, need_numpy, output
from ._request_config import _to_bytes
from ._validate import short

__all__ = ("Kernels", "hash_many", "parse_key")

_M64 = 0xFFFFFFFFFFFFFFFF
_PSEUDO = (b":path", b":authority", b":method", b":scheme")
#: The plain request fields a column may be named after (``Request``'s keywords).
FIELDS = ("path", "remote_address", "local_address", "method", "authority", "scheme")
_PREFIXES = ("header:", "cookie:", "filter_state:")
_FORMS = (
    "'header:<name>', 'cookie:<name>', 'filter_state:<key>', 'path', 'remote_address', "
    "'local_address', 'method', 'authority' or 'scheme'"
)
_TEXT_TYPES = "string, large_string, string_view, binary, large_binary or binary_view"


@dataclass(frozen=True)
class Kernels:
    """What a twin gives :func:`hash_many`: its classes and its column kernels.

    ``text(arr, seed, dst)`` -> (uint64 hashes, bool has) of a binary Arrow
    array (the hashes written into *dst* unless it is None); ``value(arr,
    seed)`` the same with an empty row as no hash; ``cookie(arr, name,
    seed)`` and ``query(arr, name, seed)`` the same for the cookie value /
    query parameter *name* found in each row;
    ``fold(h, have, done, v, has, terminal)`` folds one method's hashes into
    the policy's, in place; ``source_ip(remotes, xffs, hops, use_remote,
    seed)`` is ``SourceIP``'s hash of each row's remote address and
    X-Forwarded-For values; ``lists(arr, seed, first_only)`` hashes a
    multi-valued header per row of a list<binary> array (Envoy's rule).
    """

    request: Any
    policy: Any
    text: Callable[[Any, int, Any], tuple[Any, Any]]
    value: Callable[[Any, int], tuple[Any, Any]]
    cookie: Callable[[Any, bytes, int], tuple[Any, Any]]
    query: Callable[[Any, bytes, int], tuple[Any, Any]]
    xxh64: Callable[[bytes, int], int]
    fold: Callable[[Any, Any, Any, Any, Any, bool], None]
    source_ip: Callable[[list[Any], list[list[bytes]], int, bool, int], tuple[Any, Any]]
    lists: Callable[[Any, int, bool], tuple[Any, Any]]
    #: the twin's own method classes (matched by identity: the selector gives the
    #: twin in use hashlb's public module name)
    methods: frozenset[type]


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(
            "HashPolicy.hash_many reads columns with pyarrow: pip install 'hashlb[columns]'"
        ) from None
    return pyarrow


def _ascii_lower(name: str) -> str:
    """*name* with ASCII letters lower-cased only (Envoy's ``LowerCaseString``)."""
    return name.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def parse_key(key: object) -> tuple[str, str]:
    """Return ``(kind, name)`` of a column key: kind a field name or a prefix without ``:``.

    :raises TypeError: *key* is not a str.
    :raises ValueError: not one of the accepted forms (a typo must not be ignored).
    """
    if type(key) is not str:
        raise TypeError(f"column names must be str, not {type(key).__name__[:60]}")
    if key in FIELDS:
        return key, ""
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            name = key[len(prefix) :]
            return prefix[:-1], _ascii_lower(name) if prefix == "header:" else name
    raise ValueError(f"unknown column {short(key, 80)}: the columns are named {_FORMS}")


# ---------------------------------------------------------------- columns


def _table_columns(columns: Any) -> dict[str, Any]:
    """The columns of a mapping, pyarrow Table/RecordBatch, pandas or polars DataFrame."""
    if issubclass(type(columns), Mapping):
        return dict(columns.items())
    kind = type(columns)
    pa = sys.modules.get("pyarrow")
    if pa is not None and issubclass(type(columns), (pa.Table, pa.RecordBatch)):
        return _named(columns.schema.names, columns)
    module = kind.__module__
    if module.startswith("pandas.") and kind.__name__ == "DataFrame":
        frame: Any = columns
        return {name: frame[name] for name in frame.columns}
    if hasattr(kind, "__arrow_c_stream__") or hasattr(kind, "__arrow_c_array__"):
        table = _pyarrow().table(columns)  # polars DataFrame and other Arrow producers
        return _named(table.schema.names, table)
    raise TypeError(
        f"columns must be a mapping of column name to column, a pyarrow Table or "
        f"RecordBatch, or a pandas or polars DataFrame, not {kind.__name__[:60]}"
    )


def _named(names: list[str], table: Any) -> dict[str, Any]:
    """The columns of an Arrow table by name (a name given twice is an error)."""
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"column {short(name, 80)} is given twice")
        seen.add(name)
    return {name: table.column(i) for i, name in enumerate(names)}


def _list_of_text(values: Any, lists: bool) -> Any:
    """An Arrow binary array of Python values (the request-data rule: not text is null).

    With *lists* (a header column) a list or tuple cell is a multi-valued
    header: the array is then a list<binary> one.
    """
    pa = _pyarrow()
    rows: list[Any] = []
    multi = False
    for v in values:
        if type(v) is list or type(v) is tuple:
            multi = lists
            rows.append([_to_bytes(x) for x in v] if lists else None)
        else:
            rows.append(_to_bytes(v))
    if multi:
        rows = [r if r is None or type(r) is list else [r] for r in rows]
        return pa.array(rows, type=pa.list_(pa.binary()))
    return pa.array(rows, type=pa.binary())


def _is_arrowish(obj: object) -> bool:
    kind = type(obj)
    pa = sys.modules.get("pyarrow")
    if pa is not None and issubclass(type(obj), (pa.Array, pa.ChunkedArray)):
        return True
    return hasattr(kind, "__arrow_c_array__") or hasattr(kind, "__arrow_c_stream__")


def _arrow_column(key: str, obj: Any, lists: bool = False) -> Any:
    """*obj* as one checked pyarrow Array (text as binary types); lists converted per item."""
    pa = _pyarrow()
    np = sys.modules.get("numpy")
    kind = type(obj)
    if type(obj) is list or type(obj) is tuple:
        return _list_of_text(obj, lists)
    if np is not None and issubclass(type(obj), np.ndarray):
        if obj.ndim != 1:
            raise ValueError(f"column {short(key, 80)} must be 1-D, not {obj.ndim}-D")
        if obj.dtype.kind == "O":
            return _list_of_text(obj.tolist(), lists)
        try:
            obj = _convert(key, pa.array, obj)
        except UnicodeError:  # a lone surrogate in a U array: read as the list path does
            return _list_of_text(obj.tolist(), lists)
    elif kind.__module__.startswith("pandas.") and kind.__name__ == "Series":
        if type(obj.dtype).__module__.startswith("numpy") and obj.dtype.kind == "O":
            return _list_of_text(obj.tolist(), lists)
        try:
            obj = _convert(key, pa.array, obj)
        except UnicodeError:  # request data never raises
            return _list_of_text(obj.tolist(), lists)
    elif _is_arrowish(obj) and not issubclass(type(obj), (pa.Array, pa.ChunkedArray)):
        read = pa.chunked_array if hasattr(kind, "__arrow_c_stream__") else pa.array
        obj = _convert(key, read, obj)
    elif not issubclass(type(obj), (pa.Array, pa.ChunkedArray)):
        raise TypeError(
            f"column {short(key, 80)} must be a pyarrow Array/ChunkedArray, a numpy array, "
            f"a pandas or polars Series or a list, not {kind.__name__[:60]}"
        )
    arrow: Any = obj
    chunks = list(arrow.chunks) if issubclass(type(arrow), pa.ChunkedArray) else [arrow]
    typ = arrow.type
    out = [_checked(key, _as_binary(c)) for c in chunks]
    out = [c for c in out if len(c)]
    if not out:
        return pa.array([], type=_as_binary_type(typ))
    # Several chunks stay a ChunkedArray (no copy): hash_many runs chunk-aligned row ranges.
    return out[0] if len(out) == 1 else pa.chunked_array(out, type=out[0].type)


def _convert(key: str, read: Callable[[Any], Any], obj: object) -> Any:
    """``read(obj)`` (a pyarrow conversion); what pyarrow cannot convert is a TypeError."""
    pa = sys.modules["pyarrow"]
    try:
        return read(obj)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise TypeError(
            f"column {short(key, 80)} cannot be read as an Arrow column: {short(str(e), 200)}"
        ) from None
    except UnicodeError:
        raise  # a numpy U array's lone surrogate: the caller reads it as request data
    except (ValueError, TypeError, SystemError) as e:  # e.g. __arrow_c_array__ without capsules
        raise bad_producer(f"column {short(key, 80)}", obj, e) from None


def _as_binary_type(typ: Any) -> Any:
    pa = sys.modules["pyarrow"]
    t = pa.types
    if t.is_string(typ):
        return pa.binary()
    if t.is_large_string(typ):
        return pa.large_binary()
    if t.is_string_view(typ):
        return pa.binary_view()
    if t.is_list(typ) or t.is_large_list(typ):
        item = _as_binary_type(typ.value_type)
        return pa.list_(item) if t.is_list(typ) else pa.large_list(item)
    return typ


def _as_binary(arr: Any) -> Any:
    """Text arrays viewed as binary (the bytes are what is hashed; no UTF-8 check)."""
    typ = _as_binary_type(arr.type)
    return arr if typ == arr.type else arr.view(typ)


def _checked(key: str, arr: Any) -> Any:
    """*arr* after pyarrow's full validation (offsets, sizes, dictionary indices)."""
    pa = sys.modules["pyarrow"]
    try:
        arr.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        raise ValueError(f"invalid column {short(key, 80)}: {short(str(e), 200)}") from None
    if pa.types.is_dictionary(arr.type):
        arr = _as_binary(arr.dictionary_decode())
    return arr


def _is_text(typ: Any) -> bool:
    t = sys.modules["pyarrow"].types
    return bool(t.is_binary(typ) or t.is_large_binary(typ) or t.is_binary_view(typ))


def _is_null(typ: Any) -> bool:
    return bool(sys.modules["pyarrow"].types.is_null(typ))


def _is_list(typ: Any) -> bool:
    t = sys.modules["pyarrow"].types
    return bool((t.is_list(typ) or t.is_large_list(typ)) and _is_text(typ.value_type))


def _text_column(key: str, obj: object, lists: bool) -> Any:
    arr = _arrow_column(key, obj, lists)
    typ = arr.type
    if _is_text(typ) or _is_null(typ) or (lists and _is_list(typ)):
        return arr
    what = f"a {_TEXT_TYPES} column" + (" (or a list of one)" if lists else "")
    raise TypeError(f"column {short(key, 80)} must be {what}, not {str(typ)[:60]}")


def _u64_column(key: str, obj: Any) -> tuple[Any, Any]:
    """(uint64 values, bool valid) of a filter-state column (out-of-range ints: no value)."""
    np = need_numpy()
    pa = _pyarrow()
    if type(obj) is list or type(obj) is tuple:
        vals = [v if type(v) is int and 0 <= v <= _M64 else None for v in obj]
        obj = pa.array(vals, type=pa.uint64())
    elif issubclass(type(obj), np.ndarray) and obj.ndim == 1 and obj.dtype.kind in "ui":
        data = np.asarray(obj)
        valid = data >= 0 if data.dtype.kind == "i" else np.ones(len(data), bool)
        valid &= ~np.ma.getmaskarray(obj)  # a masked row is null
        return np.where(valid, data, 0).astype(np.uint64), valid
    arr = _arrow_column(key, obj)
    t = pa.types
    if _is_null(arr.type):
        return np.zeros(len(arr), np.uint64), np.zeros(len(arr), bool)
    if not (t.is_uint64(arr.type) or t.is_int64(arr.type)):
        raise TypeError(
            f"column {short(key, 80)} must be a uint64 (or int64) column, not {str(arr.type)[:60]}"
        )
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    values = arr.fill_null(0).to_numpy(zero_copy_only=False)
    if t.is_int64(arr.type):
        valid &= values >= 0
    return np.where(valid, values, 0).astype(np.uint64), valid


class _Batch:
    """The columns of one ``hash_many`` call, read once, and the per-row views made on demand."""

    def __init__(self, columns: object) -> None:
        raw = _table_columns(columns)
        self.text: dict[str, Any] = {}  # "header:x" -> Arrow array, "path" -> ...
        self.cookies: dict[str, Any] = {}
        self.state: dict[str, tuple[Any, Any]] = {}
        self.addresses: dict[str, list[Any]] = {}
        self.keys: dict[tuple[str, str], str] = {}
        n: int | None = None
        for key, obj in raw.items():
            kind, name = parse_key(key)
            if (kind, name) in self.keys:
                raise ValueError(
                    f"columns {short(self.keys[kind, name], 80)} and {short(key, 80)} "
                    "name the same field (header names are case-insensitive)"
                )
            self.keys[kind, name] = key
            if kind == "filter_state":
                self.state[name] = _u64_column(key, obj)
                size = len(self.state[name][0])
            elif kind in ("remote_address", "local_address") and type(obj) in (list, tuple):
                self.addresses[key] = list(obj)  # read per row by Request's own rules
                size = len(obj)
            elif kind == "cookie":
                self.cookies[name] = _text_column(key, obj, False)
                size = len(self.cookies[name])
            else:
                self.text[key if kind != "header" else "header:" + name] = _text_column(
                    key, obj, kind == "header"
                )
                size = len(self.text[key if kind != "header" else "header:" + name])
            if n is not None and size != n:
                raise ValueError(
                    f"every column must have the same length: {short(key, 80)} has {size} "
                    f"rows, the ones before {n}"
                )
            n = size
        self.n = n or 0
        self._pylists: dict[str, list[Any]] = {}
        self._requests: list[Any] | None = None

    def ranges(self) -> list[tuple[int, int]]:
        """Row ranges [a, b) that lie within one chunk of every chunked column."""
        pa = sys.modules.get("pyarrow")
        cuts = {0, self.n}
        for arr in (*self.text.values(), *self.cookies.values()):
            if pa is not None and issubclass(type(arr), pa.ChunkedArray):
                end = 0
                for c in arr.chunks:
                    end += len(c)
                    cuts.add(end)
        edges = sorted(cuts)
        return [(a, b) for a, b in pairwise(edges) if b > a]

    def slice(self, a: int, b: int) -> _Batch:
        """The rows [a, b) (within one chunk of every chunked column), read in place."""
        part = _Batch.__new__(_Batch)
        part.text = {k: _rows_of(v, a, b) for k, v in self.text.items()}
        part.cookies = {k: _rows_of(v, a, b) for k, v in self.cookies.items()}
        part.state = {k: (v[a:b], ok[a:b]) for k, (v, ok) in self.state.items()}
        part.addresses = {k: v[a:b] for k, v in self.addresses.items()}
        part.keys = self.keys
        part.n = b - a
        part._pylists = {}
        part._requests = None
        return part

    def pylist(self, key: str) -> list[Any]:
        """The rows of text column *key* as bytes (list columns: lists of bytes), None if null."""
        got = self._pylists.get(key) or self.addresses.get(key)
        if got is None:
            arr = self.text.get(key)
            got = [None] * self.n if arr is None else arr.to_pylist()
            self._pylists[key] = got
        return got

    def values(self, key: str) -> list[list[bytes]]:
        """The header values of every row of column *key* (Request's ``_values``)."""
        out: list[list[bytes]] = []
        for v in self.pylist(key):
            if v is None:
                out.append([])
            elif type(v) is list:
                out.append([x for x in v if x is not None])
            else:
                out.append([v])
        return out

    def requests(self, kernels: Kernels) -> list[Any]:
        """One twin ``Request`` per row, holding every column (the per-row fallback)."""
        if self._requests is not None:
            return self._requests
        headers = [key for key in self.text if key.startswith("header:")]
        cols = {key: self.values(key) for key in headers}
        fields = {f: self.pylist(f) for f in FIELDS if f in self.text or f in self.addresses}
        states = list(self.state.items())
        out = []
        for i in range(self.n):
            hs = [(key[7:], v) for key in headers for v in cols[key][i]]
            state = {k: int(vals[i]) for k, (vals, ok) in states if ok[i]}
            kw = {f: rows[i] for f, rows in fields.items()}
            out.append(kernels.request(headers=hs, filter_state=state, **kw))
        self._requests = out
        return out


def _rows_of(arr: Any, a: int, b: int) -> Any:
    """Rows [a, b) of an Array, or of a ChunkedArray when they lie within one of its chunks."""
    pa = sys.modules["pyarrow"]
    if not issubclass(type(arr), pa.ChunkedArray):
        return arr.slice(a, b - a)
    start = 0
    for c in arr.chunks:
        if start <= a and b <= start + len(c):
            return c.slice(a - start, b - a)
        start += len(c)
    raise AssertionError("a row range crosses a chunk")  # pragma: no cover - ranges() cuts


# ---------------------------------------------------------------- methods


def _chain(values: list[bytes], seed: int, xxh64: Callable[[bytes, int], int]) -> int:
    if len(values) == 1:
        return xxh64(values[0], seed)
    h = seed
    for v in sorted(values):
        h = xxh64(v, h)
    return h


def _header(
    m: Any, batch: _Batch, seed: int, kernels: Kernels, np: Any, dst: Any
) -> tuple[Any, Any] | None:
    lname, _rewrite_key, _terminal, first_only = m._key()
    if lname in _PSEUDO:
        return None  # the request's fields or a pseudo-header: per row
    key = "header:" + lname.decode("utf-8", "surrogatepass")
    arr = batch.text.get(key)
    n = batch.n
    if arr is None or _is_null(arr.type):
        return np.zeros(n, np.uint64), np.zeros(n, bool)
    compiled = _cfg._compile_rewrite(m.regex_rewrite)
    if compiled is None and _is_text(arr.type):
        return kernels.text(arr, seed, dst)
    if compiled is None:
        return kernels.lists(arr, seed, first_only)
    rewrite = None if compiled is None else compiled[1]
    hashes = np.zeros(n, np.uint64)
    has = np.zeros(n, bool)
    for i, values in enumerate(batch.values(key)):
        if not values:
            continue
        if first_only:
            values = values[:1]
        if rewrite is not None:
            values = [rewrite(v) for v in values]
        hashes[i] = _chain(values, seed, kernels.xxh64)
        has[i] = True
    return hashes, has


def cookie_value(headers: list[bytes], name: bytes) -> bytes | None:
    """The first cookie called *name* in the ``cookie`` header values (Envoy's parser)."""
    for header in headers:
        if name not in header:
            continue
        for piece in header.split(b";"):
            eq = piece.find(b"=")
            if eq < 0:
                continue
            start = len(piece) - len(piece.lstrip(b" "))
            if piece[start:eq] == name:
                value = piece[eq + 1 :]
                if len(value) >= 2 and value[0] == 34 and value[-1] == 34:
                    value = value[1:-1]
                return value
    return None


def query_value(path: bytes | None, name: bytes) -> bytes | None:
    """The value of query parameter *name* in *path* (a bare ``name`` gives ``b""``)."""
    if path is None:
        return None
    q = path.find(b"?")
    if q < 0:
        return None
    for piece in path[q + 1 :].split(b"&"):
        eq = piece.find(b"=")
        if eq < 0:
            if piece == name:
                return b""
        elif piece[:eq] == name:
            return piece[eq + 1 :]
    return None


def _cookie(m: Any, batch: _Batch, seed: int, kernels: Kernels, np: Any) -> tuple[Any, Any]:
    _name, raw = _cfg._check_cookie_name(m.name)
    n = batch.n
    given = batch.cookies.get(m.name)
    header = batch.text.get("header:cookie")
    if given is not None:
        if _is_null(given.type):
            hashes, has = np.zeros(n, np.uint64), np.zeros(n, bool)
        else:
            hashes, has = kernels.value(given, seed)
    elif header is None or _is_null(header.type):
        hashes, has = np.zeros(n, np.uint64), np.zeros(n, bool)
    elif _is_text(header.type):
        hashes, has = kernels.cookie(header, raw, seed)
    else:
        hashes, has = np.zeros(n, np.uint64), np.zeros(n, bool)
        for i, values in enumerate(batch.values("header:cookie")):
            value = cookie_value(values, raw)
            if value:
                hashes[i] = kernels.xxh64(value, seed)
                has[i] = True
    if m.ttl is not None and not has.all():
        remote = batch.pylist("remote_address")
        local = batch.pylist("local_address")
        for i in np.flatnonzero(~has).tolist():
            generated = _cfg._generate_cookie(remote[i], local[i])
            if generated is not None:
                hashes[i] = kernels.xxh64(generated, seed)
                has[i] = True
    hashes[~has] = 0
    return hashes, has


def _lengths(arr: Any, np: Any) -> Any:
    """The byte length of every row of a validated binary array (from its offsets or views)."""
    t = sys.modules["pyarrow"].types
    n, off, bufs = len(arr), arr.offset, arr.buffers()
    if n == 0:
        return np.zeros(0, np.int64)
    if t.is_binary_view(arr.type):
        return np.frombuffer(bufs[1], np.int32)[4 * off : 4 * (off + n) : 4].astype(np.int64)
    offsets = np.frombuffer(bufs[1], np.int32 if t.is_binary(arr.type) else np.int64)
    return np.diff(offsets[off : off + n + 1].astype(np.int64))


def _query(m: Any, batch: _Batch, seed: int, kernels: Kernels, np: Any) -> tuple[Any, Any] | None:
    if any(key in batch.text for key in ("header::path",)):
        return None  # a :path pseudo-header column: per row, as Request reads it
    _name, raw = _cfg._check_name(m.name, "QueryParameter")
    arr = batch.text.get("path")
    n = batch.n
    if arr is None or _is_null(arr.type):
        return np.zeros(n, np.uint64), np.zeros(n, bool)
    return kernels.query(arr, raw, seed)


def _source_ip(m: Any, batch: _Batch, seed: int, kernels: Kernels) -> tuple[Any, Any]:
    remotes = batch.pylist("remote_address")
    xffs = batch.values("header:x-forwarded-for")
    hops, use_remote = m.xff_num_trusted_hops, m.use_remote_address
    return kernels.source_ip(remotes, xffs, hops, use_remote, seed)


def _filter_state(m: Any, batch: _Batch, np: Any) -> tuple[Any, Any]:
    got = batch.state.get(m.key)
    if got is None:
        return np.zeros(batch.n, np.uint64), np.zeros(batch.n, bool)
    return got[0].copy(), got[1].copy()


def _per_row(
    m: Any, batch: _Batch, seed: int, kernels: Kernels, np: Any, todo: Any
) -> tuple[Any, Any]:
    """The method's hash of each row in *todo* (None: every row), through the twin's scalar path."""
    single = kernels.policy(m, seed=seed)
    requests = batch.requests(kernels)
    hashes = np.zeros(batch.n, np.uint64)
    has = np.zeros(batch.n, bool)
    rows = range(batch.n) if todo is None else np.flatnonzero(todo).tolist()
    for i in rows:
        h = single.hash(requests[i])
        if h is not None:
            hashes[i] = h
            has[i] = True
    return hashes, has


def _method(
    m: Any, batch: _Batch, seed: int, kernels: Kernels, np: Any, todo: Any, dst: Any
) -> tuple[Any, Any]:
    name = next(c.__name__ for c in type(m).__mro__ if c in kernels.methods)
    got: tuple[Any, Any] | None = None
    if name == "Header":
        got = _header(m, batch, seed, kernels, np, dst)
    elif name == "Cookie":
        got = _cookie(m, batch, seed, kernels, np)
    elif name == "QueryParameter":
        got = _query(m, batch, seed, kernels, np)
    elif name == "FilterState":
        got = _filter_state(m, batch, np)
    elif name == "SourceIP":
        got = _source_ip(m, batch, seed, kernels)
    if got is None:
        got = _per_row(m, batch, seed, kernels, np, todo)
    return got


def hash_many(policy: Any, columns: object, out: Any, kernels: Kernels) -> tuple[Any, Any]:
    """``policy.hash_many(columns, out=out)``: (uint64 hashes, bool no_hash) of every row."""
    np = need_numpy()
    policies = policy.policies  # an uninitialised policy raises here, before any column
    seed = policy.seed
    batch = _Batch(columns)
    ranges = batch.ranges()
    if len(ranges) <= 1:
        return _run(policies, seed, batch, out, kernels, np)
    res = output(batch.n, out, "uint64")
    no_hash = np.empty(batch.n, bool)
    for a, b in ranges:  # chunked columns: each range is read in place
        no_hash[a:b] = _run(policies, seed, batch.slice(a, b), res[a:b], kernels, np)[1]
    return res, no_hash


def _run(
    policies: tuple[Any, ...], seed: int, batch: _Batch, out: Any, kernels: Kernels, np: Any
) -> tuple[Any, Any]:
    """The policy's (hashes, no_hash) of every row of *batch*, the hashes into *out* if given."""
    n = batch.n
    if not policies:
        empty = output(n, out, "uint64")
        empty.fill(0)
        return empty, np.ones(n, bool)
    res = None if out is None else output(n, out, "uint64")
    first, *rest = policies
    # The first method's hashes are the policy's (no fold), written into out if given.
    v, has = _method(first, batch, seed, kernels, np, None, res)
    v = np.ascontiguousarray(v, np.uint64)
    if res is None:
        res = v if v.flags.writeable and v.base is None else v.copy()
    elif v is not res:
        res[:] = v
    have = np.array(has, bool)
    done = have.copy() if first.terminal else np.zeros(n, bool)
    for m in rest:
        todo = ~done
        if not todo.any():
            break
        v, has = _method(m, batch, seed, kernels, np, todo, None)
        v = np.ascontiguousarray(v, np.uint64)
        has = np.ascontiguousarray(has, bool)
        kernels.fold(res, have, done, v, has, bool(m.terminal))
    return res, np.logical_not(have, out=have)


def fold_py(h: Any, have: Any, done: Any, v: Any, has: Any, terminal: bool) -> None:
    """The pure kernel of ``Kernels.fold`` (numpy)."""
    np = need_numpy()
    has = has & ~done
    both = has & have
    rot = (h << np.uint64(1)) | (h >> np.uint64(63))
    h[:] = np.where(both, rot ^ v, np.where(has, v, h))
    have |= has
    if terminal:
        done |= have


def list_hashes_py(arr: Any, seed: int, first_only: bool) -> tuple[Any, Any]:
    """The pure kernel of ``Kernels.lists``: Envoy's multi-valued header rule per row."""
    import xxhash

    np = need_numpy()
    hashes = np.zeros(len(arr), np.uint64)
    has = np.zeros(len(arr), bool)
    for i, cell in enumerate(arr.to_pylist()):
        values = [v for v in cell or () if v is not None]
        if values:
            hashes[i] = _chain(values[:1] if first_only else values, seed, xxhash.xxh64_intdigest)
            has[i] = True
    return hashes, has


def value_hashes_py(arr: Any, seed: int) -> tuple[Any, Any]:
    """The pure kernel of ``Kernels.value``: xxh64 of every non-empty row."""
    hashes, has = text_hashes_py(arr, seed, None)
    has &= _lengths(arr, need_numpy()) > 0
    hashes[~has] = 0
    return hashes, has


def text_hashes_py(arr: Any, seed: int, dst: Any) -> tuple[Any, Any]:
    """The pure kernel of ``Kernels.text``: xxh64 of every row of a binary array."""
    from ._columns import py_check, py_hashes

    np = need_numpy()
    chunks = key_columns(arr) or []
    hashes = np.zeros(len(arr), np.uint64) if dst is None else dst
    null = np.ones(len(arr), bool)
    base = 0
    for chunk in chunks:
        py_check(chunk, base)
        hashes[base : base + chunk[1]], null[base : base + chunk[1]] = py_hashes(chunk, seed)
        base += chunk[1]
    return hashes, ~null


def _rows_py(arr: Any) -> list[Any]:
    return list(arr.to_pylist())


def cookie_hashes_py(arr: Any, name: bytes, seed: int) -> tuple[Any, Any]:
    """The pure kernel of ``Kernels.cookie``."""
    import xxhash

    np = need_numpy()
    hashes = np.zeros(len(arr), np.uint64)
    has = np.zeros(len(arr), bool)
    for i, header in enumerate(_rows_py(arr)):
        if header is not None:
            value = cookie_value([header], name)
            if value:
                hashes[i] = xxhash.xxh64_intdigest(value, seed)
                has[i] = True
    return hashes, has


def query_hashes_py(arr: Any, name: bytes, seed: int) -> tuple[Any, Any]:
    """The pure kernel of ``Kernels.query``."""
    import xxhash

    np = need_numpy()
    hashes = np.zeros(len(arr), np.uint64)
    has = np.zeros(len(arr), bool)
    for i, path in enumerate(_rows_py(arr)):
        value = query_value(path, name)
        if value is not None:
            hashes[i] = xxhash.xxh64_intdigest(value, seed)
            has[i] = True
    return hashes, has
