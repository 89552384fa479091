"""Generate tests/golden/maglev_small.json from the paper-literal reference model.

Run from the repository root: ``python tests/golden/gen_maglev_golden.py``.
Each case lists its hosts, the Maglev options and the expected table and
entry counts, computed by ``tests.reference.maglev_reference`` (not by the
library), so the golden file pins the library against an independent model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from hashlb import Host  # noqa: E402
from hashlb._weights import prepare  # noqa: E402
from tests.reference import maglev_reference  # noqa: E402

CASES = [
    {
        "name": "Weighted101",
        "hosts": [
            {"address": f"10.0.0.{i}:8080", "weight": w}
            for i, w in enumerate([1, 2, 3, 5, 8, 13, 1, 1])
        ],
        "options": {"table_size": 101},
    },
    {
        "name": "Localities",
        "hosts": [
            {"address": "10.1.0.1:80", "weight": 1, "locality": "zone-b"},
            {"address": "10.1.0.2:80", "weight": 3, "locality": "zone-a"},
            {"address": "10.1.0.3:80", "weight": 1, "locality": "zone-a"},
            {"address": "10.1.0.4:80", "weight": 2, "locality": "zone-b"},
            {"address": "10.1.0.5:80", "weight": 9, "locality": "zone-c"},
        ],
        "options": {"table_size": 31, "locality_weights": {"zone-a": 2, "zone-c": 0, "zone-b": 1}},
    },
    {
        "name": "HashKeyTies",
        "hosts": [
            {"address": "10.2.0.3:80", "weight": 1, "hash_key": "same"},
            {"address": "10.2.0.1:80", "weight": 2, "hash_key": "same"},
            {"address": "10.2.0.2:80", "weight": 1},
            {"address": "10.2.0.4:80", "weight": 1, "hash_key": "other"},
        ],
        "options": {"table_size": 13},
    },
    {
        "name": "Hostnames",
        "hosts": [
            {"address": f"10.3.0.{i}:6379", "weight": 1, "hostname": f"redis-{i}.cache.svc"}
            for i in range(5)
        ],
        "options": {"table_size": 17, "use_hostname": True},
    },
]


def build(case: dict) -> dict:  # type: ignore[type-arg]
    """Return *case* with the reference model's expected table and counts."""
    hosts = [Host(**h) for h in case["hosts"]]
    opts = case["options"]
    prep = prepare(
        hosts,
        use_hostname=opts.get("use_hostname", False),
        locality_weights=opts.get("locality_weights"),
    )
    table, counts = maglev_reference(
        list(prep.keys),
        list(prep.order),
        list(prep.weights),
        opts["table_size"],
        tie=lambda i: hosts[i]._sort_key(),
    )
    return {**case, "expected": {"maglev_table": table, "entries_per_host": counts}}


def main() -> None:
    """Write the golden file next to this script."""
    out = Path(__file__).with_name("maglev_small.json")
    data = {
        "description": "Maglev tables pinned from tests/reference.py (gen_maglev_golden.py).",
        "cases": [build(c) for c in CASES],
    }
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
