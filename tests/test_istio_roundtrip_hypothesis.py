"""The round trip of ``hashlb translate`` on generated meshes (Hypothesis).

For any mesh :func:`tests.strategies.istio_meshes` draws (policies at every
level, port-level entries with and without ``loadBalancer``, several routes
with matches, zero weights, pods not Ready or unhealthy, each
``--unhealthy-endpoints`` mode), ``simulate -f`` and ``translate |
simulate --envoy-config`` decide the same cluster for every request, and the
same endpoint and hash when the cluster hashes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hypothesis import HealthCheck, given, settings

from ._roundtrip import round_trip, write_requests
from .strategies import istio_meshes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(istio_meshes())
def test_round_trip_holds_for_generated_meshes(mesh: tuple[str, str]) -> None:
    text, mode = mesh
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mesh").mkdir()
        (root / "mesh" / "mesh.yaml").write_text(text, encoding="utf-8")
        counts = round_trip(
            root,
            [root / "mesh"],
            requests=write_requests(root / "requests.jsonl", 40),
            options=("--unhealthy-endpoints", mode),
        )
    assert counts["compared"] + counts["unrouted"] + counts["not_hashing"] == 40
