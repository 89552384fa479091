"""Where many requests go: :class:`RouteBatch`, what :meth:`Router.route_many` returns.

A batch holds one row per request, as numpy arrays: the subset index
(into :attr:`RouteBatch.names`), the host index (into
:attr:`RouteBatch.hosts`, :data:`hashlb.NO_HOST` where the chosen subset
had no host to give), the hash the subset's table looked up and whether the
request had no hash of its own (the lookup hash is then random, as Envoy's).
:meth:`RouteBatch.to_arrow` and :meth:`RouteBatch.to_pandas` give the same
rows as a table with dictionary-encoded (categorical) names.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._columns import NO_HOST, need_numpy
from ._types import Host

__all__ = ("RouteBatch",)


def _column(np: Any, value: object, dtype: str, field: str, n: int | None) -> Any:
    arr = np.asarray(value)
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
        raise TypeError(
            f"RouteBatch {field} must be a 1-D {dtype} array, not {str(arr.dtype)[:40]}"
        )
    if n is not None and len(arr) != n:
        raise ValueError(f"RouteBatch {field} has {len(arr)} rows, subset has {n}")
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


class RouteBatch:
    """Where each request of a batch goes: subset, host, lookup hash, no-hash flag.

    :param subset: uint32 array: row *i*'s subset is ``names[subset[i]]``.
    :param host: uint32 array: row *i*'s host is ``hosts[host[i]]``, or
        :data:`hashlb.NO_HOST` where the chosen subset (a
        :class:`~hashlb.Cluster` level without hosts, Envoy's "no healthy
        upstream") had none.
    :param hash: uint64 array: the hash the subset's table looked up (a
        random one where *no_hash*).
    :param no_hash: bool array: True where the policy yielded no hash.
    :param names: the subset names (``Router.picker.names``).
    :param hosts: the router's hosts (``Router.hosts``).

    The arrays are read-only.  Batches compare equal when every array and
    both name lists are equal, and pickle with their arrays.

    >>> import numpy as np
    >>> from hashlb import Host, Router
    >>> from hashlb.policy import HashPolicy, Header
    >>> hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a" if i < 3 else "b"}) for i in range(4)]
    >>> router = Router(hosts, subsets={"a": {"v": "a"}, "b": {"v": "b"}},
    ...                 weights={"a": 50, "b": 50}, policy=HashPolicy(Header("x-user")),
    ...                 balancer="maglev")
    >>> batch = router.route_many(keys=["alice", None, "bob"], rng=np.random.default_rng(7))
    >>> len(batch), batch.no_hash.tolist()
    (3, [False, True, False])
    >>> [batch.names[s] for s in batch.subset] == [router.route_hash(int(h)).subset
    ...                                             for h in batch.hash]
    True
    >>> batch.to_arrow().column_names
    ['subset', 'endpoint', 'hash', 'no_hash']
    """

    __slots__ = ("_hash", "_host", "_hosts", "_names", "_no_hash", "_subset")

    @classmethod
    def _trusted(
        cls, subset: Any, host: Any, hash: Any, no_hash: Any, names: Any, hosts: Any
    ) -> RouteBatch:
        """A batch of arrays the router made (checked by construction; made read-only here)."""
        self = cls.__new__(cls)
        for arr in (subset, host, hash, no_hash):
            arr.flags.writeable = False
        self._subset, self._host, self._hash, self._no_hash = subset, host, hash, no_hash
        self._names, self._hosts = tuple(names), tuple(hosts)
        return self

    def __init__(
        self,
        subset: Any,
        host: Any,
        hash: Any,
        no_hash: Any,
        names: tuple[str, ...],
        hosts: tuple[Host, ...],
    ) -> None:
        np = need_numpy()
        s = _column(np, subset, "uint32", "subset", None)
        n = len(s)
        self._subset = s
        self._host = _column(np, host, "uint32", "host", n)
        self._hash = _column(np, hash, "uint64", "hash", n)
        self._no_hash = _column(np, no_hash, "bool", "no_hash", n)
        self._names = tuple(names)
        self._hosts = tuple(hosts)
        if n and int(s.max()) >= len(self._names):
            raise ValueError("RouteBatch subset has an index past the end of names")
        h = self._host
        if n and int(np.where(h == NO_HOST, 0, h).max()) >= max(len(self._hosts), 1):
            raise ValueError("RouteBatch host has an index past the end of hosts")

    @property
    def subset(self) -> Any:
        """uint32 array: the subset index of each row (into ``names``)."""
        return self._subset

    @property
    def host(self) -> Any:
        """uint32 array: the host index of each row (into ``hosts``), or ``NO_HOST``."""
        return self._host

    @property
    def hash(self) -> Any:
        """uint64 array: the hash each row's table looked up (random where ``no_hash``)."""
        return self._hash

    @property
    def no_hash(self) -> Any:
        """bool array: True where the policy yielded no hash (the lookup hash is random)."""
        return self._no_hash

    @property
    def names(self) -> tuple[str, ...]:
        """The subset names that ``subset`` indexes."""
        return self._names

    @property
    def hosts(self) -> tuple[Host, ...]:
        """The hosts that ``host`` indexes (the router's, in its order)."""
        return self._hosts

    def __len__(self) -> int:
        return len(self._subset)

    def to_arrow(self) -> Any:
        """Return a ``pyarrow.Table`` of the rows.

        Columns: ``subset`` (dictionary of the subset names), ``endpoint``
        (dictionary of the host addresses, null where the host is
        ``NO_HOST``), ``hash`` (uint64) and ``no_hash`` (bool).

        :raises ImportError: pyarrow is not installed.
        """
        try:
            import pyarrow as pa
        except ImportError:
            raise ImportError(
                "RouteBatch.to_arrow needs pyarrow: pip install 'hashlb[columns]'"
            ) from None
        np = need_numpy()
        none = self._host == NO_HOST
        subset = pa.DictionaryArray.from_arrays(
            pa.array(self._subset.astype(np.int32)), pa.array(list(self._names), pa.string())
        )
        endpoint = pa.DictionaryArray.from_arrays(
            pa.array(np.where(none, 0, self._host).astype(np.int32), mask=none),
            pa.array([h.address for h in self._hosts], pa.string()),
        )
        return pa.table(
            {
                "subset": subset,
                "endpoint": endpoint,
                "hash": pa.array(self._hash, pa.uint64()),
                "no_hash": pa.array(self._no_hash, pa.bool_()),
            }
        )

    def to_pandas(self) -> Any:
        """Return a ``pandas.DataFrame`` of the rows, the columns of ``to_arrow()``.

        ``subset`` and ``endpoint`` are categoricals (an ``endpoint`` of
        ``NO_HOST`` is missing).

        :raises ImportError: pandas is not installed.
        """
        try:
            pd: Any = importlib.import_module("pandas")  # optional: no stubs needed
        except ImportError:
            raise ImportError("RouteBatch.to_pandas needs pandas") from None
        np = need_numpy()
        codes = self._host.astype(np.int64)
        codes[self._host == NO_HOST] = -1  # a missing category (NEP 50: no -1 in uint32)
        return pd.DataFrame(
            {
                "subset": pd.Categorical.from_codes(
                    self._subset.astype(np.int64), categories=list(self._names)
                ),
                "endpoint": pd.Categorical.from_codes(
                    codes, categories=[h.address for h in self._hosts]
                ),
                "hash": self._hash,
                "no_hash": self._no_hash,
            }
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RouteBatch):
            return NotImplemented
        np = need_numpy()
        return (
            self._names == other._names
            and self._hosts == other._hosts
            and np.array_equal(self._subset, other._subset)
            and np.array_equal(self._host, other._host)
            and np.array_equal(self._hash, other._hash)
            and np.array_equal(self._no_hash, other._no_hash)
        )

    __hash__ = None  # type: ignore[assignment]  # arrays: mutable-sized, compared by value

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            RouteBatch,
            (self._subset, self._host, self._hash, self._no_hash, self._names, self._hosts),
        )

    def __repr__(self) -> str:
        return (
            f"<RouteBatch {len(self)} rows, {len(self._names)} subsets, "
            f"{len(self._hosts)} hosts, {int(self._no_hash.sum())} without a hash>"
        )
