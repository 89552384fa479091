"""The scalar model of ``HashPolicy.hash_many``: one ``Request`` per row of a dict of lists."""

from __future__ import annotations

from typing import Any

from ._impl import Implementation

FIELDS = ("path", "remote_address", "local_address", "method", "authority", "scheme")


def row_request(impl: Implementation, columns: dict[str, list[Any]], i: int) -> Any:
    """The ``Request`` that row *i* of *columns* stands for (nulls: missing values).

    A list cell is a multi-valued header (its None items are no value); a
    ``cookie:<name>`` cell becomes a ``cookie: <name>=<value>`` header.
    """
    headers: list[tuple[str, Any]] = []
    kwargs: dict[str, Any] = {}
    state: dict[str, int] = {}
    for key, column in columns.items():
        cell = column[i]
        if cell is None:
            continue
        if key.startswith("header:"):
            cells = cell if type(cell) in (list, tuple) else [cell]
            headers += [(key[7:], v) for v in cells if v is not None]
        elif key.startswith("cookie:"):
            text = cell.decode("utf-8", "surrogatepass") if isinstance(cell, bytes) else cell
            headers.append(("cookie", f"{key[7:]}={text}"))
        elif key.startswith("filter_state:"):
            state[key[13:]] = cell
        elif key in FIELDS:
            kwargs[key] = cell
    return impl.Request(headers=headers, filter_state=state, **kwargs)


def expected(impl: Implementation, policy: Any, columns: dict[str, list[Any]], n: int) -> list:
    """``policy.hash`` of every row's ``Request``: the rows ``hash_many`` must give."""
    return [policy.hash(row_request(impl, columns, i)) for i in range(n)]


def got(hashes: Any, no_hash: Any) -> list:
    """The rows of a ``hash_many`` result as ``hash`` gives them (None: no hash)."""
    assert hashes.dtype.name == "uint64" and no_hash.dtype.name == "bool"
    assert len(hashes) == len(no_hash)
    assert all(int(h) == 0 for h, nh in zip(hashes, no_hash, strict=True) if nh)
    return [None if nh else int(h) for h, nh in zip(hashes, no_hash, strict=True)]


def ab_router(impl: Implementation, mode: str, weights: dict[str, int]) -> Any:
    """A small router of subsets ``a`` (5 hosts) and ``b`` (3), keyed on ``x-user`` (seed 9)."""
    from hashlb import Host, Router
    from hashlb.policy import HashPolicy, Header

    hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a" if i < 5 else "b"}) for i in range(8)]
    return Router(
        hosts,
        subsets={"a": {"v": "a"}, "b": {"v": "b"}},
        weights=impl.WeightedSubsetPicker(weights, mode=mode, seed=9),
        policy=HashPolicy(Header("x-user")),
        balancer=impl.Maglev,
        balancer_options={"table_size": 101},
        mode=mode,
        seed=9,
    )
