"""The streaming form of :mod:`hashlb.diff`: batches of placements in, exact reports out.

:class:`DiffTally` counts the requests of a diff batch by batch (a Parquet or
CSV log read in record batches, for example) as one row per distinct
``(user, path)``, a *path* being the placements of one request under every
configuration, so its memory is bounded by the users (times the paths each
takes, one for most users), not by the requests.  :meth:`DiffTally.reports`
gives the same :class:`~hashlb.diff.DiffReport` objects as
:func:`hashlb.diff.diff_steps` over the same requests, float for float: both
reduce to the requests per ``(path, requests of the user)`` and
:func:`hashlb.diff.path_reports` makes the figures from those integers alone.

:func:`diff_columns` is the library entry point for :class:`hashlb.Router`
objects over batches of request fields (:func:`hashlb.replay.read_requests`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._validate import MAX_REPLAY_USERS, check_max_keys
from ._validate import short as _short

if TYPE_CHECKING:
    from .diff import DiffReport, Placement

__all__ = ("DiffTally", "diff_columns")

Configured = Sequence[tuple[Mapping[Any, float], Mapping[Any, float]] | None] | None


class DiffTally:
    """Requests per ``(user, path)`` over a stream of batches, for exact diff reports.

    Feed it with :meth:`add`: each batch's users and, per configuration, the
    placement id of each request (ids of one shared numbering, e.g.
    :class:`hashlb._diffbatch.PlacementIds`).  Batches are kept as they come
    until they outnumber the rows kept (at least a million requests), then
    grouped by user and path at once; a user is its id in a key index on the
    names themselves (exact), so memory stays bounded by the distinct
    ``(user, path)`` pairs.

    :param configs: the number of configurations (at least two).
    :param max_users: refuse more distinct users than this.
    """

    __slots__ = (
        "_configs",
        "_index",
        "_max_users",
        "_parts",
        "_paths",
        "_pending",
        "_state",
        "requests",
    )

    def __init__(self, configs: int, *, max_users: int = MAX_REPLAY_USERS) -> None:
        from .keyindex import KeyIndex
        from .replay import require_pyarrow

        require_pyarrow()
        if isinstance(configs, bool) or not isinstance(configs, int) or configs < 2:
            raise ValueError(f"a diff needs at least two configurations, got {_short(configs)}")
        check_max_keys(max_users, "max_users")
        self._configs = configs
        self._max_users = max_users
        self._index = KeyIndex(max_keys=max_users)
        #: path (one placement id per configuration) -> path id
        self._paths: dict[tuple[int, ...], int] = {}
        self._state: Any = None  # a pyarrow Table (u: user id, p, c), one row per (user, path)
        self._parts: list[Any] = []
        self._pending = 0
        #: Requests counted so far.
        self.requests = 0

    def __repr__(self) -> str:
        return f"DiffTally(configs={self._configs}, requests={self.requests})"

    def add(self, users: Any, placements: Sequence[Any]) -> None:
        """Count one batch: *users* (Arrow or numpy text or integers, or a list; a null is
        one user of its own) and one array of placement ids per configuration.

        :raises ValueError: not one array per configuration, arrays of
            different lengths or negative ids.
        :raises InputError: more than *max_users* distinct users (the batch
            is not counted).
        """
        import numpy as np

        from ._diffbatch import _compact
        from .replay import _index_users, _user_array, require_pyarrow

        pa = require_pyarrow()
        u = _user_array(pa, users)
        n = len(u)
        if len(placements) != self._configs:
            raise ValueError(
                f"expected {self._configs} placement arrays (one per configuration), "
                f"got {len(placements)}"
            )
        p = np.empty((self._configs, n), dtype=np.int64)
        for k, x in enumerate(placements):
            a = np.asarray(x)
            if a.ndim != 1 or len(a) != n:
                got = f"{len(a)} items" if a.ndim == 1 else f"shape {a.shape}"
                raise ValueError(f"placement array {k} has {got}, users has {n}")
            if n and (a.dtype.kind not in "iu" or int(a.min()) < 0):
                raise ValueError(f"placement array {k} must hold ids >= 0, got {a.dtype}")
            p[k] = a
        if n == 0:
            return
        # one code per distinct path in the batch, folded in configuration by configuration
        width = int(p.max()) + 1
        code = p[0]
        for k in range(1, self._configs):
            _, local = _compact(code, int(code.max()) + 1)
            code = local * width + p[k]
        uid = _index_users(self._index, u, self._max_users)
        uniq, inverse = _compact(code, int(code.max()) + 1)
        row_of = np.empty(len(uniq), dtype=np.int64)
        row_of[inverse] = np.arange(n)  # a row of each path (any: they all hold it)
        ids = np.empty(len(uniq), dtype=np.int64)
        for j, row in enumerate(row_of.tolist()):
            path = tuple(p[:, row].tolist())
            ids[j] = self._paths.setdefault(path, len(self._paths))
        self.requests += n
        self._parts.append(pa.table({"u": uid, "p": ids[inverse], "c": np.ones(n, dtype=np.int64)}))
        self._pending += n
        kept = 0 if self._state is None else self._state.num_rows
        if self._pending > max(kept, 1 << 20):
            self._compact()

    def _compact(self) -> None:
        """Group the rows kept by user and path: the state, sorted by user code."""
        import numpy as np
        import pyarrow as pa

        from ._diffbatch import _compact

        if not self._parts:
            return
        parts = ([self._state] if self._state is not None else []) + self._parts
        table = pa.concat_tables(parts)
        uid = np.asarray(table.column("u"), dtype=np.int64)
        users = len(self._index)
        pid = np.asarray(table.column("p"), dtype=np.int64)
        cnt = np.asarray(table.column("c"), dtype=np.int64)
        span = max(len(self._paths), 1)
        if users * span < 1 << 62:
            keys, inverse = _compact(uid * span + pid, users * span)
            u_of, p_of = keys // span, keys % span
        else:  # pragma: no cover - more than 2**62 (user, path) codes
            both = np.stack([uid, pid], axis=1)
            keys2, inverse = np.unique(both, axis=0, return_inverse=True)
            u_of, p_of = keys2[:, 0], keys2[:, 1]
        counts = np.bincount(inverse.reshape(-1), weights=cnt, minlength=len(u_of))
        counts = counts.astype(np.int64)
        self._state = pa.table({"u": u_of, "p": p_of, "c": counts})
        self._parts = []
        self._pending = 0

    def reports(
        self, names: Sequence[Placement], *, configured: Configured = None
    ) -> list[DiffReport]:
        """Return one :class:`~hashlb.diff.DiffReport` per consecutive pair of configurations.

        :param names: the placement ``(subset, pod)`` of each placement id.
        :param configured: per step, the configured shares of both sides (or None).
        """
        import numpy as np

        from ._diffbatch import _compact
        from .diff import path_reports

        self._compact()
        steps = self._configs - 1
        if self._state is None:
            return path_reports(names, {}, 0, [0] * steps, [0] * steps, configured=configured)
        uid = np.asarray(self._state.column("u"), dtype=np.int64)  # ascending: sorted by it
        n_users = int(uid[-1]) + 1 if len(uid) else 0
        pid = np.asarray(self._state.column("p"), dtype=np.int64)
        cnt = np.asarray(self._state.column("c"), dtype=np.int64)
        per_user = np.bincount(uid, weights=cnt, minlength=n_users).astype(np.int64)
        n_row = per_user[uid]
        # requests per (path, requests of the user): everything the shares need
        span = int(n_row.max()) + 1
        uk, inv = _compact(pid * span + n_row, len(self._paths) * span)
        sums = np.bincount(inv, weights=cnt, minlength=len(uk)).astype(np.int64)
        paths = list(self._paths)
        tally = {
            (paths[k // span], k % span): int(s)
            for k, s in zip(uk.tolist(), sums.tolist(), strict=True)
        }
        # cumulative: users whose placements (subsets) over configurations 0 .. k differ
        table = np.array(paths, dtype=np.int64).reshape(len(paths), self._configs)
        subset_codes: dict[Any, int] = {}
        sub_of = np.array([subset_codes.setdefault(s, len(subset_codes)) for s, _ in names])
        starts = np.flatnonzero(np.r_[True, np.diff(uid) != 0])  # uid is ascending
        several: list[list[int]] = []
        for codes in (table, sub_of[table]):
            rows = codes[pid]
            lo = np.minimum.reduceat(np.minimum.accumulate(rows, axis=1), starts, axis=0)
            hi = np.maximum.reduceat(np.maximum.accumulate(rows, axis=1), starts, axis=0)
            several.append(
                [int(np.count_nonzero(lo[:, k] != hi[:, k])) for k in range(1, steps + 1)]
            )
        return path_reports(names, tally, n_users, several[0], several[1], configured=configured)


def diff_columns(
    routers: Sequence[Any], batches: Iterable[Any], *, configured: Configured = None
) -> list[DiffReport]:
    """Route batches of request fields under every router; one report per consecutive pair.

    The columnar form of :func:`hashlb.diff.diff_steps` for :class:`hashlb.Router`
    objects: each batch (a :class:`pyarrow.RecordBatch` of request fields, as
    :func:`hashlb.replay.read_requests` yields) is routed by every router with
    :func:`hashlb.replay.route_columns` (the router's whole hash policy over the
    columns, its random draws in ``route()``'s order), without a Python object
    per request.  A placement is ``(subset, host address)``.  The user of a
    request is its ``user`` column; without one, each request is its own user.
    A null in the ``user`` column is one user, ``None``, as in
    :class:`hashlb.replay.Stickiness` (``hashlb diff`` names such a row by its
    request fields instead: give every row a user to get the same figures).
    Memory is bounded by the distinct users (see :class:`DiffTally`).

    :raises ValueError: fewer than two routers, or a router whose weighted-cluster
        value is not random (``header_name``, ``use_hash_policy``).
    :raises ImportError: pyarrow or numpy is not installed (``pip install "hashlb[columns]"``).

    >>> import pyarrow as pa
    >>> from hashlb import Header, HashPolicy, Host, Router
    >>> from hashlb.diff import diff_columns
    >>> hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a" if i < 3 else "b"}) for i in range(4)]
    >>> subsets = {"a": {"v": "a"}, "b": {"v": "b"}}
    >>> policy = HashPolicy(Header("x-user"))
    >>> before = Router(hosts, subsets=subsets, weights={"a": 100, "b": 0}, policy=policy)
    >>> after = before.with_weights({"a": 90, "b": 10})
    >>> names = [f"user-{i}" for i in range(10000)]
    >>> batch = pa.record_batch({"user": names, "header:x-user": names})
    >>> (report,) = diff_columns([before, after], [batch])
    >>> report.users, report.excess  # sticky mode: only the users the canary must take move
    (10000, 0.0)
    """
    import numpy as np

    from ._diffbatch import PlacementIds
    from .replay import route_columns

    if len(routers) < 2:
        raise ValueError(f"diff_columns needs at least two routers, got {len(routers)}")
    tally = DiffTally(len(routers))
    ids = PlacementIds()
    seen = 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        i = batch.schema.get_field_index("user")
        users = batch.column(i) if i >= 0 else np.arange(seen, seen + n, dtype=np.int64)
        seen += n
        placed = []
        for r in routers:
            sub, host, _lh, _none = route_columns(r, batch)
            sub = np.asarray(sub, dtype=np.int64)
            host = np.asarray(host, dtype=np.int64)
            names = list(r.picker.names)

            def place(s: int, h: int | None, names: Any = names, hosts: Any = r.hosts) -> Placement:
                return (names[s], None if h is None else hosts[h].address)

            placed.append(ids.codes(sub, host, len(r.hosts), place))
        tally.add(users, placed)
    return tally.reports(ids.names, configured=configured)
