"""Route a Dask DataFrame through a :class:`hashlb.Router` and count stickiness exactly.

:func:`route` adds the routing of every row to a Dask DataFrame of logged
requests, partition by partition (``map_partitions``): the router is
pickled once into the task graph and shipped to the workers, each partition
is hashed by the router's policy over the mapped columns
(:meth:`hashlb.HashPolicy.hash_many`) and routed in one batch
(:meth:`hashlb.Router.route_many`).  :func:`stickiness` combines the
per-user figures of every partition exactly: each partition gives a
:class:`hashlb.replay.Stickiness` and they are merged in a tree (the merge
is exact, associative and commutative), so the answer is the one a single
pass over all the rows gives.

Dask is an optional dependency: ``pip install "hashlb[dask]"``; without it,
:func:`route` and :func:`stickiness` raise :exc:`ImportError` naming the extra.
"""

from __future__ import annotations

import hashlib
import importlib
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

from .replay import (
    Stickiness,
    parse_columns,
    require_pyarrow,
    route_columns,
    to_request_batch,
)


def _dask() -> tuple[Any, Any]:
    """Return ``(dask.dataframe, dask.delayed.delayed)``, or raise ImportError naming the extra.

    Imported on first use, so that ``import hashlb.dask`` works everywhere; Dask is
    reached through importlib, untyped (the lint extra does not install it).
    """
    try:
        dd = importlib.import_module("dask.dataframe")
        delayed = importlib.import_module("dask.delayed").delayed
    except ImportError:
        raise ImportError(
            'hashlb.dask needs Dask with its DataFrame: pip install "hashlb[dask]"'
        ) from None
    return dd, delayed


__all__ = ("route", "route_frame", "stickiness")

#: The columns :func:`route` adds.
ROUTE_COLUMNS = ("subset", "endpoint", "hash", "no_hash")


def _categories(router: Any) -> tuple[list[str], list[str], Any]:
    """The subset names, the distinct host addresses, and each host's address code."""
    import numpy as np

    names = list(router.picker.names)
    addresses: dict[str, int] = {}
    for h in router.hosts:
        addresses.setdefault(h.address, len(addresses))
    codes = np.array([addresses[h.address] for h in router.hosts] + [-1], dtype=np.int64)
    return names, list(addresses), codes


def route_frame(frame: Any, router: Any, columns: Mapping[str, str], *, rng: Any = None) -> Any:
    """Route one pandas DataFrame of logged requests; return it with the routing columns.

    ``subset`` and ``endpoint`` are categoricals (the subset names; the host
    addresses, NaN where the subset's cluster had no host), ``hash`` the
    uint64 hash the tables looked up, ``no_hash`` whether the policy gave
    none.  *rng* is as for :func:`hashlb.replay.route_columns`.
    """
    import numpy as np
    import pandas as pd

    from .cluster import NO_HOST

    names, addresses, codes = _categories(router)
    out = frame.copy()
    if len(frame) == 0:
        sub = np.zeros(0, dtype=np.int64)
        ep = np.zeros(0, dtype=np.int64)
        lh = np.zeros(0, dtype=np.uint64)
        none = np.zeros(0, dtype=bool)
    else:
        batch = to_request_batch(frame, columns)
        s, host, lh, none = route_columns(router, batch, rng=rng)
        sub = s.astype(np.int64)
        host = host.astype(np.int64)
        host[host == NO_HOST] = len(codes) - 1
        ep = codes[host]
    out["subset"] = pd.Categorical.from_codes(sub, categories=names)
    out["endpoint"] = pd.Categorical.from_codes(ep, categories=addresses)
    out["hash"] = lh
    out["no_hash"] = none
    return out


def _route_partition(
    frame: Any,
    router: Any,
    columns: Mapping[str, str],
    seed: int,
    partition_info: Mapping[str, Any] | None = None,
) -> Any:
    import numpy as np

    number = 0 if partition_info is None else int(partition_info.get("number") or 0)
    rng = np.random.default_rng([seed, number])  # the draws of partition *number*
    return route_frame(frame, router, columns, rng=rng)


def _shipped(router: Any) -> Any:
    """The router as one node of the task graph, named by the digest of its pickle."""
    _dd, delayed = _dask()
    blob = pickle.dumps(router, protocol=pickle.HIGHEST_PROTOCOL)
    token = hashlib.blake2b(blob, digest_size=16).hexdigest()
    return delayed(router, name=f"hashlb-router-{token}", pure=True)


def route(
    df: Any, router: Any, columns: Iterable[str] | Mapping[str, str], *, seed: int = 0
) -> Any:
    """Route every row of the Dask DataFrame *df* through *router*.

    :param df: a :class:`dask.dataframe.DataFrame` of logged requests.
    :param router: a :class:`hashlb.Router` (pickled once, shipped to the workers).
    :param columns: the column mapping from request fields to *df*'s columns
        (``{"header:x-user": "user_id", "source-ip": "client_ip"}``, see
        :func:`hashlb.replay.parse_columns`).
    :param seed: the seed of Envoy's per-request random draws: partition
        *i* draws from ``numpy.random.default_rng([seed, i])``, so a run is
        reproducible whatever the scheduler.
    :returns: a lazy Dask DataFrame: *df* plus ``subset``, ``endpoint``
        (categoricals with known categories), ``hash`` and ``no_hash``.
    """
    dd, _delayed = _dask()
    mapping = parse_columns(columns)
    require_pyarrow()
    if not isinstance(df, dd.DataFrame):
        raise TypeError(f"df must be a dask DataFrame, got {type(df).__name__}")
    missing = [c for c in mapping.values() if c not in df.columns]
    if missing:
        raise ValueError(
            f"no column {missing[0]!r} in the DataFrame (its columns: {list(df.columns)})"
        )
    meta = route_frame(df._meta, router, mapping)
    return df.map_partitions(_route_partition, _shipped(router), mapping, seed, meta=meta)


def _partial(frame: Any, user: str, endpoint: str, group: str) -> Stickiness:
    import numpy as np

    pa = require_pyarrow()
    s = Stickiness()
    ep = frame[endpoint]
    grp = frame[group]
    e = np.asarray(ep.cat.codes, dtype=np.int64)
    g = np.asarray(grp.cat.codes, dtype=np.int64)
    routed = g >= 0
    e = np.where(routed & (e < 0), len(ep.cat.categories), e)  # no host: a code of its own
    users = pa.array(frame[user].astype("string"), from_pandas=True, type=pa.string())
    s.add(users, e, g)
    return s


def _merge(a: Stickiness, b: Stickiness) -> Stickiness:
    return a.merge(b)


def stickiness(
    df: Any,
    *,
    user: str = "user",
    endpoint: str = "endpoint",
    group: str = "subset",
    compute: bool = True,
) -> Any:
    """Count per-user stickiness over every partition of a routed Dask DataFrame, exactly.

    :param df: a Dask DataFrame with a *user* column and the *endpoint* and
        *group* columns :func:`route` adds (any columns work: they are made
        categorical with known categories first).
    :param compute: return the :class:`hashlb.replay.Stickiness` (True), or
        a :class:`dask.delayed.Delayed` of it.
    :returns: the figures of one pass over all the rows: ``users``,
        ``one_endpoint``, ``one_group``, ``requests`` (a row whose group is
        null is not routed; one whose endpoint alone is null got no host).
    """
    _dd, delayed = _dask()
    for c in (user, endpoint, group):
        if c not in df.columns:
            raise ValueError(f"no column {c!r} in the DataFrame (its columns: {list(df.columns)})")
    frame = df[[user, endpoint, group]]
    import pandas as pd

    known = {}
    for c in (endpoint, group):
        dtype = frame._meta[c].dtype
        if getattr(dtype, "name", "") != "category" or not frame[c].cat.known:
            values = frame[c].dropna().unique().compute()  # one pass: the distinct values
            cats = sorted({str(v) for v in values})
            known[c] = frame[c].astype("string").astype(pd.CategoricalDtype(cats))
    if known:
        frame = frame.assign(**known)
    parts = [delayed(_partial)(p, user, endpoint, group) for p in frame.to_delayed()]
    while len(parts) > 1:  # a tree of merges: depth log2(partitions)
        parts = [
            delayed(_merge)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    result = parts[0] if parts else delayed(Stickiness)()
    return result.compute() if compute else result
