# cython: language_level=3
"""What ``_policy_c`` cimports from ``_request_c``: the ``Request`` layout and the readers.

The hash methods read a request C-to-C: the ``Request`` attributes and
methods declared here, the exported scanners and address parsers (called
through Cython's C-API table, no Python call), and the small text readers
below, which are ``inline`` so that both modules compile their own copy
into the hot loops.
"""
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Check, PyByteArray_GET_SIZE
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_Check,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_Check, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport (
    PyUnicode_AsEncodedString,
    PyUnicode_Check,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
)
from libc.string cimport memcmp

from hashlb._cpython cimport PyUnicode_AsUTF8AndSize_or_null, PyUnicode_IS_COMPACT_ASCII


cdef class Request:
    cdef object _headers
    cdef object _path
    cdef object _query
    cdef object _remote
    cdef object _local
    cdef object _method
    cdef object _authority
    cdef object _scheme

    cdef int _check_ready(self) except -1
    cdef object _full_path(self)
    cdef object _pseudo(self, int which)
    cdef list _values(self, bytes lname)


cdef list _scan(object headers, const char *lname, Py_ssize_t ln)
cdef object _connection_ip(object address)
cdef object _xff_ip(list values, unsigned long long skip)
cdef int _pseudo_index(bytes lname)

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



cdef inline object _next_named(
    object headers, bint is_list, Py_ssize_t *i, const char *lname, Py_ssize_t ln
):
    """Return the value of the next header pair named *lname*, from index ``i[0]`` on.

    *headers* is the request's exact list (*is_list*) or tuple of entries;
    *lname* is lower case and matched ASCII-case-insensitively.  ``i[0]`` is
    left just past the pair, or set to -1 when there is none (None is then
    returned).  The value is returned as given, text or not.
    """
    cdef PyObject *pn
    cdef PyObject *pv
    cdef const char *p = NULL
    cdef Py_ssize_t n = 0
    cdef object item, name, value, holder
    while True:
        if is_list:
            if i[0] >= PyList_GET_SIZE(headers):
                break
            item = <object>PyList_GET_ITEM(headers, i[0])
        else:
            if i[0] >= PyTuple_GET_SIZE(headers):
                break
            item = <object>PyTuple_GET_ITEM(headers, i[0])
        i[0] += 1
        if not _pair(item, &pn, &pv):
            continue
        name = <object>pn
        value = <object>pv
        if PyBytes_CheckExact(name):
            if _name_eq(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), lname, ln):
                return value
        else:
            holder = _text(name, &p, &n)
            if holder is not None and _name_eq(p, n, lname, ln):
                return value
    i[0] = -1
    return None
