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


cdef extern from "_docslots.h":
    # 1 if obj's docstring is a static C string, now pointing into the bytes
    # doc (which then holds a reference for good); 0 if obj takes ``__doc__``
    # by assignment.
    int hlb_set_static_doc(object obj, object doc)


cdef extern from "_typename.h":
    # 1 if type is a static type, now named by the bytes name (which then holds
    # a reference for good); 0 if it is a heap type and nothing was changed.
    int hlb_set_type_name(object type, object name)


cdef inline void attach_docs(dict namespace, dict docs) except *:
    """Give this compiled twin's objects their docstrings from a ``_*_doc.py``
    (``_docstrings.py`` explains the scheme)."""
    from hashlb._docstrings import assign, targets

    for obj, doc in targets(namespace, docs):
        if not hlb_set_static_doc(obj, doc.encode("utf-8")):
            assign(obj, doc)
