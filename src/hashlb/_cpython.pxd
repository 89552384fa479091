# cython: language_level=3
"""The CPython C-API declarations that Cython's own ``cpython.*`` pxds lack.

Everything else comes from ``cpython.*`` (``cpython.long``,
``cpython.unicode``, ``cpython.bytes``, ...); declare a name here only when
Cython does not, or when a caller needs a different contract (the names
say which).
"""


cdef extern from "Python.h":
    # A compact ASCII str: its bytes are its UTF-8, stored right after the
    # object header (read them with PyUnicode_DATA / PyUnicode_GET_LENGTH).
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    # PyUnicode_AsUTF8AndSize without Cython's error check: NULL with an
    # exception set (lone surrogates), which the caller clears and handles.
    const char *PyUnicode_AsUTF8AndSize_or_null "PyUnicode_AsUTF8AndSize"(
        object s, Py_ssize_t *size)
