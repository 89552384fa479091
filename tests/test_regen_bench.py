"""docs/_tools/regen_bench.py: one command writes the docs/_bench tables, dated and placed."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_tools"))
try:
    import regen_bench
finally:
    sys.path.pop(0)


def _bench(name: str, group: str, median: float) -> dict[str, object]:
    return {"name": name, "group": group, "stats": {"median": median}}


def test_rows_pair_the_twins_with_their_baseline() -> None:
    table = regen_bench.rows(
        [
            _bench("test_pick[c]", "pick str x1000", 40e-6),
            _bench("test_pick[py]", "pick str x1000", 400e-6),
            _bench("test_floor", "pick str x1000", 100e-6),
            _bench("test_build[c-equal]", "build", 2e-3),
            _bench("test_build[c-skewed]", "build", 1e-3),
            _bench("test_build[py-equal]", "build", 70e-3),
            _bench("test_numpy_only", "numpy", 5e-3),
        ]
    )
    by_label = {r.label: r for r in table}
    pick = by_label["pick str x1000"]
    assert (pick.c, pick.py, pick.baseline, pick.baseline_name) == (40e-6, 400e-6, 100e-6, "floor")
    assert by_label["build (equal)"].c == 2e-3 and by_label["build (equal)"].py == 70e-3
    assert by_label["build (skewed)"].py is None
    assert by_label["numpy"].baseline == 5e-3 and by_label["numpy"].c is None
    text = regen_bench.rst_table("x", table, "2026-01-01, a machine")
    assert text.startswith("Measured on: 2026-01-01, a machine;")
    # per call: 40 us per 1000 calls is 40 ns, ratio 0.40x against the 100 ns floor
    assert "     - 40 ns\n     - 400 ns\n     - 100 ns (floor)\n     - 0.40x" in text
    assert "     - 2 ms\n     - 70 ms\n     - --\n     - --" in text


def test_per_call_reads_the_count_in_the_group_name() -> None:
    assert regen_bench.per_call("maglev pick str 10 hosts x1000") == 1000
    assert regen_bench.per_call("maglev lookup_many 2M") == 2_000_000
    assert regen_bench.per_call("maglev pick_many 100k str") == 100_000
    assert regen_bench.per_call("maglev build 1000 hosts M=65537") == 1


def test_one_command_writes_a_dated_table(tmp_path: Path) -> None:
    assert regen_bench.main(["--only", "hashing", "--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "hashing.rst").read_text()
    assert text.startswith(f"Measured on: {date.today().isoformat()}, ")
    assert "``xxh64 str 16B x1000``" in text and "xxhash_intdigest_encode_16b" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hashing.rst"]
