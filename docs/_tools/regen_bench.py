"""Regenerate every figure of docs/_bench in one command.

From the repository root, with the ``test``, ``compare`` and ``plot`` extras
installed (and hashlb built: the compiled twin is what the tables quote)::

    python docs/_tools/regen_bench.py
    python docs/_tools/regen_bench.py --python python3.13   # also compare-3.13

It runs, in this order:

1. the pytest-benchmark suites of :data:`SUITES` (both twins), and writes one
   reST table per suite, ``docs/_bench/<suite>.rst``: the median of each
   benchmark group for the ``c`` and ``py`` twins and for the group's baseline
   (a benchmark that is not a twin, e.g. ``xxhash``), per call where the group
   names its count (``x1000``, ``100k``, ``2M``), and the ``c`` / baseline
   ratio;
2. ``benchmarks/compare/compare.py`` with this Python and each ``--python``,
   which writes ``compare-3.X.{md,rst,png}``;
3. ``hashlb bench --plot docs/_bench/hashlb-bench.png``.

Every table starts with the date and the machine it was measured on.  The
machine is noisy (2 shared cores): quote medians and ratios from one run.
``--only`` and ``--skip`` choose the steps; ``--quick`` runs every benchmark
a few rounds (for a smoke test, not for publishing).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "_bench"

#: Suite name -> benchmark file; each becomes docs/_bench/<name>.rst.
SUITES = {
    "hashing": "benchmarks/test_hashing_benchmarks.py",
    "maglev": "benchmarks/test_maglev_benchmarks.py",
}

#: What a group's figure is compared with (shown under the table).
NOTES = {
    "maglev pick str 10 hosts x1000": "target: c <= 1.0x the xxhash floor",
    "maglev pick str 1000 hosts x1000": "target: c <= 1.0x the xxhash floor",
    "maglev lookup_many 2M": "target: <= 2 ns/key; baseline: numpy table[h % M]",
    "maglev pick_many 100k str": "target: <= 20 ns/key",
    "maglev build 1000 hosts M=65537": "target: <= 2 ms (the Maglev paper: 1.8 ms)",
    "maglev build equal vs skewed 1000 hosts M=65537": "target: skewed <= 5x equal",
    "maglev build equal vs skewed 4000 hosts M=655373": "target: skewed <= 5x equal",
    "xxh64 str 16B x1000": "baseline: xxhash.xxh64_intdigest(s.encode())",
    "xxh64 str 64B x1000": "baseline: xxhash.xxh64_intdigest(s.encode())",
}

_COUNT = re.compile(r"(?:\bx(\d+)\b|\b(\d+)([kM])\b)")
_TWIN = re.compile(r"\[(c|py)(?:-(\w+))?\]$|\[(\w+)-(c|py)\]$")


@dataclass
class Row:
    """One benchmark group, or one variant of a parametrized group."""

    group: str
    label: str
    c: float | None = None
    py: float | None = None
    baseline: float | None = None
    baseline_name: str = ""


def machine() -> str:
    """Return the date and a one-line description of this machine (compare.py's)."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "compare"))
    try:
        import compare
    finally:
        sys.path.pop(0)
    return str(compare.machine())


def per_call(group: str) -> int:
    """Return how many calls one round of *group* makes (1 when it does not say)."""
    m = _COUNT.search(group)
    if not m:
        return 1
    if m.group(1):
        return int(m.group(1))
    return int(m.group(2)) * {"k": 1_000, "M": 1_000_000}[m.group(3)]


def rows(benchmarks: list[dict[str, object]]) -> list[Row]:
    """Fold pytest-benchmark's JSON ``benchmarks`` into one row per group (and variant)."""
    out: dict[tuple[str, str], Row] = {}
    baselines: dict[str, tuple[str, float]] = {}
    for b in benchmarks:
        group = str(b.get("group") or b["name"])
        name = str(b["name"])
        median = float(b["stats"]["median"])  # type: ignore[index]
        m = _TWIN.search(name)
        if m is None:
            baselines.setdefault(group, (name.removeprefix("test_"), median))
            continue
        twin = m.group(1) or m.group(4)
        variant = m.group(2) or m.group(3) or ""
        row = out.setdefault(
            (group, variant), Row(group, f"{group} ({variant})" if variant else group)
        )
        setattr(row, twin, median)
    for row in out.values():
        if row.group in baselines:
            row.baseline_name, row.baseline = baselines[row.group]
    for group, (name, median) in baselines.items():
        if not any(r.group == group for r in out.values()):
            out[(group, "")] = Row(group, group, baseline=median, baseline_name=name)
    return list(out.values())


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def rst_table(suite: str, table: list[Row], where: str) -> str:
    """Render one suite's rows as a reST list-table, with the machine and date first."""
    out = [
        f"Measured on: {where}; medians of one run of ``{SUITES.get(suite, suite)}``,",
        "per call where the group makes several (generated by",
        "``python docs/_tools/regen_bench.py``).",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - benchmark",
        "     - ``c``",
        "     - ``py``",
        "     - baseline",
        "     - ``c`` / baseline",
    ]
    notes = []
    for row in table:
        n = per_call(row.group)
        ratio = f"{row.c / row.baseline:.2f}x" if row.c and row.baseline else "--"
        base = f"{_time(row.baseline / n)} ({row.baseline_name})" if row.baseline else "--"
        out += [
            f"   * - ``{row.label}``",
            f"     - {_time(row.c / n if row.c is not None else None)}",
            f"     - {_time(row.py / n if row.py is not None else None)}",
            f"     - {base}",
            f"     - {ratio}",
        ]
        if row.group in NOTES and (row.group, NOTES[row.group]) not in notes:
            notes.append((row.group, NOTES[row.group]))
    if notes:
        out.append("")
        out += [f"* ``{group}``: {note}" for group, note in notes]
    return "\n".join(out) + "\n"


def _compiled() -> bool:
    """Whether the compiled twin loads here (False on a pure build)."""
    import hashlb

    return hashlb.IMPLEMENTATION == "c"


def run_suite(suite: str, quick: bool) -> list[Row]:
    """Run one benchmark file of :data:`SUITES` and return its rows."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "bench.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            SUITES[suite],
            "-q",
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={report}",
        ]
        if not _compiled():  # a pure build times the pure twin only
            cmd.append("--no-c-extensions")
        if quick:
            cmd += [
                "--benchmark-min-rounds=1",
                "--benchmark-max-time=0.0001",
                "--benchmark-warmup=off",
            ]
        subprocess.run(cmd, cwd=ROOT, check=True)
        data = json.loads(report.read_text())
    return rows(data["benchmarks"])


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the figures; return the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="where the figures go (docs/_bench)")
    ap.add_argument(
        "--python", action="append", default=[], help="another Python for compare.py (repeatable)"
    )
    steps = ("suites", "compare", "plot")
    ap.add_argument("--only", action="append", choices=steps + tuple(SUITES), help="run only this")
    ap.add_argument("--skip", action="append", choices=steps, default=[], help="skip this step")
    ap.add_argument("--quick", action="store_true", help="few rounds: a smoke test, not figures")
    args = ap.parse_args(argv)
    only = set(args.only or steps)
    suites = [s for s in SUITES if s in only or "suites" in only]
    args.out.mkdir(parents=True, exist_ok=True)
    where = machine()
    if "suites" not in args.skip:
        for suite in suites:
            print(f"regen_bench: {SUITES[suite]} ...", file=sys.stderr, flush=True)
            table = run_suite(suite, args.quick)
            (args.out / f"{suite}.rst").write_text(rst_table(suite, table, where))
            print(f"regen_bench: wrote {args.out / (suite + '.rst')} ({len(table)} rows)")
    if "compare" in only and "compare" not in args.skip:
        quick = ["--keys", "2000", "--balance-keys", "20000", "--rounds", "1"] if args.quick else []
        for python in [sys.executable, *args.python]:
            cmd = [python, "benchmarks/compare/compare.py", "--out", str(args.out), *quick]
            print(f"regen_bench: {' '.join(cmd)}", file=sys.stderr, flush=True)
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    if "plot" in only and "plot" not in args.skip:
        cmd = [
            sys.executable,
            "-m",
            "hashlb",
            "bench",
            "--plot",
            str(args.out / "hashlb-bench.png"),
        ]
        if args.quick:
            cmd += [
                "--hosts",
                "10",
                "--ring-sizes",
                "1024",
                "--table-sizes",
                "65537",
                "--keys",
                "1000",
            ]
        print(f"regen_bench: {' '.join(cmd)}", file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
