"""``hashlb.dask`` on a real ``distributed.LocalCluster`` (2 worker processes) started here.

The routed frame and the stickiness figures computed on the cluster equal
the single-process result: the same partitions routed with
``hashlb.dask.route_frame`` in this process, and one
:class:`hashlb.replay.Stickiness` pass over all the rows (both equal the
per-request reference).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import dask.dataframe as dd  # noqa: E402

from hashlb import Host, Router  # noqa: E402
from hashlb.policy import HashPolicy, Header  # noqa: E402
from hashlb.replay import Stickiness  # noqa: E402

from ._impl import Implementation  # noqa: E402

MAPPING = {"header:x-user": "user_id", "path": "path"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two single-threaded worker processes on loopback; closed (bounded) after the module."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # any free port: None means 8787, and a busy 8787 warns
        silence_logs=40,
        worker_class=distributed.Nanny,
    )
    c = distributed.Client(cluster, timeout=60)
    try:
        c.wait_for_workers(2, timeout=120)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def _router(impl: Implementation, mode: str) -> Router:
    hosts = [
        Host(f"10.0.{i // 5}.{i}:8080", labels={"v": "v1" if i < 6 else "v2"}) for i in range(9)
    ]
    return Router(
        hosts,
        subsets={"v1": {"v": "v1"}, "v2": {"v": "v2"}},
        weights=impl.WeightedSubsetPicker({"v1": 90, "v2": 10}, mode=mode, seed=4),
        policy=HashPolicy(Header("x-user")),
        balancer=impl.Maglev,
        balancer_options={"table_size": 251},
        mode=mode,
        seed=4,
    )


def _frame(n: int) -> Any:
    rng = np.random.default_rng(11)
    users = rng.integers(0, 800, size=n)
    ids = pd.array([f"user-{u}" for u in users], dtype="string")
    ids[rng.random(n) < 0.03] = pd.NA  # requests without the header: no hash, random pick
    return pd.DataFrame({"user": [f"user-{u}" for u in users], "user_id": ids, "path": "/api"})


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_cluster_result_equals_single_process(impl: Implementation, client: Any, mode: str) -> None:
    """Routing and stickiness on 2 worker processes equal the same work in this process."""
    import hashlb.dask as hd

    pdf = _frame(12_000)
    ddf = dd.from_pandas(pdf, npartitions=6)
    router = _router(impl, mode)
    routed = hd.route(ddf, router, MAPPING, seed=3)
    assert list(routed.columns) == [*pdf.columns, "subset", "endpoint", "hash", "no_hash"]
    got = routed.compute()  # on the cluster: the router went to the workers pickled
    # single process: each partition routed here, with partition i's draws
    parts = []
    for i, part in enumerate(ddf.partitions):
        local = part.compute(scheduler="sync")
        rng = np.random.default_rng([3, i])
        parts.append(hd.route_frame(local, _router(impl, mode), MAPPING, rng=rng))
    want = pd.concat(parts)
    pd.testing.assert_frame_equal(got, want)
    assert got["no_hash"].sum() == pdf["user_id"].isna().sum()
    # stickiness: merged over the partitions on the cluster == one pass here
    s = hd.stickiness(routed)
    one = Stickiness()
    one.add(
        pa.array(want["user"]),
        np.asarray(want["endpoint"].cat.codes),
        np.asarray(want["subset"].cat.codes),
    )
    figures = (s.requests, s.users, s.one_endpoint, s.one_group)
    assert figures == (one.requests, one.users, one.one_endpoint, one.one_group)
    # and the per-request reference
    seen: dict[str, set[tuple[str, str]]] = {}
    for u, sub, ep in zip(want["user"], want["subset"], want["endpoint"], strict=True):
        seen.setdefault(u, set()).add((sub, ep))
    assert s.users == len(seen) == 800
    assert s.one_endpoint == sum(1 for v in seen.values() if len({e for _, e in v}) == 1)
    assert s.one_group == sum(1 for v in seen.values() if len({g for g, _ in v}) == 1)
    if mode == "sticky":  # every user with a header keeps its subset... unless it had none
        assert s.one_group < s.users and s.one_group > 0.5 * s.users


def test_stickiness_of_plain_string_columns(client: Any) -> None:
    """Columns that are not categorical are made so first; the answer is exact."""
    import hashlb.dask as hd

    pdf = pd.DataFrame(
        {
            "user": ["a", "b", "a", "c", "b", "a"],
            "endpoint": ["x", "y", "x", None, "z", "x"],
            "subset": ["s", "s", "s", None, "s", "s"],
        }
    )
    s = hd.stickiness(dd.from_pandas(pdf, npartitions=3))
    assert (s.requests, s.users, s.one_endpoint, s.one_group) == (6, 3, 1, 2)


def test_missing_column_and_extra_message() -> None:
    """A mapped column the frame lacks is named; without Dask, the ImportError names the extra."""
    import subprocess
    import sys

    import hashlb.dask as hd

    ddf = dd.from_pandas(pd.DataFrame({"a": ["x"]}), npartitions=1)
    with pytest.raises(ValueError, match="no column 'nope'"):
        hd.route(ddf, object(), {"header:x": "nope"})
    code = (
        "import sys; sys.modules['dask'] = None\n"
        "import hashlb.dask\n"
        "try:\n hashlb.dask.stickiness(None)\nexcept ImportError as e: print(e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert 'pip install "hashlb[dask]"' in out.stdout
