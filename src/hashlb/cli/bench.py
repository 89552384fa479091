"""``hashlb bench``: choose a ring or table size with evidence.

For each algorithm x host count x size it builds the real table
(:class:`hashlb.RingHash` with ``min_ring_size=SIZE``, or
:class:`hashlb.Maglev` with ``table_size=SIZE``) and measures, on the
library's own code paths:

* **balance** over ``--keys`` keys: max/mean and stddev/mean of the hits per
  host, and ``stddev_hits``, the population standard deviation of the hits
  per host that Envoy's ``ChooseHost`` benchmarks print;
* **disruption** when the last 1, 2 and 3 hosts are lost (Envoy's
  ``HostLoss`` benchmarks): the share of keys whose host changed, against
  the optimum ``lost / hosts``;
* **build time** (median of up to 5 builds), **single-lookup ns** (a Python
  loop of ``lookup(h)``, call overhead included), **batch ns/key**
  (``lookup_many`` on a uint64 buffer), and **memory** (``nbytes``).

Hosts are Envoy's benchmark hosts ``10.0.{i // 256}.{i % 256}:6379`` and the
keys are Envoy's ``hashInt(i)``: xxHash64 of the 8 little-endian bytes of *i*.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .._batch import np_xxh64_u64
from .._ring_py import MAX_RING_SIZE
from .._source import InputError
from .._validate import (
    MAX_BENCH_CONFIGS,
    MAX_BENCH_HOSTS,
    MAX_BENCH_KEYS,
    MAX_BENCH_VALUES,
    MAX_INT_DIGITS,
    cap,
)
from .._validate import short as _short
from ..maglev import MAX_TABLE_SIZE
from .output import (
    OutputSet,
    Progress,
    format_table,
    require_matplotlib,
    save_figure,
)

__all__ = (
    "DESCRIPTION",
    "HELP",
    "BenchResult",
    "add_arguments",
    "bench_one",
    "envoy_hosts",
    "envoy_keys",
    "run",
)

ALGORITHMS = ("ring_hash", "maglev")
LOSSES = (1, 2, 3)
#: Keys timed one by one for the single-lookup figure.
SINGLE_LOOKUPS = 100_000


@dataclass
class BenchResult:
    """The measurements of one algorithm x host count x size."""

    algorithm: str
    hosts: int
    size: int
    entries: int
    build_ms: float
    lookup_ns: float
    batch_ns_per_key: float
    nbytes: int
    max_mean: float
    stddev_mean: float
    stddev_hits: float
    disruption: dict[int, float] = field(default_factory=dict)  # lost -> share moved
    #: lost -> share of the keys the lost hosts held: they must move, so this is the minimum
    minimum: dict[int, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form (see docs/reference/cli.rst)."""
        return {
            "algorithm": self.algorithm,
            "hosts": self.hosts,
            "size": self.size,
            "entries": self.entries,
            "build_ms": round(self.build_ms, 4),
            "lookup_ns": round(self.lookup_ns, 2),
            "batch_ns_per_key": round(self.batch_ns_per_key, 3),
            "nbytes": self.nbytes,
            "balance": {
                "max_mean": round(self.max_mean, 6),
                "stddev_mean": round(self.stddev_mean, 6),
                "stddev_hits": round(self.stddev_hits, 4),
            },
            "disruption": {
                str(k): {
                    "moved": round(v, 6),
                    "optimal": round(k / self.hosts, 6),
                    "minimum": round(self.minimum.get(k, 0.0), 6),
                }
                for k, v in self.disruption.items()
            },
        }


def envoy_hosts(n: int) -> list[Any]:
    """Return Envoy's benchmark hosts ``10.0.{i/256}.{i%256}:6379``, weight 1."""
    from .. import Host

    return [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(n)]


def envoy_keys(n: int) -> array[int]:
    """Return Envoy's benchmark keys: xxHash64 of the 8 little-endian bytes of 0..n-1."""
    from .. import xxh64

    try:  # numpy (optional) computes the same hashes vectorized
        import numpy as np
    except ImportError:
        return array("Q", [xxh64(i.to_bytes(8, "little")) for i in range(n)])
    return array("Q", np_xxh64_u64(np, np.arange(n, dtype=np.uint64)).tobytes())


def _build(algorithm: str, hosts: Sequence[Any], size: int) -> Any:
    from ..maglev import Maglev
    from ..ring import RingHash

    if algorithm == "maglev":
        return Maglev(hosts, table_size=size)
    return RingHash(hosts, min_ring_size=size, max_ring_size=max(size, MAX_RING_SIZE))


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def _counts(indices: Any, n: int) -> list[int]:
    counts = [0] * n
    try:
        import numpy as np

        return [int(c) for c in np.bincount(np.frombuffer(indices, dtype=np.uint32), minlength=n)]
    except ImportError:
        pass
    for i in indices:
        counts[i] += 1
    return counts


def _moved(a: Any, b: Any) -> int:
    try:
        import numpy as np

        return int(
            np.count_nonzero(np.frombuffer(a, dtype=np.uint32) != np.frombuffer(b, dtype=np.uint32))
        )
    except ImportError:
        pass
    return sum(1 for x, y in zip(a, b, strict=True) if x != y)


def _held(indices: Any, first_lost: int) -> int:
    """Return how many keys are on hosts ``first_lost`` and after (the hosts a loss removes)."""
    try:
        import numpy as np

        return int(np.count_nonzero(np.frombuffer(indices, dtype=np.uint32) >= first_lost))
    except ImportError:
        pass
    return sum(1 for x in indices if x >= first_lost)


def bench_one(
    algorithm: str,
    hosts: int,
    size: int,
    keys: array[int],
    losses: Sequence[int] = LOSSES,
) -> BenchResult:
    """Measure one configuration on the real tables (see the module docstring)."""
    host_list = envoy_hosts(hosts)
    times: list[float] = []
    lb: Any = None
    spent = 0.0
    while len(times) < 5 and (spent < 0.25 or len(times) < 1):
        lb, dt = _timed(lambda: _build(algorithm, host_list, size))
        times.append(dt)
        spent += dt
    build_ms = statistics.median(times) * 1e3
    lb.lookup_many(keys[:1000])  # warm up (first-call allocations)
    indices, dt = _timed(lambda: lb.lookup_many(keys))
    indices = array("I", indices) if not isinstance(indices, array) else indices
    batch_ns = dt * 1e9 / max(len(keys), 1)
    sample = keys[: min(len(keys), SINGLE_LOOKUPS)].tolist()
    lookup = lb.lookup
    t0 = time.perf_counter()
    for h in sample:
        lookup(h)
    lookup_ns = (time.perf_counter() - t0) * 1e9 / max(len(sample), 1)
    counts = _counts(indices, hosts)
    mean = len(keys) / hosts
    stddev = math.sqrt(sum((c - mean) ** 2 for c in counts) / hosts)
    result = BenchResult(
        algorithm,
        hosts,
        size,
        len(lb.table) if algorithm == "maglev" else len(lb.ring),
        build_ms,
        lookup_ns,
        batch_ns,
        int(lb.nbytes),
        max(counts) / mean if mean else 0.0,
        stddev / mean if mean else 0.0,
        stddev,
    )
    for k in losses:
        if k >= hosts:
            continue
        smaller = _build(algorithm, host_list[: hosts - k], size)
        after = smaller.lookup_many(keys)
        after = array("I", after) if not isinstance(after, array) else after
        result.disruption[k] = _moved(indices, after) / max(len(keys), 1)
        result.minimum[k] = _held(indices, hosts - k) / max(len(keys), 1)
    return result


# --------------------------------------------------------------------------
# Output.


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def render(results: Sequence[BenchResult], keys: int, implementation: str) -> str:
    """Return the text tables: per algorithm, one of speed and size, one of balance and disruption."""
    out = [f"hashlb bench: {keys} keys, implementation {implementation}"]
    losses = sorted({k for r in results for k in r.disruption})
    for algorithm in ALGORITHMS:
        mine = [r for r in results if r.algorithm == algorithm]
        if not mine:
            continue
        size_name = "min ring" if algorithm == "ring_hash" else "table"
        speed = [
            [
                r.hosts,
                r.size,
                r.entries,
                f"{r.build_ms:.2f}",
                f"{r.lookup_ns:.0f}",
                f"{r.batch_ns_per_key:.1f}",
                _fmt_bytes(r.nbytes),
            ]
            for r in mine
        ]
        spread = []
        for r in mine:
            row: list[object] = [
                r.hosts,
                r.size,
                f"{r.max_mean:.3f}",
                f"{r.stddev_mean:.4f}",
                f"{r.stddev_hits:.1f}",
            ]
            for k in losses:
                moved, least = r.disruption.get(k), r.minimum.get(k)
                row.append(
                    "-"
                    if moved is None or not least
                    else f"{100 * moved:.2f}% ({moved / least:.2f}x)"
                )
            spread.append(row)
        out += [
            "",
            f"{algorithm}: speed and size",
            format_table(
                ["hosts", size_name, "entries", "build ms", "lookup ns", "batch ns/key", "memory"],
                speed,
            ),
            "",
            f"{algorithm}: balance and disruption",
            format_table(
                ["hosts", size_name, "max/mean", "stddev/mean", "stddev hits"]
                + [f"lose {k}" for k in losses],
                spread,
            ),
        ]
    out += [
        "",
        "balance: hits per host over the keys; stddev hits is Envoy's stddev_hits.",
        "lose k: share of keys whose host changed when the last k hosts are removed, and (x) its",
        "ratio to the minimum, the share those hosts held (every one of their keys must move;",
        "1.00x moves no other key).  lookup ns includes Python's call overhead.",
    ]
    return "\n".join(out)


def _csv_rows(results: Sequence[BenchResult]) -> tuple[list[str], list[list[object]]]:
    losses = sorted({k for r in results for k in r.disruption})
    headers = (
        [
            "algorithm",
            "hosts",
            "size",
            "entries",
            "build_ms",
            "lookup_ns",
            "batch_ns_per_key",
            "nbytes",
            "max_mean",
            "stddev_mean",
            "stddev_hits",
        ]
        + [f"moved_lose_{k}" for k in losses]
        + [f"optimal_lose_{k}" for k in losses]
        + [f"minimum_lose_{k}" for k in losses]
    )
    rows: list[list[object]] = []
    for r in results:
        j = r.as_json()
        rows.append(
            [
                r.algorithm,
                r.hosts,
                r.size,
                r.entries,
                j["build_ms"],
                j["lookup_ns"],
                j["batch_ns_per_key"],
                r.nbytes,
                j["balance"]["max_mean"],
                j["balance"]["stddev_mean"],
                j["balance"]["stddev_hits"],
            ]
            + [j["disruption"].get(str(k), {}).get("moved", "") for k in losses]
            + [j["disruption"].get(str(k), {}).get("optimal", "") for k in losses]
            + [j["disruption"].get(str(k), {}).get("minimum", "") for k in losses]
        )
    return headers, rows


def plot(
    results: Sequence[BenchResult], outputs: OutputSet, keys: int, flag: str = "--plot"
) -> None:
    """Draw balance and disruption against size, one line per algorithm x host count."""
    plt = require_matplotlib()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.3))
    host_counts = sorted({r.hosts for r in results})
    colors = ["#3572a5", "#e07b39", "#4c9a2a", "#a23b72", "#777777", "#c5a600"]
    styles = {"ring_hash": ("-", "o"), "maglev": ("--", "s")}
    for algorithm in ALGORITHMS:
        for ci, n in enumerate(host_counts):
            rs = sorted(
                (r for r in results if r.algorithm == algorithm and r.hosts == n),
                key=lambda r: r.entries,
            )
            if not rs:
                continue
            ls, marker = styles[algorithm]
            color = colors[ci % len(colors)]
            label = f"{algorithm}, {n} hosts"
            ax1.plot(
                [r.entries for r in rs],
                [r.max_mean for r in rs],
                ls,
                marker=marker,
                color=color,
                label=label,
            )
            loss = min((k for r in rs for k in r.disruption), default=None)
            if loss is not None:
                pts = [
                    (r.entries, r.disruption[loss] / r.minimum[loss])
                    for r in rs
                    if loss in r.disruption and r.minimum.get(loss)
                ]
                ax2.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    ls,
                    marker=marker,
                    color=color,
                    label=label,
                )
    ax1.set_xscale("log")
    ax1.set_xlabel("entries (ring size / Maglev table size)")
    ax1.set_ylabel("max / mean hits per host")
    ax1.set_title(f"balance ({keys} keys; 1.0 is perfect)")
    ax1.axhline(1.0, color="#999999", lw=0.8)
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("entries (ring size / Maglev table size)")
    ax2.set_ylabel("keys moved / minimum")
    ax2.set_title("keys moved when 1 host is lost / the keys it held (1.0 is the minimum)")
    ax2.axhline(1.0, color="#999999", lw=0.8)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(outputs, fig, flag, plt)


# --------------------------------------------------------------------------
# Command line.


def _int_list(text: str) -> list[int]:
    out = []
    parts = text.split(",")
    if len(parts) > MAX_BENCH_VALUES:
        raise argparse.ArgumentTypeError(
            f"{len(parts)} values, more than {cap('MAX_BENCH_VALUES')}"
        )
    for part in parts:
        part = part.strip().replace("_", "")
        try:
            if len(part) > MAX_INT_DIGITS:
                raise ValueError(part)
            v = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid integer {_short(part)} in {_short(text)}"
            ) from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"values must be positive, got {v}")
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("expected a comma-separated list of integers")
    return out


def _algorithms(text: str) -> list[str]:
    out = [a.strip().replace("-", "_") for a in text.split(",") if a.strip()]
    for a in out:
        if a not in ALGORITHMS:
            raise argparse.ArgumentTypeError(
                f"unknown algorithm {_short(a)} (choose from {', '.join(ALGORITHMS)})"
            )
    return out


#: The one-line help of ``hashlb bench`` and its longer description.
HELP = "measure balance, disruption, speed and memory per ring/table size"
DESCRIPTION = (
    "Build ring hash and Maglev tables for each host count and size, and measure "
    "balance, disruption on host loss, build time, lookup speed and memory."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to *p*, the parser :mod:`hashlb.cli` made from :data:`HELP`."""
    for flag, default, metavar, what in (
        ("--hosts", [10, 100, 1000], "N,N,...", "host counts"),
        ("--ring-sizes", [1024, 65536, 1048576], "N,N,...", "ring hash min_ring_size values"),
        ("--table-sizes", [65537, 655373], "P,P,...", "Maglev table sizes, primes"),
        ("--keys", [1_000_000], "K", "keys hashed per configuration"),
    ):
        p.add_argument(
            flag,
            type=_int_list,
            default=default,
            metavar=metavar,
            help=f"{what} (default: {','.join(map(str, default))})",
        )
    p.add_argument(
        "--algorithms",
        type=_algorithms,
        default=list(ALGORITHMS),
        metavar="A,A",
        help="ring_hash, maglev or both (default: both)",
    )
    p.add_argument("--json", metavar="PATH", help="write the results as JSON ('-': stdout)")
    p.add_argument("--csv", metavar="PATH", help="write the results as CSV ('-': stdout)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw balance and disruption against size ('-': stdout, not a tty)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on stderr and no table on stdout"
    )
    p.set_defaults(run=run)


def _validate(args: argparse.Namespace) -> None:
    from .._validate import is_prime as _is_prime

    if len(args.keys) != 1 or args.keys[0] > MAX_BENCH_KEYS:
        raise InputError(None, f"--keys takes one count up to {cap('MAX_BENCH_KEYS')}")
    for s in args.ring_sizes:
        if s > MAX_RING_SIZE:
            raise InputError(None, f"--ring-sizes: {s} is above Envoy's maximum {MAX_RING_SIZE}")
    for s in args.table_sizes:
        if s > MAX_TABLE_SIZE or not _is_prime(s):
            raise InputError(
                None, f"--table-sizes: {s} is not a prime <= {MAX_TABLE_SIZE} (Maglev needs one)"
            )
    for n in args.hosts:
        if n > MAX_BENCH_HOSTS:
            raise InputError(
                None,
                f"--hosts: {n} is above {MAX_BENCH_HOSTS} "
                "(MAX_BENCH_HOSTS: the benchmark's host names)",
            )
    configs = sum(
        len(args.hosts) * len(args.ring_sizes if a == "ring_hash" else args.table_sizes)
        for a in args.algorithms
    )
    if configs > MAX_BENCH_CONFIGS:
        raise InputError(
            None,
            f"--algorithms x --hosts x sizes make {configs} configurations, more than "
            f"{cap('MAX_BENCH_CONFIGS')}",
        )


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb bench`` with parsed *args*; raise InputError on bad input."""
    from .. import IMPLEMENTATION

    out = out if out is not None else sys.stdout
    _validate(args)
    outputs.add(args.json, "--json")
    outputs.add(args.csv, "--csv")
    outputs.add_plot(args.plot)
    configs = [
        (a, n, s)
        for a in args.algorithms
        for n in args.hosts
        for s in (args.ring_sizes if a == "ring_hash" else args.table_sizes)
    ]
    progress = Progress(len(configs) + 1, enabled=not args.quiet)
    progress.step(f"hashing {args.keys[0]} keys")
    keys = envoy_keys(args.keys[0])
    results = []
    for a, n, s in configs:
        progress.step(f"{a} hosts={n} size={s}")
        results.append(bench_one(a, n, s, keys))
    progress.close()
    if args.json:
        with outputs.open("--json") as f:
            json.dump(
                {
                    "schema": 1,
                    "implementation": IMPLEMENTATION,
                    "keys": args.keys[0],
                    "results": [r.as_json() for r in results],
                },
                f,
                indent=2,
            )
            f.write("\n")
    if args.csv:
        headers, rows = _csv_rows(results)
        with outputs.open("--csv") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(headers)
            w.writerows(rows)
    if args.plot:
        plot(results, outputs, args.keys[0])
    if not args.quiet and not outputs.uses_stdout:
        outputs.report(render(results, args.keys[0], IMPLEMENTATION), out)
    return 0
