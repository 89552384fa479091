"""What both ``hashlb simulate`` inputs share (``-f`` Istio YAML, ``--envoy-config``).

Turning a simulated request into a :class:`hashlb.Request` (with the
user's cookie jar), the per-user stickiness bookkeeping, the share chart of
``--plot`` and the publishing of the outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import textwrap
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from .._source import InputError
from .._validate import MAX_USERS, cap
from .output import OutputSet, format_table, require_matplotlib, save_figure
from .traffic import SimRequest


def to_policy_request(req: SimRequest, jar: Mapping[str, str] | None) -> Any:
    from ..policy import Request

    headers = list(req.headers)
    if jar:
        headers.append(("cookie", "; ".join(f"{k}={v}" for k, v in jar.items())))
    return Request(
        headers=headers,
        path=req.path,
        remote_address=req.remote_address,
        local_address=req.local_address,
    )


SET_COOKIE = re.compile(r'^\s*([^=;\s]+)=("?)([^";]*)\2')

_MANY = object()

#: What a request that got no host counts as, for stickiness.
NO_HOST = object()


def track(state: list[Any], where: object, group: object) -> None:
    """Record a user's request: ``state[0]`` its endpoint, ``state[1]`` its group (_MANY: several)."""
    if state[0] is None:
        state[0], state[1] = where, group
        return
    if state[0] is not _MANY and state[0] != where:
        state[0] = _MANY
    if state[1] is not _MANY and state[1] != group:
        state[1] = _MANY


def kept(users: Mapping[Hashable, list[Any]], i: int) -> int:
    """Return how many users kept one value in ``state[i]`` (one endpoint, or one group)."""
    return sum(1 for s in users.values() if s[i] is not None and s[i] is not _MANY)


def user_key(user: str) -> Hashable:
    """Return what identifies a user in memory: the name, or a digest of a long one."""
    if len(user) <= 64:
        return user
    return hashlib.blake2b(user.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.1f}%" if d else "-"


@dataclass
class Bars:
    """One panel of a :class:`ShareChart`: per bar, its label, the share expected and the one got."""

    labels: list[str] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    got: list[float] = field(default_factory=list)

    def add(self, label: str, expected: float, got: float) -> None:
        """Add one bar (shares in percent)."""
        self.labels.append(label)
        self.expected.append(expected)
        self.got.append(got)


@dataclass
class ShareChart:
    """What :func:`draw_shares` draws: groups (subsets or clusters) and endpoints, in percent."""

    title: str
    group_title: str
    #: Each group's configured share and simulated one.
    groups: Bars = field(default_factory=Bars)
    #: Each endpoint's even share of its group's weight and simulated one.
    endpoints: Bars = field(default_factory=Bars)
    fontsize: int = 8


def _draw_bars(ax: Any, bars: Bars, expected: str, color: str, fontsize: int) -> None:
    """Draw *bars* on *ax*: the *expected* share in grey beside the simulated one in *color*."""
    x = range(len(bars.labels))
    ax.bar([i - 0.2 for i in x], bars.expected, 0.4, label=expected, color="#bbbbbb")
    ax.bar([i + 0.2 for i in x], bars.got, 0.4, label="simulated", color=color)
    ax.set_xticks(list(x), bars.labels, rotation=20, fontsize=fontsize)


def draw_shares(chart: ShareChart, outputs: OutputSet, flag: str = "--plot") -> None:
    """Draw the group and endpoint shares against the configured weights as a PNG."""
    plt = require_matplotlib()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
    _draw_bars(ax1, chart.groups, "configured", "#3572a5", chart.fontsize + 2)
    ax1.set_ylabel("share of requests (%)")
    ax1.set_title(chart.group_title)
    ax1.legend()
    _draw_bars(ax2, chart.endpoints, "even share of the weight", "#e07b39", chart.fontsize)
    ax2.set_title("endpoints")
    ax2.legend()
    fig.suptitle(chart.title, fontsize=10)
    fig.tight_layout()
    save_figure(outputs, fig, flag, plt)


def publish(
    args: argparse.Namespace,
    outputs: OutputSet,
    out: IO[str],
    summary: Callable[[], dict[str, Any]],
    draw: Callable[[], None],
    report: Callable[[], str],
) -> int:
    """Write the ``--json`` summary and the ``--plot`` chart, then print the report; return 0."""
    if args.json:
        with outputs.open("--json") as f:
            json.dump(summary(), f, indent=2)
            f.write("\n")
    if args.plot:
        draw()
    if not args.quiet and not outputs.uses_stdout:
        outputs.report(report(), out)
    return 0


def user_state(
    users: dict[Hashable, list[Any]], req: SimRequest, fresh: tuple[Any, ...]
) -> list[Any]:
    """Return the stickiness state of *req*'s user, a copy of *fresh* for a new user.

    :raises InputError: a new user beyond ``MAX_USERS`` (memory is bounded
        by the users, not the requests).
    """
    ukey = user_key(req.user)
    state = users.get(ukey)
    if state is None:
        if len(users) >= MAX_USERS:
            raise InputError(
                req.where, f"more than {cap('MAX_USERS')} distinct users in the requests"
            )
        state = users[ukey] = list(fresh)
    return state


#: The report's width unless ``--wide``: prose is wrapped and table cells are cut to fit it.
WIDTH = 100


def wrap(text: str, width: int | None, indent: str = "  ") -> list[str]:
    """Return *text* wrapped to *width* (None: one line), continuation lines indented."""
    if width is None:
        return [text]
    return textwrap.wrap(
        text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def report_head(
    run: str,
    setting: str,
    requests: int,
    users: int,
    key: str,
    finding: str,
    width: int | None = WIDTH,
) -> list[str]:
    """The report's first lines: the finding, then what was simulated, on what traffic.

    *finding* is :func:`finding`'s text; *run* names the input and what it
    routes to, *setting* the mode and seed.
    """
    return [
        *wrap(f"hashlb simulate: {finding}", width),
        "",
        *wrap(run, width),
        *wrap(f"{requests} requests from {users} users, key {key}; {setting}", width),
    ]


class Counts(Protocol):
    """What :func:`finding` reads of a simulation result (both inputs' results have it)."""

    users: int
    requests: int
    one_endpoint: int
    no_hash: int


def finding(
    result: Counts,
    *,
    one_group: int,
    group: str,
    split: bool,
    hash_driven: bool,
    next_step: str,
) -> str:
    """The report's finding in plain words: how many users stay put, why, and what to try.

    *one_group* users stayed on one *group* (subset or cluster); *split*:
    some route sends traffic to more than one group; *hash_driven*: the group
    is a function of the route hash (sticky mode, or a weighted-cluster
    choice by ``use_hash_policy``), not a random draw per request;
    *next_step*: what to try when it is random.
    """
    users, one_endpoint, no_hash, requests = (
        result.users,
        result.one_endpoint,
        result.no_hash,
        result.requests,
    )
    if users == 0:
        return "no request was simulated."
    ep, grp = pct(one_endpoint, users), pct(one_group, users)
    hashed = no_hash < requests
    if split and not hash_driven:
        text = (
            f"{ep} of users stay on one endpoint and {grp} on one {group}. "
            f"Envoy picks the {group} at random for each request, before it hashes, so a "
            f"user keeps a pod only while the draws agree. {next_step}"
        )
    elif split:
        text = (
            f"{ep} of users stay on one endpoint and {grp} on one {group}: the "
            f"{group} is a function of the route hash, so a user keeps {group} and pod "
            f"while the weights hold."
        )
    elif one_group == users:
        text = f"{ep} of users stay on one endpoint: each user's traffic goes to one {group}" + (
            " and the route hash picks the endpoint." if hashed else "."
        )
    else:
        text = (
            f"{ep} of users stay on one endpoint and {grp} on one {group}: every route sends "
            f"all its traffic to one {group}, but users follow routes to different {group}s."
        )
    if not hashed:
        text += (
            " No request had a hash key, so no user is pinned: Envoy balances each "
            "request on its own (a random endpoint for ring hash and Maglev)."
        )
    elif no_hash:
        text += (
            f" {pct(no_hash, requests)} of requests had no hash key; Envoy balances those "
            f"on their own (a random endpoint for ring hash and Maglev)."
        )
    return text


def policy_lines(
    entries: list[str], *, folded: bool, width: int | None, istio: bool = True
) -> list[str]:
    """The route's hash policy, with why an entry may repeat (Istio's copies, Envoy's fold).

    *entries* are the policy list's entries as described (``header:x-user``);
    *folded*: Envoy evaluates every entry and folds the hashes
    (``rotl1(h) ^ v``), which is what the copies change; *istio*: the list
    is Istio's translation (one entry per weighted destination).
    """
    if not entries:
        return ["  hash policy: none (Envoy picks at random)"]
    distinct = list(dict.fromkeys(entries))
    if len(entries) == 1 or not folded:
        return wrap(f"  hash policy: {' + '.join(distinct)}", width, "    ")
    if len(distinct) == 1:
        text = (
            f"  hash policy: {distinct[0]}, {len(entries)} times: Istio emits one copy per "
            f"weighted destination and Envoy folds them (rotl1(h) ^ h for two), so the route "
            f"hash differs from the plain hash of {distinct[0]}; this is expected."
        )
    elif istio:
        text = (
            f"  hash policy: {' + '.join(entries)}: Istio emits one entry per weighted "
            f"destination and Envoy folds their hashes into the route hash."
        )
    else:
        text = (
            f"  hash policy: {' + '.join(entries)}: Envoy evaluates every entry and folds "
            f"their hashes (rotl1(h) ^ v) into the route hash."
        )
    return wrap(text, width, "    ")


def weights_note(weights: list[int], group: str, width: int | None) -> list[str]:
    """A note when the weights do not sum to 100: Envoy splits by weight / total."""
    total = sum(weights)
    if total in (0, 100) or len(weights) < 2:
        return []
    shares = ", ".join(pct(w, total) for w in weights)
    return wrap(
        f"  weights {'/'.join(str(w) for w in weights)} sum to {total}, not 100: "
        f"Envoy splits by weight / {total} ({shares}).",
        width,
        "    ",
    )


def shares_table(group: str, rows: list[list[object]], width: int | None = WIDTH) -> str:
    """The table of a route's groups (subsets or clusters): weight, configured and real shares.

    A row is ``[name, weight, configured share, requests, share, load balancer]``;
    the load balancers follow the table, one line for all when they agree.
    """
    head = [group, "weight", "configured", "requests", "share"]
    lines = [format_table(head, [r[:5] for r in rows], align="<>>>>", width=width, cut=(0,))]
    balancers = [str(r[5]) for r in rows]
    if len(set(balancers)) == 1:
        lines += wrap(f"  load balancer: {balancers[0]}", width, "    ")
    else:
        for r, lb in zip(rows, balancers, strict=True):
            lines += wrap(f"  load balancer of {r[0]}: {lb}", width, "    ")
    return "\n".join(lines)


def no_hash_line(no_hash: int) -> str:
    """The report's line for requests that got no hash."""
    return f"no hash: {no_hash} requests had no hash key (ring hash and Maglev pick at random)"


def stickiness_line(users: int, one_endpoint: int, one_group: int, group: str) -> str:
    """The report's last line: users on one endpoint, and on one *group* (subset or cluster)."""
    return (
        f"stickiness: {users} users; one endpoint: {one_endpoint} "
        f"({pct(one_endpoint, users)}); one {group}: {one_group} ({pct(one_group, users)})"
    )
