"""Property tests of the Router: membership, the key seed and bounded load, on both twins."""

from __future__ import annotations

from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402

from hashlb import Host  # noqa: E402
from hashlb.errors import ConfigError  # noqa: E402
from hashlb.router import Router  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import label_selectors, labelled_hosts  # noqa: E402

FEW = min(60, settings.default.max_examples)
SOME = min(150, settings.default.max_examples)


def _brute_members(hosts: list[Host], selector: dict[str, str]) -> tuple[Host, ...]:
    """Return the hosts whose labels contain *selector*, by the definition."""
    return tuple(h for h in hosts if all(h.labels.get(k) == v for k, v in selector.items()))


def _ring(impl: Implementation) -> Any:
    """Return a small ring-hash factory of *impl* (cheap builds)."""
    ring = impl.module("ring").RingHash

    def build(hosts: Any) -> Any:
        return ring(hosts, min_ring_size=16, max_ring_size=64)

    return build


@given(hosts=labelled_hosts(), selectors=label_selectors, changed=labelled_hosts(max_size=6))
@settings(max_examples=SOME)
def test_members_are_the_label_selection(
    impl: Implementation,
    hosts: list[Host],
    selectors: dict[str, dict[str, str]],
    changed: list[Host],
) -> None:
    """members[s] is every host (in order) whose labels contain s's selector, after
    with_hosts too; with_hosts keeps the table of every subset whose members did not change."""
    expected = {name: _brute_members(hosts, sel) for name, sel in selectors.items()}
    weights = {name: 1 for name in selectors}
    if not any(expected.values()):
        with pytest.raises(ConfigError, match="non-zero weight has hosts"):
            Router(
                hosts,
                subsets=selectors,
                weights=weights,
                policy=None,
                balancer=_ring(impl),
                allow_empty=True,
            )
        return
    r = Router(
        hosts,
        subsets=selectors,
        weights=weights,
        policy=None,
        balancer=_ring(impl),
        allow_empty=True,
    )
    assert dict(r.members) == expected
    assert set(r.empty_subsets) == {n for n, m in expected.items() if not m}
    new_hosts = hosts[: len(hosts) // 2] + changed
    after = {name: _brute_members(new_hosts, sel) for name, sel in selectors.items()}
    if not any(after.values()):
        return
    r2 = r.with_hosts(new_hosts)
    assert dict(r2.members) == after
    for name in r2.tables:
        if name in r.tables and after[name] == expected[name]:
            assert r2.tables[name] is r.tables[name]
        assert r2.tables[name].hosts == after[name]
    # route_many's host indices point at hosts equal to the table's choice
    hashes = [0, 1, 2**63, 2**64 - 1, 12345]
    subset_idx, host_idx = r2.route_many(hashes)
    for h, s, i in zip(hashes, subset_idx, host_idx, strict=True):
        name = r2.picker.names[s]
        assert r2.hosts[i] == r2.tables[name].lookup(h)
