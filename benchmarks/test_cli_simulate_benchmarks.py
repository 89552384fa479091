"""``hashlb simulate``: a whole run, from Istio YAML (``-f``) and from Envoy configuration.

* ``simulate canary``: the istio-canary example (1000 users x 20 requests,
  a 90/10 weighted route with a header hash) read as Istio YAML (``-f``) and
  as the equivalent Envoy ``/config_dump`` (``--envoy-config``);
* ``simulate big dump``: one route of the generated 500 clusters x 20
  endpoints, 2,000 routes dump (``tests._envoy.big_dump``), 20,000 requests:
  loading the dump dominates, and only the route's cluster builds a table.

Each round is one in-process ``hashlb simulate ... -q``.  Run::

    pytest benchmarks/test_cli_simulate_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashlb.__main__ import main
from tests._envoy import big_dump

ROOT = Path(__file__).resolve().parents[1]
CANARY = ROOT / "examples" / "istio-canary"
DUMP = ROOT / "examples" / "envoy-config" / "dump.json"


@pytest.mark.benchmark(group="simulate canary")
def test_simulate_istio_yaml(benchmark) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("yaml")
    code = benchmark.pedantic(main, (["simulate", "-f", str(CANARY), "-q"],), rounds=5)
    assert code == 0


@pytest.mark.benchmark(group="simulate canary")
def test_simulate_envoy_config(benchmark) -> None:  # type: ignore[no-untyped-def]
    args = ["simulate", "--envoy-config", str(DUMP), "--route", "cart", "-q"]
    code = benchmark.pedantic(main, (args,), rounds=5)
    assert code == 0


@pytest.mark.benchmark(group="simulate big dump")
def test_simulate_one_route_of_a_big_dump(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big_dump()), encoding="utf-8")
    args = ["simulate", "--envoy-config", str(path), "--route", "route0", "-q"]
    code = benchmark.pedantic(main, (args,), rounds=3)
    assert code == 0
