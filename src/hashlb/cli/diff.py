"""``hashlb diff``: what a configuration change does to the users.

The same traffic (synthetic users or a ``--requests`` file, as ``hashlb
simulate`` makes it) is routed under configuration A and configuration B,
each Istio YAML: two directories (``-a DIR -b DIR``), or one base (``-f``)
plus a change (``--set-weight``, ``--add-pods N --to SUBSET``,
``--remove-pod``, ``--unhealthy``, ``--balancer``, ``--min-ring-size``), or a
ramp of weights (``--ramp SUBSET=0,1,5``).  The report compares who moved with
the minimum any scheme must move (:mod:`hashlb.diff`); its first line says it
in plain words, with the cause when it is a known one.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from .._source import InputError
from .._validate import MAX_CHANGES, MAX_INT_DIGITS, MAX_RAMP_STEPS
from .._validate import short as _short
from ..diff import DiffReport, Placement, diff_steps
from . import _columnar, _diffcolumnar
from ._diffchange import (
    add_pods,
    mark_unhealthy,
    remove_pod,
    rollout_meshes,
    set_balancer,
    set_weights,
)
from ._diffroute import batch_paths, configured_shares, envoy_route, reweight, scenario_route
from ._replay import WIDTH, publish, wrap
from .output import OutputSet, format_table
from .simulate import (
    UNHEALTHY_ENDPOINTS,
    _check_counts,
    _default_key,
    _key,
    _load_mesh,
    _positive,
    _seed,
)
from .traffic import SimRequest, read_jsonl, synthetic

if TYPE_CHECKING:
    from ..istio import Mesh, Scenario

__all__ = (
    "DESCRIPTION",
    "HELP",
    "add_arguments",
    "add_pods",
    "mark_unhealthy",
    "remove_pod",
    "run",
    "scenario_route",
    "set_balancer",
    "set_weights",
)

HELP = "what a configuration change does to users: who moves, and the minimum that must"
DESCRIPTION = (
    "Route the same traffic under configuration A and configuration B (Istio YAML: -a DIR "
    "-b DIR, or -f DIR plus a change, or a --ramp of weights) and report the users whose "
    "subset or pod changed, against the fewest any routing could move."
)

MODES = ("envoy", "sticky")


# --------------------------------------------------------------------------
# Changes applied to a base mesh.


def _weight_arg(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value.isdigit() or len(value) > MAX_INT_DIGITS:
        raise argparse.ArgumentTypeError(f"expected SUBSET=WEIGHT, got {_short(text)}")
    return name, int(value)


def _ramp_arg(text: str) -> tuple[str, list[int]]:
    name, sep, values = text.partition("=")
    steps = values.split(",")
    if not sep or not name or not all(s.isdigit() and len(s) <= MAX_INT_DIGITS for s in steps):
        raise argparse.ArgumentTypeError(f"expected SUBSET=W0,W1,..., got {_short(text)}")
    if not 2 <= len(steps) <= MAX_RAMP_STEPS:
        raise argparse.ArgumentTypeError(
            f"a ramp has 2 to {MAX_RAMP_STEPS} steps, got {len(steps)}"
        )
    return name, [int(s) for s in steps]


def _rollout_value(text: str) -> str:
    from .._validate import check_rollout_value

    try:
        check_rollout_value(text, "the value")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count (1) or a percentage (25%), got {_short(text)}"
        ) from None
    return text


# --------------------------------------------------------------------------
# Causes and the finding.


def causes(a: Scenario, b: Scenario, mode: str, engines_a: Any, engines_b: Any) -> list[str]:
    """Return the known causes of remapping between *a* and *b* (plain words)."""
    out: list[str] = []
    for pa, pb in zip(a.routes, b.routes, strict=False):
        ka, kb = pa.hash_keys, pb.hash_keys
        da, db = list(dict.fromkeys(ka)), list(dict.fromkeys(kb))
        if da != db:
            out.append("the hash key changed, so every route hash changes")
        elif mode == "envoy" and len(ka) != len(kb):
            out.append(
                "Istio adds one hash policy per weighted destination "
                f"({len(ka)} -> {len(kb)} copies), which changes every route hash"
            )
        lbs_a = {d.name: d.lb for d in pa.destinations}
        dests_a = {d.name: d for d in pa.destinations}
        for d in pb.destinations:
            la = lbs_a.get(d.name)
            if la is None:
                continue
            if la.algorithm != d.lb.algorithm:
                out.append(
                    f"subset {d.name!r}'s balancer changed ({la.algorithm} -> {d.lb.algorithm})"
                )
            elif la.algorithm == "ring_hash" and la.min_ring_size != d.lb.min_ring_size:
                out.append(
                    f"subset {d.name!r}'s ring size changed "
                    f"({la.min_ring_size} -> {d.lb.min_ring_size})"
                )
            elif la.algorithm == "maglev" and la.table_size != d.lb.table_size:
                out.append(
                    f"subset {d.name!r}'s table size changed ({la.table_size} -> {d.lb.table_size})"
                )
            else:
                out.extend(_refill(d.name, la.algorithm, la.min_ring_size, dests_a[d.name], d))
    for ea, eb in zip(engines_a, engines_b, strict=False):
        for name, h in eb.health.items():
            before = ea.health.get(name)
            if h.in_panic and not (before is not None and before.in_panic):
                out.append(f"subset {name!r} entered panic (Envoy then uses every host)")
    return list(dict.fromkeys(out))


def _refill(name: str, algorithm: str, ring: int, a: Any, b: Any) -> list[str]:
    """Return the cause when a subset's pods changed and its table reshuffles the pods that stay."""
    pods_a = {e.pod.name for e in a.endpoints}
    pods_b = {e.pod.name for e in b.endpoints}
    if pods_a == pods_b or not (pods_a & pods_b):
        return []
    count = f"{len(pods_a)} -> {len(pods_b)} pods"
    if algorithm == "ring_hash":
        return [
            f"subset {name!r} went from {count} and Envoy's ring spreads minimumRingSize={ring} "
            "entries over them, so the pods that stay change entries and users move between them"
        ]
    if algorithm == "maglev":
        return [
            f"subset {name!r} went from {count} and Maglev refills its whole table, "
            "which moves some users between the pods that stay"
        ]
    return []


def _share(x: float) -> str:
    return f"{100 * x:.1f}%"


def change_words(a: Scenario, b: Scenario, label: str | None) -> str:
    """Return e.g. ``Starting the canary 'risky'`` for the sentence's subject."""
    if label:
        return label
    wa = {d.name: d.weight for r in a.routes for d in r.destinations}
    wb = {d.name: d.weight for r in b.routes for d in r.destinations}
    started = [n for n in wb if n not in wa]
    stopped = [n for n in wa if n not in wb]
    if started and not stopped:
        return f"Starting {_short(started[0])}"
    if stopped and not started:
        return f"Stopping {_short(stopped[0])}"
    return "The change"


def finding_line(
    what: str, mode: str, report: DiffReport, why: list[str], other: tuple[str, DiffReport] | None
) -> str:
    """Return the report's first line: who moved, who had to, why, and the other mode."""
    text = (
        f"{what} moves {_share(report.moved)} of users to another pod"
        f"{'' if mode == 'envoy' else ' (sticky mode)'}; "
        f"{_share(report.minimum)} would have to move."
    )
    if why and report.excess > 0.005:
        text += " Cause: " + "; ".join(why) + "."
    if other is not None:
        text += f" {other[0].capitalize()} mode moves {_share(other[1].moved)}."
    return text


# --------------------------------------------------------------------------
# Command line.


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``diff`` options to *p*."""
    g = p.add_argument_group("configurations")
    g.add_argument("-a", metavar="DIR", action="append", help="configuration A: Istio YAML")
    g.add_argument("-b", metavar="DIR", action="append", help="configuration B: Istio YAML")
    g.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="the base configuration (with a change)",
    )
    g.add_argument("--envoy-config-a", metavar="FILE", help="configuration A: Envoy config")
    g.add_argument("--envoy-config-b", metavar="FILE", help="configuration B: Envoy config")
    g.add_argument(
        "--envoy-config",
        dest="envoy_base",
        metavar="FILE",
        help="the base Envoy config (with --set-weight or --ramp over its weighted clusters)",
    )
    pick = g.add_mutually_exclusive_group()
    pick.add_argument("--route", metavar="NAME", help="with --envoy-config-a/-b: the route")
    pick.add_argument("--virtual-host", metavar="NAME", help="with --envoy-config-a/-b")
    pick.add_argument("--cluster", metavar="NAME", help="with --envoy-config-a/-b")
    g.add_argument("--endpoints", action="append", default=[], metavar="PATH")
    g.add_argument("--host", help="the VirtualService host (when there are several)")
    g.add_argument("-n", "--namespace", default="default")
    g.add_argument("--cluster-domain", default="cluster.local")
    g.add_argument("--unhealthy-endpoints", choices=UNHEALTHY_ENDPOINTS, default="auto")
    c = p.add_argument_group("change (with -f)")
    c.add_argument(
        "--set-weight", type=_weight_arg, action="append", default=[], metavar="SUBSET=W"
    )
    c.add_argument("--add-pods", type=_positive, metavar="N", help="add N pods (with --to)")
    c.add_argument("--to", metavar="SUBSET", help="the subset --add-pods adds to")
    c.add_argument("--remove-pod", action="append", default=[], metavar="NAME")
    c.add_argument("--unhealthy", action="append", default=[], metavar="POD")
    c.add_argument("--balancer", choices=("maglev", "ring_hash"))
    c.add_argument("--min-ring-size", type=_positive, metavar="N")
    c.add_argument(
        "--ramp",
        type=_ramp_arg,
        metavar="SUBSET=W0,W1,...",
        help="a weight schedule: one diff per step, and who has seen several pods so far",
    )
    c.add_argument(
        "--rollout",
        metavar="SUBSET",
        help="replace SUBSET's pods by new ones as a Deployment's RollingUpdate does, step by step",
    )
    c.add_argument(
        "--max-surge",
        type=_rollout_value,
        default="25%",
        metavar="N|P%%",
        help="with --rollout: pods above the replicas (default 25%%, rounded up)",
    )
    c.add_argument(
        "--max-unavailable",
        type=_rollout_value,
        default="25%",
        metavar="N|P%%",
        help="with --rollout: pods below the replicas (default 25%%, rounded down)",
    )
    r = p.add_argument_group("requests")
    src = r.add_mutually_exclusive_group()
    src.add_argument(
        "--requests",
        metavar="FILE",
        help="hashlb's JSONL requests (one JSON request per line), or with --column a Parquet, "
        "CSV or JSON-lines log; a log's user is its 'user' column (--column user=COLUMN); "
        "without one, or where it is null, the request itself (identical requests: one user)",
    )
    src.add_argument("--users", type=_positive, metavar="N", help="synthetic users (default: 1000)")
    r.add_argument("--requests-per-user", type=_positive, default=20, metavar="R")
    r.add_argument("--key", type=_key, metavar="KEY")
    r.add_argument("--mode", choices=(*MODES, "both"), default="envoy")
    r.add_argument("--seed", type=_seed, default=0)
    _columnar.add_arguments(r)
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", help="write the figures as JSON ('-': stdout)")
    o.add_argument(
        "--plot", metavar="PNG", help="draw who moved as stacked bars per step ('-': stdout)"
    )
    o.add_argument("-q", "--quiet", action="store_true", help="do not print the report")
    o.add_argument(
        "--no-batch",
        action="store_true",
        help="route request by request even where the whole batch can be routed at once",
    )
    o.add_argument("--wide", action="store_true", help=f"do not cut the report to {WIDTH} columns")
    p.set_defaults(run=run, decisions=None, envoy_config=None)  # envoy_config: simulate's


def _changes(args: argparse.Namespace) -> bool:
    return bool(
        args.set_weight
        or args.add_pods
        or args.remove_pod
        or args.unhealthy
        or args.balancer
        or args.min_ring_size
    )


def _check(args: argparse.Namespace) -> None:
    envoy = args.envoy_config_a is not None or args.envoy_config_b is not None
    if envoy:
        if args.envoy_config_a is None or args.envoy_config_b is None:
            raise InputError(None, "--envoy-config-a and --envoy-config-b go together")
        if args.a or args.b or args.file or _changes(args) or args.ramp or args.rollout:
            raise InputError(None, "--envoy-config-a/-b compare two Envoy configurations alone")
        if args.mode != "envoy":
            raise InputError(None, "--mode sticky applies to Istio YAML; Envoy config is Envoy")
        if "-" in (args.envoy_config_a, args.envoy_config_b):
            raise InputError(None, "hashlb diff reads its configurations from files, not stdin")
        if args.envoy_base is not None:
            raise InputError(None, "give --envoy-config-a/-b or --envoy-config, not both")
        return
    if args.envoy_base is not None:
        others = args.a or args.b or args.file or args.rollout or args.add_pods
        others = others or args.remove_pod or args.unhealthy or args.balancer or args.min_ring_size
        if others:
            raise InputError(
                None, "--envoy-config takes --set-weight or --ramp over its weighted clusters only"
            )
        if not (args.set_weight or args.ramp) or (args.set_weight and args.ramp):
            raise InputError(None, "--envoy-config needs --set-weight or --ramp (one of them)")
        if args.mode != "envoy":
            raise InputError(None, "--mode sticky applies to Istio YAML; Envoy config is Envoy")
        if args.envoy_base == "-":
            raise InputError(None, "hashlb diff reads its configurations from files, not stdin")
        if len(args.set_weight) > MAX_CHANGES:
            raise InputError(None, f"more than {MAX_CHANGES} changes")
        return
    if args.route or args.virtual_host or args.cluster:
        raise InputError(
            None, "--route, --virtual-host and --cluster apply to --envoy-config(-a/-b)"
        )
    pair = args.a is not None or args.b is not None
    if pair and (args.a is None or args.b is None):
        raise InputError(None, "-a and -b go together")
    if pair and (args.file or _changes(args) or args.ramp or args.rollout):
        raise InputError(
            None, "-a/-b compare two configurations; -f takes a change, --ramp or --rollout"
        )
    if not pair and not args.file:
        raise InputError(
            None,
            "give -a DIR -b DIR, --envoy-config-a/-b FILE, or -f DIR with a change or --ramp",
        )
    if args.file and not (_changes(args) or args.ramp or args.rollout):
        raise InputError(
            None, "-f needs a change (--set-weight, --add-pods, ...), --ramp or --rollout"
        )
    if (args.ramp or args.rollout) and _changes(args):
        raise InputError(
            None, "--ramp and --rollout are changes of their own; leave out the other changes"
        )
    if args.ramp and args.rollout:
        raise InputError(None, "give --ramp or --rollout, not both")
    if (args.add_pods is None) != (args.to is None):
        raise InputError(None, "--add-pods N and --to SUBSET go together")
    if "-" in (args.a or []) + (args.b or []) + (args.file or []) + args.endpoints:
        raise InputError(None, "hashlb diff reads its configurations from files, not stdin")
    if len(args.set_weight) + len(args.remove_pod) + len(args.unhealthy) > MAX_CHANGES:
        raise InputError(None, f"more than {MAX_CHANGES} changes")


def _mesh(args: argparse.Namespace, files: list[str]) -> Mesh:
    return _load_mesh()(
        files,
        args.endpoints,
        namespace=args.namespace,
        domain=args.cluster_domain,
        unhealthy_endpoints=args.unhealthy_endpoints,
    )


def _configs(args: argparse.Namespace) -> tuple[list[Scenario], list[str], str | None]:
    """Return the scenarios to compare in order, their labels, and the change's words."""
    if args.a is not None:
        a = _mesh(args, args.a).scenario(args.host)
        b = _mesh(args, args.b).scenario(args.host)
        return [a, b], ["A", "B"], None
    base = _mesh(args, args.file)
    if args.rollout:
        meshes, labels, new = rollout_meshes(
            base, args.rollout, args.max_surge, args.max_unavailable
        )
        args.rollout_new_pods = new
        return [m.scenario(args.host) for m in meshes], labels, None
    if args.ramp:
        subset, steps = args.ramp
        out = []
        for w in steps:
            m = copy.deepcopy(base)
            set_weights(m, [(subset, w)])
            out.append(m.scenario(args.host))
        return out, [f"{subset}={w}" for w in steps], None
    a = base.scenario(args.host)
    m = copy.deepcopy(base)
    words: list[str] = []
    if args.set_weight:
        set_weights(m, args.set_weight)
    if args.add_pods:
        add_pods(m, args.add_pods, args.to)
        words.append(f"Adding {args.add_pods} pod{'s' if args.add_pods > 1 else ''} to {args.to!r}")
    for name in args.remove_pod:
        remove_pod(m, name)
        words.append(f"Removing pod {_short(name)}")
    for name in args.unhealthy:
        mark_unhealthy(m, name)
        words.append(f"Pod {_short(name)} turning unhealthy")
    b = m.scenario(args.host)
    if args.balancer or args.min_ring_size:
        b = set_balancer(b, args.balancer, args.min_ring_size)
        if args.balancer:
            words.append(f"Switching to {args.balancer}")
        if args.min_ring_size:
            words.append(f"Setting minimumRingSize to {args.min_ring_size}")
    label = None
    if words and not args.set_weight:
        label = ", ".join(words)
    return [a, b], ["base", "changed"], label


def _synthetic(args: argparse.Namespace, scenario: Scenario) -> tuple[int, int, Any] | None:
    """Return ``(users, requests per user, key)`` of synthetic traffic, or None for a file."""
    if args.requests:
        return None
    users = args.users if args.users is not None else 1000
    key = args.key if args.key is not None else _default_key(scenario)
    return users, args.requests_per_user, key


def _traffic(
    args: argparse.Namespace, scenario: Scenario
) -> Callable[[], Iterator[tuple[str, SimRequest]]]:
    def make() -> Iterator[tuple[str, SimRequest]]:
        spec = _synthetic(args, scenario)
        if spec is None:
            reqs: Iterator[SimRequest] = read_jsonl(args.requests)
        else:
            reqs = synthetic(*spec, args.seed)
        return ((r.user, r) for r in reqs)

    return make


def _versioner(args: argparse.Namespace) -> Callable[[Placement], Placement]:
    """Return the placement naming of a run: a rollout's new pod counts as the subset
    ``NAME (new)``, a change of version; any other placement is itself."""
    new = getattr(args, "rollout_new_pods", None)

    def version(p: Placement) -> Placement:
        return (f"{p[0]} (new)", p[1]) if new and p[1] in new else p

    return version


def _run_mode(
    mode: str,
    scenarios: list[Scenario],
    args: argparse.Namespace,
    traffic: Callable[[], Iterator[Any]],
) -> tuple[list[DiffReport], list[Any]]:
    """Route the traffic under every scenario in *mode*: all at once when it can, else one
    request at a time; return the reports and each scenario's engines."""
    from .._diffbatch import diff_arrays
    from .._validate import MAX_USERS

    seed = args.seed
    routes = [scenario_route(s, mode, seed) for s in scenarios]
    engines = [r.engines for r in routes]  # type: ignore[attr-defined]
    shares = [configured_shares(s, e) for s, e in zip(scenarios, engines, strict=True)]
    configured = [
        (shares[k], shares[k + 1]) if shares[k] is not None and shares[k + 1] is not None else None
        for k in range(len(scenarios) - 1)
    ]
    new = getattr(args, "rollout_new_pods", None)
    version = _versioner(args)
    spec = _synthetic(args, scenarios[0])
    batch = None
    if spec is not None and not args.no_batch:
        batch = batch_paths(engines, *spec, seed)
    if batch is not None:
        paths, names, users = batch
        names = [version(p) for p in names]
        return diff_arrays(paths, names, users, configured=configured), engines  # type: ignore[arg-type]
    if new:
        routes = [lambda req, r=r: version(r(req)) for r in routes]  # type: ignore[misc]
    try:
        reports = diff_steps(routes, traffic(), configured=configured, max_users=MAX_USERS)  # type: ignore[arg-type]
    except ValueError as e:
        raise InputError(None, str(e)) from None
    return reports, engines


def _matrix_table(report: DiffReport, width: int | None, limit: int = 12) -> str:
    rows = []
    moved = [(k, n) for k, n in report.matrix.items() if k[0] != k[1]]
    moved.sort(key=lambda kn: (-kn[1], str(kn[0])))
    for (pa, pb), n in moved[:limit]:
        rows.append(
            [f"{pa[0]}/{pa[1]}", f"{pb[0]}/{pb[1]}", n, _share(n / max(report.requests, 1))]
        )
    if len(moved) > limit:
        rest = sum(n for _, n in moved[limit:])
        rows.append(
            [f"({len(moved) - limit} more)", "", rest, _share(rest / max(report.requests, 1))]
        )
    return format_table(
        ["from subset/pod", "to subset/pod", "requests", "share"],
        rows,
        align="<<>>",
        width=width,
        cut=(0, 1),
    )


def _summary_rows(mode: str, labels: list[str], reports: list[DiffReport]) -> list[list[object]]:
    rows: list[list[object]] = []
    for k, r in enumerate(reports):
        row: list[object] = [
            mode,
            f"{labels[k]} -> {labels[k + 1]}",
            _share(r.moved),
            _share(r.subset_changed),
            _share(r.pod_changed),
            _share(r.minimum),
            _share(r.excess),
        ]
        if len(reports) > 1 and r.cumulative is not None:
            row += [_share(r.cumulative.several_pods), _share(r.cumulative.several_subsets)]
        rows.append(row)
    return rows


def _render(
    args: argparse.Namespace,
    modes: list[str],
    results: dict[str, list[DiffReport]],
    labels: list[str],
    findings: list[str],
    width: int | None,
) -> str:
    """Return the report: the finding(s) first, then the summary table and who moved."""
    reports = results[modes[0]]
    lines: list[str] = []
    if len(reports) > 1:
        # the first line is about the whole ramp; then one finding per step
        end = reports[-1].cumulative
        most = max(range(len(reports)), key=lambda k: reports[k].excess)
        worst = reports[most]
        what = f"Ramping {labels[0]} -> {labels[-1]}"
        if args.rollout:
            what = (
                f"Rolling out {_short(args.rollout)} (maxSurge {args.max_surge}, "
                f"maxUnavailable {args.max_unavailable})"
            )
        lines.extend(
            wrap(
                f"{what} in {len(reports)} steps: "
                f"{_share(end.several_pods if end else 0.0)} of users have seen more than one "
                f"pod by the end; the step {labels[most]} -> {labels[most + 1]} moves "
                f"{_share(worst.moved)} where {_share(worst.minimum)} would have to.",
                width,
            )
        )
    for text in findings:
        lines.extend(wrap(text if len(reports) == 1 else f"- {text}", width))
    lines.append("")
    lines.append(f"{reports[0].users} users, {reports[0].requests} requests, seed {args.seed}")
    # a rollout's new pods are the subset "NAME (new)": a subset change is a version change
    kind = "version" if args.rollout else "subset"
    head = ["mode", "step", "moved", kind, "pod", "minimum", "excess"]
    if len(reports) > 1:
        head += ["seen >1 pod", f"seen >1 {kind}"]
    rows = [row for m in modes for row in _summary_rows(m, labels, results[m])]
    lines.append(
        format_table(head, rows, align="<<" + ">" * (len(head) - 2), width=width, cut=(1,))
    )
    if len(reports) == 1:
        for m in modes:
            lines.append("")
            lines.append(f"who moved ({m} mode, requests):")
            lines.append(_matrix_table(results[m][0], width))
    return "\n".join(lines)


def _summary(modes: list[str], results: dict[str, list[DiffReport]], labels: list[str]) -> Any:
    """Return the ``--json`` document: one mode at the top level, else one per mode."""

    def one(reports: list[DiffReport]) -> dict[str, Any]:
        if len(reports) == 1:
            return reports[0].as_json()
        return {
            "users": reports[0].users,
            "steps": [
                {"from": labels[k], "to": labels[k + 1], **r.as_json()}
                for k, r in enumerate(reports)
            ],
        }

    if len(modes) == 1:
        return one(results[modes[0]])
    return {m: one(results[m]) for m in modes}


def plot(
    modes: list[str],
    results: dict[str, list[DiffReport]],
    labels: list[str],
    outputs: OutputSet,
    kind: str = "subset",
) -> None:
    """Draw who went where: per mode and step, a stacked bar of the users who stayed,
    changed pod within their subset and changed subset (*kind*: ``version`` for a
    rollout), with the minimum marked."""
    from .output import require_matplotlib, save_figure

    plt = require_matplotlib()
    bars = [(m, k, r) for m in modes for k, r in enumerate(results[m])]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(bars) + 2), 4.2))
    x = list(range(len(bars)))
    sub = [100 * r.subset_changed for _, _, r in bars]
    pod = [100 * r.pod_changed for _, _, r in bars]
    stay = [100 - a - b for a, b in zip(sub, pod, strict=True)]
    ax.bar(x, sub, 0.6, label=f"changed {kind}", color="#c0392b")
    ax.bar(x, pod, 0.6, bottom=sub, label=f"changed pod, same {kind}", color="#e07b39")
    ax.bar(
        x,
        stay,
        0.6,
        bottom=[a + b for a, b in zip(sub, pod, strict=True)],
        label="stayed",
        color="#bbbbbb",
    )
    ax.scatter(
        x,
        [100 * r.minimum for _, _, r in bars],
        marker="_",
        s=600,
        color="black",
        label="minimum",
        zorder=3,
    )
    names = [f"{m}\n{labels[k]} -> {labels[k + 1]}" for m, k, _ in bars]
    ax.set_xticks(x, names, rotation=20 if len(bars) > 4 else 0, fontsize=8)
    ax.set_ylabel("share of users (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"who moved ({bars[0][2].users} users)", fontsize=10)
    fig.tight_layout()
    save_figure(outputs, fig, "--plot", plt)


def _envoy_policy_cause(a: Any, b: Any) -> list[str]:
    """Return the cause when the routes' hash policies have a different number of entries."""

    def entries(route: Any) -> int:
        return len(route.hash_policy.policies) if route.hash_policy is not None else 0

    ra, rb = a.routes[0], b.routes[0]
    na, nb = entries(ra), entries(rb)
    if na != nb:
        return [
            f"the route's hash policy changed ({na} -> {nb} entries), which changes every route hash"
        ]
    return _layout_cause(ra, rb)


def _layout_cause(a: Any, b: Any) -> list[str]:
    """Return the cause when ``use_hash_policy`` routes' weighted clusters moved a boundary
    that takes users from a cluster whose weight did not shrink.

    Envoy lays the clusters out in order over ``[0, total)`` and picks the one
    whose interval holds ``value % total`` (``source/common/router/
    weighted_cluster_specifier.cc``, ``pickClusterIndex``); with two clusters
    only the boundary between them moves, with three or more a cluster can
    keep or grow its weight and still lose users when the one before it shrank.
    """
    if not (a.use_hash_policy and b.use_hash_policy):
        return []
    wa, wb = dict(a.weighted_clusters), dict(b.weighted_clusters)
    ta, tb = sum(wa.values()), sum(wb.values())
    if ta and tb and ta != tb:
        return [
            f"the weighted clusters' total changed ({ta} -> {tb}), which moves every "
            "value % total interval"
        ]

    def ranges(pairs: Any) -> dict[str, tuple[int, int]]:
        out, begin = {}, 0
        for name, w in pairs:
            out[name] = (begin, begin + w)
            begin += w
        return out

    ia, ib = ranges(a.weighted_clusters), ranges(b.weighted_clusters)
    for name, (lo, hi) in ia.items():
        nlo, nhi = ib.get(name, (0, 0))
        grew = wb.get(name, 0) >= wa.get(name, 0) > 0
        if grew and (nlo > lo or nhi < hi):
            return [
                f"with use_hash_policy Envoy lays the clusters out in order over value % total, "
                f"so cluster {_short(name)} keeps or grows its weight "
                f"({wa[name]} -> {wb.get(name, 0)}) yet loses the users of [{lo}, {hi}) "
                f"that its new interval [{nlo}, {nhi}) leaves out"
            ]
    return []


def _envoy_configs(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """Return the Envoy routing functions to compare in order, and their labels."""
    if args.envoy_base is None:
        a = envoy_route(args, args.envoy_config_a, args.seed)
        b = envoy_route(args, args.envoy_config_b, args.seed)
        return [a, b], ["A", "B"]
    if args.ramp:
        cluster, steps = args.ramp

        def ramp(pairs: Any) -> list[list[tuple[str, int]]]:
            return [reweight(pairs, [(cluster, w)]) for w in steps]

        routes = envoy_route(args, args.envoy_base, args.seed, ramp)
        return routes, [f"{cluster}={w}" for w in steps]

    def change(pairs: Any) -> list[list[tuple[str, int]]]:
        return [list(pairs), reweight(pairs, args.set_weight)]

    return envoy_route(args, args.envoy_base, args.seed, change), ["base", "changed"]


def _run_envoy(args: argparse.Namespace, outputs: OutputSet, out: IO[str]) -> int:
    from .._validate import MAX_USERS
    from . import envoy_config

    routes, labels = _envoy_configs(args)

    def traffic() -> Iterator[tuple[str, SimRequest]]:
        if args.requests:
            reqs: Iterator[SimRequest] = read_jsonl(args.requests)
        else:
            users = args.users if args.users is not None else 1000
            key = args.key if args.key is not None else envoy_config.default_key(routes[0].routes)
            reqs = synthetic(users, args.requests_per_user, key, args.seed)
        return ((r.user, r) for r in reqs)

    try:
        reports = diff_steps(routes, traffic(), max_users=MAX_USERS)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    results = {"envoy": reports}
    findings = []
    for k, r in enumerate(reports):
        what = "Going from A to B" if labels == ["A", "B"] else "The change"
        if len(reports) > 1:
            what = f"Step {labels[k]} -> {labels[k + 1]}"
        why = _envoy_policy_cause(routes[k], routes[k + 1])
        findings.append(finding_line(what, "envoy", r, why, None))
    width = None if args.wide else WIDTH
    return publish(
        args,
        outputs,
        out,
        lambda: _summary(["envoy"], results, labels),
        lambda: plot(["envoy"], results, labels, outputs),
        lambda: _render(args, ["envoy"], results, labels, findings, width),
    )


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb diff`` with parsed *args*; raise InputError on bad input."""
    out = out if out is not None else sys.stdout
    _check(args)
    args.file, saved = (args.file or args.a or ["."]), args.file  # _check_counts reads args.file
    _check_counts(args)
    args.file = saved
    outputs.add(args.json, "--json")
    outputs.add_plot(args.plot)
    columns = _columnar.wanted(args)
    if columns:
        _diffcolumnar.check(args)
    if args.envoy_config_a is not None or args.envoy_base is not None:
        return _run_envoy(args, outputs, out)
    scenarios, labels, label = _configs(args)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    if columns:
        runs = _diffcolumnar.run_modes(args, scenarios, modes, _versioner(args))
    else:
        traffic = _traffic(args, scenarios[0])
        runs = {m: _run_mode(m, scenarios, args, traffic) for m in modes}
    results = {m: runs[m][0] for m in modes}
    first, other = modes[0], (modes[1] if len(modes) > 1 else None)
    engines = runs[first][1]
    findings = []
    for k, r in enumerate(results[first]):
        what = change_words(scenarios[k], scenarios[k + 1], label)
        if len(scenarios) > 2:
            what = f"Step {labels[k]} -> {labels[k + 1]}"
        why = causes(scenarios[k], scenarios[k + 1], first, engines[k], engines[k + 1])
        o = (other, results[other][k]) if other else None
        findings.append(finding_line(what, first, r, why, o))
    width = None if args.wide else WIDTH
    return publish(
        args,
        outputs,
        out,
        lambda: _summary(modes, results, labels),
        lambda: plot(modes, results, labels, outputs, "version" if args.rollout else "subset"),
        lambda: _render(args, modes, results, labels, findings, width),
    )
