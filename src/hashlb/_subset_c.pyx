# cython: language_level=3, freethreading_compatible=True
"""Weighted subset picker, compiled: the twin of ``_subset_py.py``.

The sticky mode's per-subset salts and reciprocal weights are precomputed in
C arrays; a choice is, per eligible subset, one 8-byte xxh64
(``hlb_xxh64_u64`` of ``_hashkernels.h``), one libm ``log`` and one multiply,
with no Python-level call.  ``_subset_c.pxd`` declares the picker so that
``_router_c`` chooses through it C to C.  A near-tie (the best two float
scores within a relative ``2**-40``, about one key in 10**12) is decided
exactly by ``_subset_config.exact_index``, so both twins compute the same
exact rule (see ``_subset_py``).  Validation is shared too: the ``check_*``
functions of ``_subset_config``.  Keep names and signatures identical to
``_subset_py.py``; the docstrings both share live in ``_subset_doc.py``
(``tests/test_parity.py`` checks all three).
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport INFINITY, log
from libc.stdint cimport int64_t, uint32_t, uint64_t

from hashlb._kernels cimport hlb_xxh64, hlb_xxh64_u64

from types import MappingProxyType

from hashlb._batch import hash_buffer, index_output
from hashlb._subset_config import check_seed as _check_seed
from hashlb._subset_config import check_value as _check_value
from hashlb._subset_config import check_weights as _check_weights
from hashlb._subset_config import exact_index as _exact_index
from hashlb._subset_config import picker_key as _picker_key
from hashlb._types import positional_restore, rebuild
from hashlb._validate import renamed
from hashlb.errors import ConfigError

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._subset_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS)


cdef double _TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53, exact
# The float pass decides only when the runner-up's score exceeds the best
# one by this factor; see _subset_py._SAFE.  Read at construction (tests set
# it to inf to send every choice through the exact path).
_SAFE = 1.0 + 2.0**-40
cdef uint32_t _NEAR_TIE = 0xFFFFFFFFU  # choose_many's marker for a near-tie


cdef uint64_t as_value_slow(object value) except? 0xFFFFFFFFFFFFFFFFULL:
    """The slow path of ``as_value`` (``_subset_c.pxd``): the shared check, then its int."""
    return <uint64_t>_check_value(value)




@cython.final
cdef class WeightedSubsetPicker:

    def __cinit__(self):
        self._salt_a = NULL
        self._inv_w = NULL
        self._pos = NULL
        self._ends = NULL

    def __init__(self, weights, *, mode="sticky", seed=0):
        if self._names is not None:
            raise TypeError("WeightedSubsetPicker is immutable; __init__ cannot run twice")
        w = _check_weights(weights)
        if mode not in ("sticky", "envoy"):
            raise ConfigError(f"mode must be 'sticky' or 'envoy', got {mode!r}")
        s = _check_seed(seed)
        names = tuple(w)
        salts = []
        cdef Py_ssize_t n = len(names), k = 0, i
        cdef uint64_t acc = 0
        cdef uint64_t wi
        cdef bytes raw
        for name in names:
            raw = name.encode()
            salts.append(hlb_xxh64(<const char *>raw, <size_t>len(raw), <uint64_t>s))
            if w[name] > 0:
                k += 1
        # _names is set last: until then the picker is unusable (_ready() checks it).
        PyMem_Free(self._salt_a)
        PyMem_Free(self._inv_w)
        PyMem_Free(self._pos)
        PyMem_Free(self._ends)
        self._salt_a = <uint64_t *>PyMem_Malloc(max(k, 1) * sizeof(uint64_t))
        self._inv_w = <double *>PyMem_Malloc(max(k, 1) * sizeof(double))
        self._pos = <uint32_t *>PyMem_Malloc(max(k, 1) * sizeof(uint32_t))
        self._ends = <uint64_t *>PyMem_Malloc(n * sizeof(uint64_t))
        if not self._salt_a or not self._inv_w or not self._pos or not self._ends:
            raise MemoryError()
        k = 0
        for i in range(n):
            wi = w[names[i]]
            acc += wi
            self._ends[i] = acc
            if wi > 0:
                self._salt_a[k] = <uint64_t>salts[i]
                self._inv_w[k] = 1.0 / <double>wi
                self._pos[k] = <uint32_t>i
                k += 1
        self._weights = MappingProxyType(w)
        self._mode = str(mode)
        self._seed = s
        self._sticky = mode == "sticky"
        self._total = acc
        self._salts = tuple(salts)
        self._active = tuple(
            (i, salts[i], 1.0 / w[names[i]], w[names[i]]) for i in range(n) if w[names[i]] > 0
        )
        self._safe = _SAFE
        self._n = n
        self._k = k
        self._names = names

    def __dealloc__(self):
        PyMem_Free(self._salt_a)
        PyMem_Free(self._inv_w)
        PyMem_Free(self._pos)
        PyMem_Free(self._ends)

    cdef int _ready(self) except -1:
        return check_ready(self, self._names is not None, "WeightedSubsetPicker")

    @property
    def names(self):
        self._ready()
        return self._names

    @property
    def weights(self):
        self._ready()
        return self._weights

    @property
    def mode(self):
        self._ready()
        return self._mode

    @property
    def seed(self):
        self._ready()
        return self._seed

    @property
    def total(self):
        self._ready()
        return self._total

    @property
    def salts(self):
        self._ready()
        return self._salts

    cdef Py_ssize_t _choose(self, uint64_t v) noexcept nogil:
        """Return the chosen position, or -1 for a near-tie (see ``_exact_index``)."""
        cdef Py_ssize_t i, best_i
        cdef uint64_t selected
        cdef double best, second, score
        if not self._sticky:
            if self._total == 0:  # not initialised: _choose_index raises
                return -1
            selected = v % self._total
            for i in range(self._n):
                if selected < self._ends[i]:
                    return i
            return self._n - 1  # unreachable: selected < total
        if self._k == 1:
            return self._pos[0]
        best_i = 0
        best = second = INFINITY
        for i in range(self._k):
            score = -log(<double><int64_t>((hlb_xxh64_u64(v, self._salt_a[i]) >> 11) | 1) * _TWO_M53) \
                * self._inv_w[i]
            if score < best:
                second = best
                best = score
                best_i = i
            elif score < second:
                second = score
        if second > best * self._safe:
            return self._pos[best_i]
        return -1

    cdef Py_ssize_t _choose_index(self, uint64_t v) except -2:
        cdef Py_ssize_t i = self._choose(v)
        if i < 0:
            self._ready()
            i = _exact_index(v, self._active)
        return i

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def choose_index(self, value):
        return self._choose_index(as_value(value))

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def choose(self, value):
        cdef Py_ssize_t i = self._choose_index(as_value(value))  # raises if not initialised
        return self._names[i]

    def choose_many(self, values):
        view = hash_buffer(values)
        self._ready()
        cdef Py_ssize_t n = len(view), j, near = 0
        out = index_output(n, values)
        if n == 0:
            return out
        cdef const uint64_t[::1] h = view
        cdef uint32_t[::1] o = out
        with nogil:
            for j in range(n):
                o[j] = <uint32_t>self._choose(h[j])  # -1 becomes _NEAR_TIE
                if o[j] == _NEAR_TIE:
                    near += 1
        if near:
            for j in range(n):
                if o[j] == _NEAR_TIE:
                    o[j] = <uint32_t>self._choose_index(h[j])
        return out

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick_index(self, value):
        renamed("WeightedSubsetPicker.pick_index", "WeightedSubsetPicker.choose_index", 1)
        return self._choose_index(as_value(value))

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick(self, value):
        renamed("WeightedSubsetPicker.pick", "WeightedSubsetPicker.choose", 1)
        return self.choose(value)

    def pick_many(self, values):
        renamed("WeightedSubsetPicker.pick_many", "WeightedSubsetPicker.choose_many", 1)
        return self.choose_many(values)

    def with_weights(self, weights):
        self._ready()
        return WeightedSubsetPicker(weights, mode=self._mode, seed=self._seed)

    def __eq__(self, other):
        if not isinstance(other, WeightedSubsetPicker):
            return NotImplemented
        return _picker_key(self) == _picker_key(other)

    def __hash__(self):
        return hash(_picker_key(self))

    def __reduce__(self):
        self._ready()
        options = {"mode": self._mode, "seed": self._seed}
        return (rebuild, (WeightedSubsetPicker, (dict(self._weights),), options))

    def __repr__(self):
        if self._names is None:
            return "<WeightedSubsetPicker object (not initialised)>"
        return (
            f"WeightedSubsetPicker({dict(self._weights)!r}, mode={self._mode!r}, seed={self._seed})"
        )


def __getattr__(name):
    """Resolve ``Route``, which moved to the router unit, for pickles made before the move."""
    if name == "Route":
        from hashlb._router_c import Route

        return Route
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(WeightedSubsetPicker, ("mode", "seed"))

# The shared docstrings (``_subset_doc.py``).
attach_docs(globals(), _DOCS)
