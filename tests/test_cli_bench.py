"""``hashlb bench`` end to end: numbers from the real tables, outputs, errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from hashlb import Host
from hashlb.cli import bench

from ._cli import error_line, run_cli, run_shared
from ._impl import Implementation

SMALL = ("--hosts", "5,20", "--ring-sizes", "64,1024", "--table-sizes", "251", "--keys", "3000")


def test_bench_small_sweep_writes_json_csv_and_tables(impl: Implementation, tmp_path: Path) -> None:
    """A small sweep prints both tables, progress on stderr, and matching JSON and CSV."""
    proc = run_cli(
        impl, "bench", *SMALL, "--json", tmp_path / "b.json", "--csv", tmp_path / "b.csv"
    )
    assert proc.returncode == 0, proc.stderr
    assert "ring_hash:" in proc.stdout and "maglev:" in proc.stdout
    assert f"implementation {impl.tag}" in proc.stdout
    assert "[1/7]" in proc.stderr and "[7/7]" in proc.stderr  # progress, not on stdout
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["schema"] == 1 and data["keys"] == 3000 and data["implementation"] == impl.tag
    combos = [(r["algorithm"], r["hosts"], r["size"]) for r in data["results"]]
    assert combos == [
        ("ring_hash", 5, 64),
        ("ring_hash", 5, 1024),
        ("ring_hash", 20, 64),
        ("ring_hash", 20, 1024),
        ("maglev", 5, 251),
        ("maglev", 20, 251),
    ]
    for r in data["results"]:
        assert r["balance"]["max_mean"] >= 1.0
        assert (
            r["nbytes"] > 0 and r["entries"] >= r["size"]
            if r["algorithm"] == "ring_hash"
            else r["entries"] == r["size"]
        )
        assert set(r["disruption"]) == {"1", "2", "3"}
        for k, d in r["disruption"].items():
            assert d["optimal"] == pytest.approx(int(k) / r["hosts"], abs=1e-6)
            # every key of a lost host moves: the minimum is their share, never above moved
            assert 0 < d["minimum"] <= d["moved"] + 1e-9
            assert 0 < d["moved"] < 1
    rows = list(csv.DictReader((tmp_path / "b.csv").read_text().splitlines()))
    assert [(r["algorithm"], int(r["hosts"]), int(r["size"])) for r in rows] == combos
    assert float(rows[0]["max_mean"]) == data["results"][0]["balance"]["max_mean"]


def test_bench_reproduces_envoy_stddev_hits(impl: Implementation, tmp_path: Path) -> None:
    """100 hosts, ring 65536, 100k Envoy keys: stddev_hits is Envoy's published 44.9153."""
    out = tmp_path / "r.json"
    proc = run_cli(
        impl,
        "bench",
        "--algorithms",
        "ring_hash",
        "--hosts",
        "100",
        "--ring-sizes",
        "65536",
        "--keys",
        "100000",
        "--json",
        out,
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # -q: nothing on either stream
    (r,) = json.loads(out.read_text())["results"]
    assert r["balance"]["stddev_hits"] == pytest.approx(44.9153, abs=1e-4)
    assert r["balance"]["stddev_mean"] == pytest.approx(0.0449, abs=1e-4)


def test_bench_disruption_equals_direct_library_calls(impl: Implementation) -> None:
    """bench_one's balance and disruption equal a direct computation with the twin's Maglev."""
    keys = bench.envoy_keys(5000)
    result = bench.bench_one("maglev", 30, 251, keys)
    hosts = [Host(f"10.0.0.{i}:6379") for i in range(30)]
    before = [impl.Maglev(hosts, table_size=251).lookup(h) for h in keys]
    counts = [sum(1 for h in before if h is x) for x in hosts]
    assert result.max_mean == pytest.approx(max(counts) / (5000 / 30))
    for k in (1, 2, 3):
        after = impl.Maglev(hosts[: 30 - k], table_size=251)
        moved = sum(1 for h, b in zip(keys, before, strict=True) if after.lookup(h) != b)
        assert result.disruption[k] == moved / 5000
        held = sum(1 for b in before if b in hosts[30 - k :])
        assert result.minimum[k] == held / 5000 <= result.disruption[k]
    assert result.entries == 251 and result.nbytes == impl.Maglev(hosts, table_size=251).nbytes


def test_bench_pure_fallbacks_without_numpy(
    impl: Implementation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without numpy the key hashing, hit counts and move counts give the same numbers."""
    keys_np = bench.envoy_keys(2000)
    idx = impl.RingHash([Host(f"h{i}") for i in range(7)]).lookup_many(keys_np)
    counts_np = bench._counts(array("I", idx), 7)
    monkeypatch.setitem(sys.modules, "numpy", None)
    assert bench.envoy_keys(2000) == keys_np
    assert bench._counts(array("I", idx), 7) == counts_np
    other = array("I", [0] * len(idx))
    assert bench._moved(array("I", idx), other) == sum(1 for i in idx if i != 0)


BAD_SIZES = [
    (("--table-sizes", "65536"), "--table-sizes: 65536 is not a prime"),
    (("--ring-sizes", "9000000"), "--ring-sizes: 9000000 is above"),
    (("--hosts", "70000"), "--hosts: 70000 is above 65536"),
]


@pytest.mark.parametrize(("args", "message"), BAD_SIZES)
def test_bench_bad_sizes_exit_2_without_output(
    impl: Implementation, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """A bad size is one error line, exit code 2, and no JSON/CSV file."""
    proc = run_shared(
        impl,
        BAD_SIZES.index((args, message)),
        "bench",
        *args,
        "--json",
        "x.json",
        "--csv",
        "x.csv",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert message in error_line(proc)
    assert list(tmp_path.iterdir()) == []


USAGE = [("--bogus",), ("--hosts", "ten"), ("--algorithms", "rendezvous"), ("--keys", "0")]


@pytest.mark.parametrize("args", USAGE)
def test_bench_usage_errors(impl: Implementation, tmp_path: Path, args: tuple[str, ...]) -> None:
    """Unknown flags and unparseable values get argparse's usage error (exit 2)."""
    proc = run_shared(impl, USAGE.index(args), "bench", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: hashlb") and "error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_plot(impl: Implementation, tmp_path: Path) -> None:
    """--plot writes a PNG with matplotlib, or fails cleanly (exit 2, no file) without it."""
    png = tmp_path / "b.png"
    tiny = ("--hosts", "5", "--ring-sizes", "64", "--table-sizes", "251", "--keys", "500")
    proc = run_cli(impl, "bench", *tiny, "--plot", png, "-q")
    if importlib.util.find_spec("matplotlib") is None:
        assert proc.returncode == 2 and 'pip install "hashlb[plot]"' in error_line(proc)
        assert not png.exists()
    else:
        assert proc.returncode == 0, proc.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == (["b.png"] if png.exists() else [])


def test_bench_plot_without_matplotlib_is_a_clear_error(
    impl: Implementation, tmp_path: Path
) -> None:
    """With matplotlib unimportable, --plot names the extra to install and writes nothing."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from hashlb.__main__ import main\n"
        f"sys.exit(main(['bench', '--plot', {str(tmp_path / 'b.png')!r}, '--json', "
        f"{str(tmp_path / 'b.json')!r}]))"
    )
    env_impl = ["HASHLB_NO_EXTENSIONS=1"] if impl.is_pure_python else []
    proc = subprocess.run(
        ["env", *env_impl, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert (
        error_line(proc)
        == 'hashlb bench: error: --plot: needs matplotlib: pip install "hashlb[plot]"'
    )
    assert list(tmp_path.iterdir()) == []
