# cython: language_level=3, freethreading_compatible=True
"""HTTP hash policies, compiled: the hot paths of ``_policy_py.py`` in C.

Header lookup scans the request's header list in place (bytes compared
ASCII-case-insensitively, ``str`` read as its cached UTF-8), cookie and
query parsing and X-Forwarded-For / IP parsing (libc ``inet_pton`` and
``inet_ntop``, which the pure twin reaches through :mod:`socket`) run on
char buffers.  Cold paths (configuration checks, regex rewrites, generated
cookies, WSGI parsing) come from ``_policy_config``, which the pure twin
imports too, so both twins agree by construction there.  Keep names, signatures and docstrings identical to
``_policy_py.py`` (``tests/test_parity.py`` checks them).
"""
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Check, PyByteArray_GET_SIZE
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_Check,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_Check, PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport (
    PyUnicode_AsEncodedString,
    PyUnicode_Check,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
)
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp, memcpy, strlen

from hashlb._cpython cimport PyUnicode_AsUTF8AndSize_or_null, PyUnicode_IS_COMPACT_ASCII
from hashlb._kernels cimport hlb_xxh64

from collections.abc import Mapping

from hashlb import _policy_config as _cfg
from hashlb._validate import uninitialised as _uninitialised

__all__ = (
    "Cookie",
    "HashPolicy",
    "HashResult",
    "Header",
    "QueryParameter",
    "Request",
    "SourceIP",
)


cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)
    int AF_INET
    int AF_INET6


cdef object _check_name = _cfg._check_name
cdef object _check_cookie_name = _cfg._check_cookie_name
cdef object _check_terminal = _cfg._check_terminal
cdef object _check_ttl = _cfg._check_ttl
cdef object _check_header_text = _cfg._check_header_text
cdef object _check_attributes = _cfg._check_attributes
cdef object _check_hops = _cfg._check_hops
cdef object _check_use_remote = _cfg._check_use_remote
cdef object _compile_rewrite = _cfg._compile_rewrite
cdef object _generate_cookie = _cfg._generate_cookie
cdef object _header_list = _cfg._header_list
cdef object _asgi_headers = _cfg._asgi_headers
cdef object _items = _cfg._items
cdef object _from_wsgi = _cfg.request_from_wsgi
cdef object _Mapping = Mapping

cdef str _K_HEADERS = "headers"
cdef str _K_RAW_PATH = "raw_path"
cdef str _K_PATH = "path"
cdef str _K_QUERY = "query_string"
cdef str _K_CLIENT = "client"
cdef str _K_SERVER = "server"
cdef str _K_METHOD = "method"
cdef str _K_SCHEME = "scheme"
cdef bytes _B_COOKIE = b"cookie"
cdef bytes _B_XFF = b"x-forwarded-for"
cdef bytes _B_HOST = b"host"
cdef bytes _B_AUTHORITY = b":authority"
cdef bytes _B_PATH = b":path"

# ---------------------------------------------------------------- text views


cdef inline object _text(object v, const char **ptr, Py_ssize_t *n):
    """Point at the bytes of request text; return an object keeping them alive, or None.

    ``bytes`` is read in place (``bytearray`` copied), ``str`` as its UTF-8 (an
    ASCII ``str`` in place; lone surrogates encoded with ``surrogatepass``,
    like the pure twin).  Subclasses are read by their value through the C
    API, which calls none of their methods.  Anything else is not text: None.
    """
    if PyBytes_Check(v):
        ptr[0] = PyBytes_AS_STRING(v)
        n[0] = PyBytes_GET_SIZE(v)
        return v
    if PyUnicode_Check(v):
        if PyUnicode_IS_COMPACT_ASCII(v):
            ptr[0] = <const char *>PyUnicode_DATA(v)
            n[0] = PyUnicode_GET_LENGTH(v)
            return v
        ptr[0] = PyUnicode_AsUTF8AndSize_or_null(v, n)
        if ptr[0] != NULL:
            return v
        PyErr_Clear()
        b = PyUnicode_AsEncodedString(v, b"utf-8", b"surrogatepass")
        ptr[0] = PyBytes_AS_STRING(b)
        n[0] = PyBytes_GET_SIZE(b)
        return b
    if PyByteArray_Check(v):
        # copied: a bytearray could be resized while a header list is scanned
        b = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v))
        ptr[0] = PyBytes_AS_STRING(b)
        n[0] = PyBytes_GET_SIZE(b)
        return b
    return None


cdef inline bytes _as_bytes(object v):
    """Return request text as a bytes object (copying str/bytearray), or None."""
    cdef const char *p
    cdef Py_ssize_t n
    if PyBytes_CheckExact(v):
        return <bytes>v
    holder = _text(v, &p, &n)
    if holder is None:
        return None
    return PyBytes_FromStringAndSize(p, n)


cdef inline bint _name_eq(const char *p, Py_ssize_t n, const char *lname, Py_ssize_t ln) noexcept:
    """ASCII-case-insensitive equality against an already lower-case name."""
    cdef Py_ssize_t i
    cdef unsigned char c
    if n != ln:
        return False
    if memcmp(p, lname, <size_t>n) == 0:
        return True
    for i in range(n):
        c = <unsigned char>p[i]
        if 65 <= c <= 90:
            c += 32
        if c != <unsigned char>lname[i]:
            return False
    return True


cdef inline bint _pair(object item, PyObject **name, PyObject **value) noexcept:
    """Point at the name and value of a header entry; False when it is not a pair.

    A pair is a 2-item tuple or list, subclasses read by their items (no
    method of theirs is called), as in the pure twin's ``_pair``.
    """
    if PyTuple_Check(item):
        if PyTuple_GET_SIZE(item) == 2:
            name[0] = PyTuple_GET_ITEM(item, 0)
            value[0] = PyTuple_GET_ITEM(item, 1)
            return True
    elif PyList_Check(item):
        if PyList_GET_SIZE(item) == 2:
            name[0] = PyList_GET_ITEM(item, 0)
            value[0] = PyList_GET_ITEM(item, 1)
            return True
    return False


cdef list _scan(object headers, const char *lname, Py_ssize_t ln):
    """Return every value (as bytes) of header *lname* in a list/tuple of pairs."""
    cdef list out = []
    cdef Py_ssize_t i = 0
    cdef PyObject *pn
    cdef PyObject *pv
    cdef const char *p = NULL
    cdef Py_ssize_t n = 0
    cdef object item, name, value, holder
    cdef bint is_list = PyList_Check(headers)
    while True:
        if is_list:
            if i >= PyList_GET_SIZE(headers):
                break
            item = <object>PyList_GET_ITEM(headers, i)
        else:
            if i >= PyTuple_GET_SIZE(headers):
                break
            item = <object>PyTuple_GET_ITEM(headers, i)
        i += 1
        if not _pair(item, &pn, &pv):
            continue
        name = <object>pn
        value = <object>pv
        holder = _text(name, &p, &n)
        if holder is None or not _name_eq(p, n, lname, ln):
            continue
        value = _as_bytes(value)
        if value is not None:
            out.append(value)
    return out


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


cdef class Request:
    """Request(headers=None, path=None, remote_address=None, local_address=None, method=None, authority=None, scheme=None)\n--\n\nThe parts of an HTTP request that hash policies read.

    Nothing is copied or decoded up front: a list of header pairs is kept as
    given and scanned on demand, so building a request costs almost nothing.

    :param headers: a mapping (values may be lists for repeated headers), a
        list of ``(name, value)`` pairs (repeated names allowed), or raw
        ``(bytes, bytes)`` pairs as ASGI gives them.  Names match
        ASCII-case-insensitively; ``str`` is read as UTF-8.  Text is
        ``str``, ``bytes`` or ``bytearray``, a subclass read by its value
        (none of its methods is called); a pair is a 2-item tuple or list.
        Entries that are not pairs of text are ignored.
    :param path: the ``:path`` (``"/p?q=1"``), not percent-decoded.
    :param remote_address: the peer: ``"10.0.0.7:51234"``,
        ``"[2001:db8::1]:443"``, a bare IP, or a ``(host, port)`` tuple.
    :param local_address: the address the request arrived on, same forms.
    :param method: ``:method``.
    :param authority: ``:authority``; if None, the ``host`` header is used.
    :param scheme: ``:scheme``.
    :raises TypeError: *headers* is neither a mapping nor an iterable.

    Pseudo-headers (``:path``, ``:authority``, ``:method``, ``:scheme``) are
    read by :class:`Header` from these arguments, or from a pair of that name
    in *headers* when the argument is None.

    >>> r = Request(headers=[(b"x-user", b"alice")], path="/a?b=1")
    >>> HashPolicy(Header("X-User")).hash(r)  # xxh64("alice")
    8332761332120969289
    """

    cdef object _headers
    cdef object _path
    cdef object _query
    cdef object _remote
    cdef object _local
    cdef object _method
    cdef object _authority
    cdef object _scheme

    cdef int _check_ready(self) except -1:
        if self._headers is None:  # __init__ / from_asgi never leave it None
            raise _uninitialised(self, "Request")
        return 0

    def __init__(self, headers=None, path=None, remote_address=None, local_address=None,
                 method=None, authority=None, scheme=None):
        if self._headers is not None:
            raise TypeError("Request is immutable; __init__ cannot run twice")
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

    @classmethod
    def from_asgi(cls, scope):
        """Return the request of an ASGI ``http`` or ``websocket`` *scope*.

        The header list is referenced, not copied or decoded.  ``:path`` is
        ``raw_path`` (else ``path``) plus ``?`` and ``query_string``; the
        remote and local addresses are ``client`` and ``server``.

        :param scope: the ASGI connection scope.
        :raises TypeError: *scope* is not a mapping.

        >>> scope = {"type": "http", "headers": [(b"x-user", b"alice")],
        ...          "path": "/", "query_string": b"", "client": ("10.0.0.7", 51234)}
        >>> HashPolicy(SourceIP()).hash(Request.from_asgi(scope))  # xxh64("10.0.0.7")
        3728003503708587973
        """
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
        """Return the request described by a WSGI *environ*.

        Headers come from the ``HTTP_*`` keys plus ``CONTENT_TYPE`` and
        ``CONTENT_LENGTH`` (``_`` becomes ``-``), values encoded back to the
        bytes they were (WSGI strings are latin-1).  ``:path`` is
        ``RAW_URI`` or ``REQUEST_URI`` when the server provides them (the
        raw request target, as Envoy sees it), else ``SCRIPT_NAME`` +
        ``PATH_INFO`` (which servers percent-decode) + ``?QUERY_STRING``.
        The remote address is ``REMOTE_ADDR``/``REMOTE_PORT``; the local one
        ``SERVER_ADDR`` (else ``SERVER_NAME``) and ``SERVER_PORT``.

        :param environ: the WSGI environment.
        :raises TypeError: *environ* is not a mapping.

        >>> env = {"HTTP_X_USER": "alice", "PATH_INFO": "/", "REMOTE_ADDR": "10.0.0.7"}
        >>> HashPolicy(Header("x-user")).hash(Request.from_wsgi(env))  # xxh64("alice")
        8332761332120969289
        """
        return _from_wsgi(cls, environ)

    @property
    def headers(self):
        """The header pairs, as given (a mapping is turned into a list of pairs)."""
        self._check_ready()
        return self._headers

    @property
    def path(self):
        """``:path`` as given (str or bytes), or None."""
        self._check_ready()
        return self._full_path()

    @property
    def remote_address(self):
        """The peer's address as given (text or a ``(host, port)`` tuple), or None."""
        self._check_ready()
        return self._remote

    @property
    def local_address(self):
        """The local address as given (text or a ``(host, port)`` tuple), or None."""
        self._check_ready()
        return self._local

    @property
    def method(self):
        """``:method`` as given, or None."""
        self._check_ready()
        return self._method

    @property
    def authority(self):
        """``:authority`` as given, or None (then the ``host`` header stands in)."""
        self._check_ready()
        return self._authority

    @property
    def scheme(self):
        """``:scheme`` as given, or None."""
        self._check_ready()
        return self._scheme

    def get_all(self, name):
        """Return every value of header *name* as bytes, in request order.

        *name* matches ASCII-case-insensitively.  A pseudo-header
        (``:path``, ``:authority``, ``:method``, ``:scheme``) gives the
        matching argument; ``:authority`` falls back to the ``host`` header.

        :param name: the header name.

        >>> Request(headers={"Accept": ["a", "b"]}).get_all("accept")
        [b'a', b'b']
        """
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


# ---------------------------------------------------------------- results


cdef class HashResult:
    """HashResult(hash, set_cookies=())\n--\n\nWhat :meth:`HashPolicy.evaluate` returns: the hash and the cookies to set.

    :param hash: the 64-bit request hash, or None (Envoy then picks randomly).
    :param set_cookies: ``Set-Cookie`` header values generated by
        :class:`Cookie` methods with a ``ttl``, in policy order.

    >>> HashResult(7).set_cookie is None
    True
    """

    cdef object _hash
    cdef tuple _set_cookies

    cdef int _check_ready(self) except -1:
        if self._set_cookies is None:
            raise _uninitialised(self, "HashResult")
        return 0

    def __init__(self, hash, set_cookies=()):
        if self._set_cookies is not None:
            raise TypeError("HashResult is immutable; __init__ cannot run twice")
        self._hash = hash
        self._set_cookies = tuple(set_cookies)

    @property
    def hash(self):
        """The 64-bit request hash, or None when no method produced one."""
        self._check_ready()
        return self._hash

    @property
    def set_cookie(self):
        """The first ``Set-Cookie`` header value to send, or None."""
        self._check_ready()
        return self._set_cookies[0] if self._set_cookies else None

    @property
    def set_cookies(self):
        """Every ``Set-Cookie`` header value to send (usually zero or one)."""
        self._check_ready()
        return self._set_cookies

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
    """Base of the hash methods: immutable, compared by configuration."""

    cdef bint _terminal
    cdef bint _ready

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        # On entry out[0] holds the xxh64 seed (0: Envoy's); on a hash, out[0] is it.
        return 0

    cdef int _not_ready(self, str cls) except -1:
        raise _uninitialised(self, cls)

    def _key(self):
        raise NotImplementedError

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))


cdef inline object _result(_Method m, Request req):
    cdef uint64_t v = 0
    if m._eval(req, &v, None):
        return v
    return None


cdef class Header(_Method):
    """Header(name, *, regex_rewrite=None, terminal=False)\n--\n\nHash every value of a request header (Envoy ``hash_policy.header``).

    The values are optionally rewritten, sorted bytewise and hashed as a
    seed chain (spec §8.2); one value gives ``xxh64(value)``, a present but
    empty header ``xxh64("")``, an absent header no hash.

    :param str name: the header name, matched case-insensitively; the
        pseudo-headers ``:path``, ``:authority``, ``:method`` and ``:scheme``
        are allowed.
    :param regex_rewrite: ``(pattern, substitution)``: replace every match
        in each value, as Envoy does (``RE2::GlobalReplace``).  The pattern is
        RE2 syntax, run by RE2 (the google-re2 package, linear time); the
        substitution uses Envoy's ``\\1`` style.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*, a pattern RE2 rejects, or a malformed
        substitution.
    :raises TypeError: an argument has the wrong type.

    >>> Header("x-user").hash(Request(headers={"x-user": "foo"}))
    3728699739546630719
    """

    cdef str _name
    cdef bytes _lname
    cdef object _regex_rewrite
    cdef object _rewrite
    cdef int _which

    def __init__(self, name, *, regex_rewrite=None, terminal=False):
        if self._lname is not None:
            raise TypeError("Header is immutable; __init__ cannot run twice")
        name, raw = _check_name(name, "Header")
        compiled = _compile_rewrite(regex_rewrite)
        self._name = name
        self._lname = raw.lower()
        self._regex_rewrite = None if compiled is None else compiled[0]
        self._rewrite = None if compiled is None else compiled[1]
        self._terminal = _check_terminal(terminal)
        self._which = _pseudo_index(self._lname)

    @property
    def name(self):
        """The header name as configured."""
        self._lname is not None or self._not_ready("Header")
        return self._name

    @property
    def regex_rewrite(self):
        """The ``(pattern, substitution)`` rewrite, or None."""
        self._lname is not None or self._not_ready("Header")
        return self._regex_rewrite

    @property
    def terminal(self):
        """Whether the policy stops here once a hash exists."""
        self._lname is not None or self._not_ready("Header")
        return self._terminal

    def hash(self, request):
        """Return this method's hash of *request*, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        return _result(self, _check_request(request))

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef const char *lname
        cdef Py_ssize_t ln, i = 0, n = 0, n1 = 0, count = 0
        cdef const char *p = NULL
        cdef const char *p1 = NULL
        cdef PyObject *pn
        cdef PyObject *pv
        cdef object headers, item, name, value, holder, first = None
        cdef list values
        cdef uint64_t h
        cdef bint is_list
        if self._which >= 0 or self._rewrite is not None:
            return self._eval_slow(req, out)
        lname = PyBytes_AS_STRING(self._lname)
        ln = PyBytes_GET_SIZE(self._lname)
        headers = req._headers
        is_list = PyList_CheckExact(headers)
        # Fast path: scan in place, hash a single value without copying it.
        while True:
            if is_list:
                if i >= PyList_GET_SIZE(headers):
                    break
                item = <object>PyList_GET_ITEM(headers, i)
            else:
                if i >= PyTuple_GET_SIZE(headers):
                    break
                item = <object>PyTuple_GET_ITEM(headers, i)
            i += 1
            if not _pair(item, &pn, &pv):
                continue
            name = <object>pn
            value = <object>pv
            if PyBytes_CheckExact(name):
                if not _name_eq(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), lname, ln):
                    continue
            else:
                holder = _text(name, &p, &n)
                if holder is None or not _name_eq(p, n, lname, ln):
                    continue
            holder = _text(value, &p, &n)
            if holder is None:
                continue
            count += 1
            if count == 1:
                first = holder
                p1 = p
                n1 = n
            else:
                return self._eval_slow(req, out)
        if count == 0:
            return 0
        out[0] = hlb_xxh64(p1, <size_t>n1, out[0])
        return 1

    cdef int _eval_slow(self, Request req, uint64_t *out) except -1:
        cdef list values
        cdef uint64_t h = out[0]  # the seed
        if self._lname is None:  # not initialised: _which is 0, so _eval comes here
            self._not_ready("Header")
        values = req._values(self._lname)
        cdef bytes v
        if not values:
            return 0
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
        self._lname is not None or self._not_ready("Header")
        return (self._lname, self._regex_rewrite, self._terminal)

    def __repr__(self):
        if self._lname is None:
            return "<Header object (not initialised)>"
        extra = "" if self._regex_rewrite is None else f", regex_rewrite={self._regex_rewrite!r}"
        return f"Header({self._name!r}{extra}, terminal={self._terminal!r})"


cdef class Cookie(_Method):
    """Cookie(name, ttl=None, path=None, attributes=None, *, terminal=False)\n--\n\nHash a cookie's value (Envoy ``hash_policy.cookie``), generating one if asked.

    The ``cookie`` headers are parsed as Envoy parses them (spec §8.3): split
    on ``;``, the name runs from the first non-space to the first ``=``, the
    value is not trimmed but one pair of surrounding quotes is removed, and
    the first exact (case-sensitive) match wins.  A non-empty value gives
    ``xxh64(value)``.  A missing or empty cookie gives no hash unless *ttl* is
    set: then the value ``'%016x' % xxh64(remote + local address)`` is
    generated, hashed, and returned as a ``Set-Cookie`` by
    :meth:`HashPolicy.evaluate`.  With either address missing, no hash.

    :param str name: the cookie name (case-sensitive).
    :param ttl: ``Max-Age`` of a generated cookie: ``int`` seconds or a
        ``timedelta`` (whole seconds are used); ``0`` makes a session cookie;
        None generates nothing.
    :param path: the ``Path`` attribute of a generated cookie.
    :param attributes: more attributes, a mapping or ``(name, value)``
        pairs (an empty value writes the bare name).
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*, a negative *ttl*, or text that cannot
        go into a ``Set-Cookie`` header.
    :raises TypeError: an argument has the wrong type.

    >>> Cookie("session").hash(Request(headers={"cookie": 'a=1; session="foo"'}))
    3728699739546630719
    """

    cdef str _name
    cdef bytes _raw
    cdef object _ttl
    cdef object _path
    cdef tuple _attributes

    def __init__(self, name, ttl=None, path=None, attributes=None, *, terminal=False):
        if self._raw is not None:
            raise TypeError("Cookie is immutable; __init__ cannot run twice")
        name, raw = _check_cookie_name(name)
        self._raw = raw
        self._name = name
        self._ttl = _check_ttl(ttl)
        self._path = None if path is None else _check_header_text(path, "Cookie path")
        self._attributes = _check_attributes(attributes)
        self._terminal = _check_terminal(terminal)

    @property
    def name(self):
        """The cookie name."""
        self._raw is not None or self._not_ready("Cookie")
        return self._name

    @property
    def ttl(self):
        """``Max-Age`` in whole seconds for generated cookies, or None (never generate)."""
        self._raw is not None or self._not_ready("Cookie")
        return self._ttl

    @property
    def path(self):
        """The ``Path`` of generated cookies, or None."""
        self._raw is not None or self._not_ready("Cookie")
        return self._path

    @property
    def attributes(self):
        """Extra ``(name, value)`` attributes of generated cookies."""
        self._raw is not None or self._not_ready("Cookie")
        return self._attributes

    @property
    def terminal(self):
        """Whether the policy stops here once a hash exists."""
        self._raw is not None or self._not_ready("Cookie")
        return self._terminal

    def hash(self, request):
        """Return this method's hash of *request*, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        return _result(self, _check_request(request))

    def evaluate(self, request):
        """Return the hash and the ``Set-Cookie`` to send, if one was generated.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        cdef list cookies = []
        cdef uint64_t v = 0
        request = _check_request(request)
        self._raw is not None or self._not_ready("Cookie")
        if self._eval(<Request>request, &v, cookies):
            return HashResult(v, tuple(cookies))
        return HashResult(None, tuple(cookies))

    def set_cookie_value(self, value):
        """Return the ``Set-Cookie`` header value Envoy writes for *value*.

        ``name="value"``, then ``; Max-Age=<ttl>`` unless ttl is 0 (or None),
        ``; Path=<path>`` if set, each attribute, and ``; HttpOnly``.

        :param str value: the cookie value.

        >>> Cookie("s", ttl=60, path="/").set_cookie_value("00ff")
        's="00ff"; Max-Age=60; Path=/; HttpOnly'
        """
        self._raw is not None or self._not_ready("Cookie")
        out = [f'{self._name}="{value}"']
        if self._ttl:
            out.append(f"; Max-Age={self._ttl}")
        if self._path:
            out.append(f"; Path={self._path}")
        for name, val in self._attributes:
            out.append(f"; {name}={val}" if val else f"; {name}")
        out.append("; HttpOnly")
        return "".join(out)

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef list headers
        cdef bytes header
        cdef const char *name
        cdef Py_ssize_t nl
        cdef const char *p
        cdef Py_ssize_t n, start, end, eq, fns, vl
        cdef const char *piece
        cdef const char *val
        if self._raw is None:
            self._not_ready("Cookie")
        name = PyBytes_AS_STRING(self._raw)
        nl = PyBytes_GET_SIZE(self._raw)
        headers = _scan(req._headers, PyBytes_AS_STRING(_B_COOKIE), 6)
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
        generated = _generate_cookie(req._remote, req._local)
        if generated is None:
            return 0
        if cookies is not None:
            cookies.append(self.set_cookie_value(generated.decode()))
        out[0] = hlb_xxh64(PyBytes_AS_STRING(generated), <size_t>PyBytes_GET_SIZE(generated), out[0])
        return 1

    def _key(self):
        self._raw is not None or self._not_ready("Cookie")
        return (self._name, self._ttl, self._path, self._attributes, self._terminal)

    def __repr__(self):
        if self._raw is None:
            return "<Cookie object (not initialised)>"
        return (
            f"Cookie({self._name!r}, ttl={self._ttl!r}, path={self._path!r}, "
            f"attributes={self._attributes!r}, terminal={self._terminal!r})"
        )


cdef class SourceIP(_Method):
    """SourceIP(xff_num_trusted_hops=0, *, use_remote_address=True, terminal=False)\n--\n\nHash the client's IP address, without the port (``connection_properties.source_ip``).

    The address is the one Envoy's connection manager settles on (spec §8.4)
    and is hashed as text: IPv4 as a dotted quad, IPv6 compressed as
    ``inet_ntop`` writes it, without brackets.

    * ``use_remote_address=True`` (Istio gateways and sidecars): with 0
      trusted hops, the connection's remote address; with N > 0, the N-th
      address from the right of ``X-Forwarded-For``.
    * ``use_remote_address=False`` (Envoy's default): the address N + 1 from
      the right of ``X-Forwarded-For`` (with N = 0, the last one).

    If ``X-Forwarded-For`` is absent, has too few entries or the chosen
    entry is not an IP address, the connection's remote address is used, as
    Envoy does.  An unusable remote address gives no hash.

    :param int xff_num_trusted_hops: proxies in front whose
        ``X-Forwarded-For`` entries are trusted.
    :param bool use_remote_address: Envoy's HCM ``use_remote_address``.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: a negative or too large *xff_num_trusted_hops*.
    :raises TypeError: an argument has the wrong type.

    >>> SourceIP().hash(Request(remote_address="[::1]:443"))  # xxh64("::1")
    6441869463509800047
    """

    cdef unsigned long long _hops
    cdef bint _use_remote

    def __init__(self, xff_num_trusted_hops=0, *, use_remote_address=True, terminal=False):
        if self._ready:
            raise TypeError("SourceIP is immutable; __init__ cannot run twice")
        self._hops = _check_hops(xff_num_trusted_hops)
        self._use_remote = _check_use_remote(use_remote_address)
        self._terminal = _check_terminal(terminal)
        self._ready = True

    @property
    def xff_num_trusted_hops(self):
        """How many ``X-Forwarded-For`` hops are trusted."""
        self._ready or self._not_ready("SourceIP")
        return self._hops

    @property
    def use_remote_address(self):
        """Envoy's HCM ``use_remote_address`` setting being modelled."""
        self._ready or self._not_ready("SourceIP")
        return self._use_remote

    @property
    def terminal(self):
        """Whether the policy stops here once a hash exists."""
        self._ready or self._not_ready("SourceIP")
        return self._terminal

    def hash(self, request):
        """Return this method's hash of *request*, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        return _result(self, _check_request(request))

    def client_ip(self, request):
        """Return the client IP text that is hashed, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.

        >>> r = Request(headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"},
        ...             remote_address="10.0.0.2:5000")
        >>> SourceIP(2).client_ip(r), SourceIP(1).client_ip(r), SourceIP().client_ip(r)
        ('203.0.113.9', '10.0.0.1', '10.0.0.2')
        """
        self._ready or self._not_ready("SourceIP")
        ip = self._ip(_check_request(request))
        return None if ip is None else ip.decode("utf-8", "surrogateescape")

    cdef object _ip(self, Request req):
        ip = None
        if not self._use_remote:
            ip = _xff_ip(_scan(req._headers, PyBytes_AS_STRING(_B_XFF), 15), self._hops)
        elif self._hops:
            ip = _xff_ip(_scan(req._headers, PyBytes_AS_STRING(_B_XFF), 15), self._hops - 1)
        if ip is None:
            ip = _connection_ip(req._remote)
        return ip

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef bytes ip
        if not self._ready:
            self._not_ready("SourceIP")
        ip = self._ip(req)
        if ip is None:
            return 0
        out[0] = hlb_xxh64(PyBytes_AS_STRING(ip), <size_t>PyBytes_GET_SIZE(ip), out[0])
        return 1

    def _key(self):
        self._ready or self._not_ready("SourceIP")
        return (self._hops, self._use_remote, self._terminal)

    def __repr__(self):
        if not self._ready:
            return "<SourceIP object (not initialised)>"
        return (
            f"SourceIP({self._hops!r}, use_remote_address={self._use_remote!r}, "
            f"terminal={self._terminal!r})"
        )


cdef class QueryParameter(_Method):
    """QueryParameter(name, *, terminal=False)\n--\n\nHash a query parameter of ``:path`` (Envoy ``hash_policy.query_parameter``).

    The query string (after the first ``?``) is split on ``&`` and each
    piece at its first ``=``; the first exact, case-sensitive name match
    wins, with **no percent-decoding**.  A present but empty value hashes
    ``""``; a missing parameter or path gives no hash.

    :param str name: the parameter name.
    :param bool terminal: stop the policy here if a hash exists.
    :raises ConfigError: empty *name*.
    :raises TypeError: an argument has the wrong type.

    >>> QueryParameter("u").hash(Request(path="/p?x=1&u=foo&u=bar"))
    3728699739546630719
    """

    cdef str _name
    cdef bytes _raw

    def __init__(self, name, *, terminal=False):
        if self._raw is not None:
            raise TypeError("QueryParameter is immutable; __init__ cannot run twice")
        name, raw = _check_name(name, "QueryParameter")
        self._raw = raw
        self._name = name
        self._terminal = _check_terminal(terminal)

    @property
    def name(self):
        """The parameter name."""
        self._raw is not None or self._not_ready("QueryParameter")
        return self._name

    @property
    def terminal(self):
        """Whether the policy stops here once a hash exists."""
        self._raw is not None or self._not_ready("QueryParameter")
        return self._terminal

    def hash(self, request):
        """Return this method's hash of *request*, or None.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        return _result(self, _check_request(request))

    cdef int _eval(self, Request req, uint64_t *out, list cookies) except -1:
        cdef const char *p
        cdef Py_ssize_t n, start, end, eq
        cdef const char *name
        cdef Py_ssize_t nl
        cdef const char *q
        if self._raw is None:
            self._not_ready("QueryParameter")
        name = PyBytes_AS_STRING(self._raw)
        nl = PyBytes_GET_SIZE(self._raw)
        path = req._full_path()
        if path is None:
            values = _scan(req._headers, PyBytes_AS_STRING(_B_PATH), 5)
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
        self._raw is not None or self._not_ready("QueryParameter")
        return (self._name, self._terminal)

    def __repr__(self):
        if self._raw is None:
            return "<QueryParameter object (not initialised)>"
        return f"QueryParameter({self._name!r}, terminal={self._terminal!r})"


# ---------------------------------------------------------------- policy


cdef class HashPolicy:
    """HashPolicy(*policies, seed=0)\n--\n\nAn ordered list of hash methods: Envoy's route ``hash_policy`` (spec §8.1).

    Methods are evaluated in order.  The first hash becomes the result; each
    later one is folded in as ``rotl1(result) ^ hash``.  After a method with
    ``terminal=True``, evaluation stops if a hash exists.  If no method
    yields a hash, the result is None (Envoy then balances randomly).

    :param policies: :class:`Header`, :class:`Cookie`, :class:`SourceIP` and
        :class:`QueryParameter` objects (or one list of them).
    :param int seed: the xxh64 seed of every value hashed, in ``[0, 2**64)``.
        ``0`` (the default) is Envoy's unseeded hash; a random secret seed
        (``secrets.randbits(64)``) makes the request -> hash mapping
        unpredictable to clients (hash flooding), and every proxy that must
        agree needs the same seed.  Multi-value headers chain from it.  The
        seed is not shown by ``repr``.
    :raises TypeError: an argument is not a hash method, or *seed* is not an int.
    :raises ~hashlb.ConfigError: *seed* is out of range.

    >>> policy = HashPolicy(Header("x-user"), SourceIP())
    >>> policy.hash(Request(headers={"x-user": "foo"}))  # xxh64("foo")
    3728699739546630719
    >>> HashPolicy(Header("x-user"), seed=7).hash(Request(headers={"x-user": "foo"}))  # xxh64("foo", 7)
    8283876513818656790
    """

    cdef tuple _policies
    cdef uint64_t _seed

    cdef int _check_ready(self) except -1:
        if self._policies is None:
            raise _uninitialised(self, "HashPolicy")
        return 0

    def __init__(self, *policies, seed=0):
        if self._policies is not None:
            raise TypeError("HashPolicy is immutable; __init__ cannot run twice")
        items = policies
        if len(items) == 1 and isinstance(items[0], (list, tuple)):
            items = tuple(_items(items[0]))  # a subclass is read by value
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
        """The hash methods, in evaluation order."""
        self._check_ready()
        return self._policies

    @property
    def seed(self):
        """The xxh64 seed of the hashed values (0: Envoy's unseeded hash)."""
        self._check_ready()
        return self._seed

    def hash(self, request):
        """Return the request hash, or None when no method yields one.

        A cookie is still generated (and hashed) for a :class:`Cookie` with a
        ``ttl``; use :meth:`evaluate` to get its ``Set-Cookie`` value.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.
        """
        cdef uint64_t h = 0
        if self._run(_check_request(request), &h, None):
            return h
        return None

    def evaluate(self, request):
        """Return the request hash and the ``Set-Cookie`` values to send.

        :param Request request: the request.
        :raises TypeError: *request* is not a :class:`Request`.

        >>> r = HashPolicy(Cookie("s", ttl=0)).evaluate(
        ...     Request(remote_address="10.0.0.1:34567", local_address="10.0.0.2:8080"))
        >>> r.set_cookie
        's="..."; HttpOnly'
        """
        cdef uint64_t h = 0
        cdef list cookies = []
        if self._run(_check_request(request), &h, cookies):
            return HashResult(h, tuple(cookies))
        return HashResult(None, tuple(cookies))

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

    def __repr__(self):
        if self._policies is None:
            return "<HashPolicy object (not initialised)>"
        # A seed is a secret: never printed (repr ends up in logs).
        seed = ", seed=<hidden>" if self._seed else ""
        return f"HashPolicy({', '.join(map(repr, self._policies))}{seed})"

    def __len__(self):
        self._check_ready()
        return len(self._policies)
