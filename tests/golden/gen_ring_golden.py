"""Generate ``ring_small.json``: small ring-hash tables pinned for both twins.

The tables come from the paper-literal model in ``tests/reference.py`` (a
brute-force transcription of Envoy's ``Ring::Ring`` with a linear-walk
lookup), not from the library, and use the same schema as the ring cases of
``envoy-vectors.json``.  Run from the repository root::

    python tests/golden/gen_ring_golden.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from hashlb._types import Host  # noqa: E402
from hashlb._weights import prepare  # noqa: E402
from tests.reference import ring_hash_reference, ring_lookup_reference  # noqa: E402

OUT = Path(__file__).with_name("ring_small.json")

#: Probe hashes: the ends of the hash space and a spread in between.
PROBES = [0, 1, 2**63, 2**64 - 1] + [i * 0x9E3779B97F4A7C15 % 2**64 for i in range(1, 9)]

CASES: list[dict] = [  # type: ignore[type-arg]
    {
        "name": "Weighted123_xx",
        "note": "weights 1, 2, 3; min_ring_size 12: 2, 4, 6 entries",
        "hosts": [
            {"address": "10.0.0.1:80", "weight": 1},
            {"address": "10.0.0.2:80", "weight": 2},
            {"address": "10.0.0.3:80", "weight": 3},
        ],
        "config": {"min_ring_size": 12, "hash_function": "xx_hash"},
    },
    {
        "name": "Weighted123_murmur",
        "note": "the same hosts hashed with MURMUR_HASH_2",
        "hosts": [
            {"address": "10.0.0.1:80", "weight": 1},
            {"address": "10.0.0.2:80", "weight": 2},
            {"address": "10.0.0.3:80", "weight": 3},
        ],
        "config": {"min_ring_size": 12, "hash_function": "murmur_hash_2"},
    },
    {
        "name": "FractionalFourHostsRing6",
        "note": "spec §4.2: 4 hosts, ring 6 -> 2, 1, 2, 1 (counts depend on host order)",
        "hosts": [{"address": f"10.0.0.{i}:80", "weight": 1} for i in range(4)],
        "config": {"min_ring_size": 6, "max_ring_size": 6, "hash_function": "xx_hash"},
    },
    {
        "name": "LocalityWeights",
        "note": "localities in mapping order; z0 has weight 0 and contributes nothing",
        "hosts": [
            {"address": "10.0.1.1:80", "weight": 1, "locality": "z2"},
            {"address": "10.0.0.1:80", "weight": 1, "locality": "z0"},
            {"address": "10.0.1.2:80", "weight": 3, "locality": "z1"},
            {"address": "10.0.1.3:80", "weight": 1, "locality": "z1"},
        ],
        "locality_weights": {"z1": 2, "z0": 0, "z2": 1},
        "config": {"min_ring_size": 16, "hash_function": "xx_hash"},
    },
    {
        "name": "SharedHashKey",
        "note": "two hosts share a hash key: equal hashes, ordered by host index",
        "hosts": [
            {"address": "10.0.0.1:80", "weight": 1, "hash_key": "shared"},
            {"address": "10.0.0.2:80", "weight": 1, "hash_key": "shared"},
            {"address": "10.0.0.3:80", "weight": 1},
        ],
        "config": {"min_ring_size": 6, "hash_function": "xx_hash"},
    },
    {
        "name": "UseHostname",
        "note": "use_hostname hashes the hostnames (spec §2)",
        "hosts": [
            {"address": "10.0.0.1:80", "weight": 1, "hostname": "web-0"},
            {"address": "10.0.0.2:80", "weight": 1, "hostname": "web-1"},
        ],
        "use_hostname": True,
        "config": {"min_ring_size": 8, "hash_function": "xx_hash"},
    },
]


def _host(spec: dict) -> Host:  # type: ignore[type-arg]
    return Host(
        spec["address"],
        spec["weight"],
        hostname=spec.get("hostname"),
        hash_key=spec.get("hash_key"),
        locality=spec.get("locality"),
    )


def build(case: dict) -> dict:  # type: ignore[type-arg]
    """Return *case* with its ``expected`` block computed by the reference model."""
    prep = prepare(
        [_host(h) for h in case["hosts"]],
        use_hostname=case.get("use_hostname", False),
        locality_weights=case.get("locality_weights"),
    )
    cfg = case["config"]
    rmin = cfg["min_ring_size"]
    rmax = cfg.get("max_ring_size", 8388608)
    ring = ring_hash_reference(
        list(prep.keys),
        list(prep.order),
        list(prep.weights),
        prep.min_weight,
        min_ring_size=rmin,
        max_ring_size=rmax,
        hash_function=cfg["hash_function"],
    )
    counts = [0] * len(prep.hosts)
    for _, host in ring:
        counts[host] += 1
    iterated = [counts[i] for i in prep.order]
    scale = min(math.ceil(prep.min_weight * rmin) / prep.min_weight, float(rmax))
    lookups = [
        {"hash": h, "attempt": a, "expected_host_index": ring_lookup_reference(ring, h, a)}
        for h in [*PROBES, ring[1][0], ring[1][0] + 1]
        for a in (0, 1, 2)
    ]
    return {
        **case,
        "expected": {
            "ring_size_stat": math.ceil(scale),
            "min_hashes_per_host": min(iterated),
            "max_hashes_per_host": max(iterated),
            "entries_per_host": counts,
            "ring": [list(e) for e in ring],
            "lookups": lookups,
        },
    }


def main() -> None:
    """Write ring_small.json."""
    data = {
        "description": "Small ring-hash tables from tests/reference.py (gen_ring_golden.py).",
        "cases": [build(c) for c in CASES],
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
