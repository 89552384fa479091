"""``hashlb diff --requests FILE --column ...``: a Parquet, CSV or JSON-lines log as the traffic.

The file is streamed once in record batches of request fields
(:func:`hashlb.replay.read_requests`); every configuration of every mode routes
each batch with the columnar engine of ``hashlb simulate --column``
(:class:`~hashlb.cli._columnar.ColumnarSimulation`: the route matches over the
columns, the routers' batch route, their random draws in the order the
request by request path draws them), and a :class:`hashlb.diff.DiffTally`
counts the requests per user and path.  The reports equal those of the same
requests written as hashlb's JSONL requests, float for float.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._source import InputError

if TYPE_CHECKING:
    from ..diff import DiffReport, Placement
    from ..istio import Scenario
    from ._columnar import ColumnarSimulation

__all__ = ("check", "run_modes")


def check(args: argparse.Namespace) -> None:
    """Refuse the options a ``--column`` table does not go with."""
    if args.envoy_config_a is not None or args.envoy_config_b is not None or args.envoy_base:
        raise InputError("--column", "--column applies to Istio YAML (-a/-b, -f), not Envoy config")
    if args.no_batch:
        raise InputError(
            "--no-batch", "a --column table is routed in batches; leave out --no-batch"
        )
    if args.users is not None or args.key is not None:
        raise InputError(
            "--column", "--users and --key make synthetic traffic, not a --column table"
        )


def _batches(args: argparse.Namespace) -> Any:
    from ..replay import DEFAULT_BATCH_ROWS, parse_columns, read_requests, require_pyarrow

    if args.requests == "-":
        raise InputError("--requests", "a --column table is read from a file, not stdin")
    try:
        require_pyarrow()
        mapping = parse_columns(args.column)
        rows = args.batch_rows if args.batch_rows is not None else DEFAULT_BATCH_ROWS
        return read_requests(args.requests, mapping, format=args.format, batch_rows=rows)
    except (ImportError, ValueError, TypeError) as e:
        raise InputError("--column", str(e)) from None


class _Placer:
    """One configuration's columnar routing, its rows turned into shared placement ids."""

    def __init__(
        self, sim: ColumnarSimulation, ids: Any, version: Callable[[Placement], Placement]
    ) -> None:
        self.sim = sim
        self.ids = ids
        self.version = version
        self.subsets = list(sim.subset_names)
        self.addresses = list(sim.addresses)

    def __call__(self, batch: Any) -> Any:
        import numpy as np

        from .._diffbatch import _compact

        sim = self.sim
        ep, grp, _flag, route_of = sim.place(batch)
        self.subsets = list(sim.subset_names)  # the request-by-request path may add names
        self.addresses = list(sim.addresses)
        g = len(self.subsets) + 1
        e = sim.none + 2
        code = ((route_of + 1) * g + (grp + 1)) * e + (ep + 1)
        uniq, inverse = _compact(code, (len(sim.routes) + 1) * g * e)
        table = [self.ids.id(self.version(self._name(c, g, e))) for c in uniq.tolist()]
        return np.array(table, dtype=np.int64)[inverse]

    def _name(self, c: int, g: int, e: int) -> Placement:
        rest, ep = divmod(c, e)
        route, grp = divmod(rest, g)
        if grp == 0:
            return (None, None)
        subset = self.subsets[grp - 1]
        if ep - 1 == self.sim.none:
            return (subset, None)
        engine = self.sim.engines[route - 1]
        address = self.addresses[ep - 1]
        return (subset, engine.by_address[(engine.dest[subset].host, address)].pod.name)


def run_modes(
    args: argparse.Namespace,
    scenarios: Sequence[Scenario],
    modes: Sequence[str],
    version: Callable[[Placement], Placement],
) -> dict[str, tuple[list[DiffReport], list[Any]]]:
    """Route ``--requests FILE`` (read once) under every scenario in every mode.

    Return, per mode, the reports of consecutive scenarios and each scenario's
    engines.  Notes (routes routed request by request) go to standard error.
    """
    from .._diffbatch import PlacementIds
    from ..diff import DiffTally
    from ._columnar import ColumnarSimulation, batch_users, note_lines
    from ._diffroute import configured_shares

    batches = _batches(args)
    placers: dict[str, list[_Placer]] = {}
    tallies: dict[str, DiffTally] = {}
    ids: dict[str, Any] = {}
    notes: list[str] = []
    for m in modes:
        ids[m] = PlacementIds()
        sims = [ColumnarSimulation(s, m, args.seed) for s in scenarios]
        placers[m] = [_Placer(sim, ids[m], version) for sim in sims]
        tallies[m] = DiffTally(len(scenarios))
        for sim in sims:
            notes.extend(f"{m} mode: {t}" for t in note_lines(sim))
    for text in dict.fromkeys(notes):
        print(f"hashlb diff: note: {text}", file=sys.stderr)
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rows += batch.num_rows
        users = batch_users(batch)
        for m in modes:
            tallies[m].add(users, [place(batch) for place in placers[m]])
    if not rows:
        raise InputError(args.requests, "the request file has no requests")
    out = {}
    for m in modes:
        engines = [p.sim.engines for p in placers[m]]
        shares = [configured_shares(s, e) for s, e in zip(scenarios, engines, strict=True)]
        configured = [
            (shares[k], shares[k + 1])
            if shares[k] is not None and shares[k + 1] is not None
            else None
            for k in range(len(scenarios) - 1)
        ]
        reports = tallies[m].reports(ids[m].names, configured=configured)  # type: ignore[arg-type]
        out[m] = (reports, engines)
    return out
