"""Write ``requests.parquet``: 20,000 logged requests of 2,000 users (``user_id``).

The user id is also the value of the ``x-myval`` header the example canary
(``examples/istio-canary``) hashes.  Run from the repository root::

    python examples/access-logs/make_requests_parquet.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

OUT = Path(__file__).with_name("requests.parquet")


def main(path: Path = OUT) -> None:
    """Write the log to *path* (seeded: the same file every time)."""
    users = np.random.default_rng(15).integers(0, 2_000, 20_000)
    ids = pc.binary_join_element_wise("user-", pc.cast(pa.array(users), pa.string()), "")
    pq.write_table(pa.table({"user_id": ids}), path, compression="zstd")


if __name__ == "__main__":
    main()
