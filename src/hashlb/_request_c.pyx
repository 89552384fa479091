# cython: language_level=3, freethreading_compatible=True
"""The request side of hash policies, compiled: the hot paths of ``_request_py.py`` in C.

Header lookup scans the request's header list in place (bytes compared
ASCII-case-insensitively, ``str`` read as its cached UTF-8), and
X-Forwarded-For / IP parsing (libc ``inet_pton`` and ``inet_ntop``, which the
pure twin reaches through :mod:`socket`) runs on char buffers.  The hash
methods of ``_policy_c`` reach all of it C-to-C through
``_request_c.pxd``.  Cold paths (header containers, WSGI parsing) come from
``_request_config``, which the pure twin imports too.  Keep names and
signatures identical to ``_request_py.py``; the docstrings both share live in
``_request_doc.py`` (``tests/test_parity.py`` checks all three).
"""
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem
from cpython.list cimport PyList_CheckExact
from cpython.tuple cimport PyTuple_CheckExact
from libc.string cimport memchr, memcpy, strlen

from collections.abc import Mapping
from types import MappingProxyType

from hashlb import _request_config as _rcfg

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._request_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS)


cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)
    int AF_INET
    int AF_INET6


cdef object _header_list = _rcfg._header_list
cdef object _asgi_headers = _rcfg._asgi_headers
cdef object _from_wsgi = _rcfg.request_from_wsgi
cdef object _Mapping = Mapping

#: The default of a positional slot of Request.__init__: not given.
cdef object _UNSET = object()

cdef str _K_HEADERS = "headers"
cdef str _K_RAW_PATH = "raw_path"
cdef str _K_PATH = "path"
cdef str _K_QUERY = "query_string"
cdef str _K_CLIENT = "client"
cdef str _K_SERVER = "server"
cdef str _K_METHOD = "method"
cdef str _K_SCHEME = "scheme"
cdef bytes _B_HOST = b"host"
cdef bytes _B_AUTHORITY = b":authority"
cdef bytes _B_PATH = b":path"

# ---------------------------------------------------------------- headers


cdef list _scan(object headers, const char *lname, Py_ssize_t ln):
    """Return every value (as bytes) of header *lname* in a list/tuple of pairs."""
    cdef list out = []
    cdef Py_ssize_t i = 0
    cdef bint is_list = PyList_CheckExact(headers)
    while True:
        value = _next_named(headers, is_list, &i, lname, ln)
        if i < 0:
            return out
        value = _as_bytes(value)
        if value is not None:
            out.append(value)


# ---------------------------------------------------------------- addresses


cdef inline bint _valid_port(const char *p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    cdef long v = 0
    if n <= 0 or n > 5:
        return False
    for i in range(n):
        if not (48 <= <unsigned char>p[i] <= 57):
            return False
        v = v * 10 + (p[i] - 48)
    return v <= 65535


cdef inline bint _zone_char(unsigned char c) noexcept:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 46 or c == 45


cdef object _parse_ip(const char *p, Py_ssize_t n, bint unwrap):
    """C version of the pure twin's ``_parse_ip``: canonical IP text (bytes) or None."""
    cdef Py_ssize_t i, pct = -1, zl = 0
    cdef char buf[64]
    cdef char out[64]
    cdef unsigned char addr[16]
    cdef bytes res
    if n <= 0 or n > 120:
        return None
    for i in range(n):
        if <unsigned char>p[i] >= 128:
            return None
        if p[i] == 37 and pct < 0:  # '%'
            pct = i
    if pct >= 0:
        zl = n - pct - 1
        if zl <= 0 or zl > 64:
            return None
        for i in range(pct + 1, n):
            if not _zone_char(<unsigned char>p[i]):
                return None
        n = pct
    if n > 45 or memchr(p, 0, <size_t>n) != NULL:
        return None
    memcpy(buf, p, <size_t>n)
    buf[n] = 0
    if pct < 0 and inet_pton(AF_INET, buf, addr) == 1:
        # glibc accepts only the canonical dotted quad (no leading zeros, four
        # parts), which is exactly what inet_ntop would write back
        return PyBytes_FromStringAndSize(p, n)
    if inet_pton(AF_INET6, buf, addr) != 1:
        return None
    if unwrap and addr[10] == 0xFF and addr[11] == 0xFF:
        for i in range(10):
            if addr[i]:
                break
        else:
            inet_ntop(AF_INET, addr + 12, out, 64)
            return PyBytes_FromStringAndSize(out, <Py_ssize_t>strlen(out))
    inet_ntop(AF_INET6, addr, out, 64)
    res = PyBytes_FromStringAndSize(out, <Py_ssize_t>strlen(out))
    if pct >= 0:
        res += b"%" + PyBytes_FromStringAndSize(p + pct + 1, zl)
    return res


cdef object _connection_ip(object address):
    """C version of ``_connection_ip``: the canonical IP of a connection address, or None."""
    cdef const char *p
    cdef Py_ssize_t n, i, colons = 0, close = -1, colon = -1
    if address is None:
        return None
    if PyTuple_Check(address) or PyList_Check(address):
        # read by value (no __len__/__getitem__ of a subclass), as the pure twin's _items
        if PyTuple_Check(address):
            if PyTuple_GET_SIZE(address) < 1:
                return None
            host = <object>PyTuple_GET_ITEM(address, 0)
        else:
            if PyList_GET_SIZE(address) < 1:
                return None
            host = <object>PyList_GET_ITEM(address, 0)
        holder = _text(host, &p, &n)
        if holder is None:
            return None
        if n >= 2 and p[0] == 91 and p[n - 1] == 93:  # "[...]"
            p += 1
            n -= 2
        if n == 0:
            return None
        return _parse_ip(p, n, True)
    holder = _text(address, &p, &n)
    if holder is None or n == 0:
        return None
    if p[0] == 91:  # '['
        for i in range(n):
            if p[i] == 93:
                close = i
                break
        if close < 0:
            return None
        if close + 1 < n and not (p[close + 1] == 58 and _valid_port(p + close + 2, n - close - 2)):
            return None
        if close == 1:
            return None
        return _parse_ip(p + 1, close - 1, True)
    for i in range(n):
        if p[i] == 58:
            colons += 1
            colon = i
    if colons == 1:
        if not _valid_port(p + colon + 1, n - colon - 1) or colon == 0:
            return None
        return _parse_ip(p, colon, True)
    return _parse_ip(p, n, True)


cdef object _xff_ip(list values, unsigned long long skip):
    """C version of ``_xff_ip`` (Envoy's getLastAddressFromXFF)."""
    cdef const char *p
    cdef Py_ssize_t n, comma
    cdef unsigned long long k
    if not values:
        return None
    xff = values[0] if len(values) == 1 else b",".join(values)
    p = PyBytes_AS_STRING(xff)
    n = PyBytes_GET_SIZE(xff)
    for k in range(skip):
        comma = n - 1
        while comma >= 0 and p[comma] != 44:
            comma -= 1
        if comma < 0:
            return None
        n = comma
    comma = n - 1
    while comma >= 0 and p[comma] != 44:
        comma -= 1
    if comma >= 0 and comma + 1 < n:
        p += comma + 1
        n -= comma + 1
    while n > 0 and _space(<unsigned char>p[0]):
        p += 1
        n -= 1
    while n > 0 and _space(<unsigned char>p[n - 1]):
        n -= 1
    return _parse_ip(p, n, False)


cdef inline bint _space(unsigned char c) noexcept:
    return c == 32 or (9 <= c <= 13)


# ---------------------------------------------------------------- Request


cdef object _EMPTY_STATE = MappingProxyType({})


cdef class Request:


    cdef int _check_ready(self) except -1:
        return check_ready(self, self._headers is not None, "Request")  # __init__ / from_asgi set it

    # The deprecated positional forms arrive in positional-only slots, not
    # *args: a signature without *args keeps Cython's vectorcall constructor
    # (56 ns instead of 150 ns per Request).  Slot 8 lets a call with one too
    # many reach the shared message.
    def __init__(self, _p1=_UNSET, _p2=_UNSET, _p3=_UNSET, _p4=_UNSET, _p5=_UNSET, _p6=_UNSET,
                 _p7=_UNSET, _p8=_UNSET, /, *, headers=None, path=None, remote_address=None,
                 local_address=None, method=None, authority=None, scheme=None,
                 filter_state=None):
        if self._headers is not None:
            raise TypeError("Request is immutable; __init__ cannot run twice")
        if _p1 is not _UNSET:
            args = tuple([a for a in (_p1, _p2, _p3, _p4, _p5, _p6, _p7, _p8) if a is not _UNSET])
            headers, path, remote_address, local_address, method, authority, scheme = (
                _rcfg.positional_fields(
                    args, (headers, path, remote_address, local_address, method, authority, scheme), 1
                )
            )
        if PyList_CheckExact(headers) or PyTuple_CheckExact(headers):
            self._headers = headers
        else:
            self._headers = _header_list(headers)
        self._path = path
        self._query = None
        self._remote = remote_address
        self._local = local_address
        self._method = method
        self._authority = authority
        self._scheme = scheme
        if filter_state is not None:
            self._filter_state = _rcfg.filter_state_hashes(filter_state)

    @classmethod
    def from_asgi(cls, scope):
        cdef Request self
        cdef PyObject *o
        if PyDict_CheckExact(scope):
            self = Request.__new__(Request) if cls is Request else Request.__new__(cls)
            o = PyDict_GetItem(scope, _K_HEADERS)
            headers = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_RAW_PATH)
            path = None if o == NULL else <object>o
            if not (PyBytes_Check(path) or PyByteArray_Check(path)):
                o = PyDict_GetItem(scope, _K_PATH)
                path = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_QUERY)
            self._query = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_CLIENT)
            self._remote = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_SERVER)
            self._local = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_METHOD)
            self._method = None if o == NULL else <object>o
            o = PyDict_GetItem(scope, _K_SCHEME)
            self._scheme = None if o == NULL else <object>o
        elif isinstance(scope, _Mapping):
            self = Request.__new__(cls)
            get = scope.get
            headers = get("headers")
            path = get("raw_path")
            if not (PyBytes_Check(path) or PyByteArray_Check(path)):
                path = get("path")
            self._query = get("query_string")
            self._remote = get("client")
            self._local = get("server")
            self._method = get("method")
            self._scheme = get("scheme")
        else:
            raise TypeError(f"scope must be a mapping, not {type(scope).__name__}")
        if not (PyList_CheckExact(headers) or PyTuple_CheckExact(headers)):
            headers = _asgi_headers(headers)
        self._headers = headers
        self._path = path
        self._authority = None
        if path is None or self._query is None:
            self._query = None
        else:
            self._query = _as_bytes(self._query)  # request text only: None otherwise
            if not self._query:
                self._query = None
        return self

    @classmethod
    def from_wsgi(cls, environ):
        return _from_wsgi(cls, environ)

    @property
    def headers(self):
        self._check_ready()
        return self._headers

    @property
    def path(self):
        self._check_ready()
        return self._full_path()

    @property
    def remote_address(self):
        self._check_ready()
        return self._remote

    @property
    def local_address(self):
        self._check_ready()
        return self._local

    @property
    def method(self):
        self._check_ready()
        return self._method

    @property
    def authority(self):
        self._check_ready()
        return self._authority

    @property
    def scheme(self):
        self._check_ready()
        return self._scheme

    @property
    def filter_state(self):
        self._check_ready()
        return _EMPTY_STATE if self._filter_state is None else MappingProxyType(self._filter_state)

    def __repr__(self):
        if self._headers is None:
            return "<Request object (not initialised)>"
        return _rcfg.request_repr(self)

    def get_all(self, name):
        self._check_ready()
        raw = _as_bytes(name)
        if raw is None:
            raise TypeError(f"name must be str or bytes, not {type(name).__name__}")
        return self._values(raw.lower())

    cdef object _full_path(self):
        """``:path``: ASGI's path and query string are joined on first use."""
        cdef object p, q
        if self._query is not None:
            p = _as_bytes(self._path)
            q = _as_bytes(self._query)
            if p is not None and q is not None and b"?" not in p:
                self._path = p + b"?" + q
            self._query = None
        return self._path

    cdef object _pseudo(self, int which):
        if which == 0:
            return self._full_path()
        if which == 1:
            return self._authority
        if which == 2:
            return self._method
        return self._scheme

    cdef list _values(self, bytes lname):
        """Every value of the lower-case header *lname* (pseudo-headers included)."""
        cdef int which = _pseudo_index(lname)
        cdef list out
        if which >= 0:
            attr = self._pseudo(which)
            if attr is not None:
                b = _as_bytes(attr)
                return [] if b is None else [b]
        out = _scan(self._headers, PyBytes_AS_STRING(lname), PyBytes_GET_SIZE(lname))
        if not out and which == 1:
            out = _scan(self._headers, PyBytes_AS_STRING(_B_HOST), 4)
        return out


cdef int _pseudo_index(bytes lname):
    if PyBytes_GET_SIZE(lname) == 0 or PyBytes_AS_STRING(lname)[0] != 58:
        return -1
    if lname == _B_PATH:
        return 0
    if lname == _B_AUTHORITY:
        return 1
    if lname == b":method":
        return 2
    if lname == b":scheme":
        return 3
    return -1




# The shared docstrings (``_request_doc.py``).
attach_docs(globals(), _DOCS)
