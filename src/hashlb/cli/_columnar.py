"""``hashlb simulate --requests FILE --column ...``: the mesh over request columns.

The requests come as Arrow record batches of request fields
(:func:`hashlb.replay.read_requests`).  Per batch, the VirtualService's
``http[].match`` blocks are evaluated over the columns (each condition once
per distinct value, with the same rules as the per-request path), every
route's rows are routed at once, and the counts and the per-user stickiness
(:class:`hashlb.replay.Stickiness`) are updated from integer codes: no
Python object per request.

A route is routed in batch when the result cannot depend on a request's
history: no generated cookie (``httpCookie`` with a ``ttl``: the client then
sends it back), no ``simple`` load balancer (a random endpoint per request),
and a random weighted-cluster value (Istio's translation).  The other routes
are routed request by request, with the very same engine, and the run
says so on standard error.  Envoy's per-request random draws come from the
router's :attr:`hashlb.Router.rng` in the order the per-request path draws
them (the value, then a random hash for a request without one), so both
paths give the same figures for the same requests and seed.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any

from .._source import InputError
from .._validate import HEALTHY_STATUSES
from ._replay import SET_COOKIE, to_policy_request, user_key
from .traffic import DEFAULT_LOCAL_ADDRESS, SimRequest

if TYPE_CHECKING:
    from ..istio import Scenario
    from ..istio.translate import RouteEngine
    from .simulate import SimulationResult

__all__ = ("ColumnarSimulation", "batch_users", "simulate_columns")


def _np() -> Any:
    import numpy as np

    return np


def _column(batch: Any, name: str) -> Any:
    i = batch.schema.get_field_index(name)
    return None if i < 0 else batch.column(i)


def _per_value(array: Any, fn: Any) -> Any:
    """Return ``fn(value)`` for each row of *array* (nulls as None), once per distinct value."""
    np = _np()
    import pyarrow as pa

    enc = array.dictionary_encode()
    uniques = enc.dictionary.to_pylist()
    nulls = [bool(fn(None))] if enc.indices.null_count else [False]
    table = np.array([bool(fn(v)) for v in uniques] + nulls, dtype=bool)
    idx = enc.indices.fill_null(len(uniques))
    return table[np.asarray(idx.cast(pa.int64()))]


def rows_of(batch: Any) -> list[SimRequest]:
    """Return the :class:`SimRequest` of each row, as the JSONL reader would build it.

    Headers in mapping order, then one ``cookie`` header of the ``cookie:``
    fields; a null ``path`` is ``/``, a null local address the service's.
    """
    names = batch.schema.names
    cols = {n: batch.column(i).to_pylist() for i, n in enumerate(names)}
    n = batch.num_rows
    headers = [(f[7:], cols[f]) for f in names if f.startswith("header:")]
    cookies = [(f[7:], cols[f]) for f in names if f.startswith("cookie:")]
    users = cols.get("user")
    paths = cols.get("path")
    remote = cols.get("remote_address")
    local = cols.get("local_address")
    out = []
    for i in range(n):
        hs = [(k, v[i]) for k, v in headers if v[i] is not None]
        jar = [f"{k}={v[i]}" for k, v in cookies if v[i] is not None]
        if jar:
            hs.append(("cookie", "; ".join(jar)))
        user = users[i] if users is not None else None
        if user is None:  # as the JSONL reader: the request itself is the user
            user = "\x00".join(f"{k}={v[i]}" for k, v in cols.items())
        out.append(
            SimRequest(
                user,
                tuple(hs),
                "/" if paths is None or paths[i] is None else paths[i],
                remote[i] if remote is not None else None,
                (local[i] if local is not None else None) or DEFAULT_LOCAL_ADDRESS,
            )
        )
    return out


def batch_users(batch: Any) -> Any:
    """Return the user of each row: the ``user`` column, else (or with nulls) as the JSONL
    reader makes it, the request itself (its fields joined, as :func:`rows_of` does).

    An Arrow string array, built with Arrow compute: no Python object per row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    users = _column(batch, "user")
    if users is not None and not users.null_count:
        return users
    # rows_of's "\x00".join(f"{k}={v}"): a null field reads "None", as there
    parts = [
        pc.binary_join_element_wise(f"{k}=", pc.fill_null(batch.column(i), "None"), "")
        for i, k in enumerate(batch.schema.names)
    ]
    if not parts:  # no field at all: every request is the same empty one
        return pa.nulls(batch.num_rows, pa.string()).fill_null("")
    itself = pc.binary_join_element_wise(*parts, "\x00")
    return itself if users is None else pc.if_else(pc.is_valid(users), users, itself)


class _Matcher:
    """The ``http[].match`` test of one route over a batch (see ``plan_matches``)."""

    def __init__(self, plan: Any) -> None:
        self.matches = plan.matches

    def __call__(self, batch: Any) -> Any:
        from ..istio.translate import _query, _string_match

        np = _np()
        import pyarrow as pa

        n = batch.num_rows
        if self.matches is None:
            return np.ones(n, dtype=bool)
        path = _column(batch, "path")
        path = pa.array(["/"] * n) if path is None else path.fill_null("/")
        hit = np.zeros(n, dtype=bool)
        for m in self.matches:
            ok = np.ones(n, dtype=bool)
            if "uri" in m:
                sm, ic = m["uri"], bool(m.get("ignoreUriCase"))
                ok &= _per_value(
                    path, lambda p, sm=sm, ic=ic: _string_match(sm, p.split("?", 1)[0], ic)
                )
            if "method" in m:
                method = self._header(batch, ":method")
                method = pa.array(["GET"] * n) if method is None else method.fill_null("GET")
                ok &= _per_value(method, lambda v, sm=m["method"]: _string_match(sm, v))
            for name, sm in (m.get("headers") or {}).items():
                ok &= self._header_test(batch, str(name), sm, n)
            for name, sm in (m.get("withoutHeaders") or {}).items():
                ok &= ~self._header_test(batch, str(name), sm, n)
            for name, sm in (m.get("queryParams") or {}).items():
                ok &= _per_value(
                    path, lambda p, k=str(name), sm=sm: _string_match(sm, _query(p).get(k))
                )
            hit |= ok
        return hit

    @staticmethod
    def _header(batch: Any, name: str) -> Any:
        name = name.lower()
        if name == "cookie" and any(f.startswith("cookie:") for f in batch.schema.names):
            import pyarrow as pa

            values = [r.header("cookie") for r in rows_of(batch)]
            return pa.array([",".join(v) if v else None for v in values], pa.string())
        return _column(batch, f"header:{name}")

    def _header_test(self, batch: Any, name: str, sm: Any, n: int) -> Any:
        from ..istio.translate import _string_match

        values = self._header(batch, name)
        if values is None:
            return _np().full(n, _string_match(sm, None), dtype=bool)
        return _per_value(values, lambda v: _string_match(sm, v))


class _Route:
    """One route engine's batch plan: codes of its subsets and hosts, its tables."""

    def __init__(self, engine: RouteEngine, sim: ColumnarSimulation) -> None:
        np = _np()
        self.engine = engine
        self.matcher = _Matcher(engine.plan)
        router = engine.router
        generated = any(
            k.kind == "cookie" and k.cookie_ttl is not None for k in engine.plan.hash_keys
        )
        self.batch = not generated and not engine.random and router._make_value_fn() is None
        self.why = (
            "Envoy generates a cookie the client sends back"
            if generated
            else "a simple load balancer picks at random"
            if engine.random
            else "the weighted-cluster value is not random"
        )
        self.policy = engine.own_hash if engine.own_hash is not None else router.route_policy
        self.sticky = router.mode == "sticky"
        names = router.picker.names
        self.subsets = np.array([sim.subset_code(s) for s in names], dtype=np.int64)
        self.hosts = np.array([sim.code(h.address) for h in router.hosts] + [sim.none], np.int64)
        self.own: dict[int, tuple[Any, Any]] = {}
        for i, s in enumerate(names):
            table = engine.own.get(s)
            if table is not None and s not in engine.random:
                codes = [sim.code(h.address) for h in table.hosts] + [sim.none]
                self.own[i] = (table, np.array(codes, dtype=np.int64))
        sick = np.zeros((len(names), sim.none + 1), dtype=bool)
        for d in engine.plan.destinations:
            if d.name not in names:
                continue
            for ep in d.endpoints:
                if ep.health not in HEALTHY_STATUSES:
                    sick[names.index(d.name), sim.code(ep.address)] = True
        self.sick = sick

    def route(self, batch: Any) -> tuple[Any, Any, Any, int]:
        """Return (endpoint codes, subset codes, unhealthy flags, no-hash count) of *batch*."""
        from ..cluster import NO_HOST
        from ..replay import route_columns

        np = _np()
        sub, host, lh, none = route_columns(self.engine.router, batch, policy=self.policy)
        missing = int(none.sum())
        sub = np.asarray(sub, dtype=np.int64)
        host = np.asarray(host, dtype=np.int64)
        host[host == NO_HOST] = len(self.hosts) - 1
        ep = self.hosts[host]
        for i, (table, codes) in self.own.items():
            rows = sub == i
            if rows.any():
                local = np.asarray(table.lookup_many(np.ascontiguousarray(lh[rows])), np.int64)
                local[local == NO_HOST] = len(codes) - 1
                ep[rows] = codes[local]
        return ep, self.subsets[sub], self.sick[sub, ep], missing


class ColumnarSimulation:
    """The running counts of a columnar ``hashlb simulate``: feed batches with :meth:`add`."""

    def __init__(self, scenario: Scenario, mode: str, seed: int) -> None:
        from ..istio import build_engines
        from ..replay import Stickiness

        self.scenario = scenario
        self.mode = mode
        self.seed = seed
        self.engines = build_engines(scenario, mode, seed)
        self.addresses: dict[str, int] = {}
        self.subset_names: dict[str, int] = {}
        for e in self.engines:
            for d in e.plan.destinations:
                self.subset_code(d.name)
                for ep in d.endpoints:
                    self.code(ep.address)
        for e in self.engines:
            for h in e.router.hosts:
                self.code(h.address)
        self.none = len(self.addresses)  # the code of "no host"
        self.routes = [_Route(e, self) for e in self.engines]
        self.per_request = [r.why for r in self.routes if not r.batch]
        self.sticky = Stickiness()
        np = _np()
        self.requests = self.unrouted = self.no_hash = 0
        self.by_subset = np.zeros(len(self.subset_names), dtype=np.int64)
        self.by_endpoint = np.zeros(self.none + 1, dtype=np.int64)
        self.no_host = np.zeros(len(self.subset_names), dtype=np.int64)
        self.unhealthy = np.zeros(len(self.subset_names), dtype=np.int64)
        self.pods: dict[str, tuple[str, str]] = {}
        self.jars: dict[Hashable, dict[str, str]] = {}

    def code(self, address: str) -> int:
        """Return the code of endpoint *address* (a new one for a new address)."""
        return self.addresses.setdefault(address, len(self.addresses))

    def subset_code(self, name: str) -> int:
        """Return the code of subset *name* (a new one for a new name)."""
        return self.subset_names.setdefault(name, len(self.subset_names))

    def _one_by_one(self, k: int, batch: Any) -> tuple[Any, Any, Any, int]:
        """Route the rows of route *k* request by request (what ``simulate()`` does)."""
        np = _np()
        engine = self.engines[k]
        route = self.routes[k]
        n = batch.num_rows
        ep = np.zeros(n, dtype=np.int64)
        grp = np.zeros(n, dtype=np.int64)
        flag = np.zeros(n, dtype=bool)
        none = 0
        for i, req in enumerate(rows_of(batch)):
            ukey = user_key(req.user)
            subset, address, _pod, h, set_cookie = engine.route(
                to_policy_request(req, self.jars.get(ukey))
            )
            if set_cookie:
                m = SET_COOKIE.match(set_cookie)
                if m:
                    self.jars.setdefault(ukey, {})[m.group(1)] = m.group(3)
            none += h is None
            grp[i] = self.subset_code(subset)
            ep[i] = self.none if address is None else self.code(address)
            local = engine.router.picker.names.index(subset)
            flag[i] = address is not None and bool(route.sick[local, ep[i]])
        return ep, grp, flag, none

    def place(self, batch: Any) -> tuple[Any, Any, Any, Any]:
        """Route one record batch of request fields without counting it.

        Return ``(endpoints, subsets, unhealthy, routes)``, one entry per row:
        the endpoint code (:meth:`code`; :attr:`none` for no host), the subset
        code (:meth:`subset_code`), whether the endpoint is unhealthy, and the
        index of the route that took the row; ``-1`` codes for a row no route
        matches.  The routers' random draws are made as :meth:`add` makes them.
        """
        np = _np()
        n = batch.num_rows
        route_of = np.full(n, -1, dtype=np.int64)
        free = np.ones(n, dtype=bool)
        for k, r in enumerate(self.routes):
            if not free.any():
                break
            hit = r.matcher(batch) & free
            route_of[hit] = k
            free &= ~hit
        ep = np.full(n, -1, dtype=np.int64)
        grp = np.full(n, -1, dtype=np.int64)
        flag = np.zeros(n, dtype=bool)
        for k, r in enumerate(self.routes):
            idx = np.flatnonzero(route_of == k)
            if len(idx) == 0:
                continue
            sub = batch if len(idx) == n else batch.take(idx)
            e, g, f, none = r.route(sub) if r.batch else self._one_by_one(k, sub)
            ep[idx], grp[idx], flag[idx] = e, g, f
            self.no_hash += none
        return ep, grp, flag, route_of

    def add(self, batch: Any) -> None:
        """Route and count one record batch of request fields."""
        np = _np()
        n = batch.num_rows
        if n == 0:
            return
        self.requests += n
        ep, grp, flag, route_of = self.place(batch)
        routed = grp >= 0
        self.unrouted += int(n - routed.sum())
        hosted = routed & (ep != self.none)
        self.by_subset += np.bincount(grp[routed], minlength=len(self.by_subset))
        self.by_endpoint += np.bincount(ep[hosted], minlength=len(self.by_endpoint))
        self.no_host += np.bincount(grp[routed & ~hosted], minlength=len(self.no_host))
        self.unhealthy += np.bincount(grp[flag], minlength=len(self.unhealthy))
        self._first_pods(ep, grp, route_of, hosted)
        self.sticky.add(batch_users(batch), ep, grp, flag)

    def _first_pods(self, ep: Any, grp: Any, route_of: Any, hosted: Any) -> None:
        """Record the pod and subset of each address at its first request (``simulate()``'s)."""
        np = _np()
        if len(self.pods) == len(self.addresses):
            return
        rows = np.flatnonzero(hosted)
        codes, first = np.unique(ep[rows], return_index=True)
        names = list(self.addresses)
        subsets = list(self.subset_names)
        for code, at in zip(codes.tolist(), first.tolist(), strict=True):
            address = names[code]
            if address in self.pods:
                continue
            row = rows[at]
            engine = self.engines[int(route_of[row])]
            subset = subsets[int(grp[row])]
            e = engine.by_address[(engine.dest[subset].host, address)]
            self.pods[address] = (e.pod.name or "", subset)

    def result(self, key: str) -> SimulationResult:
        """Return the :class:`~hashlb.cli.simulate.SimulationResult` of the batches so far."""
        from .simulate import SimulationResult

        health: dict[str, Any] = {}
        for e in self.engines:
            for name, sh in e.health.items():
                health.setdefault(name, sh)
        subsets = list(self.subset_names)
        addresses = list(self.addresses)

        def counter(counts: Any, names: list[str]) -> Counter[str]:
            return Counter({names[i]: int(c) for i, c in enumerate(counts.tolist()) if c})

        return SimulationResult(
            self.scenario,
            self.mode,
            self.seed,
            key,
            self.requests,
            counter(self.by_subset, subsets),
            counter(self.by_endpoint[: self.none], addresses),
            self.pods,
            self.unrouted,
            self.no_hash,
            self.sticky.users,
            self.sticky.one_endpoint,
            self.sticky.one_group,
            health,
            counter(self.no_host, subsets),
            counter(self.unhealthy, subsets),
            self.sticky.flagged,
        )


def simulate_columns(
    scenario: Scenario, batches: Iterable[Any], *, mode: str, seed: int, key: str
) -> SimulationResult:
    """Route every batch of request fields; return the same result as ``simulate()``.

    :raises InputError: the library rejects the configuration, or too many users.
    """
    sim = ColumnarSimulation(scenario, mode, seed)
    for batch in batches:
        sim.add(batch)
    return sim.result(key)


def note_lines(sim: ColumnarSimulation) -> list[str]:
    """The stderr notes of a run: the routes routed request by request, and why."""
    return [
        f"route {r.engine.plan.name!r} is routed request by request ({r.why})"
        for r in sim.routes
        if not r.batch
    ]


# --------------------------------------------------------------------------
# Command line.


def add_arguments(group: Any) -> None:
    """Add ``--column``, ``--format`` and ``--batch-rows`` to the ``requests`` group."""
    group.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read --requests as a table (Parquet, CSV or JSON lines): request FIELD (user, "
        "header:NAME, cookie:NAME, path, source-ip, remote_address, local_address) from the "
        "file's COLUMN (repeatable)",
    )
    group.add_argument(
        "--format",
        choices=("parquet", "csv", "jsonl"),
        help="the --requests table's format (default: by extension: .parquet, .csv, .jsonl)",
    )
    group.add_argument(
        "--batch-rows",
        type=_batch_rows,
        default=None,
        metavar="N",
        help="rows routed at once from a --column table (default: 65536)",
    )


def _batch_rows(text: str) -> int:
    """``--batch-rows``: simulate's positive int, at most MAX_REPLAY_BATCH_ROWS."""
    import argparse

    from .._validate import MAX_REPLAY_BATCH_ROWS, cap
    from .simulate import _positive  # at call time: simulate imports this module

    n = _positive(text)
    if n > MAX_REPLAY_BATCH_ROWS:
        raise argparse.ArgumentTypeError(f"must be at most {cap('MAX_REPLAY_BATCH_ROWS')}, got {n}")
    return n


def wanted(args: Any) -> bool:
    """Whether ``--requests`` is a table read by columns (else hashlb's JSONL requests)."""
    if not args.requests:
        if args.column or args.format or args.batch_rows is not None:
            raise InputError("--column", "--column, --format and --batch-rows need --requests FILE")
        return False
    from ..replay import FORMATS

    fmt = args.format or FORMATS.get(os.path.splitext(args.requests)[1].lower())
    if args.column:
        return True
    if fmt in ("parquet", "csv"):
        raise InputError(
            args.requests,
            "a Parquet or CSV file needs a column mapping: --column user=COLUMN "
            "--column header:NAME=COLUMN ...",
        )
    if args.format or args.batch_rows is not None:
        raise InputError("--format", "--format and --batch-rows apply with --column")
    return False


def run_file(args: Any, scenario: Scenario, key: str) -> SimulationResult:
    """Replay ``--requests FILE`` with the ``--column`` mapping; notes go to stderr."""
    from ..replay import DEFAULT_BATCH_ROWS, read_requests, require_pyarrow

    if args.requests == "-":
        raise InputError("--requests", "a --column table is read from a file, not stdin")
    if args.decisions:
        raise InputError(
            "--decisions",
            "--decisions writes one line per request: use the JSONL requests "
            "(without --column), or hashlb.replay in Python",
        )
    try:
        require_pyarrow()
        from ..replay import parse_columns

        mapping = parse_columns(args.column)
        rows = args.batch_rows if args.batch_rows is not None else DEFAULT_BATCH_ROWS
        batches = read_requests(args.requests, mapping, format=args.format, batch_rows=rows)
    except (ImportError, ValueError, TypeError) as e:
        raise InputError("--column", str(e)) from None
    sim = ColumnarSimulation(scenario, args.mode, args.seed)
    for text in note_lines(sim):
        print(f"hashlb simulate: note: {text}", file=sys.stderr)
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        sim.add(batch)
    if not rows:
        raise InputError(args.requests, "the request file has no requests")
    return sim.result(key)
