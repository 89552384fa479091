"""Argument validation shared by every unit and both twins (plain Python).

Each helper raises ``TypeError`` or ``ValueError`` (or the given
``ValueError`` subclass) with a message that names the field and the value.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import reprlib
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .errors import ConfigError

__all__ = (
    "BOUNDED_LOAD_SIGNATURE",
    "HASH_FUNCTIONS",
    "HEALTH_STATUSES",
    "MAX_ATTEMPTS",
    "MAX_PRIORITY",
    "MAX_RING_SIZE",
    "MAX_SHUFFLE_N",
    "MAX_TABLE_SIZE",
    "REQUIRED",
    "as_bytes",
    "as_int",
    "cap",
    "check_attempt",
    "check_balance_factor",
    "check_hash",
    "check_health",
    "check_int",
    "check_key_array",
    "check_normalized_weights",
    "check_ring_config",
    "check_shuffle_n",
    "check_table_size",
    "check_uint",
    "clip",
    "is_prime",
    "object_buffer_error",
    "renamed",
    "short",
    "str_keyed_items",
    "uninitialised",
)

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF

#: The largest *n* that ``hashlb.bounded.mt19937`` and ``probe_order`` accept: they build a
#: list of *n* ints (about 40 MB at the cap).  A bounded-load table probes at most its
#: number of hosts, far below this.
MAX_SHUFFLE_N = 1 << 20


def uninitialised(obj: object, cls: str) -> TypeError:
    """Return the error for an object of class *cls* whose ``__init__`` never ran.

    Such an object comes from ``cls.__new__(cls)`` or from a subclass whose
    ``__init__`` skips ``super().__init__()``; both twins refuse to use it.
    """
    name = type(obj).__name__
    how = f"{cls}(...)" if name == cls else f"{name}(...) whose __init__ calls super().__init__()"
    return TypeError(f"{name} object is not initialised ({cls}.__init__ did not run); use {how}")


def as_int(value: object, field: str) -> int:
    """Return *value* as an exact int: ``__index__`` ints accepted, bools refused.

    :raises TypeError: *value* is not an int (the message names *field*).
    """
    if type(value) is int:
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{field} must be an int, not {type(value).__name__}")
    return int(value.__index__())


def check_uint(value: object, field: str, bits: int) -> int:
    """Return *value* as an int in ``[0, 2**bits)`` (``__index__`` ints accepted, bools not)."""
    value = as_int(value, field)
    if value < 0 or value >> bits:
        raise ValueError(f"{field} must be in [0, 2**{bits}), got {short(value)}")
    return value


def check_shuffle_n(value: object) -> int:
    """Validate the *n* of ``mt19937``/``probe_order``: an int in ``[0, MAX_SHUFFLE_N]``."""
    value = as_int(value, "n")
    if not 0 <= value <= MAX_SHUFFLE_N:
        raise ValueError(f"n must be in [0, {cap('MAX_SHUFFLE_N')}], got {short(value)}")
    return value


def check_int(
    value: object, field: str, low: int, high: int, error: type[ValueError] = ValueError
) -> int:
    """Return *value* as an int in ``[low, high]`` (``__index__`` ints accepted, bools not)."""
    value = as_int(value, field)
    if not low <= value <= high:
        raise error(f"{field} must be in [{low}, {high}], got {short(value)}")
    return value


def str_keyed_items(
    value: object, field: str, expected: str, keys: str
) -> Iterator[tuple[str, Any]]:
    """Yield the items of the mapping *value*, each key checked to be a ``str`` as it comes.

    :raises TypeError: *value* is not a mapping (``"<field> must be <expected>, not
        <type>"``), or a key is not a ``str`` (``"<keys> must be str, got <key>"``).
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be {expected}, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{keys} must be str, got {key!r}")
        yield key, item


class _Required:
    """The default of a keyword-only argument that must be given (its repr says so)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


#: The default of ``BoundedLoad``'s ``hash_balance_factor``: it must be given.
REQUIRED: object = _Required()

#: ``BoundedLoad(lb, *, hash_balance_factor)``, the signature both twins show.
BOUNDED_LOAD_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter("lb", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("hash_balance_factor", inspect.Parameter.KEYWORD_ONLY),
    ]
)

_FACTOR_DEPRECATED = (
    "BoundedLoad(lb, factor) with a positional hash_balance_factor is deprecated and will "
    "be refused in the next release; call BoundedLoad(lb, hash_balance_factor=factor)"
)


def renamed(old: str, new: str, stacklevel: int) -> None:
    """Warn that the attribute *old* is a deprecated alias of *new* (``DeprecationWarning``).

    *stacklevel* counts from the caller of this function (1: its caller).
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def check_balance_factor(args: tuple[object, ...], value: object, stacklevel: int) -> int:
    """Return ``BoundedLoad``'s ``hash_balance_factor``: an int in ``[100, 2**32 - 1]``.

    *args* are the positional arguments after ``lb``: the deprecated
    ``BoundedLoad(lb, 150)`` form, which warns (``DeprecationWarning``, at
    *stacklevel* from here) and still works for one release.

    :raises TypeError: a missing, doubled or non-int factor, or more than
        one positional argument.
    :raises ValueError: the factor is out of range.
    """
    if args:
        if len(args) > 1:
            raise TypeError(
                f"BoundedLoad() takes 2 positional arguments but {1 + len(args)} were given"
            )
        if value is not REQUIRED:
            raise TypeError("BoundedLoad() got multiple values for argument 'hash_balance_factor'")
        warnings.warn(_FACTOR_DEPRECATED, DeprecationWarning, stacklevel=stacklevel + 1)
        value = args[0]
    elif value is REQUIRED:
        raise TypeError(
            "BoundedLoad() missing required keyword-only argument: 'hash_balance_factor'"
        )
    factor = as_int(value, "hash_balance_factor")
    if not 100 <= factor <= _U32:
        raise ValueError(f"hash_balance_factor must be in [100, 2**32 - 1], got {short(factor)}")
    return factor


#: Envoy validates both ring sizes to be <= 1024 * 1024 * 8.
MAX_RING_SIZE = 8388608
#: The accepted ``hash_function`` names (Envoy's ``XX_HASH``/``MURMUR_HASH_2``).
HASH_FUNCTIONS = ("xx_hash", "murmur_hash_2")


def _check_ring_size(value: object, field: str) -> int:
    """Validate a ring size: an int in ``[1, MAX_RING_SIZE]``."""
    return check_int(value, field, 1, MAX_RING_SIZE, ConfigError)


def iter_strings(values: object, field: str) -> Iterator[Any]:
    """Return an iterator over *values*, an iterable of strings (a lone string is refused).

    :raises TypeError: *values* is a str or bytes-like object itself, or not iterable.
    """
    if not isinstance(values, (str, bytes, bytearray, memoryview)):
        try:
            return iter(values)  # type: ignore[call-overload, no-any-return]
        except TypeError:
            pass
    raise TypeError(f"{field} must be an iterable of strings, not {type(values).__name__}")


#: RingHash's keyword options, in the order its pickles store them.
RING_OPTIONS = (
    "min_ring_size",
    "max_ring_size",
    "hash_function",
    "use_hostname",
    "locality_weights",
)
#: Maglev's keyword options, in the order its pickles store them.
MAGLEV_OPTIONS = ("table_size", "use_hostname", "locality_weights", "envoy_version")


def check_ring_config(
    min_ring_size: object, max_ring_size: object, hash_function: object
) -> tuple[int, int, str]:
    """Validate the ring options (Envoy's ``RingHashLoadBalancer`` limits); return them normalized.

    Shared by both ring twins (``_ring_c`` never imports ``_ring_py``).
    """
    rmin = _check_ring_size(min_ring_size, "min_ring_size")
    rmax = _check_ring_size(max_ring_size, "max_ring_size")
    if rmin > rmax:
        raise ConfigError(
            f"ring hash: minimum_ring_size ({rmin}) > maximum_ring_size ({rmax}): "
            "min_ring_size must be <= max_ring_size"
        )
    if not isinstance(hash_function, str) or hash_function not in HASH_FUNCTIONS:
        raise ConfigError(
            f"hash_function must be 'xx_hash' or 'murmur_hash_2', got {hash_function!r}"
        )
    return rmin, rmax, str(hash_function)


def check_hash(value: object) -> int:
    """Validate a request hash: an int in ``[0, 2**64)``."""
    if type(value) is int and 0 <= value <= _M64:
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"hash must be an int, not {type(value).__name__}")
    v = value.__index__()
    if not 0 <= v <= _M64:
        raise ValueError(f"hash must be in [0, 2**64), got {short(v)}")
    return int(v)


def check_attempt(value: object) -> int:
    """Validate a retry ``attempt``: an int in ``[0, 2**32)``."""
    if type(value) is int and 0 <= value <= _U32:
        return value
    value = as_int(value, "attempt")
    if not 0 <= value <= _U32:
        raise ValueError(f"attempt must be in [0, 2**32), got {short(value)}")
    return value


def check_normalized_weights(weights: tuple[float, ...]) -> None:
    """Refuse normalized weights outside ``[0, 1]`` (a table's are; an impostor's may not be)."""
    for w in weights:
        if not 0.0 <= w <= 1.0:  # NaN too
            raise ValueError(f"lb.normalized_weights must be in [0, 1], got {w!r}")


def is_prime(n: int) -> bool:
    """Return True if *n* is prime (trial division; fine for n <= 5,000,011)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


#: The largest Maglev ``table_size`` Envoy's proto documentation allows.
MAX_TABLE_SIZE = 5_000_011


def check_table_size(value: object) -> int:
    """Validate Maglev's ``table_size``: a prime in ``[2, MAX_TABLE_SIZE]`` (both twins)."""
    value = as_int(value, "table_size")
    if not 2 <= value <= MAX_TABLE_SIZE:
        raise ConfigError(
            f"table_size must be a prime in [2, {MAX_TABLE_SIZE}], got {short(value)}"
        )
    if not is_prime(value):
        raise ConfigError(f"The table size of maglev must be prime number (table_size={value})")
    return value


def _holds_objects(fmt: str) -> bool:
    """Return True if a buffer format has a Python-object item (``O``), names skipped."""
    if "O" not in fmt:
        return False
    parts = fmt.split(":")
    # In a struct format ("T{O:a:i:b:}") every second ':'-separated part is a field name.
    return any("O" in parts[i] for i in range(0, len(parts), 2))


def object_buffer_error(data: object, what: str, fmt: str) -> TypeError:
    """Return the error for a key whose buffer holds Python objects (format ``O``).

    Hashing it would hash object addresses (different in every process), not
    the objects' contents.
    """
    shown = fmt if len(fmt) <= 32 else fmt[:29] + "..."
    return TypeError(
        f"{what} must be str or a C-contiguous bytes-like object, not "
        f"{type(data).__name__} of Python objects (buffer format {shown!r})"
    )


def as_bytes(data: object, what: str) -> bytes | memoryview:
    """Return the bytes to hash: a str as UTF-8, bytes as is, else a flat byte view.

    :raises TypeError: *data* is neither str nor a C-contiguous bytes-like
        object, or its buffer holds Python objects (the message names *what*).
    """
    if type(data) is str:
        return data.encode()
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        return str.encode(data)  # the str's own text, as the compiled twin reads it
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except (TypeError, BufferError):
        view = None
    if view is None or not view.c_contiguous:
        raise TypeError(
            f"{what} must be str or a C-contiguous bytes-like object, not {type(data).__name__}"
        )
    fmt = view.format
    if fmt != "B" and _holds_objects(fmt):
        raise object_buffer_error(data, what, fmt)
    return view.cast("B") if view.ndim != 1 or fmt != "B" else view


def check_key_array(keys: object) -> None:
    """Refuse a numpy array that ``pick_many`` would hash as raw element bytes.

    A numpy array of keys must be 1-D with a string dtype (``U``/``S``) or
    ``object`` (each item then checked as a key): a numeric, bool, float or
    datetime array, or a 2-D array, would hash the bytes of each element or
    row, which matches neither ``pick(str(x))`` nor ``lookup(x)``.

    :raises TypeError: naming the dtype and what to pass instead.
    """
    np = sys.modules.get("numpy")
    if np is None or not isinstance(keys, np.ndarray):
        return
    if keys.ndim != 1:
        raise TypeError(
            f"pick_many() does not take a {keys.ndim}-D numpy array: pass a 1-D sequence of "
            "str/bytes keys"
        )
    if keys.dtype.kind not in "USO":
        name = str(keys.dtype)
        name = name if len(name) <= 32 else name[:29] + "..."
        raise TypeError(
            f"pick_many() does not take a numpy {name} array: pass a list of str/bytes keys, "
            "or hashes to lookup_many()"
        )


# ---------------------------------------------------------------------------
# Caps on every count a user or an input file can supply to the command line.
#
# Each is checked before anything is built, and a refusal names the cap (see
# docs/reference/cli.rst, "Limits").  The values keep one ``hashlb simulate``
# or ``hashlb bench`` run to about a gigabyte of memory and minutes of work on
# the reference machine, while staying far above real meshes.

#: Bytes of YAML read in one run (every ``-f`` and ``--endpoints`` file and
#: standard input together).  A ``kubectl get pods -o yaml`` dump of 10,000
#: pods is about 30 MiB; the text is held while it is parsed.
MAX_INPUT_BYTES = 64 * 2**20
#: YAML files read in one run (a ``-f DIR`` contributes each of its files):
#: far above a real manifest tree, it bounds directory scans and open files.
MAX_INPUT_FILES = 1000
#: YAML nodes composed in one run, every alias counted as the nodes it
#: stands for.  A node costs a few hundred bytes while its document is
#: composed; 1,000,000 nodes is about 25,000 pods.
MAX_YAML_NODES = 1_000_000
#: Nodes reached through YAML aliases (``*name``) in one run: an "alias bomb"
#: of 559 bytes stands for 10**9 nodes; real manifests that use anchors
#: repeat a few small blocks.
MAX_YAML_ALIAS_NODES = 100_000
#: Nesting depth of a YAML document (aliases expanded).  Kubernetes objects
#: nest about 15 levels; this stays far below the recursion limits of the
#: parser, the constructor and the code that reads the values.
MAX_YAML_DEPTH = 100
#: Characters in an integer (a YAML int, a decimal-string field, a JSON
#: number).  No field needs more than 20 digits (2**64); Python refuses to
#: convert more than 4,300 digits and the conversion is quadratic.
MAX_INT_DIGITS = 64
#: Bytes in one line of a ``--requests`` JSONL file: above Envoy's largest
#: request-header limit (8 MiB is its maximum, 60 KiB its default) divided
#: over the few headers a request line carries.
MAX_REQUEST_LINE_BYTES = 2**20
#: Simulated users (``--users``, or distinct ``user`` values of a
#: ``--requests`` file): each costs about 200 bytes of stickiness state.
MAX_USERS = 2**20
#: Simulated requests in one run (``--users`` x ``--requests-per-user``, or
#: the lines of a ``--requests`` file): under two minutes with the compiled
#: twin, and a ``--decisions`` file of about 1.5 GB.
MAX_REQUESTS = 10_000_000
#: ``http`` routes of the simulated VirtualService: every request is matched
#: against the routes in order, and each route builds a router.
MAX_ROUTES = 256
#: Match conditions (``uri``, ``method`` and each header or query
#: parameter of a ``match`` block) over every route of the simulated
#: VirtualService: every request is tested against them in order.
MAX_MATCH_CONDITIONS = 1024
#: Subsets of one DestinationRule, and weighted destinations of one route
#: (each is a table of the route's router).
MAX_SUBSETS = 64
#: Route destinations over all the routes of a scenario: each selects its
#: pods from the input once.
MAX_DESTINATIONS = 1024
#: Pods of one run: Pods read plus the synthetic pods of Deployments,
#: StatefulSets and ReplicaSets (``replicas``).
MAX_PODS = 100_000
#: Endpoints summed over every route destination: the hosts handed to the
#: routers and their tables.
MAX_ROUTE_ENDPOINTS = 1_000_000
#: Estimated memory of every distinct ring and Maglev table one run builds
#: (identical tables are built once and shared): 12 bytes per ring entry and
#: 2 (4 above 65,535 hosts) per Maglev slot.  One table of the largest ring
#: (8,388,608 entries, 96 MiB) fits, as do a dozen of the largest Maglev
#: tables (5,000,011 slots, 10 MiB each).
MAX_TABLE_BYTES = 256 * 2**20
#: Endpoints that ``hashlb simulate --plot`` draws (one bar each): beyond
#: that the chart is unreadable and matplotlib slow.
MAX_PLOT_ENDPOINTS = 200
#: Keys hashed per ``hashlb bench`` configuration (``--keys``): the keys,
#: two index arrays and numpy's temporaries take about 40 bytes per key.
MAX_BENCH_KEYS = 20_000_000
#: Host count of a ``hashlb bench`` configuration (``--hosts``): Envoy's
#: benchmark host names ``10.0.{i // 256}.{i % 256}`` are distinct below it.
MAX_BENCH_HOSTS = 65536
#: Values in one ``hashlb bench`` list option (``--hosts``, ``--ring-sizes``,
#: ``--table-sizes``).
MAX_BENCH_VALUES = 16
#: Configurations (algorithm x host count x size) of one ``hashlb bench``
#: run: each builds its table up to 8 times (5 timed builds and 3 host
#: losses) and looks up every key twice or more.
MAX_BENCH_CONFIGS = 64
#: Distinct users of a columnar replay (``hashlb simulate --requests FILE
#: --column ...``, :class:`hashlb.replay.Stickiness`): each costs about 110
#: bytes (its id in a :class:`hashlb.keyindex.KeyIndex`, its codes) plus its
#: name, whatever the number of requests.
MAX_REPLAY_USERS = 2**26
#: Rows per record batch of :func:`hashlb.replay.read_requests`: a batch of
#: a few columns of short strings takes about 50 bytes a row while it is routed.
MAX_REPLAY_BATCH_ROWS = 2**22
#: Columns mapped by one replay (``--column``): each is one request field.
MAX_REPLAY_COLUMNS = 64
#: Bytes of one block of a JSON-lines file parsed at once by
#: :func:`hashlb.replay.read_requests` (pyarrow's JSON reader is not
#: streaming): blocks end at a line end, so a line may not be longer.
MAX_REPLAY_JSON_BLOCK = 64 * 2**20
#: Bytes of one block of a CSV file read by :func:`hashlb.replay.read_requests`.
#: pyarrow's CSV reader reads up to 32 blocks ahead, so blocks are 1 MiB and
#: grow (8x at a time) only to fit a longer row; a row may not be longer.
MAX_REPLAY_CSV_BLOCK = 64 * 2**20


def cap(name: str) -> str:
    """Return ``"NAME = VALUE"`` for the cap *name*, to quote in a refusal.

    >>> cap("MAX_ROUTES")
    'MAX_ROUTES = 256'
    """
    value = globals()[name]
    return f"{name} = {value:,}".replace(",", "_") if value >= 10_000 else f"{name} = {value}"


class _ShortRepr(reprlib.Repr):
    """A :mod:`reprlib` whose work and output are bounded whatever the value."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 100
        self.maxother = 100
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxdict = 4

    def repr1(self, x: object, level: int) -> str:
        if x is None or isinstance(x, (bool, float)):
            return builtins.repr(x)
        if isinstance(x, int):
            return self.repr_int(int(x), level)
        if isinstance(x, str):
            return self.repr_str(str.__str__(x), level)
        if isinstance(x, (bytes, bytearray)):
            head = builtins.repr(bytes(x[: self.maxstring]))
            return head if len(x) <= self.maxstring else f"{head[:-1]}...{head[-1]}"
        for base in (dict, list, tuple, set, frozenset):
            if isinstance(x, base):
                handler = getattr(self, f"repr_{base.__name__}")
                return str(handler(x, level))
        try:
            text = builtins.repr(x)
        except Exception:  # a hostile __repr__: show the type only
            return f"<{type(x).__name__} object>"
        return text if len(text) <= self.maxother else f"{text[: self.maxother - 3]}..."

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        """Show the first items in insertion order (reprlib sorts the whole dict)."""
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"

    def repr_set(self, x: set[object], level: int) -> str:
        """Show the first items in iteration order (reprlib sorts the whole set)."""
        return self._items(x, level, "set()", "{", "}")

    def repr_frozenset(self, x: frozenset[object], level: int) -> str:
        """Show the first items in iteration order."""
        return self._items(x, level, "frozenset()", "frozenset({", "})")

    def _items(self, x: Iterable[object], level: int, empty: str, left: str, right: str) -> str:
        items = list(itertools.islice(x, self.maxset + 1))
        if not items:
            return empty
        if level <= 0:
            return f"{left}...{right}"
        pieces = [self.repr1(v, level - 1) for v in items[: self.maxset]]
        if len(items) > self.maxset:
            pieces.append("...")
        return left + ", ".join(pieces) + right

    def repr_int(self, x: int, level: int) -> str:
        bits = abs(x).bit_length()
        if bits > 200:  # about 60 digits: never build the decimal string
            return f"<int of about {int(bits * 0.30103) + 1} digits>"
        return builtins.repr(x)


_SHORT = _ShortRepr()


def short(value: object, limit: int = 120) -> str:
    """Return a repr of *value* for a message: at most *limit* characters.

    The work is bounded too: long strings are sliced before they are
    repr'd, containers show their first items only, nesting stops at three
    levels, huge ints are described rather than converted to decimal, and a
    ``__repr__`` that raises shows the type instead.

    >>> short("x" * 200, 40)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    >>> short(list(range(100)))
    '[0, 1, 2, 3, 4, 5, ...]'
    >>> short(10**5000)
    '<int of about 5001 digits>'
    """
    return clip(_SHORT.repr(value), limit)


def clip(text: str, limit: int = 120) -> str:
    """Return *text* cut to *limit* characters, for text shown as it is (not as a repr).

    >>> clip("abcdefgh", 6)
    'abc...'
    """
    return text if len(text) <= limit else f"{text[: max(limit - 3, 0)]}..."


#: Envoy's EDS ``HealthStatus`` names (``core/v3/health_check.proto``), plus
#: ``excluded``: a host kept out of the health counts (Envoy's ``EXCLUDED_*`` host flags).
HEALTH_STATUSES = ("unknown", "healthy", "unhealthy", "draining", "timeout", "degraded", "excluded")
#: The statuses whose hosts Envoy counts as healthy (``Host::coarseHealth()``).
HEALTHY_STATUSES = frozenset({"healthy", "unknown"})

#: The highest EDS priority level (``LocalityLbEndpoints.priority``: ``lte: 128``).
MAX_PRIORITY = 128

#: Envoy weights are uint32; a weight (and a sum of weights) must fit.
MAX_WEIGHT = 2**32 - 1

#: The largest RE2 program a ``regex_rewrite`` pattern may compile to: Istio's
#: ``re2.max_program_size.error_level`` (plain Envoy's default is 100).  Matching
#: costs up to about this many steps per byte of a header value.
MAX_REGEX_PROGRAM_SIZE = 32768
#: The most capturing groups a ``regex_rewrite`` pattern may have.  Envoy asks RE2
#: for at most the 10 groups a substitution can name; the Python binding tracks
#: every group, at a cost per byte that grows with their number.
MAX_REGEX_GROUPS = 64
#: The longest Cookie ttl: protobuf ``Duration``'s limit (10,000 years), as Envoy reads it.
MAX_COOKIE_TTL = 315_576_000_000
#: At most this many upstream ``Set-Cookie`` values are read by ``HashResult.response_set_cookies``.
MAX_UPSTREAM_SET_COOKIES = 1024
#: ``hashlb diff``: at most this many changes (``--set-weight`` ...) and ramp steps.
MAX_CHANGES = 64
MAX_RAMP_STEPS = 32
#: ``hashlb.diff.rollout_counts``: at most this many pods replaced (each step is kept).
MAX_ROLLOUT_REPLICAS = 100_000
#: ``hashlb diff --rollout``: at most this many steps (each routes all the traffic again).
MAX_ROLLOUT_STEPS = 256


def check_rollout_value(value: object, field: str) -> tuple[int, bool]:
    """Return ``(number, is_percentage)`` of a maxSurge / maxUnavailable value.

    An ``int`` >= 0, a string of digits, or digits and ``%`` (a percentage of
    the replicas; Kubernetes allows a surge above 100%).

    :raises ValueError: anything else (naming *field*).
    """
    if type(value) is int:
        if value < 0:
            raise ValueError(f"{field} must be >= 0, got {value}")
        if value > MAX_ROLLOUT_REPLICAS:
            raise ValueError(f"{field} must be at most {cap('MAX_ROLLOUT_REPLICAS')}, got {value}")
        return value, False
    if isinstance(value, str):
        digits, pct = (value[:-1], True) if value.endswith("%") else (value, False)
        if digits.isascii() and digits.isdigit() and len(digits) <= 6:
            number = int(digits)
            if pct or number <= MAX_ROLLOUT_REPLICAS:
                return number, pct
    raise ValueError(
        f"{field} must be a count (e.g. 1) or a percentage (e.g. '25%'), got {short(value)}"
    )


#: The most attempts ``Cluster.choose_host`` makes: Envoy's retry loop is
#: ``1 + host_selection_retry_max_attempts`` (2 by default, 6 under Istio).
MAX_ATTEMPTS = 2**16


def check_health(value: object, field: str) -> str:
    """Return an EDS health name in lower case (case-insensitive, :data:`HEALTH_STATUSES`)."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, not {type(value).__name__}")
    name = str(value).lower()
    if name not in HEALTH_STATUSES:
        raise ValueError(
            f"{field} must be one of {', '.join(HEALTH_STATUSES)} "
            f"(case-insensitive), got {short(value)}"
        )
    return name


def check_max_keys(value: object, field: str = "max_keys") -> int:
    """The ``max_keys`` of a ``KeyIndex`` (*field* ``max_users`` of the replay accumulators)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
        raise ValueError(f"{field} must be an int in [1, 2**31 - 1], got {short(value)}")
    return value


def refuse_pickle(obj: object, why: str) -> TypeError:
    """The ``TypeError`` of an object that holds in-flight state and does not pickle."""
    return TypeError(f"cannot pickle a {type(obj).__name__}: {why}")


#: Why a lease does not pickle (``Lease``, ``RouteLease``).
LEASE_NOT_PICKLED = (
    "it counts one request in flight on the balancer that made it; release it and "
    "acquire again from the loaded balancer"
)
