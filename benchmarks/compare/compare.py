"""Time hashlb against Python's consistent-hashing libraries, in one process.

Install the peers with the ``compare`` extra, then run from the repo root::

    pip install ".[compare]"
    python benchmarks/compare/compare.py --out docs/_bench

Every library sees the same host names and the same keys.  Measured:

* single lookup, ns per call (``for k in keys: lookup(k)``, loop included),
  at 10 and 1000 hosts; median of several rounds;
* build time, ms, at 1000 hosts; median of several builds;
* balance: max/mean keys per host over ``--balance-keys`` keys, 100 hosts;
* disruption: share of keys that move when one of 100 hosts is removed
  (the optimum is 1%).

Peers that are not installed are skipped, with a note in the output.  The
results go to ``compare-3.X.md`` (a Markdown table), ``compare-3.X.rst``
(the same as a reST table, included by the docs) and ``compare-3.X.png`` (a
bar chart) in ``--out``, ``3.X`` being the Python version: the docs publish
a 3.11 and a 3.13 run (fastring installs only on 3.13).  Every table names
the date and the machine.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

import hashlb

Lookup = Callable[[str], object]


@dataclass
class Peer:
    """One library under test: how to build it and how to look a key up."""

    name: str
    algorithm: str
    module: str  # import name used to detect whether it is installed
    build: Callable[[list[str]], Lookup]
    note: str = ""
    complexity: str = "O(log n)"
    #: turns the shared str keys into what this peer takes (pre-hashed rows)
    key_prep: Callable[[str], object] | None = None
    #: builds the peer's batch lookup (a list of keys in one call), if it has one
    batch: Callable[[list[str]], Callable[[list[str]], object]] | None = None


def _hosts(n: int) -> list[str]:
    """Return Envoy-benchmark-style host addresses (spec §12)."""
    return [f"10.0.{i // 256}.{i % 256}:6379" for i in range(n)]


def _hashlb_maglev_raw(names: list[str]) -> Lookup:
    from hashlb.maglev import Maglev

    return Maglev([hashlb.Host(n) for n in names]).pick


def _hashlb_ring(names: list[str]) -> Lookup:
    return hashlb.RingHash([hashlb.Host(n) for n in names]).pick


def _hashlb_maglev_batch(names: list[str]) -> Callable[[list[str]], object]:
    from hashlb.maglev import Maglev

    return Maglev([hashlb.Host(n) for n in names]).pick_many


def _hashlb_ring_batch(names: list[str]) -> Callable[[list[str]], object]:
    return hashlb.RingHash([hashlb.Host(n) for n in names]).pick_many


def _hashlb_maglev_lookup(names: list[str]) -> Lookup:
    from hashlb.maglev import Maglev

    return Maglev([hashlb.Host(n) for n in names]).lookup  # type: ignore[return-value]


def _jump_int(names: list[str]) -> Lookup:
    import jump

    n = len(names)
    jh = jump.hash
    return lambda k: jh(k, n)  # type: ignore[arg-type]


def _prehash(k: str) -> object:
    return xxhash.xxh64_intdigest(k.encode())


def _uhashring(names: list[str]) -> Lookup:
    from uhashring import HashRing

    return HashRing(nodes=names).get_node  # type: ignore[no-any-return]


def _jump(names: list[str]) -> Lookup:
    import jump

    n = len(names)
    h = xxhash.xxh64_intdigest
    jh = jump.hash
    return lambda k: names[jh(h(k.encode()), n)]


def _clandestined(names: list[str]) -> Lookup:
    from clandestined import RendezvousHash

    return RendezvousHash(nodes=list(names)).find_node  # type: ignore[no-any-return]


def _hashring(names: list[str]) -> Lookup:
    from hashring import HashRing

    return HashRing(list(names)).get_node  # type: ignore[no-any-return]


def _fastring_ring(names: list[str]) -> object:  # pragma: no cover - Python >= 3.13 only
    import fastring

    # fastring.HashRing(virtual_nodes=128) takes no nodes; each is added with add_node.
    ring = fastring.HashRing()
    for name in names:
        ring.add_node(name)
    return ring


def _fastring(names: list[str]) -> Lookup:  # pragma: no cover - Python >= 3.13 only
    return _fastring_ring(names).get_node  # type: ignore[attr-defined,no-any-return]


def _fastring_batch(names: list[str]) -> Callable[[list[str]], object]:  # pragma: no cover
    return _fastring_ring(names).get_node_batch  # type: ignore[attr-defined,no-any-return]


PEERS = [
    Peer(
        "hashlb Maglev",
        "Maglev (Envoy-exact, M=65537)",
        "hashlb",
        _hashlb_maglev_raw,
        "compiled twin" if hashlb.IMPLEMENTATION == "c" else "pure twin",
        "O(1)",
        batch=_hashlb_maglev_batch,
    ),
    Peer(
        "hashlb RingHash",
        "ring (Envoy-exact, xxHash64, min ring 1024)",
        "hashlb",
        _hashlb_ring,
        "compiled twin" if hashlb.IMPLEMENTATION == "c" else "pure twin",
        batch=_hashlb_ring_batch,
    ),
    Peer("uhashring", "ring (md5, ketama, 160 vnodes)", "uhashring", _uhashring, "pure Python"),
    Peer(
        "hashlb Maglev, pre-hashed",
        "Maglev.lookup(int)",
        "hashlb",
        _hashlb_maglev_lookup,
        "key hashed outside the timed loop",
        "O(1)",
        _prehash,
    ),
    Peer(
        "jump-consistent-hash",
        "jump hash (C) + xxHash64 of the str key",
        "jump",
        _jump,
        "can only remove the last bucket",
        "O(log n)",
    ),
    Peer(
        "jump-consistent-hash, pre-hashed",
        "jump.hash(int, n)",
        "jump",
        _jump_int,
        "int key hashed outside the timed loop; index only",
        "O(log n)",
        _prehash,
    ),
    Peer("hashring", "ring (md5, 40 vnodes x 4)", "hashring", _hashring, "pure Python"),
    Peer(
        "clandestined",
        "rendezvous (murmur3)",
        "clandestined",
        _clandestined,
        "pure Python, O(n) per lookup",
        "O(n)",
    ),
    Peer(
        "fastring",
        "ring in Rust, 128 vnodes",
        "fastring",
        _fastring,
        "Python >= 3.13 only",
        batch=_fastring_batch,
    ),
]


def _median_ns_per_call(fn: Lookup, keys: Sequence[str], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for k in keys:
            fn(k)
        samples.append((time.perf_counter_ns() - t0) / len(keys))
    return statistics.median(samples)


def _median_batch_ns_per_key(
    fn: Callable[[list[str]], object], keys: list[str], rounds: int
) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn(keys)
        samples.append((time.perf_counter_ns() - t0) / len(keys))
    return statistics.median(samples)


def _median_build_ms(peer: Peer, names: list[str], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter_ns()
        peer.build(names)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def _owner(fn: Lookup, key: object) -> str:
    node = fn(key)  # type: ignore[arg-type]
    return str(getattr(node, "address", node))


def measure(peer: Peer, keys: list[str], balance_keys: int, rounds: int) -> dict[str, object]:
    """Return the four figures for one peer."""
    row: dict[str, object] = {"library": peer.name, "algorithm": peer.algorithm, "note": peer.note}
    prep = peer.key_prep or (lambda k: k)
    keys = [prep(k) for k in keys]  # type: ignore[misc]
    for n in (10, 1000):
        fn = peer.build(_hosts(n))
        # O(n) peers get fewer keys at 1000 hosts so the run stays short.
        ks = keys[:200] if peer.complexity == "O(n)" and n == 1000 else keys
        row[f"lookup_ns_{n}"] = _median_ns_per_call(fn, ks, rounds)
    if peer.batch is not None:
        row["batch_ns_1000"] = _median_batch_ns_per_key(peer.batch(_hosts(1000)), keys, rounds)
    row["build_ms_1000"] = _median_build_ms(
        peer, _hosts(1000), 3 if peer.complexity != "O(1)" else 7
    )
    names = _hosts(100)
    nkeys = balance_keys if peer.complexity != "O(n)" else min(balance_keys, 50_000)
    bkeys = [prep(f"user-{i}") for i in range(nkeys)]
    fn = peer.build(names)
    owners = [_owner(fn, k) for k in bkeys]
    counts = Counter(owners)
    row["balance_keys"] = nkeys
    row["max_over_mean"] = max(counts.values()) / (nkeys / len(names))
    # jump hash can only drop the last bucket; everyone else loses a middle host.
    removed = names[-1] if peer.module == "jump" else names[len(names) // 2]
    fn2 = peer.build([n for n in names if n != removed])
    if peer.build is _jump_int:  # its lookup returns a bucket number, not a name
        removed = str(len(names) - 1)
    moved = sum(1 for k, o in zip(bkeys, owners, strict=True) if _owner(fn2, k) != o)
    row["moved_pct"] = 100.0 * moved / nkeys
    row["removed_share_pct"] = 100.0 * counts[removed] / nkeys
    return row


def machine() -> str:
    """Describe the machine the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    import datetime
    import os

    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return (
        f"{day}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, hashlb {hashlb.__version__} "
        f"({hashlb.IMPLEMENTATION})"
    )


def markdown(rows: list[dict[str, object]], skipped: list[str]) -> str:
    """Render the results as a Markdown table."""
    out = [
        "| library | algorithm | lookup ns @10 | lookup ns @1000 | batch ns/key @1000 | build ms @1000 | max/mean (100 hosts) | moved when 1 of 100 removed (optimum 1%) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['library']} | {r['algorithm']} | {r['lookup_ns_10']:.0f} | {r['lookup_ns_1000']:.0f} "
            f"| {_batch(r)} | {r['build_ms_1000']:.2f} "
            f"| {r['max_over_mean']:.3f} ({r['balance_keys']:,} keys) | {r['moved_pct']:.2f}% |"
        )
    by_name = {str(r["library"]): r for r in rows}
    if "hashlb Maglev" in by_name:
        out.append("")
        for r in rows:
            if str(r["library"]).startswith("hashlb"):
                continue
            # like with like: a pre-hashed peer is compared with Maglev.lookup(int)
            pre = "pre-hashed" in str(r["library"])
            base = by_name.get(
                "hashlb Maglev, pre-hashed" if pre else "hashlb Maglev", by_name["hashlb Maglev"]
            )
            out.append(
                f"- {r['library']}: {base['library']} is "
                f"{float(r['lookup_ns_1000']) / float(base['lookup_ns_1000']):.1f}x faster per lookup at 1000 hosts"
                + (f" ({r['note']})" if r["note"] else "")
            )
    batched = [r for r in rows if "batch_ns_1000" in r]
    fastest = min(batched, key=lambda r: float(r["batch_ns_1000"]), default=None)  # type: ignore[arg-type]
    for r in batched:
        if fastest is not None and r is not fastest:
            out.append(
                f"- batch, list of str keys: {fastest['library']} is "
                f"{float(r['batch_ns_1000']) / float(fastest['batch_ns_1000']):.1f}x faster "  # type: ignore[arg-type]
                f"per key than {r['library']} at 1000 hosts"
            )
    if batched:
        out.append(
            "- batch: hashlb's pick_many returns host indices (a numpy array or array('I')), "
            "fastring's get_node_batch a list of node names"
        )
    for s in skipped:
        out.append(f"- skipped: {s}")
    return "\n".join(out) + "\n"


def _batch(r: dict[str, object]) -> str:
    return f"{float(r['batch_ns_1000']):.0f}" if "batch_ns_1000" in r else "-"  # type: ignore[arg-type]


#: An empty batch cell in reST: a lone "-" in a list-table cell would be a bullet list.
NO_BATCH_RST = "\\-"


def rst(rows: list[dict[str, object]], skipped: list[str], where: str) -> str:
    """Render the results as a reST list-table (for the Sphinx docs)."""
    out = [
        f"Measured on: {where}.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - library",
        "     - algorithm",
        "     - lookup ns @10 hosts",
        "     - lookup ns @1000 hosts",
        "     - batch ns/key @1000 hosts",
        "     - build ms @1000 hosts",
        "     - max/mean, 100 hosts",
        "     - moved when 1 of 100 hosts is removed (optimum 1%)",
    ]
    for r in rows:
        out += [
            f"   * - {r['library']}",
            f"     - {r['algorithm']}",
            f"     - {float(r['lookup_ns_10']):.0f}",  # type: ignore[arg-type]
            f"     - {float(r['lookup_ns_1000']):.0f}",  # type: ignore[arg-type]
            f"     - {_batch(r) if 'batch_ns_1000' in r else NO_BATCH_RST}",
            f"     - {float(r['build_ms_1000']):.2f}",  # type: ignore[arg-type]
            f"     - {float(r['max_over_mean']):.3f} ({int(r['balance_keys']):,} keys)",  # type: ignore[call-overload]
            f"     - {float(r['moved_pct']):.2f}%",  # type: ignore[arg-type]
        ]
    notes = [line[2:] for line in markdown(rows, skipped).splitlines() if line.startswith("- ")]
    if notes:
        out.append("")
        out += [f"* {n}" for n in notes]
    return "\n".join(out) + "\n"


def plot(rows: list[dict[str, object]], path: Path) -> None:
    """Draw lookup ns at 10 and 1000 hosts per library (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["library"]) for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar([i - 0.2 for i in x], [float(r["lookup_ns_10"]) for r in rows], 0.4, label="10 hosts")  # type: ignore[arg-type]
    ax.bar(
        [i + 0.2 for i in x], [float(r["lookup_ns_1000"]) for r in rows], 0.4, label="1000 hosts"
    )  # type: ignore[arg-type]
    ax.set_xticks(list(x), names, rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ns per single lookup (log scale)")
    ax.set_title("Single-key lookup, same keys, one process")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; return the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", type=Path, default=Path("."), help="directory for compare-3.X.md/.rst/.png"
    )
    ap.add_argument("--keys", type=int, default=20_000, help="keys per lookup round")
    ap.add_argument(
        "--balance-keys", type=int, default=1_000_000, help="keys for the balance figure"
    )
    ap.add_argument("--rounds", type=int, default=7, help="rounds per lookup median")
    args = ap.parse_args(argv)

    keys = [f"user-{i}" for i in range(args.keys)]
    rows, skipped = [], []
    for peer in PEERS:
        if importlib.util.find_spec(peer.module) is None:
            skipped.append(
                f"{peer.name} is not installed ({peer.note or 'pip install ' + peer.module})"
            )
            continue
        print(f"measuring {peer.name} ...", file=sys.stderr, flush=True)
        rows.append(measure(peer, keys, args.balance_keys, args.rounds))
    args.out.mkdir(parents=True, exist_ok=True)
    where = machine()
    md = f"Measured on: {where}\n\n" + markdown(rows, skipped)
    stem = f"compare-{sys.version_info.major}.{sys.version_info.minor}"
    (args.out / f"{stem}.md").write_text(md)
    (args.out / f"{stem}.rst").write_text(rst(rows, skipped, where))
    print(md)
    try:
        plot(rows, args.out / f"{stem}.png")
    except ImportError:
        print(f"matplotlib is not installed: no {stem}.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
