"""hashlb.envoy properties: loaded clusters pick as directly built ones; broken input only raises EnvoyConfigError."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashlb import Cluster, Host, Request
from hashlb.envoy import EnvoyConfigError, load

from ._envoy import big_dump
from .strategies import envoy_assignments, json_values


def _camel(value: Any) -> Any:
    """lowerCamelCase field names, as istioctl prints them (Struct keys such as metadata stay)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            head, *rest = k.split("_")
            key = k if k.startswith("@") else head + "".join(p[:1].upper() + p[1:] for p in rest)
            out[key] = v if k == "filter_metadata" else _camel(v)
        return out
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    envoy_assignments(),
    st.sampled_from(["RING_HASH", "MAGLEV"]),
    st.sampled_from([0, 30, 50, 100]),
    st.booleans(),
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20),
)
def test_loaded_cluster_picks_as_a_direct_cluster(
    assignment: tuple, lb_policy: str, threshold: int, camel: bool, hashes: list[int]
) -> None:
    cla, expected = assignment
    cluster = {
        "name": "c",
        "type": "EDS",
        "lb_policy": lb_policy,
        "common_lb_config": {"healthy_panic_threshold": {"value": threshold}},
        "ring_hash_lb_config": {"minimum_ring_size": "64", "maximum_ring_size": "256"},
        "maglev_lb_config": {"table_size": "251"},
    }
    doc: Any = [cluster, cla]
    config = load(_camel(doc) if camel else doc)
    loaded = config.cluster("c")
    hosts = [
        Host(a, w, priority=p, health=h, locality=loc, hash_key=k)
        for a, w, p, h, loc, k in expected
    ]
    assert list(loaded.hosts) == hosts
    options: dict[str, Any] = (
        {"min_ring_size": 64, "max_ring_size": 256}
        if lb_policy == "RING_HASH"
        else {"table_size": 251}
    )
    direct = Cluster(
        hosts,
        balancer="ring_hash" if lb_policy == "RING_HASH" else "maglev",
        healthy_panic_threshold=threshold,
        overprovisioning_factor=cla["policy"]["overprovisioning_factor"],
        **options,
    )
    assert loaded.cluster.priority_load == direct.priority_load
    assert [loaded.cluster.lookup(h) for h in hashes] == [direct.lookup(h) for h in hashes]


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_leaves(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_leaves(v, (*path, i)))
    return out


SMALL = big_dump(clusters=3, endpoints=3, routes=10)
SMALL_PATHS = _leaves(SMALL)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SMALL_PATHS), json_values()), min_size=1, max_size=3))
def test_a_broken_dump_raises_only_envoy_config_error(changes: list[tuple[tuple, Any]]) -> None:
    doc = copy.deepcopy(SMALL)
    for path, value in changes:
        target: Any = doc
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the place
    try:
        config = load(json.dumps(doc))
    except EnvoyConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 1000
        return
    for route in config.routes:
        with contextlib.suppress(EnvoyConfigError):
            config.pick(route, Request(headers={"x-user": "u", "cookie": "session=s"}))
