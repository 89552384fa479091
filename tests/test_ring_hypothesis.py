"""RingHash properties (Hypothesis) on both twins: reference model, order, disruption, weights."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from bisect import bisect_left
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hashlb import Host
from hashlb._weights import prepare

from ._impl import Implementation
from .reference import ring_hash_reference, ring_lookup_reference
from .strategies import (
    data_text,
    ring_host_sets,
    ring_locality_weights,
    ring_options,
    uint64,
    whole_count_weights,
)

M64 = 2**64 - 1


def _reference(hosts: list[Host], lw: dict[str, int] | None, opts: dict[str, Any]) -> Any:
    """Return (prepared host set, reference ring) for the options."""
    prep = prepare(hosts, locality_weights=lw)
    ring = ring_hash_reference(
        list(prep.keys), list(prep.order), list(prep.weights), prep.min_weight, **opts
    )
    return prep, ring


def _scale(prep: Any, opts: dict[str, Any]) -> float:
    """Return Envoy's ring scale for a prepared host set (spec §4.2)."""
    rmin, rmax = opts["min_ring_size"], opts.get("max_ring_size", 8388608)
    return min(math.ceil(prep.min_weight * rmin) / prep.min_weight, float(rmax))


@settings(max_examples=200)  # the brute-force model is slow; CI's 400 would dominate
@given(
    hosts=ring_host_sets(),
    lw=ring_locality_weights,
    opts=ring_options,
    hashes=st.lists(uint64, max_size=20),
    attempt=st.integers(min_value=0, max_value=40),
    keys=st.lists(st.one_of(data_text, st.binary(max_size=20)), max_size=10),
)
@example(
    hosts=[Host(f"10.0.0.{i}:80", locality="z0") for i in range(75)],
    lw=None,
    opts={"min_ring_size": 1024, "hash_function": "xx_hash"},
    hashes=[0, M64],
    attempt=1,
    keys=["k"],
)
def test_agrees_with_reference(
    impl: Implementation,
    hosts: list[Host],
    lw: dict[str, int] | None,
    opts: dict[str, Any],
    hashes: list[int],
    attempt: int,
    keys: list[str | bytes],
) -> None:
    """Ring, gauges and every lookup equal the paper-literal model (brute force + linear walk)."""
    lb = impl.RingHash(hosts, locality_weights=lw, **opts)
    prep, ref = _reference(hosts, lw, opts)
    assert list(lb.ring) == ref
    counts = [0] * len(hosts)
    for _, i in ref:
        counts[i] += 1
    assert list(lb.entries_per_host) == counts
    iterated = [counts[i] for i in prep.order]
    assert lb.min_entries_per_host == (min(iterated) if iterated else 0)
    assert lb.max_entries_per_host == (max(iterated) if iterated else 0)
    assert lb.ring_size == (math.ceil(_scale(prep, opts)) if prep.order else 0)
    probes = hashes + [h for h, _ in ref[:3]] + [min(h + 1, M64) for h, _ in ref[-3:]]
    want = [ring_lookup_reference(ref, h, attempt) for h in probes]
    got = [lb.lookup(h, attempt) for h in probes]
    assert [None if g is None else lb.hosts.index(g) for g in got] == want
    want0 = [ring_lookup_reference(ref, h) for h in probes] if ref else []
    assert list(lb.lookup_many(probes)) == want0
    want_keys = [ring_lookup_reference(ref, impl.xxh64(k)) for k in keys]
    assert [None if p is None else lb.hosts.index(p) for p in map(lb.pick, keys)] == want_keys
    assert list(lb.pick_many(keys)) == (want_keys if ref else [])


@settings(max_examples=100)  # each example builds two rings
@given(
    weights=whole_count_weights(),
    rmin=st.integers(min_value=1, max_value=600),
    fn=st.sampled_from(["xx_hash", "murmur_hash_2"]),
    data=st.data(),
)
def test_order_independent_when_counts_whole(
    impl: Implementation, weights: list[int], rmin: int, fn: str, data: st.DataObject
) -> None:
    """When every scale*w is whole, any host order gives the same ring (as hash -> Host)."""
    hosts = [Host(f"10.9.0.{i}:80", w) for i, w in enumerate(weights)]
    shuffled = data.draw(st.permutations(hosts))
    a = impl.RingHash(hosts, min_ring_size=rmin, hash_function=fn)
    b = impl.RingHash(shuffled, min_ring_size=rmin, hash_function=fn)
    assert [(h, a.hosts[i]) for h, i in a.ring] == [(h, b.hosts[i]) for h, i in b.ring]
    assert dict(zip(a.hosts, a.entries_per_host, strict=True)) == dict(
        zip(b.hosts, b.entries_per_host, strict=True)
    )
    assert len(a) == a.ring_size  # whole counts: no rounding quirk either


@settings(max_examples=100)  # each example builds two rings
@given(hosts=ring_host_sets(), lw=ring_locality_weights, opts=ring_options, hashes=st.lists(uint64))
def test_sticky_across_rebuilds(
    impl: Implementation,
    hosts: list[Host],
    lw: dict[str, int] | None,
    opts: dict[str, Any],
    hashes: list[int],
) -> None:
    """Rebuilding from equal (fresh) hosts gives the same ring and the same picks."""
    a = impl.RingHash(hosts, locality_weights=lw, **opts)
    fresh = [Host(h.address, h.weight, hash_key=h.hash_key, locality=h.locality) for h in hosts]
    b = impl.RingHash(fresh, locality_weights=lw, **opts)
    assert a.ring == b.ring
    assert list(a.lookup_many(hashes)) == list(b.lookup_many(hashes))


@settings(max_examples=100)  # each example builds two rings
@given(
    hosts=ring_host_sets(min_size=2),
    opts=ring_options,
    data=st.data(),
    hashes=st.lists(uint64, min_size=1, max_size=300),
)
def test_removing_a_host_moves_only_its_keys_and_the_scale_effect(
    impl: Implementation,
    hosts: list[Host],
    opts: dict[str, Any],
    data: st.DataObject,
    hashes: list[int],
) -> None:
    """A key moves only if it was on the removed host or its entry appeared/vanished.

    Removing a host changes the scale (Envoy's too), so survivors can gain or
    lose entries; those changed entries are the only other source of moves.
    """
    r = data.draw(st.integers(min_value=0, max_value=len(hosts) - 1))
    before = impl.RingHash(hosts, **opts)
    after = impl.RingHash(hosts[:r] + hosts[r + 1 :], **opts)
    old = {(h, before.hosts[i]) for h, i in before.ring}
    new = {(h, after.hosts[i]) for h, i in after.ring}
    old_ring, new_ring = before.ring, after.ring
    old_keys, new_keys = [e[0] for e in old_ring], [e[0] for e in new_ring]
    for h in hashes + old_keys[:20]:
        pa = _first_at_or_after(old_ring, old_keys, h)
        pb = _first_at_or_after(new_ring, new_keys, h)
        ea = (pa[0], before.hosts[pa[1]])
        eb = None if pb is None else (pb[0], after.hosts[pb[1]])
        if eb is None or ea[1] != eb[1]:
            assert ea[1] is hosts[r] or eb not in old or ea not in new, (h, ea, eb)


def _first_at_or_after(ring: Any, keys: list[int], h: int) -> Any:
    """Return the first ring entry with hash >= h, wrapping; None for an empty ring."""
    if not ring:
        return None
    p = bisect_left(keys, h)
    return ring[p if p < len(ring) else 0]


@settings(max_examples=150)
@given(hosts=ring_host_sets(min_size=1), lw=ring_locality_weights, opts=ring_options)
def test_entries_proportional_to_weights(
    impl: Implementation, hosts: list[Host], lw: dict[str, int] | None, opts: dict[str, Any]
) -> None:
    """Each host gets scale * normalized weight entries, within one (running-sum rounding)."""
    lb = impl.RingHash(hosts, locality_weights=lw, **opts)
    prep = prepare(hosts, locality_weights=lw)
    scale = _scale(prep, opts) if prep.order else 0.0
    share = dict.fromkeys(range(len(hosts)), 0.0)
    share.update(zip(prep.order, prep.weights, strict=True))
    for i, count in enumerate(lb.entries_per_host):
        assert abs(count - scale * share[i]) < 1 + 1e-6
    assert lb.normalized_order == prep.order and lb.normalized_weights == prep.weights
    assert len(lb) <= math.ceil(scale) + 1  # so <= max_ring_size + 1: memory is capped


def test_identical_across_processes(impl: Implementation) -> None:
    """Subprocesses with other PYTHONHASHSEEDs build the same ring and picks (no hash())."""
    script = (
        "import hashlib\n"
        "from hashlb import Host\n"
        f"from hashlb._ring_{impl.tag} import RingHash\n"
        "hosts = [Host(f'10.4.0.{i}:80', 1 + i % 3, locality=f'z{i % 2}') for i in range(30)]\n"
        "lb = RingHash(hosts, min_ring_size=3000, locality_weights={'z1': 2, 'z0': 1})\n"
        "picks = list(lb.pick_many([f'user-{i}' for i in range(500)]))\n"
        "digest = hashlib.sha256(repr((lb.ring, picks)).encode()).hexdigest()\n"
    )
    digests = set()
    for seed in ("0", "12345", "random"):
        out = subprocess.run(
            [sys.executable, "-c", script + "print(digest)"],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    here: dict[str, Any] = {}
    exec(script, here)  # the same build in this process
    assert digests == {here["digest"]}
