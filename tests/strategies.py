"""Named Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

#: Any unsigned 64-bit value (hashes, seeds).
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
#: Any unsigned 32-bit value (murmur3 seeds, weights).
uint32 = st.integers(min_value=0, max_value=2**32 - 1)
#: Byte strings of length 0-300, the range the kernels' branches cover.
data_bytes = st.binary(min_size=0, max_size=300)
#: Text, hashed as UTF-8 (surrogates excluded: they have no UTF-8 form).
data_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120)


@st.composite
def unaligned_views(draw: st.DrawFn) -> memoryview:
    """Return a memoryview slice starting at a random (unaligned) offset."""
    raw = draw(st.binary(min_size=0, max_size=310))
    start = draw(st.integers(min_value=0, max_value=min(len(raw), 9)))
    stop = draw(st.integers(min_value=start, max_value=len(raw)))
    return memoryview(bytearray(raw))[start:stop]


# ---- hash policies (issue 4): request data, header pairs, cookies, addresses

#: Characters that steer the request parsers (cookie, query, XFF, addresses).
_PARSER_CHARS = ' ;=",&?.:[]%/\t0123456789abcdefABCDEF:xsu\udc80\xe9'
#: Any code point, lone surrogates included (they have no UTF-8 form).
any_chars = st.characters(exclude_categories=())
#: Request text as a server might hand it over: bytes (maybe invalid UTF-8), or str
#: (maybe with lone surrogates), biased towards the characters the parsers look at.
request_text = st.one_of(
    st.binary(max_size=24),
    st.text(alphabet=any_chars, max_size=24),
    st.text(alphabet=_PARSER_CHARS, max_size=24),
)
#: Header names: the ones the policies read (any case, str or bytes) or anything.
header_names = st.one_of(
    st.sampled_from(
        [
            "x-user",
            "X-User",
            b"x-user",
            b"X-USER",
            "cookie",
            b"cookie",
            "Cookie",
            "x-forwarded-for",
            b"X-Forwarded-For",
            "host",
            ":path",
            ":authority",
        ]
    ),
    request_text,
)
#: A header list: (name, value) pairs, sometimes with a malformed entry.
header_pairs = st.lists(
    st.one_of(
        st.tuples(header_names, request_text),
        st.sampled_from([("x-user",), None, 7, ("x-user", None), (b"cookie", 5)]),
    ),
    max_size=8,
)
#: Cookie header values built from cookie-ish pieces and random text.
cookie_strings = st.lists(
    st.one_of(
        st.text(alphabet=' ;="sc\t', max_size=12),
        st.sampled_from(["s=v", 's="v"', " s=", "s", ";", "c=s=1", '"s"=x']),
    ),
    max_size=6,
).map("".join)
#: Addresses: IP text with or without port, tuples, junk, or None.
addresses = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "10.0.0.1:80",
            "10.0.0.1",
            "[2001:db8::1]:443",
            "::1",
            "[::ffff:1.2.3.4]:1",
            "fe80::1%eth0",
            ("10.0.0.1", 80),
            ("::1", None),
            ("/run/s.sock", None),
        ]
    ),
    request_text,
    st.tuples(request_text, st.one_of(st.none(), st.integers(-1, 70000), request_text)),
)
#: X-Forwarded-For values: comma-separated IPs, spaces and junk.
xff_values = st.lists(
    st.one_of(
        st.sampled_from(["203.0.113.9", " 10.0.0.1", "2001:db8::7 ", "::ffff:1.2.3.4", "", " "]),
        st.text(alphabet=_PARSER_CHARS, max_size=12),
    ),
    max_size=5,
).map(",".join)


# ---- weighted subsets (issue 5) --------------------------------------------
#: Subset names: short printable text (DestinationRule subset names).
subset_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=10
)


@st.composite
def subset_weights(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> dict[str, int]:
    """Return subset name -> weight: uint32 weights, some zero, a non-zero fitting sum."""
    names = draw(st.lists(subset_names, min_size=min_size, max_size=max_size, unique=True))
    cap = (2**32 - 1) // len(names)
    small = st.integers(min_value=0, max_value=100)
    weights = [draw(st.one_of(small, st.integers(min_value=0, max_value=cap))) for _ in names]
    if not any(weights):
        weights[draw(st.integers(min_value=0, max_value=len(names) - 1))] = 1
    return dict(zip(names, weights, strict=True))


# ---- Maglev and bounded load (issue 3) ---------------------------------------
#: Prime Maglev table sizes small enough for the paper-literal reference model.
prime_table_sizes = st.sampled_from([2, 3, 5, 7, 11, 13, 17, 31, 61, 101, 211, 307, 503, 1009])
#: Host weights: mostly small, sometimes large (still summing below 2**32).
host_weights = st.one_of(st.integers(min_value=1, max_value=5), st.integers(1, 1_000_000))


@st.composite
def host_lists(draw: st.DrawFn, min_size: int = 0, max_size: int = 12, ties: bool = False) -> list:
    """Return Hosts with distinct addresses; with *ties*, some share a hash_key."""
    from hashlb import Host

    n = draw(st.integers(min_value=min_size, max_value=max_size))
    ports = draw(st.lists(st.integers(1, 65535), min_size=n, max_size=n, unique=True))
    hosts = []
    for port in ports:
        key = draw(st.sampled_from([None, "shared-a", "shared-b"])) if ties else None
        hosts.append(
            Host(f"10.0.{port // 256}.{port % 256}:{port}", draw(host_weights), hash_key=key)
        )
    return hosts


@st.composite
def locality_host_lists(draw: st.DrawFn, max_size: int = 10) -> tuple:
    """Return (hosts, locality_weights): hosts in localities a/b/c, some weights 0."""
    from hashlb import Host

    names = draw(st.permutations(["a", "b", "c"]))
    lw = {name: draw(st.integers(min_value=0, max_value=5)) for name in names}
    n = draw(st.integers(min_value=0, max_value=max_size))
    hosts = [
        Host(f"10.1.0.{i}:80", draw(host_weights), locality=draw(st.sampled_from(names)))
        for i in range(n)
    ]
    return hosts, lw


# ---- Maglev with skewed weights (issue 10, item 11) ---------------------------
def _primes(lo: int, hi: int) -> list[int]:
    """Return the primes in ``[lo, hi]`` (trial division; small ranges only)."""
    return [p for p in range(max(lo, 2), hi + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]


#: Random prime table sizes, small enough for the round-by-round reference
#: model even when one heavy host makes it run about M rounds.
maglev_prime_sizes = st.sampled_from(_primes(2, 10007))
#: Envoy's largest weight (a uint32); any weight sum must stay below it too.
MAX_WEIGHT = 2**32 - 1


@st.composite
def skewed_weights(draw: st.DrawFn, max_light: int = 300, max_heavy: int = 4) -> list[int]:
    """Return weights with extreme skew, in a random order, summing to at most 2**32 - 1.

    Many weight-1 hosts (sometimes a few small or medium ones), then one or
    several heavy hosts sharing what is left of the uint32 budget: often all
    of it (``2**32 - 1 - light``, the DoS shape), sometimes a random part,
    sometimes all heavy hosts equal.
    """
    light = draw(st.one_of(st.integers(0, 40), st.integers(0, max_light)))
    weights = [1] * light
    weights += draw(
        st.lists(st.one_of(st.integers(1, 5), st.integers(1, 1_000_000)), min_size=0, max_size=4)
    )
    n_heavy = draw(st.integers(min_value=1, max_value=max_heavy))
    budget = (MAX_WEIGHT - sum(weights)) // n_heavy
    share = draw(st.sampled_from(["all", "equal-part", "random"]))
    if share == "all":
        heavy = [budget] * n_heavy
        heavy[0] += MAX_WEIGHT - sum(weights) - budget * n_heavy  # the exact uint32 sum
    elif share == "equal-part":
        heavy = [draw(st.integers(1, budget))] * n_heavy
    else:
        heavy = draw(st.lists(st.integers(1, budget), min_size=n_heavy, max_size=n_heavy))
    weights += heavy
    return draw(st.permutations(weights))


@st.composite
def skewed_host_lists(draw: st.DrawFn, localities: bool = False) -> tuple:
    """Return ``(hosts, locality_weights or None)`` with :func:`skewed_weights`.

    With *localities*, hosts are spread over localities a/b/c whose weights
    are themselves skewed (0 included, up to a uint32 sum), which makes
    normalized weights as small as ~1e-19.
    """
    from hashlb import Host

    weights = draw(skewed_weights())
    names = ["a", "b", "c"]
    lw = None
    if localities:
        lw = {}
        left = MAX_WEIGHT
        for name in draw(st.permutations(names)):
            w = draw(st.one_of(st.integers(0, min(5, left)), st.integers(0, left)))
            lw[name] = w
            left -= w
    hosts = [
        Host(
            f"10.{i >> 8 & 255}.{i & 255}.7:{80 + i}",
            w,
            locality=draw(st.sampled_from(names)) if localities else None,
        )
        for i, w in enumerate(weights)
    ]
    return hosts, lw


#: ``(weight, target, lo)`` for the next-turn search: normalized weights and
#: targets near exact multiples (a few ulps either side), Envoy's running
#: sums, and any doubles; ``lo`` mostly below the answer.
@st.composite
def next_due_cases(draw: st.DrawFn) -> tuple[float, float, int]:
    """Return ``(weight, target, lo)`` around the rounding edges of ``t * weight``."""
    total = draw(st.integers(min_value=1, max_value=MAX_WEIGHT))
    w = (draw(st.integers(min_value=1, max_value=total)) * 1.0) / total
    kind = draw(st.sampled_from(["multiple", "sum", "any"]))
    t = 1
    if kind == "multiple":  # target == t * w, nudged by a few ulps
        t = draw(st.one_of(st.integers(1, 10_000), st.integers(1, MAX_WEIGHT)))
        target = t * w
        ulps = draw(st.integers(min_value=-3, max_value=3))
        for _ in range(abs(ulps)):
            target = math.nextafter(target, math.inf if ulps > 0 else -math.inf)
    elif kind == "sum":  # Envoy's target_weight: k additions of a max weight
        mx = (draw(st.integers(min_value=1, max_value=total)) * 1.0) / total
        w = min(w, mx)
        target = 0.0
        for _ in range(draw(st.integers(min_value=1, max_value=2000))):
            target += mx
    else:
        w = draw(st.floats(min_value=0.0, max_value=1.0))
        target = draw(st.floats(min_value=0.0, max_value=5e9))
    lo = draw(st.one_of(st.just(1), st.integers(1, t), st.integers(1, MAX_WEIGHT + 1)))
    return w, max(target, 0.0), lo


# ---- ring hash (issue 3) ------------------------------------------------------
#: RingHash options kept small enough for the brute-force reference model.
ring_options = st.fixed_dictionaries(
    {
        "min_ring_size": st.integers(min_value=1, max_value=400),
        "hash_function": st.sampled_from(["xx_hash", "murmur_hash_2"]),
    },
    optional={"max_ring_size": st.sampled_from([1, 7, 64, 500, 8388608])},
).filter(lambda o: o["min_ring_size"] <= o.get("max_ring_size", 8388608))


@st.composite
def ring_host_sets(draw: st.DrawFn, min_size: int = 0, max_size: int = 8) -> list:
    """Return Hosts for a ring: distinct addresses, weights 1-20, localities z0-z2,
    and now and then a shared hash_key (equal entry hashes)."""
    from hashlb import Host

    n = draw(st.integers(min_value=min_size, max_value=max_size))
    ports = draw(st.lists(st.integers(1, 65535), min_size=n, max_size=n, unique=True))
    return [
        Host(
            f"10.0.{port // 256}.{port % 256}:{port}",
            draw(st.integers(min_value=1, max_value=20)),
            hash_key=draw(st.sampled_from([None, None, None, None, "shared"])),
            locality=draw(st.sampled_from(["z0", "z1", "z2"])),
        )
        for port in ports
    ]


#: None, or weights for ring_host_sets' localities in any order (zeros allowed).
ring_locality_weights = st.one_of(
    st.none(),
    st.permutations(["z0", "z1", "z2"]).flatmap(
        lambda names: st.tuples(*[st.integers(min_value=0, max_value=5)] * 3).map(
            lambda ws: dict(zip(names, ws, strict=True))
        )
    ),
)


@st.composite
def whole_count_weights(draw: st.DrawFn, max_splits: int = 7) -> list[int]:
    """Return power-of-two weights summing to a power of two.

    Every normalized weight is then an exact power of two, so ``scale * w``
    is a whole number and the ring's entry counts do not depend on order.
    """
    weights = [draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64]))]
    for _ in range(draw(st.integers(min_value=0, max_value=max_splits))):
        i = draw(st.integers(min_value=0, max_value=len(weights) - 1))
        if weights[i] > 1:
            half = weights.pop(i) // 2
            weights += [half, half]
    return weights


#: A VirtualService split for the CLI property test: 2-3 subsets, weights 0-100
#: (at least one non-zero), 1-3 pods each.
cli_splits = st.lists(
    st.tuples(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=3)),
    min_size=2,
    max_size=3,
).filter(lambda split: any(w for w, _ in split))


# ---- Router (issue 10) -------------------------------------------------------------
#: Label keys and values small enough for selectors to overlap often.
_label_keys = st.sampled_from(["app", "version", "zone"])
_label_values = st.sampled_from(["a", "b", "c"])
labelled_labels = st.dictionaries(_label_keys, _label_values, max_size=3)


@st.composite
def labelled_hosts(draw: st.DrawFn, min_size: int = 0, max_size: int = 16) -> list:
    """Return Hosts 10.2.0.i:80 with labels over app/version/zone = a/b/c.

    Addresses are distinct: a table or a router holds each address once.
    """
    from hashlb import Host

    n = draw(st.integers(min_value=min_size, max_value=max_size))
    return [
        Host(f"10.2.0.{i}:80", draw(st.integers(1, 3)), labels=draw(labelled_labels))
        for i in range(n)
    ]


#: Subset name -> label selector (possibly empty: every host).
label_selectors = st.dictionaries(
    st.sampled_from(["s0", "s1", "s2", "s3"]), labelled_labels, min_size=1, max_size=4
)


# ---- hostile request data (issue 10) ----------------------------------------
#
# Objects a careless or hostile caller can hand the request parsers.  The rule
# both twins follow: text is str, bytes or bytearray, a subclass read by its
# value without calling any of its methods; a header entry or an address is a
# tuple or list, subclasses read by their items; everything else is ignored.
# So every method below that raises must never be called, and every value
# must give the same result on both twins.


class HostileError(Exception):
    """Raised by a method of a hostile object: a twin that calls one fails."""


def _hostile(*args: object, **kwargs: object) -> object:
    raise HostileError("a hostile method was called")


#: Methods a naive reader of text or pairs might call (``__repr__`` stays
#: harmless so Hypothesis can print a failing example).
_HOSTILE_METHODS = (
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
    "__str__", "__bytes__", "__format__", "__len__", "__iter__", "__getitem__",
    "__contains__", "__bool__", "__index__", "__int__", "__float__", "__add__",
    "__radd__", "__mod__", "__mul__", "__buffer__", "__reversed__", "encode",
    "decode", "lower", "upper", "strip", "lstrip", "rstrip", "find", "rfind",
    "split", "partition", "startswith", "endswith", "replace", "join", "count",
    "isdigit", "isascii", "isprintable", "index", "copy",
)  # fmt: skip


def hostile_subclass(base: type, *, hashable: bool = False) -> type:
    """Return a subclass of *base* whose every usual method raises HostileError.

    With *hashable*, ``__hash__`` and ``__eq__`` keep *base*'s (for dict keys).
    """
    names = [m for m in _HOSTILE_METHODS if hasattr(base, m)]
    if hashable:
        names = [m for m in names if m not in ("__hash__", "__eq__", "__ne__")]
    ns: dict[str, object] = dict.fromkeys(names, _hostile)
    ns["__repr__"] = lambda self: f"<hostile {base.__name__} {base.__repr__(self)}>"
    return type(f"Hostile{base.__name__.capitalize()}", (base,), ns)


HostileStr = hostile_subclass(str)
HostileBytes = hostile_subclass(bytes)
HostileBytearray = hostile_subclass(bytearray)
HostileTuple = hostile_subclass(tuple)
HostileList = hostile_subclass(list)
HostileInt = hostile_subclass(int)
#: A str subclass usable as a dict key (WSGI environ keys) whose other methods raise.
HostileKey = hostile_subclass(str, hashable=True)


class RaisingClassAttribute:
    """``isinstance`` reads ``__class__``, which raises here."""

    @property
    def __class__(self) -> type:  # type: ignore[override]
        raise HostileError("__class__ was read")

    def __repr__(self) -> str:
        return "<RaisingClassAttribute>"


class Everything:
    """An object every operator, attribute and protocol of which raises."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):  # what Hypothesis' printer probes for
            raise AttributeError(name)
        raise HostileError(f"Everything.{name}")

    __eq__ = __ne__ = __hash__ = __len__ = __iter__ = __getitem__ = __bool__ = _hostile  # type: ignore[assignment]
    __str__ = __bytes__ = __index__ = __int__ = __contains__ = _hostile  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<Everything>"


def _numpy_values() -> list[object]:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a test dependency
        return []
    return [
        np.array([1, 2]),
        np.array([b"x-user"]),
        np.array(b"x-user"),
        np.str_("x-user"),
        np.str_("alice"),
        np.bytes_(b"x-user"),
        np.bytes_(b"10.0.0.1:80"),
        np.int64(5),
        np.uint16(80),
        np.float64("nan"),
    ]


def hostile_values() -> list[object]:
    """Return prebuilt hostile request values (built once: big ones cost nothing per example)."""
    return [
        memoryview(b"x-user"),
        memoryview(b"alice"),
        bytearray(b"x-user"),
        bytearray(b"s=v"),
        HostileStr("x-user"),
        HostileStr("X-USER"),
        HostileStr("alice"),
        HostileStr("s=v; c=1"),
        HostileStr("/p?u=1&s=2"),
        HostileStr("10.0.0.1:80"),
        HostileStr("x-\udc80"),
        HostileBytes(b"x-user"),
        HostileBytes(b"cookie"),
        HostileBytes(b"x-forwarded-for"),
        HostileBytes(b"203.0.113.9, 10.0.0.1"),
        HostileBytes(b"\xff\xfe"),
        HostileBytearray(b"x-user"),
        HostileBytearray(b"alice"),
        HostileTuple((b"x-user", b"alice")),
        HostileList(["cookie", "s=hostile"]),
        HostileTuple(("10.0.0.1", 80)),
        HostileInt(443),
        RaisingClassAttribute(),
        Everything(),
        0,
        -1,
        65536,
        10**5000,
        True,
        None,
        3.5,
        float("inf"),
        (),
        [],
        {},
        object(),
        "1" * 5000,
        "0" * 5000 + "7",
        "x" * 100_000,
        b"y" * 100_000,
        b"\x80\xff\xc3(",
        "\udc80\ud800",
        "x-user\u0130",
        "\u212a",
        *_numpy_values(),
    ]


_HOSTILE = hostile_values()


#: One of them, drawn by index (``sampled_from`` would inspect them to print itself).
def _hostile_at(index: int) -> object:
    return _HOSTILE[index]


hostile_objects = st.integers(0, len(_HOSTILE) - 1).map(_hostile_at)
_PLAIN_NAMES = [
    "x-user", b"x-user", "X-User", "cookie", b"cookie", "x-forwarded-for",
    "host", ":path", ":authority", "x-canary",
]  # fmt: skip
_PLAIN_VALUES = [
    "alice", b"bob", "s=v; c=1", "203.0.113.9, 10.0.0.1", "/p?u=1", "7", "", "\udc80",
]  # fmt: skip
#: A header name or value: plain text or anything hostile.
hostile_text = st.one_of(
    hostile_objects,
    st.sampled_from(_PLAIN_NAMES + _PLAIN_VALUES),
    request_text,
)
#: A header entry: a pair (plain, or a tuple/list subclass whose methods raise) or junk.
hostile_entries = st.one_of(
    st.tuples(hostile_text, hostile_text),
    st.builds(lambda n, v: [n, v], hostile_text, hostile_text),
    st.builds(lambda n, v: HostileTuple((n, v)), hostile_text, hostile_text),
    st.builds(lambda n, v: HostileList([n, v]), hostile_text, hostile_text),
    hostile_objects,
)
#: An address: text, a (host, port) pair (maybe a hostile subclass) or junk.
hostile_addresses = st.one_of(
    hostile_text,
    st.tuples(hostile_text, hostile_text),
    st.builds(lambda h, p: HostileTuple((h, p)), hostile_text, hostile_text),
    st.builds(lambda h, p: HostileList([h, p]), st.sampled_from(["10.0.0.1", "::1"]), hostile_text),
)
#: Keyword arguments of ``Request(...)`` made of hostile request data.
hostile_request_kwargs = st.fixed_dictionaries(
    {
        "headers": st.lists(hostile_entries, max_size=6),
        "path": hostile_text,
        "remote_address": hostile_addresses,
        "local_address": hostile_addresses,
    },
    optional={"method": hostile_text, "authority": hostile_text, "scheme": hostile_text},
)
#: An ASGI scope (a dict) of hostile values.
hostile_scopes = st.fixed_dictionaries(
    {"type": st.just("http")},
    optional={
        "headers": st.one_of(st.lists(hostile_entries, max_size=6), hostile_objects),
        "raw_path": hostile_text,
        "path": hostile_text,
        "query_string": hostile_text,
        "client": hostile_addresses,
        "server": hostile_addresses,
        "method": hostile_text,
        "scheme": hostile_text,
    },
)
#: A WSGI environ (a dict) of hostile keys and values.
hostile_environs = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["HTTP_X_USER", "HTTP_COOKIE", "HTTP_X_FORWARDED_FOR", "PATH_INFO", "QUERY_STRING",
             "RAW_URI", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_ADDR", "SERVER_PORT", "HTTP_HOST"]
        ),
        st.builds(HostileKey, st.sampled_from(["HTTP_X_USER", "HTTP_COOKIE", "REMOTE_ADDR"])),
        st.sampled_from([5, None, b"HTTP_X_USER"]),
    ),
    hostile_text,
    max_size=8,
)  # fmt: skip
#: Configuration values: hostile objects, wrong types and plain text.
hostile_config = st.one_of(
    hostile_objects,
    st.sampled_from(["x-user", "s", "", "a\nb", "a\0", ";", "x" * 10_000, "\udc80", "é"]),
    st.builds(HostileKey, st.sampled_from(["x-user", "s", "u"])),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
)


# ---- clusters (issue 12): priority levels and health ----------------------

#: An EDS health name, in any case.
health_names = st.sampled_from(
    ["unknown", "healthy", "HEALTHY", "unhealthy", "draining", "timeout", "degraded", "excluded"]
)


@st.composite
def level_counts(draw: st.DrawFn, max_levels: int = 4, max_hosts: int = 9) -> list:
    """Return per-level ``(hosts, healthy, degraded, excluded)`` counts, disjoint."""
    out = []
    for _ in range(draw(st.integers(1, max_levels))):
        n = draw(st.integers(0, max_hosts))
        h = draw(st.integers(0, n))
        d = draw(st.integers(0, n - h))
        x = draw(st.integers(0, n - h - d))
        out.append((n, h, d, x))
    return out


#: A configured healthy_panic_threshold: the whole range, plus the values Envoy truncates.
panic_percents = st.one_of(
    st.sampled_from([0, 0.0, 29, 50, 57, 58, 100]),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)


@st.composite
def cluster_hosts(draw: st.DrawFn, max_size: int = 14) -> list:
    """Return Hosts with distinct addresses over priorities 0-3, any health, weights 1-5."""
    from hashlb import Host

    n = draw(st.integers(0, max_size))
    return [
        Host(
            f"10.3.{i // 256}.{i % 256}:80",
            draw(st.integers(1, 5)),
            priority=draw(st.integers(0, 3)),
            health=draw(health_names),
        )
        for i in range(n)
    ]


# ---- pod health in the Istio translation (issue 12)

#: One pod of a simulated Istio mesh: (Ready, being deleted, hashlb.io/health annotation).
istio_pod_states = st.tuples(
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, "healthy", "unhealthy", "degraded", "draining", "timeout", "unknown"]),
)
#: A DestinationRule's outlierDetection: absent (None), without minHealthPercent (-1), or 0..100.
istio_outlier = st.one_of(st.none(), st.just(-1), st.integers(0, 100))


def active_counts(n: int) -> st.SearchStrategy[list[int]]:
    """Return requests in flight for *n* hosts, skewed so that bounded load has to move some.

    Mostly idle hosts, a few hot ones: with counts drawn evenly the first
    choice is almost never over its cap (a level's cap is a share of the
    whole cluster's requests), and the probing would go untested.
    """
    count = st.one_of(st.just(0), st.integers(0, 3), st.integers(10, 400))
    return st.lists(count, min_size=n, max_size=n)


# -- hashlb.envoy: Envoy ClusterLoadAssignments and mutated JSON ---------------------------

_EDS_HEALTH = ("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED")


@st.composite
def envoy_assignments(draw: st.DrawFn, max_groups: int = 4, max_endpoints: int = 6) -> tuple:
    """A ``ClusterLoadAssignment`` for cluster ``"c"`` and the hosts it stands for.

    Returns ``(cla, hosts)``: *cla* in proto field names; *hosts* the
    ``(address, weight, priority, health, locality, hash_key)`` of each
    endpoint that Envoy keeps (a repeated address only the first time).
    """
    groups = []
    hosts = []
    seen: set[str] = set()
    for g in range(draw(st.integers(1, max_groups))):
        priority = draw(st.integers(0, 2))
        zone = draw(st.sampled_from(["", "a", "b"]))
        lb_endpoints = []
        for _ in range(draw(st.integers(0, max_endpoints))):
            n = draw(st.integers(1, 12))
            address = f"10.7.{g % 2}.{n}"
            weight = draw(st.integers(1, 5))
            health = draw(st.sampled_from(_EDS_HEALTH))
            key = draw(st.sampled_from([None, f"k{n}", ""]))
            entry: dict = {
                "endpoint": {"address": {"socket_address": {"address": address, "port_value": 80}}},
                "health_status": health,
                "load_balancing_weight": weight,
            }
            if key is not None:
                entry["metadata"] = {"filter_metadata": {"envoy.lb": {"hash_key": key}}}
            lb_endpoints.append(entry)
            full = f"{address}:80"
            if full not in seen:
                seen.add(full)
                hosts.append(
                    (
                        full,
                        weight,
                        priority,
                        health.lower(),
                        f"eu/{zone}" if zone else "eu",
                        key or None,
                    )
                )
        groups.append(
            {
                "locality": {"region": "eu", "zone": zone},
                "priority": priority,
                "load_balancing_weight": draw(st.integers(1, 4)),
                "lb_endpoints": lb_endpoints,
            }
        )
    factor = draw(st.sampled_from([100, 140, 200]))
    return {
        "cluster_name": "c",
        "endpoints": groups,
        "policy": {"overprovisioning_factor": factor},
    }, hosts


def json_values() -> st.SearchStrategy:
    """Any JSON value, small: what a broken config dump may hold in place of a field."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["RING_HASH", "MAGLEV", "-1", "3600s", "", "10.0.0.1", "{}"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    )


#: A pod's locality for the Istio locality tests: "" (unknown) or REGION[/ZONE[/SUBZONE]]
#: over a small alphabet, so that localities repeat and share prefixes.
istio_locality = st.one_of(
    st.just(""),
    st.tuples(
        st.sampled_from(["r1", "r2", "r3"]),
        st.sampled_from(["", "z1", "z2"]),
        st.sampled_from(["", "s1"]),
    ).map(lambda t: "/".join(t[:2] if not t[2] else (t[0], t[1] or "z1", t[2])).rstrip("/")),
)
#: A client locality (a region is required): the same alphabet.
istio_client_locality = istio_locality.filter(bool)
_ISTIO_KEYS = (
    "{httpHeaderName: x-user}",
    "{httpHeaderName: x-myval}",
    "{httpCookie: {name: session}}",
    "{httpCookie: {name: sid, ttl: 60s, path: /, attributes: [{name: SameSite, value: Lax}]}}",
    "{useSourceIp: true}",
    "{httpQueryParameterName: user}",
    "{}",
)


@st.composite
def istio_load_balancers(draw: st.DrawFn) -> str | None:
    """A DestinationRule ``loadBalancer`` (flow YAML), or None for none."""
    kind = draw(st.sampled_from(["none", "simple", "hash", "hash", "hash"]))
    if kind == "none":
        return None
    if kind == "simple":
        return f"{{simple: {draw(st.sampled_from(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM']))}}}"
    key = draw(st.sampled_from(_ISTIO_KEYS))
    table = draw(
        st.sampled_from(["", "ringHash: {minimumRingSize: 64}", "maglev: {tableSize: 251}"])
    )
    body = key[1:-1]
    inner = ", ".join(p for p in (body, table) if p)
    return f"{{consistentHash: {{{inner}}}}}"


@st.composite
def istio_meshes(draw: st.DrawFn) -> tuple[str, str]:
    """A mesh of Istio YAML (DestinationRule, VirtualService, Service, Pods) and an
    ``--unhealthy-endpoints`` mode: policies at every level, 1-3 http routes with matches,
    weights (0 included), named ports, pods not Ready or with a health annotation."""
    versions = ["v1", "v2", "v3"][: draw(st.integers(1, 3))]

    def policy(indent: str) -> str:
        lines = []
        lb = draw(istio_load_balancers())
        if lb is not None:
            lines.append(f"{indent}loadBalancer: {lb}")
        if draw(st.booleans()) and draw(st.booleans()):
            plb = draw(istio_load_balancers())
            entry = (
                f"{{port: {{number: 80}}, loadBalancer: {plb}}}"
                if plb
                else ("{port: {number: 80}, connectionPool: {tcp: {maxConnections: 7}}}")
            )
            lines.append(f"{indent}portLevelSettings: [{entry}]")
        if draw(st.integers(0, 3)) == 0:
            lines.append(
                f"{indent}outlierDetection: {{minHealthPercent: {draw(st.sampled_from([0, 40]))}}}"
            )
        return "\n".join(lines)

    top = policy("    ")
    rule = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n"
    if top:
        rule += "  trafficPolicy:\n" + top + "\n"
    rule += "  subsets:\n"
    for v in versions:
        rule += f"    - name: {v}\n      labels: {{version: {v}}}\n"
        own = policy("        ")
        if own:
            rule += "      trafficPolicy:\n" + own + "\n"
    http = []
    for i in range(draw(st.integers(1, 3))):
        route = f"    - name: r{i}\n      " if draw(st.booleans()) else "    - "
        match = draw(
            st.sampled_from(
                [
                    "",
                    "{headers: {x-canary: {exact: 'yes'}}}",
                    "{uri: {prefix: /api}}",
                    "{uri: {prefix: /static}, method: {exact: GET}}",
                    "{withoutHeaders: {x-canary: {exact: 'yes'}}}",
                    "{queryParams: {user: {prefix: u1}}}",
                ]
            )
        )
        if match and i < 2:
            route += f"match: [{match}]\n      "
        chosen = draw(st.lists(st.sampled_from(versions), min_size=1, max_size=3, unique=True))
        weights = [draw(st.integers(0, 100)) for _ in chosen]
        if len(chosen) > 1 and not any(weights):
            weights[0] = 1
        dests = []
        for v, w in zip(chosen, weights, strict=True):
            port = ", port: {number: 80}" if draw(st.booleans()) else ""
            weight = f", weight: {w}" if len(chosen) > 1 or draw(st.booleans()) else ""
            dests.append(f"{{destination: {{host: web, subset: {v}{port}}}{weight}}}")
        route += f"route: [{', '.join(dests)}]"
        http.append(route)
    vs = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\n"
        "spec:\n  hosts: [web]\n  http:\n" + "\n".join(http) + "\n"
    )
    service = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
    )
    pods = []
    n = 0
    for v in versions:
        for j in range(draw(st.integers(1, 4))):
            n += 1
            ready = j == 0 or draw(st.integers(0, 4)) > 0
            health = (
                draw(st.sampled_from([None, None, None, "unhealthy", "degraded"])) if j else None
            )
            meta = f"name: web-{v}-{j}, labels: {{app: web, version: {v}}}"
            if health:
                meta += f", annotations: {{hashlb.io/health: {health}}}"
            pods.append(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{{meta}}}\n"
                "spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n"
                f"status: {{phase: Running, podIP: 10.4.0.{n}, conditions: "
                f"[{{type: Ready, status: '{ready}'}}]}}\n"
            )
    mode = draw(st.sampled_from(["auto", "omit", "always"]))
    return "---\n".join([rule, vs, service, *pods]), mode


# ---- columnar batches (issue 14): Arrow / numpy key and hash columns

#: The Arrow key types a column strategy draws (by name, so pyarrow stays optional here).
arrow_key_type_names = st.sampled_from(
    ["string", "large_string", "binary", "large_binary", "string_view", "binary_view"]
)
#: ASCII keys of 0-40 characters (the compiled twin narrows numpy U in 8-character words).
ascii_text = st.text(
    alphabet=st.characters(max_codepoint=127, exclude_characters="\x00"), max_size=40
)
#: A row of a key column: text (non-ASCII, empty and > 12 bytes included) or a null.
column_keys = st.lists(st.none() | data_text | ascii_text, max_size=40)
#: A row of a hash column: any uint64, or a null.
column_hashes = st.lists(st.none() | uint64, max_size=40)


@st.composite
def column_layouts(draw: st.DrawFn, n: int) -> tuple[int, int, list[int]]:
    """Return ``(start, stop, cuts)``: a slice of *n* rows and where to cut it into chunks."""
    start = draw(st.integers(0, n))
    stop = draw(st.integers(start, n))
    cuts = sorted(draw(st.lists(st.integers(start, stop), max_size=3)))
    return start, stop, cuts


# ---- pickling (issue 14)

_short_text = st.text(alphabet="abcxyz-./:09", max_size=8)


@st.composite
def any_hosts(draw: st.DrawFn, max_size: int = 20) -> list:
    """Return Hosts with distinct addresses and every field drawn (labels often shared)."""
    from hashlb import Host

    shared = draw(st.lists(labelled_labels, min_size=1, max_size=3))
    n = draw(st.integers(0, max_size))
    return [
        Host(
            draw(st.sampled_from([f"10.4.0.{i}:80", f"[2001:db8::{i:x}]:443", f"pod-{i}.svc:80"])),
            draw(host_weights),
            priority=draw(st.sampled_from([0, 0, 1, 128])),
            health=draw(health_names),
            hostname=draw(st.one_of(st.none(), _short_text)),
            hash_key=draw(st.one_of(st.none(), _short_text)),
            locality=draw(st.one_of(st.none(), st.sampled_from(["r/z1", "r/z2", ""]))),
            labels=draw(st.one_of(st.sampled_from(shared), labelled_labels)),
        )
        for i in range(n)
    ]


# ---- vectorised hash policies (issue 14): policy specs and request columns

#: One hash method as ``(class name, args, kwargs)``, built by each twin's classes.
batch_method_specs = st.one_of(
    st.tuples(
        st.just("Header"),
        st.tuples(st.sampled_from(["x-user", "X-User", "cookie", "x-forwarded-for", "host"])),
        st.fixed_dictionaries(
            {
                "terminal": st.booleans(),
                "envoy_version": st.sampled_from(["main", "1.17"]),
                "regex_rewrite": st.sampled_from([None, None, ("[a-c]", "Z"), (r"(\d)", r"<\1>")]),
            }
        ),
    ),
    st.tuples(
        st.just("Header"),
        st.tuples(st.sampled_from([":path", ":authority"])),
        st.fixed_dictionaries({"terminal": st.booleans()}),
    ),
    st.tuples(
        st.just("Cookie"),
        st.tuples(st.sampled_from(["sid", "s"])),
        st.fixed_dictionaries(
            {"ttl": st.sampled_from([None, None, 0, 60]), "terminal": st.booleans()}
        ),
    ),
    st.tuples(
        st.just("QueryParameter"),
        st.tuples(st.sampled_from(["q", "s"])),
        st.fixed_dictionaries({"terminal": st.booleans()}),
    ),
    st.tuples(
        st.just("SourceIP"),
        st.just(()),
        st.fixed_dictionaries(
            {
                "xff_num_trusted_hops": st.integers(0, 2),
                "use_remote_address": st.booleans(),
                "terminal": st.booleans(),
            }
        ),
    ),
    st.tuples(
        st.just("FilterState"),
        st.tuples(st.sampled_from(["k", "j"])),
        st.fixed_dictionaries({"terminal": st.booleans()}),
    ),
)
#: A hash policy: ``(method specs, seed)``.
batch_policy_specs = st.tuples(
    st.lists(batch_method_specs, max_size=4),
    st.one_of(st.just(0), st.integers(0, 2**64 - 1)),
)
#: A cookie value already extracted: no ';' and not wrapped in quotes (a header carries it).
_cookie_cells = st.text(alphabet=' =",\t\xe9ab', max_size=8).filter(
    lambda v: not (len(v) >= 2 and v[0] == '"' and v[-1] == '"')
)
_paths = st.one_of(st.text(alphabet="/?&=qs1 ", max_size=16), request_text)


def _cells(values: st.SearchStrategy, multi: bool) -> st.SearchStrategy:
    """A cell: None, a value, or (a multi-valued header) a list of values and Nones."""
    one = st.one_of(st.none(), values)
    return st.one_of(one, st.lists(one, max_size=3)) if multi else one


#: The columns a request table may have, each with the cells it draws.
_COLUMN_CELLS: dict[str, st.SearchStrategy] = {
    "header:x-user": _cells(request_text, True),
    "header:X-User": _cells(request_text, True),
    "header:cookie": _cells(cookie_strings, True),
    "header:x-forwarded-for": _cells(xff_values, True),
    "header:host": _cells(request_text, False),
    "header::path": _cells(_paths, False),
    "path": _cells(_paths, False),
    "authority": _cells(request_text, False),
    "remote_address": addresses,
    "local_address": addresses,
    "filter_state:k": st.one_of(st.none(), st.integers(0, 2**64 - 1), st.integers(-5, 5)),
    "filter_state:j": st.one_of(st.none(), st.integers(0, 2**64 - 1)),
}


@st.composite
def request_columns(draw: st.DrawFn, max_rows: int = 6) -> tuple[dict[str, list], int]:
    """Return ``(columns, n)``: a dict of *n*-row lists keyed as ``hash_many`` names them.

    Either a ``header:cookie`` column or ``cookie:<name>`` value columns, never both (a
    row's cookie header is what the scalar model builds from the values).
    """
    n = draw(st.integers(0, max_rows))
    names = draw(st.lists(st.sampled_from(sorted(_COLUMN_CELLS)), unique=True, max_size=7))
    if "header:x-user" in names and "header:X-User" in names:
        names.remove("header:X-User")
    columns = {k: draw(st.lists(_COLUMN_CELLS[k], min_size=n, max_size=n)) for k in names}
    if "header:cookie" not in columns and draw(st.booleans()):
        for name in draw(st.lists(st.sampled_from(["sid", "s"]), unique=True, min_size=1)):
            cells = st.one_of(st.none(), _cookie_cells)
            columns[f"cookie:{name}"] = draw(st.lists(cells, min_size=n, max_size=n))
    return columns, n if columns else 0  # no columns: no rows


# ---- replay (issue 14): routed requests as codes, for hashlb.replay.Stickiness

#: One request: (user, endpoint code, group code, flag); an endpoint of -1: not routed.
replay_rows = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bob", "cy", "dee", "é", "", "x" * 70]),
        st.integers(min_value=-1, max_value=5),
        st.integers(min_value=0, max_value=2),
        st.booleans(),
    ),
    max_size=80,
)


# ---- route_many (issue 14) ---------------------------------------------------
#: Request key values for route_many(keys=): text that a header, a cookie and a query
#: string all carry verbatim (no separators, quotes, whitespace or controls), None (no
#: value) and the empty string.
_key_chars = st.characters(
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters=';&=#?"%+,\\'
)
route_keys = st.lists(
    st.one_of(st.none(), st.just(""), st.text(alphabet=_key_chars, max_size=12)), max_size=40
)


@st.composite
def route_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Return Router options for route_many's property tests: mode, balancer, subsets, options."""
    weights = draw(subset_weights(max_size=4))
    sizes = {name: draw(st.integers(min_value=1, max_value=4)) for name in weights}
    mode = draw(st.sampled_from(["sticky", "envoy"]))
    options: dict[str, Any] = {}
    if mode == "sticky" and draw(st.booleans()):
        options["key_seed"] = draw(st.integers(min_value=0, max_value=2**64 - 1))
    if mode == "envoy":
        options["use_hash_policy"] = draw(st.booleans())
        if draw(st.booleans()):
            options["policy_copies"] = draw(st.integers(min_value=1, max_value=5))
    return {
        "weights": weights,
        "sizes": sizes,
        "mode": mode,
        "balancer": draw(st.sampled_from(["maglev", "ring_hash"])),
        "method": draw(st.sampled_from(["header", "cookie", "query"])),
        "terminal": draw(st.booleans()),
        "factor": draw(st.sampled_from([None, 150])),
        "options": options,
    }


# ---- replayed log rows (issue 14): what hashlb simulate reads from a table or JSONL

#: Cookie values a log may hold: spaces, separators, quotes, ``=``, ``%``, empty.
_log_cookies = st.one_of(
    st.sampled_from(["", "a b", "x;y", '"q"', '"', "k=v", " a", "a ", "%41", "é"]),
    st.text(alphabet=' ;="ab%\t', max_size=8),
)
#: Client IPs: IPv4, IPv6 (bracketed by the reader), mapped, odd text.
_log_ips = st.sampled_from(
    ["10.0.0.1", "192.168.1.9", "2001:db8::1", "::1", "fe80::1", "::ffff:1.2.3.4", "", "x"]
)
#: Paths with query strings: repeats, empty values, bare names, ``%`` escapes.
_log_paths = st.one_of(
    st.sampled_from(
        [
            "/p?tenant=a&tenant=b",
            "/p?tenant=",
            "/p?tenant",
            "/p?tenant=%41",
            "/p?x=1&tenant=b",
            "/p?a=b",
            "/p",
            "/",
            "",
        ]
    ),
    st.text(alphabet="/?&=tenant%41 ", max_size=16),
)
_maybe = st.one_of  # a cell: None or a value


@st.composite
def log_rows(draw: st.DrawFn, max_rows: int = 12) -> list[dict[str, str | None]]:
    """Rows of a request log: ``user``, ``hx`` (a header), ``sid``/``s`` (cookies), ``ip``,
    ``path``, each cell None (missing) or an edge-case value."""
    n = draw(st.integers(0, max_rows))
    cell = {
        "user": st.sampled_from(["ann", "bob", ""]),
        "hx": st.sampled_from(["a b", "", "v", " v "]),
        "sid": _log_cookies,
        "s": _log_cookies,
        "ip": _log_ips,
        "path": _log_paths,
    }
    return [{k: draw(_maybe(st.none(), v)) for k, v in cell.items()} for _ in range(n)]


#: Keys of a KeyIndex: few distinct (so they repeat), sharing 16-byte prefixes (the
#: compiled table compares up to 16 bytes in the slot), empty, non-ASCII, or null.
_KEY_STEMS = st.sampled_from(["", "a", "user-000000000001", "user-000000000001x", "é" * 9])
index_keys = st.one_of(
    st.none(),
    _KEY_STEMS,
    st.builds(lambda stem, tail: stem + tail, _KEY_STEMS, st.text(max_size=3)),
)
