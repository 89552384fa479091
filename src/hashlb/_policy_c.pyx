# cython: language_level=3, freethreading_compatible=True
"""HTTP hash policies, compiled: the hot paths of ``_policy_py.py`` in C.

The hash methods read a :class:`Request` of ``_request_c`` C-to-C (its
attributes, scanners and address parsers are declared in ``_request_c.pxd``);
cookie and query parsing run on char buffers.  Cold paths (configuration
checks, regex rewrites, generated cookies) come from ``_policy_config``,
which the pure twin imports too, so both twins agree by construction
there.  Keep names and signatures identical to ``_policy_py.py``; the
docstrings both share live in ``_policy_doc.py`` (``tests/test_parity.py``
checks all three).
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_AsUnsignedLongLong
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp

cimport hashlb._policybatch as _pb
from hashlb._kernels cimport hlb_xxh64
from hashlb._request_c cimport (
    Request,
    _as_bytes,
    _connection_ip,
    _next_named,
    _pseudo_index,
    _scan,
    _text,
    _xff_ip,
)

from hashlb import _hashmany as _hm
from hashlb import _policy_config as _cfg
from hashlb._hashmany import hash_many as _hash_many
from hashlb import _request_config as _rcfg
from hashlb._deprecation import positional_options as _positional_options
from hashlb._hashing_c import xxh64 as _xxh64_py
from hashlb._types import rebuild
from hashlb._validate import uninitialised as _uninitialised
from hashlb.versions import profile as _profile

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._policy_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS, "Request")
globals()["Request"] = Request  # re-exported: hashlb.policy.Request



# ---------------------------------------------------------------- results


cdef class HashResult:

    cdef object _hash
    cdef tuple _set_cookies

    cdef int _check_ready(self) except -1:
        return check_ready(self, self._set_cookies is not None, "HashResult")

    def __init__(self, hash, set_cookies=()):
        if self._set_cookies is not None:
            raise TypeError("HashResult is immutable; __init__ cannot run twice")
        self._hash = hash
        self._set_cookies = tuple(set_cookies)

    @property
    def hash(self):
        self._check_ready()
        return self._hash

    @property
    def set_cookie(self):
        self._check_ready()
        return self._set_cookies[0] if self._set_cookies else None

    @property
    def set_cookies(self):
        self._check_ready()
        return self._set_cookies

    def response_set_cookies(self, upstream=()):
        self._check_ready()
        return _cfg.response_set_cookies(upstream, self._set_cookies)

    def __eq__(self, other):
        if not isinstance(other, HashResult):
            return NotImplemented
        self._check_ready()
        (<HashResult>other)._check_ready()
        return self._hash == (<HashResult>other)._hash and self._set_cookies == (<HashResult>other)._set_cookies

    def __hash__(self):
        self._check_ready()
        return hash((self._hash, self._set_cookies))

    def __repr__(self):
        if self._set_cookies is None:
            return "<HashResult object (not initialised)>"
        return f"HashResult(hash={self._hash!r}, set_cookies={self._set_cookies!r})"


# ---------------------------------------------------------------- methods


cdef int _bad_request(object request) except -1:
    if not isinstance(request, Request):
        raise TypeError(f"request must be a Request, not {type(request).__name__}")
    raise _uninitialised(request, "Request")  # made with __new__, or super().__init__ skipped


cdef inline Request _check_request(object request):
    # One test on the hot path; the errors are built out of line.
    if not isinstance(request, Request) or (<Request>request)._headers is None:
        _bad_request(request)
    return <Request>request


cdef class _Method:

    cdef bint _terminal
    cdef bint _ready  # set last by each __init__

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        # On entry out[0] holds the xxh64 seed (0: Envoy's); on a hash, out[0] is it.
        return 0

    cdef int _not_ready(self) except -1:
        raise _uninitialised(self, _own_class(self))

    @cython.final
    cdef inline int _check(self) except -1:
        if not self._ready:
            self._not_ready()
        return 0

    cdef int _init_once(self) except -1:
        if self._ready:
            raise TypeError(f"{_own_class(self)} is immutable; __init__ cannot run twice")
        return 0

    @property
    def terminal(self):
        self._check()
        return self._terminal

    def hash(self, request):
        cdef uint64_t v = 0
        if self._eval(_check_request(request), &v, None):
            return v
        return None

    def hash_many(self, columns, *, out=None):
        self._check()
        return HashPolicy(self).hash_many(columns, out=out)

    # The keyword options at the end of _key(), whose first items are the
    # positional arguments: what __reduce__ and __repr__ rebuild.
    _OPTIONS = ("terminal",)

    def _key(self):
        raise NotImplementedError

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))

    def __reduce__(self):
        args, options = _cfg.method_parts(self._key(), self._OPTIONS)
        return (rebuild, (type(self), args, options))

    def __repr__(self):
        if not self._ready:
            return f"<{_own_class(self)} object (not initialised)>"
        return _cfg.method_repr(_own_class(self), self._key(), self._OPTIONS)


cdef str _own_class(_Method method):
    # The hashlb class a method is (or derives from): the name its errors give.
    # (By identity: the dispatcher gives these classes hashlb's module name.)
    return next(cls.__name__ for cls in type(method).__mro__ if cls in _OWN_CLASSES)


cdef class Header(_Method):

    cdef str _name
    cdef bytes _lname
    cdef object _regex_rewrite
    cdef object _rewrite
    cdef int _which
    cdef bint _first_only

    def __init__(self, name, *, regex_rewrite=None, terminal=False, envoy_version="main"):
        self._init_once()
        name, raw = _cfg._check_name(name, "Header")
        compiled = _cfg._compile_rewrite(regex_rewrite)
        self._name = name
        self._lname = raw.lower()
        self._regex_rewrite = None if compiled is None else compiled[0]
        self._rewrite = None if compiled is None else compiled[1]
        self._terminal = _cfg._check_terminal(terminal)
        self._which = _pseudo_index(self._lname)
        self._first_only = not _profile(envoy_version).header_all_values
        self._ready = True

    @property
    def name(self):
        self._check()
        return self._name

    @property
    def regex_rewrite(self):
        self._check()
        return self._regex_rewrite

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef const char *lname
        cdef Py_ssize_t ln, i = 0, n = 0, n1 = 0, count = 0
        cdef const char *p = NULL
        cdef const char *p1 = NULL
        cdef object headers, value, holder, first = None
        if self._which >= 0 or self._rewrite is not None:
            return self._eval_slow(req, out)
        lname = PyBytes_AS_STRING(self._lname)
        ln = PyBytes_GET_SIZE(self._lname)
        headers = req._headers
        # Fast path: scan in place, hash a single value without copying it.
        while True:
            value = _next_named(headers, PyList_CheckExact(headers), &i, lname, ln)
            if i < 0:
                break
            holder = _text(value, &p, &n)
            if holder is None:
                continue
            count += 1
            if count == 1:
                first = holder
                p1 = p
                n1 = n
                if self._first_only:
                    break
            else:
                return self._eval_slow(req, out)
        if count == 0:
            return 0
        out[0] = hlb_xxh64(p1, <size_t>n1, out[0])
        return 1

    cdef int _eval_slow(self, Request req, uint64_t *out) except -1:
        cdef list values
        cdef uint64_t h = out[0]  # the seed
        self._check()  # not initialised: _which is 0, so _eval comes here
        values = req._values(self._lname)
        cdef bytes v
        if not values:
            return 0
        if self._first_only:
            values = values[:1]
        if self._rewrite is not None:
            values = [self._rewrite(v) for v in values]
        if len(values) == 1:
            v = values[0]
            out[0] = hlb_xxh64(PyBytes_AS_STRING(v), <size_t>PyBytes_GET_SIZE(v), h)
            return 1
        values.sort()
        for v in values:
            h = hlb_xxh64(PyBytes_AS_STRING(v), <size_t>PyBytes_GET_SIZE(v), h)
        out[0] = h
        return 1

    def _key(self):
        self._check()
        return (self._lname, self._regex_rewrite, self._terminal, self._first_only)

    def __reduce__(self):
        self._check()
        options = {"regex_rewrite": self._regex_rewrite, "terminal": self._terminal}
        options["envoy_version"] = _cfg.header_version(self._first_only)
        return (rebuild, (type(self), (self._name,), options))

    def __repr__(self):
        if not self._ready:
            return _Method.__repr__(self)
        extra = "" if self._regex_rewrite is None else f", regex_rewrite={self._regex_rewrite!r}"
        if self._first_only:
            return f"Header({self._name!r}{extra}, terminal={self._terminal!r}, first_value_only)"
        return f"Header({self._name!r}{extra}, terminal={self._terminal!r})"


cdef class Cookie(_Method):

    _OPTIONS = ("ttl", "path", "attributes", "terminal")

    cdef str _name
    cdef bytes _raw
    cdef object _ttl
    cdef object _path
    cdef tuple _attributes

    def __init__(self, name, *args, ttl=None, path=None, attributes=None, terminal=False):
        self._init_once()
        if args:
            ttl, path, attributes = _positional_options(
                "Cookie",
                "name, ",
                args,
                (("ttl", ttl, None), ("path", path, None), ("attributes", attributes, None)),
                1,
            )
        name, raw = _cfg._check_cookie_name(name)
        self._raw = raw
        self._name = name
        self._ttl = _cfg._check_ttl(ttl)
        self._path = None if path is None else _cfg._check_header_text(path, "Cookie path")
        self._attributes = _cfg._check_attributes(attributes)
        self._terminal = _cfg._check_terminal(terminal)
        self._ready = True

    @property
    def name(self):
        self._check()
        return self._name

    @property
    def ttl(self):
        self._check()
        return self._ttl

    @property
    def path(self):
        self._check()
        return self._path

    @property
    def attributes(self):
        self._check()
        return self._attributes

    def evaluate(self, request):
        cdef list cookies = []
        cdef uint64_t v = 0
        request = _check_request(request)
        self._check()
        if self._eval(<Request>request, &v, cookies):
            return HashResult(v, tuple(cookies))
        return HashResult(None, tuple(cookies))

    def set_cookie_value(self, value):
        self._check()
        return _cfg.set_cookie_header(self._name, value, self._ttl, self._path, self._attributes)

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef list headers
        cdef bytes header
        cdef const char *name
        cdef Py_ssize_t nl
        cdef const char *p
        cdef Py_ssize_t n, start, end, eq, fns, vl
        cdef const char *piece
        cdef const char *val
        self._check()
        name = PyBytes_AS_STRING(self._raw)
        nl = PyBytes_GET_SIZE(self._raw)
        headers = _scan(req._headers, b"cookie", 6)
        for header in headers:
            p = PyBytes_AS_STRING(header)
            n = PyBytes_GET_SIZE(header)
            start = 0
            while start <= n:
                end = start
                while end < n and p[end] != 59:  # ';'
                    end += 1
                piece = p + start
                eq = 0
                while eq < end - start and piece[eq] != 61:  # '='
                    eq += 1
                if eq < end - start:
                    fns = 0
                    while piece[fns] == 32:
                        fns += 1
                    if eq - fns == nl and memcmp(piece + fns, name, <size_t>nl) == 0:
                        val = piece + eq + 1
                        vl = end - start - eq - 1
                        if vl >= 2 and val[0] == 34 and val[vl - 1] == 34:
                            val += 1
                            vl -= 2
                        if vl > 0:
                            out[0] = hlb_xxh64(val, <size_t>vl, out[0])
                            return 1
                        return self._generate(req, out, cookies)
                start = end + 1
        return self._generate(req, out, cookies)

    cdef int _generate(self, Request req, uint64_t *out, list cookies) except -1:
        cdef bytes generated
        if self._ttl is None:
            return 0
        generated = _cfg._generate_cookie(req._remote, req._local)
        if generated is None:
            return 0
        if cookies is not None:
            cookies.append(self.set_cookie_value(generated.decode()))
        out[0] = hlb_xxh64(PyBytes_AS_STRING(generated), <size_t>PyBytes_GET_SIZE(generated), out[0])
        return 1

    def _key(self):
        self._check()
        return (self._name, self._ttl, self._path, self._attributes, self._terminal)



cdef class SourceIP(_Method):

    _OPTIONS = ("xff_num_trusted_hops", "use_remote_address", "terminal")

    cdef unsigned long long _hops
    cdef bint _use_remote

    def __init__(self, *args, xff_num_trusted_hops=0, use_remote_address=True, terminal=False):
        self._init_once()
        if args:
            (xff_num_trusted_hops,) = _positional_options(
                "SourceIP", "", args, (("xff_num_trusted_hops", xff_num_trusted_hops, 0),), 1
            )
        self._hops = _cfg._check_hops(xff_num_trusted_hops)
        self._use_remote = _cfg._check_use_remote(use_remote_address)
        self._terminal = _cfg._check_terminal(terminal)
        self._ready = True

    @property
    def xff_num_trusted_hops(self):
        self._check()
        return self._hops

    @property
    def use_remote_address(self):
        self._check()
        return self._use_remote

    def client_ip(self, request):
        self._check()
        ip = self._ip(_check_request(request))
        return None if ip is None else ip.decode("utf-8", "surrogateescape")

    cdef object _ip(self, Request req):
        ip = None
        if not self._use_remote:
            ip = _xff_ip(_scan(req._headers, b"x-forwarded-for", 15), self._hops)
        elif self._hops:
            ip = _xff_ip(_scan(req._headers, b"x-forwarded-for", 15), self._hops - 1)
        if ip is None:
            ip = _connection_ip(req._remote)
        return ip

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef bytes ip
        self._check()
        ip = self._ip(req)
        if ip is None:
            return 0
        out[0] = hlb_xxh64(PyBytes_AS_STRING(ip), <size_t>PyBytes_GET_SIZE(ip), out[0])
        return 1

    def _key(self):
        self._check()
        return (self._hops, self._use_remote, self._terminal)



cdef class QueryParameter(_Method):

    cdef str _name
    cdef bytes _raw

    def __init__(self, name, *, terminal=False):
        self._init_once()
        name, raw = _cfg._check_name(name, "QueryParameter")
        self._raw = raw
        self._name = name
        self._terminal = _cfg._check_terminal(terminal)
        self._ready = True

    @property
    def name(self):
        self._check()
        return self._name

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef const char *p
        cdef Py_ssize_t n, start, end, eq
        cdef const char *name
        cdef Py_ssize_t nl
        cdef const char *q
        self._check()
        name = PyBytes_AS_STRING(self._raw)
        nl = PyBytes_GET_SIZE(self._raw)
        path = req._full_path()
        if path is None:
            values = _scan(req._headers, b":path", 5)
            if not values:
                return 0
            path = values[0]
        holder = _text(path, &p, &n)
        if holder is None:
            return 0
        q = <const char *>memchr(p, 63, <size_t>n)  # '?'
        if q == NULL:
            return 0
        start = q - p + 1
        while start <= n:
            end = start
            while end < n and p[end] != 38:  # '&'
                end += 1
            eq = start
            while eq < end and p[eq] != 61:  # '='
                eq += 1
            if eq == end:
                if end - start == nl and memcmp(p + start, name, <size_t>nl) == 0:
                    out[0] = hlb_xxh64(p, 0, out[0])
                    return 1
            elif eq - start == nl and memcmp(p + start, name, <size_t>nl) == 0:
                out[0] = hlb_xxh64(p + eq + 1, <size_t>(end - eq - 1), out[0])
                return 1
            start = end + 1
        return 0

    def _key(self):
        self._check()
        return (self._name, self._terminal)



cdef class FilterState(_Method):

    cdef str _key_name

    def __init__(self, key, *, terminal=False):
        self._init_once()
        self._key_name = _cfg.check_filter_state_key(key)
        self._terminal = _cfg._check_terminal(terminal)
        self._ready = True

    @property
    def key(self):
        self._check()
        return self._key_name

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef PyObject *o
        self._check()
        state = req._filter_state
        if state is None:
            return 0
        o = PyDict_GetItem(state, self._key_name)
        if o == NULL:
            return 0
        out[0] = <uint64_t>PyLong_AsUnsignedLongLong(<object>o)
        return 1

    def _key(self):
        self._check()
        return (self._key_name, self._terminal)



# ---------------------------------------------------------------- policy


cdef class HashPolicy:

    cdef tuple _policies
    cdef uint64_t _seed

    cdef int _check_ready(self) except -1:
        return check_ready(self, self._policies is not None, "HashPolicy")

    def __init__(self, *policies, seed=0):
        if self._policies is not None:
            raise TypeError("HashPolicy is immutable; __init__ cannot run twice")
        items = policies
        if len(items) == 1 and isinstance(items[0], (list, tuple)):
            items = tuple(_rcfg._items(items[0]))  # a subclass is read by value
        for i, p in enumerate(items):
            if not isinstance(p, _Method):
                raise TypeError(
                    f"policies[{i}] must be a Header, Cookie, SourceIP or QueryParameter, "
                    f"not {type(p).__name__}"
                )
        self._seed = _cfg._check_seed(seed)
        self._policies = items

    @property
    def policies(self):
        self._check_ready()
        return self._policies

    @property
    def seed(self):
        self._check_ready()
        return self._seed

    def hash(self, request):
        cdef uint64_t h = 0
        if self._run(_check_request(request), &h, None):
            return h
        return None

    def evaluate(self, request):
        cdef uint64_t h = 0
        cdef list cookies = []
        if self._run(_check_request(request), &h, cookies):
            return HashResult(h, tuple(cookies))
        return HashResult(None, tuple(cookies))

    def hash_many(self, columns, *, out=None):
        return _hash_many(self, columns, out, _KERNELS)

    cdef int _run(self, Request req, uint64_t *out, list cookies) except -1:
        cdef _Method m
        cdef uint64_t h = 0, v
        cdef bint have = False
        if self._policies is None:
            self._check_ready()
        for m in self._policies:
            v = self._seed
            if m._eval(req, &v, cookies):
                h = v if not have else (((h << 1) | (h >> 63)) ^ v)
                have = True
            if have and m._terminal:
                break
        out[0] = h
        return have

    def __eq__(self, other):
        if not isinstance(other, HashPolicy):
            return NotImplemented
        self._check_ready()
        (<HashPolicy>other)._check_ready()
        return (
            self._policies == (<HashPolicy>other)._policies
            and self._seed == (<HashPolicy>other)._seed
        )

    def __hash__(self):
        self._check_ready()
        return hash((self._policies, self._seed))

    def __reduce__(self):
        self._check_ready()
        return (rebuild, (type(self), self._policies, {"seed": self._seed}))

    def __repr__(self):
        if self._policies is None:
            return "<HashPolicy object (not initialised)>"
        # A seed is a secret: never printed (repr ends up in logs).
        seed = ", seed=<hidden>" if self._seed else ""
        return f"HashPolicy({', '.join(map(repr, self._policies))}{seed})"

    def __len__(self):
        self._check_ready()
        return len(self._policies)



# ---------------------------------------------------------------- batches


# Thin wrappers of the kernels (``_policybatch.pxd``) for the shared driver.
def _text_hashes(arr, seed, out):
    return _pb.text_hashes(arr, seed, out)


def _value_hashes(arr, seed):
    return _pb.find_hashes(arr, b"", seed, 2)


def _cookie_hashes(arr, name, seed):
    return _pb.find_hashes(arr, name, seed, 0)


def _query_hashes(arr, name, seed):
    return _pb.find_hashes(arr, name, seed, 1)


def _list_hashes(arr, seed, first_only):
    return _pb.list_hashes(arr, seed, first_only)


def _fold(h, have, done, v, has, terminal):
    _pb.fold(h, have, done, v, has, terminal)


def _source_ip_hashes(list remotes, list xffs, hops, use_remote, seed):
    return _pb.source_ip_hashes(remotes, xffs, hops, use_remote, seed)


#: What the shared batch driver (``_hashmany``) runs with in this twin.
_KERNELS = _hm.Kernels(
    Request, HashPolicy, _text_hashes, _value_hashes, _cookie_hashes, _query_hashes, _xxh64_py,
    _fold, _source_ip_hashes, _list_hashes,
    frozenset([Header, Cookie, SourceIP, QueryParameter, FilterState]),
)


# The shared docstrings (``_policy_doc.py``).
cdef frozenset _OWN_CLASSES = frozenset(
    [_Method, Header, Cookie, SourceIP, QueryParameter, FilterState])

attach_docs(globals(), _DOCS)
