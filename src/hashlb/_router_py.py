"""The router's per-request hot path, pure Python: the typed twin of ``_router_c.pyx``.

:class:`Route` is what :meth:`hashlb.Router.route` returns; ``_RouteCore`` is
the hot path :class:`~hashlb.Router` binds as its ``route`` and
``route_hash``: the policy hash, the subset from this twin's
:class:`~hashlb.WeightedSubsetPicker`, the host from the subset's table.  Keep
names and signatures identical to the compiled twin; the docstrings both
share live in ``_router_doc.py`` (``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._docstrings import attach as _attach_docs
from ._router_doc import DOCS as _DOCS
from ._slots import slot_property, uninitialised_getattr
from ._subset_config import check_u64 as _check_u64
from ._subset_py import WeightedSubsetPicker
from ._types import Host
from ._validate import uninitialised

__all__ = ("Route",)


class Route:
    __slots__ = ("_hash", "_host", "_lookup_hash", "_set_cookie", "_subset")

    def __init__(
        self,
        subset: str,
        host: Host | None,
        hash: int | None,
        set_cookie: str | None,
        lookup_hash: int,
    ) -> None:
        self._subset = subset
        self._host = host
        self._hash = hash
        self._set_cookie = set_cookie
        self._lookup_hash = lookup_hash

    subset: str = slot_property("_subset")
    host: Host | None = slot_property("_host")
    hash: int | None = slot_property("_hash")
    set_cookie: str | None = slot_property("_set_cookie")
    lookup_hash: int = slot_property("_lookup_hash")

    if not TYPE_CHECKING:  # typed code sees only the real attributes
        __getattr__ = uninitialised_getattr(
            "Route", ("subset", "host", "hash", "set_cookie", "lookup_hash")
        )

    def _fields(self) -> tuple[Any, ...]:
        try:
            return (self._subset, self._host, self._hash, self._set_cookie, self._lookup_hash)
        except AttributeError:
            raise uninitialised(self, "Route") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fields())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Route):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Route, self._fields())

    def __repr__(self) -> str:
        try:
            subset, host, h, cookie, lh = self._fields()
        except TypeError:
            return "<Route object (not initialised)>"
        return (
            f"Route(subset={subset!r}, host={host!r}, hash={h!r}, "
            f"set_cookie={cookie!r}, lookup_hash={lh!r})"
        )


def _table_lookup(
    lookup: Callable[[int], Any], view: Any, size: int, hosts: tuple[Any, ...]
) -> Callable[[int], Any]:
    """Return ``lookup``, or for a Maglev table ``h -> hosts[table[h % size]]`` (spec §5.3)."""
    if view is None:
        return lookup
    view = memoryview(view)
    if (
        view.format not in ("H", "I")
        or view.ndim != 1
        or len(view) != size
        or size == 0
        or not view.c_contiguous
    ):
        raise ValueError("a Maglev table must be a non-empty H or I memoryview of table_size items")

    def maglev_lookup(h: int) -> Any:
        return hosts[view[h % size]]

    return maglev_lookup


class _RouteCore:
    """The per-request hot path of :class:`~hashlb.Router` (compiled in the C twin).

    :param hash_fn: ``policy.hash`` (returns int or None), ``policy.evaluate``
        when *generates* (returns a HashResult), or None for no policy.
    :param generates: whether *hash_fn* is ``evaluate``.
    :param picker: this twin's :class:`~hashlb.WeightedSubsetPicker`.
    :param tables: per name of the picker, ``(lookup, maglev_table,
        table_size, hosts)``: the table's ``lookup``; for a Maglev, its
        ``table`` memoryview, size and hosts (the C twin then indexes the
        table itself: ``hosts[table[h % size]]``, spec §5.3), else None.
    :param getrandbits: ``rng.getrandbits``.
    :param sticky: choose the subset from the route hash (sticky mode), else
        from the weighted-cluster value (envoy mode).
    :param value_fn: envoy mode: ``value_fn(request, h) -> int``, the
        weighted-cluster value (header or hash policy); None for a random
        value from *getrandbits* (Envoy's default).
    """

    __slots__ = (
        "_choose",
        "_generates",
        "_getrandbits",
        "_hash_fn",
        "_lookups",
        "_names",
        "_sticky",
        "_value_fn",
    )

    def __init__(
        self,
        hash_fn: Callable[[Any], Any] | None,
        generates: bool,
        picker: WeightedSubsetPicker,
        tables: tuple[tuple[Any, Any, int, Any], ...],
        getrandbits: Callable[[int], int],
        sticky: bool,
        value_fn: Callable[[Any, int | None], int] | None,
    ) -> None:
        if hasattr(self, "_choose"):
            raise TypeError("_RouteCore is immutable; __init__ cannot run twice")
        if not isinstance(picker, WeightedSubsetPicker):
            raise TypeError("picker must be the pure WeightedSubsetPicker")
        tables = tuple(tables)  # a snapshot, as in the compiled twin
        if len(tables) != len(picker.names):  # the picker's index selects a table
            raise ValueError(
                f"tables must have one entry per subset ({len(picker.names)}), got {len(tables)}"
            )
        self._hash_fn = hash_fn
        self._sticky = bool(sticky)
        self._generates = bool(generates)
        self._names = picker.names
        self._lookups = tuple(_table_lookup(*t) for t in tables)
        self._getrandbits = getrandbits
        self._value_fn = value_fn
        self._choose = picker.choose_index  # last: until then the core is unusable

    def _draw(self, request: Any, h: int | None) -> int | None:
        """The subset value when none is given: None (sticky), random, or the configured one."""
        if self._sticky:
            return None
        if self._value_fn is None:
            return self._getrandbits(64)
        return self._value_fn(request, h)

    def _place(self, h: int | None, value: Any, cookie: str | None) -> Route:
        """Choose the subset (from *h*, or envoy mode's *value*) and the host; build the Route.

        Envoy mode draws a random lookup hash (for ``h is None``) *after* its value.
        """
        if self._sticky:
            lh = self._getrandbits(64) if h is None else h
            i = self._choose(lh)
        else:
            i = self._choose(value)
            lh = self._getrandbits(64) if h is None else h
        return Route(self._names[i], self._lookups[i](lh), h, cookie, lh)

    def route(self, request: Any, /) -> Route:
        """Return where *request* goes (see :meth:`hashlb.Router.route`)."""
        try:
            hash_fn = self._hash_fn
            self._choose  # noqa: B018 - set last by __init__
        except AttributeError:
            raise uninitialised(self, "_RouteCore") from None
        cookie = None
        if hash_fn is None:
            h = None
        elif self._generates:
            result = hash_fn(request)
            h = result.hash
            cookie = result.set_cookie
        else:
            h = hash_fn(request)
        return self._place(h, self._draw(request, h), cookie)

    def route_hash(self, /, hash: int | None, value: int | None = None) -> Route:
        """Route a pre-computed hash (see :meth:`hashlb.Router.route_hash`)."""
        h = None if hash is None else _check_u64(hash, "hash")
        try:
            self._choose  # noqa: B018 - set last by __init__
        except AttributeError:
            raise uninitialised(self, "_RouteCore") from None
        if value is None or self._sticky:  # sticky mode places by the hash alone
            return self._place(h, self._draw(None, h), None)
        return self._place(h, _check_u64(value, "value"), None)


#: The host index of a row with no host (``hashlb.cluster.NO_HOST``).
_NO_HOST = 0xFFFFFFFF


class _BatchPlan:
    """The batch pass of ``Router.route_many`` (compiled and fused in the C twin).

    :param picker: this twin's :class:`~hashlb.WeightedSubsetPicker`.
    :param tables: per name of the picker, ``(table, maglev_table, index)``:
        the subset's table or None (no hosts), its Maglev ``table``
        memoryview or None, and a uint32 numpy array mapping the table's
        host index to the router's.  This twin indexes Maglev tables with
        numpy and leaves every other table's rows to the caller (:attr:`slow`);
        the C twin also searches its compiled rings itself.
    """

    __slots__ = ("_index", "_picker", "_slow", "_tabs")

    def __init__(self, picker: WeightedSubsetPicker, tables: Any) -> None:
        if hasattr(self, "_picker"):
            raise TypeError("_BatchPlan is immutable; __init__ cannot run twice")
        if not isinstance(picker, WeightedSubsetPicker):
            raise TypeError("picker must be the pure WeightedSubsetPicker")
        import numpy as np

        tables = tuple(tables)
        if len(tables) != len(picker.names):
            raise ValueError(
                f"tables must have one entry per subset ({len(picker.names)}), got {len(tables)}"
            )
        tabs: list[Any] = []
        index: list[Any] = []
        slow: list[int] = []
        for i, (table, view, idx) in enumerate(tables):
            if table is None:
                tabs.append(None)
                index.append(None)
                continue
            if view is None:
                slow.append(i)
                tabs.append(None)
                index.append(None)
                continue
            view = memoryview(view)
            if view.format not in ("H", "I") or view.ndim != 1 or len(view) == 0:
                raise ValueError("a Maglev table must be a non-empty H or I memoryview")
            tabs.append(np.frombuffer(view, dtype=np.uint32 if view.format == "I" else np.uint16))
            index.append(np.asarray(idx, dtype=np.uint32))
        self._tabs = tuple(tabs)
        self._index = tuple(index)
        self._slow = tuple(slow)
        self._picker = picker  # last: until then the plan is unusable

    @property
    def slow(self) -> tuple[int, ...]:
        """The positions of the subsets whose rows ``route`` leaves to the caller."""
        try:
            return self._slow
        except AttributeError:
            raise uninitialised(self, "_BatchPlan") from None

    def route(self, hashes: Any, values: Any, subsets: Any, hosts: Any) -> None:
        """Write the subset and host index of every row into *subsets* and *hosts*.

        As the C twin: rows of a subset in :attr:`slow` get ``NO_HOST``.
        """
        import numpy as np

        try:
            picker = self._picker
        except AttributeError:
            raise uninitialised(self, "_BatchPlan") from None
        n = len(hashes)
        if len(values) != n or len(subsets) != n or len(hosts) != n:
            raise ValueError("hashes, values, subsets and hosts differ in length")
        subsets[:] = picker.choose_many(values)
        hosts[:] = _NO_HOST
        for i, tab in enumerate(self._tabs):
            if tab is None:
                continue
            rows = np.flatnonzero(subsets == i)
            if not len(rows):
                continue
            local = tab[hashes[rows] % np.uint64(len(tab))].astype(np.intp)
            index = self._index[i]
            if len(local) and int(local.max()) >= len(index):
                raise IndexError("a table holds a host index out of range")
            hosts[rows] = index[local]


_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
